package server

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The example config documents every setting with its default: loading it must give exactly Defaults(),
// and every field of Config must appear in it.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := LoadConfig("../conf/example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if want := Defaults(); !reflect.DeepEqual(normalize(cfg), normalize(want)) {
		t.Fatalf("conf/example.yml differs from Defaults():\n got %+v\nwant %+v", cfg, want)
	}
	text, _ := os.ReadFile("../conf/example.yml")
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !strings.Contains(string(text), key+":") {
				t.Errorf("conf/example.yml does not document %q", key)
			}
			if f.Type.Kind() == reflect.Struct && f.Type.Name() != "Millis" {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
}

// normalize treats nil and empty slices alike.
func normalize(c Config) Config {
	if len(c.StorageExclusion) == 0 {
		c.StorageExclusion = nil
	}
	if len(c.Auth.Options.PermittedStatusCodes) == 0 {
		c.Auth.Options.PermittedStatusCodes = nil
	}
	return c
}

func TestConfigRejectsUnknownKeysWithTheirLine(t *testing.T) {
	_, err := ParseConfig([]byte("port: 6021\nheartbeatIntervall: 100\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "heartbeatIntervall") {
		t.Fatalf("want an error naming line 2 and the key, got %v", err)
	}
}

func TestConfigValues(t *testing.T) {
	t.Setenv("SWIFTLET_TEST_PORT", "7000")
	cfg, err := ParseConfig([]byte("port: ${SWIFTLET_TEST_PORT}\nflushWindow: 0.5\nstorage: {type: memory}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7000 || cfg.FlushWindow.D() != 500*time.Microsecond || cfg.Storage.Type != "memory" {
		t.Fatalf("got port %d window %v storage %q", cfg.Port, cfg.FlushWindow.D(), cfg.Storage.Type)
	}
	// unset values keep their defaults
	if cfg.HeartbeatInterval.D() != 30*time.Second || cfg.Storage.Sync != true {
		t.Fatalf("defaults lost: %+v", cfg)
	}
	for _, bad := range []string{
		"port: 70000", "maxAuthAttempts: 0", "heartbeatInterval: -1", "heartbeatInterval: soon",
		"storage: {type: redis}", "auth: {type: ldap}", "auth: {type: file}", "permission: {type: config}",
		"urlPath: deepstream", "logLevel: LOUD", "port: ${SWIFTLET_NOT_SET_ANYWHERE}",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestConfigEnvSubstitutionSkipsComments(t *testing.T) {
	t.Setenv("SWIFTLET_TEST_HOST", "127.0.0.9")
	cfg, err := ParseConfig([]byte("# use ${NOT_SET_AT_ALL} here\nhost: \"${SWIFTLET_TEST_HOST}\" # or ${ALSO_NOT_SET}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "127.0.0.9" {
		t.Fatalf("host %q", cfg.Host)
	}
}
