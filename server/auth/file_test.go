package auth

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// aliceHash is "alicepw" hashed by Node with sha256, 100 iterations,
// keyLength 32 (see TestHashKnownAnswer): a users.yml line as deepstream's
// `deepstream hash` would print it.
const aliceHash = "sTbgrzaxBzuzeM65Xp8OLexomu6e503Sh+v4BeIghI8=75KQ2Mzm/DGyGvMHv58+SQ=="

func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	s, err := Hash(pw, "sha256", 100, 32)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// usersYAML is a deepstream 3.x users.yml: comments, anchors, nested data.
func usersYAML(t testing.TB) string {
	return `# deepstream users
alice:
  password: "` + aliceHash + `"
  serverData: &role
    role: admin
    tags: [a, 1, true, null, 2.5]
  clientData:
    favouriteColour: red
    html: "<b>&</b>"
bob:
  password: ` + mustHash(t, "bobpw") + `
carol:
  password: ` + mustHash(t, "carolpw") + `
  serverData: *role
  clientData: null
`
}

func newTestFile(t testing.TB, text string) (*File, string) {
	t.Helper()
	p := writeFile(t, t.TempDir(), "users.yml", text)
	f, err := NewFile(FileOptions{Path: p, Hash: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

func auth(f Authenticator, authData string) Result {
	return f.Authenticate(context.Background(), Handshake{RemoteAddress: "127.0.0.1"}, []byte(authData))
}

func TestFileGood(t *testing.T) {
	f, _ := newTestFile(t, usersYAML(t))
	if f.NonBlocking() {
		t.Fatal("a PBKDF2 file claims to be NonBlocking")
	}
	cases := []struct {
		authData, user, client, server string
	}{
		{`{"username":"alice","password":"alicepw"}`, "alice",
			`{"favouriteColour":"red","html":"<b>&</b>"}`, `{"role":"admin","tags":["a",1,true,null,2.5]}`},
		// No data in the file: both are JSON null, so the server answers A|A|L.
		{`{"username":"bob","password":"bobpw","extra":1}`, "bob", `null`, `null`},
		{`{"username":"carol","password":"carolpw"}`, "carol", `null`, `{"role":"admin","tags":["a",1,true,null,2.5]}`},
		// JSON escapes are decoded before the lookup and the hash.
		{`{"username":"\u0061lice","password":"alice\u0070w"}`, "alice",
			`{"favouriteColour":"red","html":"<b>&</b>"}`, `{"role":"admin","tags":["a",1,true,null,2.5]}`},
	}
	for _, c := range cases {
		r := auth(f, c.authData)
		if !r.OK || r.Username != c.user || string(r.ClientData) != c.client || string(r.ServerData) != c.server {
			t.Errorf("%s: got %+v (client %s, server %s)", c.authData, r, r.ClientData, r.ServerData)
		}
	}
}

func TestFileBad(t *testing.T) {
	f, _ := newTestFile(t, usersYAML(t))
	for _, authData := range []string{
		`{"username":"alice","password":"wrong"}`,
		`{"username":"alice","password":""}`,
		`{"username":"alice","password":"bobpw"}`,
		`{"username":"dave","password":"alicepw"}`,
		`{"username":"","password":"alicepw"}`,
		// JSON.parse keeps the last of duplicate keys.
		`{"username":"alice","password":"alicepw","password":"x"}`,
	} {
		if r := auth(f, authData); !reflect.DeepEqual(r, Result{}) {
			t.Errorf("%s: got %+v, want invalid without client data", authData, r)
		}
	}
	if r := auth(f, `{"username":"bob","password":"x","password":"bobpw"}`); !r.OK {
		t.Errorf("the last duplicate password should count: %+v", r)
	}

	const (
		noUser = `"missing authentication parameter username"`
		noPass = `"missing authentication parameter password"`
	)
	for authData, want := range map[string]string{
		`{}`:                                  noUser,
		`{"password":"alicepw"}`:              noUser,
		`{"username":5,"password":"alicepw"}`: noUser,
		`{"username":null,"password":"x"}`:    noUser,
		`{"username":["alice"]}`:              noUser,
		`not json`:                            noUser,
		`["alice","alicepw"]`:                 noUser,
		`{"username":"alice"}`:                noPass,
		`{"username":"alice","password":1}`:   noPass,
		`{"username":"nobody","password":{}}`: noPass,
	} {
		r := auth(f, authData)
		if r.OK || string(r.ClientData) != want || r.Username != "" || r.ServerData != nil {
			t.Errorf("%s: got %+v (client data %s), want client data %s", authData, r, r.ClientData, want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := f.Authenticate(ctx, Handshake{}, []byte(`{"username":"alice","password":"alicepw"}`)); r.OK {
		t.Error("a cancelled context still authenticates")
	}
}

func TestFilePlainText(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "users.yml", "alice:\n  password: alicepw\n  clientData: {a: 1}\n")
	for _, h := range []string{"", "false", "FALSE"} {
		_, err := NewFile(FileOptions{Path: p, Hash: h})
		if err == nil || !strings.Contains(err.Error(), "allowPlainPassword") || !strings.Contains(err.Error(), p) {
			t.Errorf("hash %q without AllowPlainPassword: err %v, want a refusal naming the file and the option", h, err)
		}
		f, err := NewFile(FileOptions{Path: p, Hash: h, AllowPlainPassword: true})
		if err != nil {
			t.Fatal(err)
		}
		if !f.NonBlocking() {
			t.Error("a plain-text file should be NonBlocking")
		}
		if r := auth(f, `{"username":"alice","password":"alicepw"}`); !r.OK || r.Username != "alice" || string(r.ClientData) != `{"a":1}` {
			t.Errorf("plain text good login: %+v", r)
		}
		for _, bad := range []string{`{"username":"alice","password":"alicep"}`, `{"username":"alice","password":"alicepww"}`, `{"username":"x","password":"alicepw"}`} {
			if r := auth(f, bad); !reflect.DeepEqual(r, Result{}) {
				t.Errorf("plain text %s: %+v", bad, r)
			}
		}
	}
	// With a hash configured, a plain-text password is an error at load time.
	_, err := NewFile(FileOptions{Path: p, Hash: "sha256", AllowPlainPassword: true})
	if err == nil || !strings.Contains(err.Error(), p+": line 2:") || !strings.Contains(err.Error(), "not a hash") {
		t.Errorf("plain password with hash sha256: %v", err)
	}
}

func TestFileJSON(t *testing.T) {
	// deepstream also reads users.json; tabs indent it, which YAML alone refuses.
	text := "{\n\t\"alice\": {\n\t\t\"password\": \"" + aliceHash + "\",\n\t\t\"clientData\": {\"x\": [1, \"\\u00e9\"]}\n\t}\n}\n"
	p := writeFile(t, t.TempDir(), "users.json", text)
	f, err := NewFile(FileOptions{Path: p, Hash: "sha256", Iterations: 100, KeyLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	r := auth(f, `{"username":"alice","password":"alicepw"}`)
	if !r.OK || string(r.ClientData) != `{"x":[1,"é"]}` || string(r.ServerData) != "null" {
		t.Fatalf("json users file: %+v %s", r, r.ClientData)
	}

	// JSON escapes YAML does not know (surrogate pairs, \/), numbers kept as
	// written, and errors with lines.
	text = `{"b\/ob": {"password": "p\ud83d\ude00", "serverData": {"n": [1.50, -0, 1e2, 123456789012345678901234]}}}`
	p = writeFile(t, t.TempDir(), "users.json", text)
	if f, err = NewFile(FileOptions{Path: p, AllowPlainPassword: true}); err != nil {
		t.Fatal(err)
	}
	r = auth(f, `{"username":"b/ob","password":"p😀"}`)
	if !r.OK || string(r.ServerData) != `{"n":[1.50,-0,1e2,123456789012345678901234]}` {
		t.Fatalf("json users file: %+v %s", r, r.ServerData)
	}
	p = writeFile(t, t.TempDir(), "users.json", "{\n  \"alice\": {\"password\": \"pw\"},\n  \"bob\": {\"password\": 5}\n}")
	if _, err = NewFile(FileOptions{Path: p, AllowPlainPassword: true}); err == nil || !strings.Contains(err.Error(), "line 3: password for user \"bob\"") {
		t.Fatalf("json error: %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	h := mustHash(t, "pw")
	cases := []struct{ name, text, want string }{
		{"syntax", "alice:\n  password: x\n bob: y\n", "line 3"},
		{"unclosed flow", "alice: {password: " + h + "\nbob: 1\n", "line "},
		{"empty", "# nothing\n", "empty"},
		{"not a mapping", "- alice\n- bob\n", "line 1: want a mapping"},
		{"user not a mapping", "alice: " + h + "\n", "line 1: user \"alice\""},
		{"missing password", "alice:\n  password: " + h + "\nbob:\n  clientData: {}\n", "line 4: missing password for user \"bob\""},
		{"password not a string", "alice:\n  password: 12345\n", "line 2: password for user \"alice\" must be a string"},
		{"wrong key length", "alice:\n  password: \"" + h[20:] + "\"\n", "line 2: password for user \"alice\" is not a hash"},
		{"duplicate user", "alice:\n  password: " + h + "\nalice:\n  password: " + h + "\n", "line 3: user \"alice\" is defined twice"},
		{"infinity", "alice:\n  password: " + h + "\n  serverData: {x: .inf}\n", "line 3: infinity"},
		{"complex key", "alice:\n  password: " + h + "\n  serverData: {[1]: 2}\n", "line 3: only scalar keys"},
		{"duplicate data key", "alice:\n  password: " + h + "\n  clientData:\n    a: 1\n    a: 2\n", "line 5: key \"a\" is given twice"},
		{"duplicate field", "alice:\n  password: " + h + "\n  password: " + h + "\n", "line 3: key \"password\" is given twice"},
		{"alias cycle", "alice: &x\n  password: " + h + "\n  clientData: [*x]\n", "nest too deeply"},
		{"bad merge", "alice:\n  <<: 5\n  password: " + h + "\n", "line 2: a merge key"},
	}
	for _, c := range cases {
		p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "_")+".yml", c.text)
		_, err := NewFile(FileOptions{Path: p, Hash: "sha256"})
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to name %s and say %q", c.name, err, p, c.want)
		}
	}
	if _, err := NewFile(FileOptions{Path: filepath.Join(dir, "missing.yml"), Hash: "sha256"}); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("missing file: %v", err)
	}
	p := writeFile(t, dir, "ok.yml", "alice:\n  password: "+h+"\n")
	for _, o := range []FileOptions{{}, {Path: p, Hash: "sha3"}, {Path: p, Hash: "sha256", Iterations: -1}, {Path: p, Hash: "sha256", KeyLength: -2}} {
		if _, err := NewFile(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestFileMergeKeys(t *testing.T) {
	// js-yaml (deepstream's loader) expands merge keys; users files use them
	// to share a password or data between users.
	h := mustHash(t, "pw")
	text := `base: &base
  password: "` + h + `"
  serverData: &perms {role: user, team: blue}
alice:
  <<: *base
  clientData:
    <<: [*perms, {colour: red, team: green}]
    team: red
bob:
  <<: *base
  password: "` + mustHash(t, "bobpw") + `"
`
	f, _ := newTestFile(t, text)
	r := auth(f, `{"username":"alice","password":"pw"}`)
	if !r.OK || string(r.ServerData) != `{"role":"user","team":"blue"}` || string(r.ClientData) != `{"team":"red","role":"user","colour":"red"}` {
		t.Fatalf("alice: %+v (client %s, server %s)", r, r.ClientData, r.ServerData)
	}
	if auth(f, `{"username":"bob","password":"pw"}`).OK {
		t.Fatal("bob's own password must win over the merged one")
	}
	if r := auth(f, `{"username":"bob","password":"bobpw"}`); !r.OK || string(r.ServerData) != `{"role":"user","team":"blue"}` {
		t.Fatalf("bob: %+v", r)
	}
}

func TestFileKeys(t *testing.T) {
	// Keys become JavaScript property names as js-yaml makes them.
	f, _ := newTestFile(t, "123:\n  password: "+mustHash(t, "pw")+"\n  clientData: {~: 1, True: 2, 0x10: 3, 1.5: 4, \"s\": 5}\n")
	r := auth(f, `{"username":"123","password":"pw"}`)
	if !r.OK || string(r.ClientData) != `{"null":1,"true":2,"16":3,"1.5":4,"s":5}` {
		t.Fatalf("%+v %s", r, r.ClientData)
	}
}

func TestFileAliasBomb(t *testing.T) {
	// Ten levels of nine-fold aliases expand to 9^10 values.
	h := mustHash(t, "pw")
	var b strings.Builder
	b.WriteString("defs:\n  password: " + h + "\n  unused:\n    a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("    a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 8) + prev + "]\n")
	}
	b.WriteString("alice:\n  password: " + h + "\n  serverData: *a9\n")
	p := writeFile(t, t.TempDir(), "bomb.yml", b.String())
	_, err := NewFile(FileOptions{Path: p, Hash: "sha256"})
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Fatalf("an alias bomb: err %v", err)
	}
	// The same anchors used modestly are fine.
	p = writeFile(t, t.TempDir(), "ok.yml", strings.Replace(b.String(), "serverData: *a9", "serverData: *a1", 1))
	f, err := NewFile(FileOptions{Path: p, Hash: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	r := auth(f, `{"username":"alice","password":"pw"}`)
	want := "[" + strings.Repeat(`["x","x","x","x","x","x","x","x","x"],`, 8) + `["x","x","x","x","x","x","x","x","x"]]`
	if !r.OK || string(r.ServerData) != want {
		t.Fatalf("aliased serverData: %+v %s", r, r.ServerData)
	}
}

func TestFileReload(t *testing.T) {
	f, p := newTestFile(t, usersYAML(t))
	alice := `{"username":"alice","password":"alicepw"}`
	dave := `{"username":"dave","password":"davepw"}`
	if !auth(f, alice).OK || auth(f, dave).OK {
		t.Fatal("initial users wrong")
	}
	if err := os.WriteFile(p, []byte("dave:\n  password: "+mustHash(t, "davepw")+"\n  clientData: {v: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if auth(f, alice).OK {
		t.Error("alice survives a reload that removed her")
	}
	if r := auth(f, dave); !r.OK || string(r.ClientData) != `{"v":2}` {
		t.Errorf("dave after reload: %+v", r)
	}
	// A broken file keeps the users in force.
	if err := os.WriteFile(p, []byte("dave:\n  password: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.Reload()
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if !auth(f, dave).OK {
		t.Error("a failed reload dropped the old users")
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if f.Reload() == nil || !auth(f, dave).OK {
		t.Error("reload of a removed file must fail and keep the users")
	}
}

func TestFileConcurrentReload(t *testing.T) {
	f, _ := newTestFile(t, usersYAML(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if err := f.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		if !auth(f, `{"username":"bob","password":"bobpw"}`).OK {
			t.Fatal("login failed during reload")
		}
	}
	<-done
}

func TestNone(t *testing.T) {
	a := None()
	nb, ok := a.(NonBlocking)
	if !ok || !nb.NonBlocking() {
		t.Fatal("None is not NonBlocking")
	}
	for authData, want := range map[string]string{
		`{"username":"alice","password":"x"}`: "alice",
		`{"username":"a\"b"}`:                 `a"b`,
		`{"username":""}`:                     "open",
		`{"username":5}`:                      "open",
		`{"username":null}`:                   "open",
		`{}`:                                  "open",
		`garbage`:                             "open",
		`["alice"]`:                           "open",
		`{"username":"x","username":"y"}`:     "y",
	} {
		r := auth(a, authData)
		if !reflect.DeepEqual(r, Result{OK: true, Username: want}) {
			t.Errorf("%s: %+v, want OK as %q", authData, r, want)
		}
	}
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	data := []byte(`{"username":"alice","password":"secret"}`)
	allocs := testing.AllocsPerRun(200, func() { a.Authenticate(context.Background(), Handshake{}, data) })
	if allocs > 1 { // the username string
		t.Errorf("None allocates %v times per login, want at most 1", allocs)
	}
	if allocs := testing.AllocsPerRun(200, func() { a.Authenticate(context.Background(), Handshake{}, []byte(`{}`)) }); allocs != 0 {
		t.Errorf("None allocates %v times for an open login, want 0", allocs)
	}
}

func TestFileAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	// A plain-text login is NonBlocking, so it runs on an event loop: keep it
	// to the username string.
	p := writeFile(t, t.TempDir(), "users.yml", "alice:\n  password: alicepw\n")
	f, err := NewFile(FileOptions{Path: p, AllowPlainPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"username":"alice","password":"alicepw"}`)
	if allocs := testing.AllocsPerRun(200, func() { f.Authenticate(context.Background(), Handshake{}, data) }); allocs > 1 {
		t.Errorf("plain-text File allocates %v times per login, want at most 1", allocs)
	}
}

func BenchmarkFileAuthenticate(b *testing.B) {
	for _, h := range []string{"sha256", "sha512"} {
		b.Run(h, func(b *testing.B) {
			stored, err := Hash("alicepw", h, DefaultIterations, DefaultKeyLength)
			if err != nil {
				b.Fatal(err)
			}
			p := writeFile(b, b.TempDir(), "users.yml", "alice:\n  password: "+stored+"\n  clientData: {a: 1}\n")
			f, err := NewFile(FileOptions{Path: p, Hash: h})
			if err != nil {
				b.Fatal(err)
			}
			data := []byte(`{"username":"alice","password":"alicepw"}`)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if !f.Authenticate(ctx, Handshake{}, data).OK {
					b.Fatal("login failed")
				}
			}
		})
	}
	b.Run("plain", func(b *testing.B) {
		p := writeFile(b, b.TempDir(), "users.yml", "alice:\n  password: alicepw\n")
		f, err := NewFile(FileOptions{Path: p, AllowPlainPassword: true})
		if err != nil {
			b.Fatal(err)
		}
		data := []byte(`{"username":"alice","password":"alicepw"}`)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if !f.Authenticate(ctx, Handshake{}, data).OK {
				b.Fatal("login failed")
			}
		}
	})
}

func BenchmarkNone(b *testing.B) {
	a := None()
	data := []byte(`{"username":"alice","password":"secret"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a.Authenticate(ctx, Handshake{}, data)
	}
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
