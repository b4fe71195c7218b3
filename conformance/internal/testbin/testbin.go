// Package testbin gives the conformance suites that run the real swiftlet binary what they share:
// the binary (SWIFTLET_BIN, as make test sets it, or a fresh build of ./cmd/swiftlet) and a free
// loopback port to start it on.
package testbin

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binary returns the swiftlet binary named by SWIFTLET_BIN, or builds one into a temporary directory
// of t. Call it from the test's goroutine.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("SWIFTLET_BIN"); b != "" {
		return b
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "swiftlet")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/swiftlet")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	return bin
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
