package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

var hashNames = []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}

// TestHashKnownAnswer checks a vector computed by Node (deepstream's own
// runtime), independently of this package:
//
//	node -e "const c=require('crypto'), s='75KQ2Mzm/DGyGvMHv58+SQ==';
//	  console.log(c.pbkdf2Sync('alicepw', s, 100, 32, 'sha256').toString('base64') + s)"
func TestHashKnownAnswer(t *testing.T) {
	const stored = "sTbgrzaxBzuzeM65Xp8OLexomu6e503Sh+v4BeIghI8=75KQ2Mzm/DGyGvMHv58+SQ=="
	if !Verify(stored, "alicepw", "sha256", 100, 32) {
		t.Fatal("Verify rejects the Node-computed hash of alicepw")
	}
	if Verify(stored, "alicepW", "sha256", 100, 32) {
		t.Fatal("Verify accepts a wrong password")
	}
	if Verify(stored, "alicepw", "sha512", 100, 32) || Verify(stored, "alicepw", "sha256", 101, 32) {
		t.Fatal("Verify accepts the password under other PBKDF2 parameters")
	}
}

// TestHashAgainstNode runs Node's crypto.pbkdf2Sync both ways for every
// digest and several key lengths: Node verifies hashes made by Hash, and
// Verify checks hashes Node made with deepstream's algorithm.
func TestHashAgainstNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	type vector struct {
		Hash       string `json:"hash"`
		Iterations int    `json:"iterations"`
		KeyLength  int    `json:"keyLength"`
		Password   string `json:"password"`
		Stored     string `json:"stored"` // made by Go
	}
	var in []vector
	for _, h := range hashNames {
		for _, kl := range []int{32, 20, 64} {
			pw := "pä$$ wörd " + h // non-ASCII: both sides hash UTF-8
			stored, err := Hash(pw, h, 7, kl)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, vector{h, 7, kl, pw, stored})
		}
	}
	js, _ := json.Marshal(in)
	// For each vector Node reports whether the Go hash verifies, and makes a
	// fresh hash of the same password exactly as deepstream's createHash does.
	const script = `
const c = require('crypto');
const out = JSON.parse(process.argv[1]).map(v => {
  const n = 4 * Math.ceil(v.keyLength / 3);
  const ok = c.pbkdf2Sync(v.password, v.stored.substr(n), v.iterations, v.keyLength, v.hash).toString('base64') === v.stored.substr(0, n);
  const salt = c.randomBytes(16).toString('base64');
  return {ok, stored: c.pbkdf2Sync(v.password, salt, v.iterations, v.keyLength, v.hash).toString('base64') + salt};
});
console.log(JSON.stringify(out));`
	cmd := exec.Command(node, "-e", script, string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outText, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v: %s", err, stderr.String())
	}
	var out []struct {
		OK     bool   `json:"ok"`
		Stored string `json:"stored"`
	}
	if err := json.Unmarshal(outText, &out); err != nil || len(out) != len(in) {
		t.Fatalf("node output %q: %v", outText, err)
	}
	for i, v := range in {
		if !out[i].OK {
			t.Errorf("%s keyLength %d: Node rejects the Go hash %q", v.Hash, v.KeyLength, v.Stored)
		}
		if !Verify(out[i].Stored, v.Password, v.Hash, v.Iterations, v.KeyLength) {
			t.Errorf("%s keyLength %d: Verify rejects the Node hash %q", v.Hash, v.KeyLength, out[i].Stored)
		}
		if Verify(out[i].Stored, v.Password+"x", v.Hash, v.Iterations, v.KeyLength) {
			t.Errorf("%s keyLength %d: Verify accepts a wrong password", v.Hash, v.KeyLength)
		}
	}
}

