package auth

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

// checkUsers asserts what parseUsers promises for any input it accepts.
func checkUsers(t *testing.T, users map[string]*fileUser, err error) {
	t.Helper()
	if err != nil {
		if users != nil {
			t.Fatalf("error %v with users", err)
		}
		return
	}
	for name, u := range users {
		if !json.Valid(u.clientData) || !json.Valid(u.serverData) {
			t.Fatalf("user %q: invalid JSON data %q / %q", name, u.clientData, u.serverData)
		}
	}
}

// FuzzParseUsers feeds users files, whole and cut at a random point, to the
// parser in both modes: it must return an error or users whose data are valid
// JSON, never panic. Minimising its interesting inputs is slow; run it with
// e.g. -fuzztime=10s -fuzzminimizetime=200x.
func FuzzParseUsers(f *testing.F) {
	for _, seed := range []string{
		usersYAML(f),
		"alice:\n  password: pw\n  clientData: {a: [1, 2.5, true, null, \"s\"]}\n",
		"{\"alice\": {\"password\": \"pw\", \"serverData\": {\"x\": \"<&>\"}}}",
		"a: &x {password: p, clientData: [*x]}\n",
		"alice:\n  password: \"" + aliceHash + "\"\n  serverData: !!binary aGk=\n  clientData: 2001-12-14\n",
	} {
		f.Add([]byte(seed), uint(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		users, err := parseUsers(data, 32, false)
		checkUsers(t, users, err)
		users, err = parseUsers(data, 32, true)
		checkUsers(t, users, err)
		for _, u := range users {
			if !checkStored(u.password, 32) {
				t.Fatalf("hashed mode accepted password %q", u.password)
			}
		}
		prefix := data[:cut%uint(len(data)+1)]
		users, err = parseUsers(prefix, 32, false)
		checkUsers(t, users, err)
	})
}

// FuzzWebhookResult feeds webhook bodies, whole and cut, to webhookResult.
func FuzzWebhookResult(f *testing.F) {
	for _, seed := range []string{
		"alice", `"alice"`, `{"username":"a","clientData":{"x":[1]},"serverData":null}`,
		`{"clientData":"no"}`, "", "null", "[1,2]", `{"username":5}`, " \n\"b\\u00e9\"\n",
	} {
		f.Add([]byte(seed), true, uint(len(seed)/2))
		f.Add([]byte(seed), false, uint(len(seed)/3))
	}
	f.Fuzz(func(t *testing.T, body []byte, ok bool, cut uint) {
		for _, b := range [][]byte{body, body[:cut%uint(len(body)+1)]} {
			r := webhookResult(ok, b)
			if r.OK != ok {
				t.Fatalf("OK %v, want %v", r.OK, ok)
			}
			if !ok && (r.Username != "" || r.ServerData != nil) {
				t.Fatalf("rejected login carries %+v", r)
			}
			if (r.ClientData != nil && !json.Valid(r.ClientData)) || (r.ServerData != nil && !json.Valid(r.ServerData)) {
				t.Fatalf("invalid JSON data %q / %q", r.ClientData, r.ServerData)
			}
		}
	})
}

// FuzzAuthData feeds login data, whole and cut, to None and to a plain-text
// File with one user: None always lets in somebody, File only alice.
func FuzzAuthData(f *testing.F) {
	p := writeFile(f, f.TempDir(), "users.yml", "alice:\n  password: alicepw\n")
	file, err := NewFile(FileOptions{Path: filepath.Clean(p), AllowPlainPassword: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{"username":"alice","password":"alicepw"}`, `{"username":"al\u0069ce","password":"alicepw"}`,
		`{"username":5}`, `{}`, `[]`, `"x"`, `{"username":"alice","password":"alicepw","username":"bob"}`,
	} {
		f.Add([]byte(seed), uint(len(seed)-1))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		for _, d := range [][]byte{data, data[:cut%uint(len(data)+1)]} {
			if r := None().Authenticate(ctx, Handshake{}, d); !r.OK || r.Username == "" {
				t.Fatalf("None: %+v", r)
			}
			r := file.Authenticate(ctx, Handshake{}, d)
			if r.OK && r.Username != "alice" {
				t.Fatalf("File let in %q", r.Username)
			}
			if !r.OK && r.ClientData != nil && !json.Valid(r.ClientData) {
				t.Fatalf("File: invalid client data %q", r.ClientData)
			}
		}
	})
}
