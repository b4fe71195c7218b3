package loadgen

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testScripts = "../scripts"

var npmOnce sync.Once

// ensureSocketIO installs scripts/socketio from its lock file if needed; the
// socket.io target must always run in the tests.
func ensureSocketIO(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required for the socket.io target: %v", err)
	}
	dir := filepath.Join(testScripts, "socketio")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("npm ci: %v\n%s", err, out)
		}
	})
}

// startTarget starts the named target or skips the test if its runtime is
// missing (socket.io never skips).
func startTarget(t *testing.T, name string) *server {
	t.Helper()
	if name == "socketio" {
		ensureSocketIO(t)
	}
	tg := Targets(testScripts, os.Getenv("SWIFTLET_BIN"))[name]
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), tg, port, filepath.Join(t.TempDir(), name+".log"))
	if errors.Is(err, ErrNotInstalled) && name != "socketio" {
		t.Skipf("target %s not installed: %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func testCell(name string, proto Proto, addr string, mode Mode, s, p int) cellConfig {
	return cellConfig{target: name, proto: proto, addr: addr, mode: mode, s: s, p: p, warmup: 1, rounds: 10,
		budget: 60 * time.Second, srcBase: 2, seed: 1, progress: io.Discard, rate: 2000, duration: 2 * time.Second}
}

func checkExact(t *testing.T, r *CellResult) {
	t.Helper()
	if r.Status != StatusOK {
		t.Fatalf("%s: status %s: %s", r.Name(), r.Status, r.Error)
	}
	if r.Expected == 0 || r.Delivered != r.Expected || r.Missing != 0 || r.Duplicates != 0 || r.Strays != 0 {
		t.Fatalf("%s: expected %d delivered %d missing %d duplicates %d strays %d", r.Name(),
			r.Expected, r.Delivered, r.Missing, r.Duplicates, r.Strays)
	}
	if r.Latency.Count != r.Delivered-r.deliveredInWarmup() {
		t.Fatalf("%s: %d latencies recorded for %d measured deliveries", r.Name(), r.Latency.Count, r.Delivered-r.deliveredInWarmup())
	}
}

func (c *CellResult) deliveredInWarmup() int64 {
	var n int64
	for _, r := range c.Rounds {
		if r.Warmup {
			n += r.Deliveries
		}
	}
	return n
}

// TestExactCounting runs real cells and checks that every expected message
// arrived exactly once, in both round modes, against every installed peer.
func TestExactCounting(t *testing.T) {
	for _, name := range []string{"socketio", "deepstream", "swiftlet"} { // swiftlet: set SWIFTLET_BIN
		t.Run(name, func(t *testing.T) {
			srv := startTarget(t, name)
			proto := Targets(testScripts, "")[name].Proto
			// 100x10 publishes from one goroutine; 40x128 from several (publishRound), and in
			// the 2016 mode its 128 publishes come from 40 connections, so most publish twice or
			// more in a round.
			for _, row := range []Row{{100, 10}, {40, 128}} {
				for _, mode := range []Mode{ModeDefault, Mode2016} {
					r := runCell(context.Background(), testCell(name, proto, srv.addr, mode, row.S, row.P))
					checkExact(t, r)
					want := int64(11 * row.S * row.P)
					if mode == Mode2016 {
						want = int64(11 * (row.S - 1) * row.P)
					}
					if r.Expected != want {
						t.Fatalf("%s %s: expected %d deliveries, plan said %d", name, mode, want, r.Expected)
					}
					if len(r.Rounds) != 11 || len(r.MeasuredNs()) != 10 {
						t.Fatalf("%s: %d rounds, %d measured", name, len(r.Rounds), len(r.MeasuredNs()))
					}
					t.Logf("%s %s %dx%d: median round %.3f ms, p99 latency %.3f ms", name, mode, row.S, row.P, r.MedianNs/1e6, float64(r.Latency.P99)/1e6)
				}
			}
		})
	}
}

// TestOpenLoopExact runs the open-loop mode against socket.io: a fixed
// schedule of publishes, every delivery counted once, latency from the
// intended send time, offered and achieved rates reported.
func TestOpenLoopExact(t *testing.T) {
	srv := startTarget(t, "socketio")
	cfg := testCell("socketio", ProtoSocketIO, srv.addr, ModeOpenLoop, 20, 4)
	cfg.rate, cfg.duration = 1000, 2*time.Second
	r := runCell(context.Background(), cfg)
	if r.Status != StatusOK {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if r.Expected != 2000*20 || r.Delivered != r.Expected || r.Duplicates != 0 || r.Missing != 0 || r.Strays != 0 {
		t.Fatalf("expected %d delivered %d dups %d missing %d strays %d", r.Expected, r.Delivered, r.Duplicates, r.Missing, r.Strays)
	}
	if r.Latency.Count != r.Delivered {
		t.Fatalf("%d latencies for %d deliveries", r.Latency.Count, r.Delivered)
	}
	if r.OfferedRate != 20000 || r.AchievedRate <= 0 || len(r.intervals) < 2 {
		t.Fatalf("offered %v achieved %v, %d intervals", r.OfferedRate, r.AchievedRate, len(r.intervals))
	}
	var n int64
	for _, h := range r.intervals {
		n += h.TotalCount()
	}
	if n != r.Latency.Count {
		t.Fatalf("intervals hold %d latencies, total %d", n, r.Latency.Count)
	}
	t.Logf("openloop 20x4 at 1000/s: achieved %.0f deliveries/s, p50 %.3f ms p99 %.3f ms p99.9 %.3f ms max %.3f ms",
		r.AchievedRate, float64(r.Latency.P50)/1e6, float64(r.Latency.P99)/1e6, float64(r.Latency.P999)/1e6, float64(r.Latency.Max)/1e6)
}

// TestBudgetReported checks that a cell that cannot finish inside its budget
// is reported as StatusBudget with its rounds kept, not dropped.
func TestBudgetReported(t *testing.T) {
	srv := startTarget(t, "socketio")
	cfg := testCell("socketio", ProtoSocketIO, srv.addr, ModeDefault, 200, 200)
	cfg.budget = 1500 * time.Millisecond
	cfg.rounds = 1000
	r := runCell(context.Background(), cfg)
	if r.Status != StatusBudget || !strings.Contains(cellText(r), "budget") {
		t.Fatalf("status %s (%s), text %q", r.Status, r.Error, cellText(r))
	}
	if len(r.Rounds) == 0 || r.Rounds[len(r.Rounds)-1].Complete {
		t.Fatalf("rounds %+v: the unfinished round must be kept and marked incomplete", r.Rounds)
	}
	if r.Duplicates != 0 || r.Strays != 0 {
		t.Fatalf("dups %d strays %d", r.Duplicates, r.Strays)
	}
}