func TestHashRoundTrip(t *testing.T) {
	for _, h := range hashNames {
		for _, kl := range []int{1, 16, 32, 33, 64} {
			stored, err := Hash("secret", h, 3, kl)
			if err != nil {
				t.Fatalf("%s/%d: %v", h, kl, err)
			}
			n := prefixLen(kl)
			if n != 4*((kl+2)/3) || len(stored) != n+24 {
				t.Fatalf("%s/%d: %q has length %d, want %d+24", h, kl, stored, len(stored), n)
			}
			if raw, err := base64.StdEncoding.DecodeString(stored[n:]); err != nil || len(raw) != 16 {
				t.Fatalf("%s/%d: salt %q is not base64 of 16 bytes", h, kl, stored[n:])
			}
			if !checkStored(stored, kl) {
				t.Fatalf("%s/%d: checkStored rejects %q", h, kl, stored)
			}
			if !Verify(stored, "secret", h, 3, kl) {
				t.Fatalf("%s/%d: round trip fails", h, kl)
			}
			if !Verify(stored, "secret", strings.ToUpper(h), 3, kl) {
				t.Fatalf("%s/%d: digest names are not case-insensitive", h, kl)
			}
			if kl >= 16 && (Verify(stored, "secreT", h, 3, kl) || Verify(stored, "", h, 3, kl)) {
				t.Fatalf("%s/%d: wrong password accepted", h, kl)
			}
			tampered := stored[:n] + "A" + stored[n+1:]
			if stored[n] == 'A' {
				tampered = stored[:n] + "B" + stored[n+1:]
			}
			// A one-byte key collides with probability 1/256; longer ones do not.
			if kl >= 16 && Verify(tampered, "secret", h, 3, kl) {
				t.Fatalf("%s/%d: a changed salt is accepted", h, kl)
			}
			if Verify(stored[:n-1], "secret", h, 3, kl) {
				t.Fatalf("%s/%d: a truncated hash is accepted", h, kl)
			}
		}
		again, _ := Hash("secret", h, 3, 32)
		first, _ := Hash("secret", h, 3, 32)
		if again == first {
			t.Fatalf("%s: two hashes share a salt", h)
		}
	}
}

func TestHashBadParams(t *testing.T) {
	for _, c := range []struct {
		hash            string
		iter, keyLength int
	}{{"sha3", 1, 32}, {"", 1, 32}, {"false", 1, 32}, {"sha256", 0, 32}, {"sha256", 1, 0}, {"sha256", -1, 32}} {
		if s, err := Hash("pw", c.hash, c.iter, c.keyLength); err == nil {
			t.Errorf("Hash(%q, %d, %d) = %q, want an error", c.hash, c.iter, c.keyLength, s)
		}
		if Verify("x", "pw", c.hash, c.iter, c.keyLength) {
			t.Errorf("Verify(%q, %d, %d) accepts", c.hash, c.iter, c.keyLength)
		}
	}
}

func TestHashMain(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := HashMain([]string{"-hash", "sha512", "-iterations", "5", "-keyLength", "20", "p w"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	line := out.String()
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 || errOut.Len() != 0 {
		t.Fatalf("stdout %q stderr %q: want one line", line, errOut.String())
	}
	stored := strings.TrimSuffix(line, "\n")
	if len(stored) != 28+24 || !Verify(stored, "p w", "sha512", 5, 20) {
		t.Fatalf("printed %q does not verify", stored)
	}

	out.Reset()
	if code := HashMain([]string{"pw"}, &out, &errOut); code != 0 || !Verify(strings.TrimSpace(out.String()), "pw", "sha256", 100, 32) {
		t.Fatalf("defaults: exit %d, %q does not verify with sha256/100/32", code, out.String())
	}

	for _, args := range [][]string{{}, {"a", "b"}, {"-nope", "pw"}, {"-iterations", "x", "pw"}} {
		out.Reset()
		errOut.Reset()
		if code := HashMain(args, &out, &errOut); code != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), "usage") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q: want 2 and usage", args, code, out.String(), errOut.String())
		}
	}
	errOut.Reset()
	if code := HashMain([]string{"-hash", "whirlpool", "pw"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "unknown hash") {
		t.Errorf("unknown hash: exit %d, stderr %q", code, errOut.String())
	}
}
