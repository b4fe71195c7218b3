// Package client runs the real-client conformance suite: the *.test.mjs files here drive
// deepstream.io-client-js@2.3.4 (installed by `npm ci` in conformance/) against swiftlet processes they
// start from the binary this test builds.
package client

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func TestDeepstreamClient(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required for the real-client conformance suite")
	}
	root := moduleRoot(t)
	bin := filepath.Join(t.TempDir(), "swiftlet")
	build := exec.Command("go", "build", "-o", bin, "./cmd/swiftlet")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building swiftlet: %v\n%s", err, out)
	}
	confDir := filepath.Join(root, "conformance")
	if _, err := os.Stat(filepath.Join(confDir, "node_modules", "deepstream.io-client-js")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npm.Dir = confDir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in conformance/: %v\n%s", err, out)
		}
	}
	files, _ := filepath.Glob("*.test.mjs")
	if len(files) == 0 {
		t.Fatal("no *.test.mjs files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(f, ".test.mjs"), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", f)
			cmd.Env = append(os.Environ(), "SWIFTLET_BIN="+bin)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node --test %s: %v\n%s", f, err, out)
			}
			if testing.Verbose() {
				t.Logf("%s", out)
			}
		})
	}
}
