package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Millis is a duration written in milliseconds in the config file (deepstream's convention); fractions
// are allowed (flushWindow: 0.5).
type Millis time.Duration

// UnmarshalYAML reads a number of milliseconds.
func (m *Millis) UnmarshalYAML(n *yaml.Node) error {
	var f float64
	if err := n.Decode(&f); err != nil {
		return fmt.Errorf("line %d: %q is not a number of milliseconds", n.Line, n.Value)
	}
	if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > float64(math.MaxInt64/int64(time.Millisecond)) {
		return fmt.Errorf("line %d: %v ms is out of range", n.Line, n.Value)
	}
	*m = Millis(time.Duration(f * float64(time.Millisecond)))
	return nil
}

// D returns the duration.
func (m Millis) D() time.Duration { return time.Duration(m) }

// Config is swiftlet's configuration. Where deepstream 3.x has a setting, the key has its name and
// meaning. conf/example.yml documents every key with its default; Defaults returns them.
type Config struct {
	// Network
	Host             string `yaml:"host"`
	Port             int    `yaml:"port"`
	URLPath          string `yaml:"urlPath"`
	HealthCheckPath  string `yaml:"healthCheckPath"`
	Loops            int    `yaml:"loops"`
	MaxMessageSize   int    `yaml:"maxMessageSize"`
	MaxFragments     int    `yaml:"maxFragments"`
	HandshakeTimeout Millis `yaml:"handshakeTimeout"`
	CloseTimeout     Millis `yaml:"closeTimeout"`
	MaxOutboundBytes int    `yaml:"maxOutboundBytes"`
	FlushWindow      Millis `yaml:"flushWindow"`

	// Sessions
	HeartbeatInterval            Millis `yaml:"heartbeatInterval"`
	UnauthenticatedClientTimeout Millis `yaml:"unauthenticatedClientTimeout"`
	MaxAuthAttempts              int    `yaml:"maxAuthAttempts"`
	LogInvalidAuthData           bool   `yaml:"logInvalidAuthData"`

	// Features
	RPCAckTimeout          Millis   `yaml:"rpcAckTimeout"`
	RPCTimeout             Millis   `yaml:"rpcTimeout"`
	RPCRouting             string   `yaml:"rpcRouting"`
	ListenResponseTimeout  Millis   `yaml:"listenResponseTimeout"`
	ShuffleListenProviders bool     `yaml:"shuffleListenProviders"`
	StorageExclusion       []string `yaml:"storageExclusion"`

	Storage    StorageConfig    `yaml:"storage"`
	Auth       AuthConfig       `yaml:"auth"`
	Permission PermissionConfig `yaml:"permission"`

	LogLevel string `yaml:"logLevel"`
}

// StorageConfig selects where records live.
type StorageConfig struct {
	Type string `yaml:"type"` // pebble | memory
	Path string `yaml:"path"` // pebble data directory
	Sync bool   `yaml:"sync"` // acknowledge writes only after fsync
}

// AuthConfig selects the authentication strategy (deepstream's `auth`).
type AuthConfig struct {
	Type    string      `yaml:"type"` // none | file | http
	Options AuthOptions `yaml:"options"`
}

// AuthOptions are the options of every auth type; each type uses its own subset.
type AuthOptions struct {
	// file
	Path               string `yaml:"path"`
	Hash               string `yaml:"hash"` // md5 | sha1 | sha256 | sha512, or "" / false for plain text
	Iterations         int    `yaml:"iterations"`
	KeyLength          int    `yaml:"keyLength"`
	AllowPlainPassword bool   `yaml:"allowPlainPassword"`
	// http
	EndpointURL          string `yaml:"endpointUrl"`
	PermittedStatusCodes []int  `yaml:"permittedStatusCodes"`
	RequestTimeout       Millis `yaml:"requestTimeout"`
}

// PermissionConfig selects the permission strategy (deepstream's `permission`).
type PermissionConfig struct {
	Type    string            `yaml:"type"` // config | none
	Options PermissionOptions `yaml:"options"`
}

// PermissionOptions are the options of `permission: {type: config}`.
type PermissionOptions struct {
	Path              string `yaml:"path"`
	MaxRuleIterations int    `yaml:"maxRuleIterations"`
}

// Defaults returns the configuration used when no file is given: deepstream's defaults unless a
// measurement said otherwise.
func Defaults() Config {
	return Config{
		Host:                         "0.0.0.0",
		Port:                         6020,
		URLPath:                      "/deepstream",
		HealthCheckPath:              "/health-check",
		MaxMessageSize:               1 << 20,
		MaxFragments:                 16384,
		HandshakeTimeout:             Millis(5 * time.Second),
		CloseTimeout:                 Millis(5 * time.Second),
		MaxOutboundBytes:             4 << 20,
		FlushWindow:                  Millis(time.Millisecond),
		HeartbeatInterval:            Millis(30 * time.Second),
		UnauthenticatedClientTimeout: Millis(180 * time.Second),
		MaxAuthAttempts:              3,
		RPCAckTimeout:                Millis(time.Second),
		RPCTimeout:                   Millis(10 * time.Second),
		RPCRouting:                   "random",
		ListenResponseTimeout:        Millis(500 * time.Millisecond),
		ShuffleListenProviders:       true,
		Storage:                      StorageConfig{Type: "pebble", Path: "./data", Sync: true},
		Auth:                         AuthConfig{Type: "none"},
		Permission:                   PermissionConfig{Type: "none"},
		LogLevel:                     "INFO",
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadConfig reads a YAML config file over the defaults. Unknown keys are rejected with the line that
// holds them; ${ENV_VAR} references are substituted first, as deepstream does.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// substituteEnv replaces ${NAME} with the environment variable NAME outside comments; a reference to
// a variable that is not set is an error (a silent empty value would hide a deployment mistake).
func substituteEnv(data []byte) ([]byte, error) {
	var missing []string
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, line := range lines {
		code := line[:commentStart(line)]
		if !envRef.Match(code) {
			continue
		}
		code = envRef.ReplaceAllFunc(code, func(m []byte) []byte {
			name := string(m[2 : len(m)-1])
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return []byte(v)
		})
		lines[i] = append(code, line[commentStart(line):]...)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	return bytes.Join(lines, nil), nil
}

// commentStart returns where a YAML comment starts in line (a # at the start or after white space,
// outside quotes), or len(line).
func commentStart(line []byte) int {
	var quote byte
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return i
		}
	}
	return len(line)
}

// ParseConfig parses YAML config text over the defaults and validates the result.
func ParseConfig(data []byte) (Config, error) {
	data, err := substituteEnv(data)
	if err != nil {
		return Config{}, err
	}
	cfg := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the settings' ranges and enumerations.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Port < 0 || c.Port > 65535 {
		bad("port %d is out of range", c.Port)
	}
	if !strings.HasPrefix(c.URLPath, "/") {
		bad("urlPath %q must start with /", c.URLPath)
	}
	if !strings.HasPrefix(c.HealthCheckPath, "/") || c.HealthCheckPath == c.URLPath {
		bad("healthCheckPath %q must start with / and differ from urlPath", c.HealthCheckPath)
	}
	if c.Loops < 0 || c.Loops > 256 {
		bad("loops %d: must be 0 (one per core) to 256", c.Loops)
	}
	if c.MaxMessageSize < 125 {
		bad("maxMessageSize %d is too small (at least 125 bytes)", c.MaxMessageSize)
	}
	if c.MaxFragments < 1 {
		bad("maxFragments must be at least 1")
	}
	if c.MaxOutboundBytes < 4096 {
		bad("maxOutboundBytes %d is too small (at least 4096)", c.MaxOutboundBytes)
	}
	if c.MaxAuthAttempts < 1 {
		bad("maxAuthAttempts must be at least 1")
	}
	for name, d := range map[string]Millis{
		"handshakeTimeout": c.HandshakeTimeout, "closeTimeout": c.CloseTimeout,
		"heartbeatInterval": c.HeartbeatInterval, "unauthenticatedClientTimeout": c.UnauthenticatedClientTimeout,
		"rpcAckTimeout": c.RPCAckTimeout, "rpcTimeout": c.RPCTimeout, "listenResponseTimeout": c.ListenResponseTimeout,
	} {
		if d <= 0 {
			bad("%s must be more than 0 ms", name)
		}
	}
	switch c.RPCRouting {
	case "random", "roundRobin":
	default:
		bad("rpcRouting %q: must be random or roundRobin", c.RPCRouting)
	}
	switch c.Storage.Type {
	case "pebble":
		if c.Storage.Path == "" {
			bad("storage.path must be set for pebble")
		}
	case "memory":
	default:
		bad("storage.type %q: must be pebble or memory", c.Storage.Type)
	}
	switch c.Auth.Type {
	case "none":
	case "file":
		if c.Auth.Options.Path == "" {
			bad("auth.options.path must name the users file for auth type file")
		}
	case "http":
		if c.Auth.Options.EndpointURL == "" {
			bad("auth.options.endpointUrl must be set for auth type http")
		}
	default:
		bad("auth.type %q: must be none, file or http", c.Auth.Type)
	}
	switch c.Permission.Type {
	case "none":
	case "config":
		if c.Permission.Options.Path == "" {
			bad("permission.options.path must name the permissions file for permission type config")
		}
	default:
		bad("permission.type %q: must be none or config", c.Permission.Type)
	}
	switch strings.ToUpper(c.LogLevel) {
	case "DEBUG", "INFO", "WARN", "ERROR", "OFF":
	default:
		bad("logLevel %q: must be DEBUG, INFO, WARN, ERROR or OFF", c.LogLevel)
	}
	return errors.Join(errs...)
}
