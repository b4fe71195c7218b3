package loadgen

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestScale measures the load generator's own memory with many connections
// (goroutine per connection). Opt-in: LOADGEN_SCALE=SxP (e.g. 10000x1).
func TestScale(t *testing.T) {
	spec := os.Getenv("LOADGEN_SCALE")
	if spec == "" {
		t.Skip("set LOADGEN_SCALE=SxP to run")
	}
	rows, err := ParseRows(spec)
	if err != nil {
		t.Fatal(err)
	}
	target := os.Getenv("LOADGEN_TARGET")
	if target == "" {
		target = "socketio"
	}
	srv := startTarget(t, target)
	cfg := testCell(target, Targets(testScripts, "")[target].Proto, srv.addr, ModeDefault, rows[0].S, rows[0].P)
	cfg.warmup, cfg.rounds, cfg.budget = 1, 3, 300*time.Second
	cfg.progress = testWriter{t}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := runCell(context.Background(), cfg)
	checkExact(t, r)
	t.Logf("%s: connect %v, median round %.1f ms", r.Name(), time.Duration(r.ConnectNs), r.MedianNs/1e6)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
