package loadgen

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// syntheticCell builds a cell with known round times and latencies.
func syntheticCell(target string, r Row, status string, base int64) *CellResult {
	c := &CellResult{Target: target, Mode: ModeDefault, S: r.S, P: r.P, Status: status, BudgetNs: int64(60 * time.Second), hist: newHist()}
	if status != StatusOK {
		c.Error = "synthetic"
		return c
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	for i := 0; i < 12; i++ {
		rd := Round{Index: i + 1, Warmup: i < 2, Complete: true, Ns: base + int64(i)*1000, Deliveries: int64(r.S * r.P), StartMs: start + int64(i)*100}
		c.Rounds = append(c.Rounds, rd)
		if rd.Warmup {
			continue
		}
		h := newHist()
		for v := int64(1); v <= 1000; v++ {
			_ = h.RecordValue(v * base / 100 * int64(i+1))
		}
		h.SetStartTimeMs(rd.StartMs)
		h.SetEndTimeMs(rd.StartMs + 50)
		c.intervals = append(c.intervals, h)
		c.hist.Merge(h)
	}
	c.Expected = int64(12 * r.S * r.P)
	c.Delivered = c.Expected
	c.Latency = summarize(c.hist)
	c.finishStats()
	return c
}

func syntheticSummary() *Summary {
	s := &Summary{Label: "synthetic", Mode: ModeDefault, Machine: DetectMachine(), Targets: []string{"swiftlet", "socketio"},
		Rows: []Row{{10, 1}, {100, 10}, {1000, 100}, {7, 3}}}
	s.Cells = []*CellResult{
		syntheticCell("swiftlet", Row{10, 1}, StatusOK, 200_000),
		syntheticCell("swiftlet", Row{100, 10}, StatusOK, 1_500_000),
		syntheticCell("swiftlet", Row{1000, 100}, StatusOK, 9_000_000),
		syntheticCell("swiftlet", Row{7, 3}, StatusError, 0),
		syntheticCell("socketio", Row{10, 1}, StatusOK, 300_000),
		syntheticCell("socketio", Row{100, 10}, StatusOK, 25_000_000),
		syntheticCell("socketio", Row{1000, 100}, StatusBudget, 0),
		syntheticCell("socketio", Row{7, 3}, StatusOK, 700_000),
	}
	return s
}

func TestResultFilesReadBack(t *testing.T) {
	dir := t.TempDir()
	s := syntheticSummary()
	if err := WriteResults(dir, s); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Cells {
		// .hgrm: 4 columns, values in ms, counts ending at the total.
		rows := readHgrmFile(t, filepath.Join(dir, c.Name()+".hgrm"))
		last := rows[len(rows)-1]
		if last.TotalCount != c.hist.TotalCount() || !math.IsInf(last.Inverse, 1) {
			t.Fatalf("%s: last row %+v, total %d", c.Name(), last, c.hist.TotalCount())
		}
		if c.hist.TotalCount() > 0 {
			if got, want := last.Value, float64(c.hist.Max())/1e6; math.Abs(got-want) > 0.001 {
				t.Fatalf("%s: max %v ms in hgrm, %v in histogram", c.Name(), got, want)
			}
			for _, r := range rows {
				if r.Percentile >= 0.5 {
					want := float64(c.hist.ValueAtQuantile(r.Percentile*100)) / 1e6
					if math.Abs(r.Value-want) > want*0.002+0.001 {
						t.Fatalf("%s: p%.4f = %v ms, histogram says %v", c.Name(), r.Percentile, r.Value, want)
					}
					break
				}
			}
		}
		// .hlog: the same interval histograms, and together the cell's histogram.
		f, err := os.Open(filepath.Join(dir, c.Name()+".hlog"))
		if err != nil {
			t.Fatal(err)
		}
		hs, err := ReadHlog(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != len(c.intervals) {
			t.Fatalf("%s: %d intervals read, %d written", c.Name(), len(hs), len(c.intervals))
		}
		merged := newHist()
		for i, h := range hs {
			if !h.Equals(c.intervals[i]) {
				t.Fatalf("%s: interval %d differs after decode", c.Name(), i)
			}
			merged.Merge(h)
		}
		if merged.TotalCount() != c.hist.TotalCount() || merged.Max() != c.hist.Max() || merged.ValueAtQuantile(99) != c.hist.ValueAtQuantile(99) {
			t.Fatalf("%s: merged hlog differs from the cell histogram", c.Name())
		}
	}
	back, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkTableMatchesSummary(t, dir, back)
	table, _ := os.ReadFile(filepath.Join(dir, "table.md"))
	if !strings.Contains(string(table), "> 1m0s budget") || !strings.Contains(string(table), "error") {
		t.Fatalf("table.md lacks the budget or error cell:\n%s", table)
	}
	// A cell without a measured round shows no latency, not zeros.
	if !strings.Contains(string(table), "| socketio | 1000x100 | budget | 0 | 0 | 0 | 0 | 0 | – | – | – | – |") {
		t.Fatalf("table.md shows latency for a cell that measured nothing:\n%s", table)
	}
	// 10x1: swiftlet 0.2065 ms mean vs socketio 0.3065 ms: x1.48; vs ds2016 1.28/0.2065 = x6.20.
	if !strings.Contains(string(table), "| 0.206 ms | x6.20 | x1.48 |") {
		t.Fatalf("table.md factors wrong:\n%s", table)
	}
	bench := benchLines(t, filepath.Join(dir, "bench.txt"))
	if bench["BenchmarkRound"] != 6*10 || bench["BenchmarkLatency"] != 6 {
		t.Fatalf("bench.txt counts %v", bench)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "bench.txt"))
	if !bytes.Contains(b, []byte("BenchmarkRound/target=swiftlet/S=1000/P=100 1 9002000 ns/op")) {
		t.Fatalf("bench.txt lacks the expected round line:\n%s", b)
	}
	for _, f := range []string{"roundtimes.png", "roundtimes.svg", "latency-10x1.png", "latency-100x10.svg", "machine.md"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// TestOpenLoopResults: an open-loop run has no rounds and may use a row the
// 2016 table lacks; its results still write (no round-time plot to draw, which
// once crashed the bench after the run) and table.md reports the offered and
// achieved rates.
func TestOpenLoopResults(t *testing.T) {
	dir := t.TempDir()
	c := &CellResult{Target: "swiftlet", Mode: ModeOpenLoop, S: 7, P: 3, Status: StatusOK, BudgetNs: int64(60 * time.Second), hist: newHist(),
		PublishRate: 100, OfferedRate: 700, AchievedRate: 650}
	h := newHist()
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v * 1000)
	}
	c.intervals = append(c.intervals, h)
	c.hist.Merge(h)
	c.Expected, c.Delivered = 1000, 1000
	c.Latency = summarize(c.hist)
	c.finishStats()
	s := &Summary{Label: "ol", Mode: ModeOpenLoop, Machine: DetectMachine(), Targets: []string{"swiftlet"}, Rows: []Row{{7, 3}}, Cells: []*CellResult{c}}
	if err := WriteResults(dir, s); err != nil {
		t.Fatal(err)
	}
	table, _ := os.ReadFile(filepath.Join(dir, "table.md"))
	if !strings.Contains(string(table), "| swiftlet | 7x3 | ok | 100 | 700 | 650 | 0.929 | 0.500 ms |") {
		t.Fatalf("table.md lacks the open-loop rates:\n%s", table)
	}
	if _, err := os.Stat(filepath.Join(dir, "latency-7x3.svg")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "roundtimes.svg")); err == nil {
		t.Fatal("a round-time plot without rounds")
	}
}

func TestMannWhitney(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	b := []float64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	u, p := MannWhitney(a, b)
	// Complete separation: U = 0; the normal approximation gives p ≈ 0.00018.
	if u != 0 || p > 0.001 || p <= 0 {
		t.Fatalf("separated samples: U=%v p=%v", u, p)
	}
	if _, p := MannWhitney(a, a); p < 0.99 {
		t.Fatalf("identical samples: p=%v", p)
	}
	// Interleaved samples: no difference.
	c := []float64{1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5}
	if _, p := MannWhitney(a, c); p < 0.5 {
		t.Fatalf("interleaved samples: p=%v", p)
	}
	if _, p := MannWhitney(nil, a); p != 1 {
		t.Fatalf("empty sample: p=%v", p)
	}
}

func TestCompareVerdicts(t *testing.T) {
	a := syntheticSummary()
	b := syntheticSummary()
	// Make B's swiftlet 100x10 twice as fast.
	for _, c := range b.Cells {
		if c.Target == "swiftlet" && c.S == 100 {
			for i := range c.Rounds {
				c.Rounds[i].Ns /= 2
			}
		}
	}
	got := map[string]string{}
	for _, c := range Compare(a, b, 0.05) {
		got[c.Target+"-"+itoa(c.Row.S)] = c.Verdict
		if c.Target == "swiftlet" && c.Row.S == 100 && math.Abs(c.Ratio-0.5) > 1e-9 {
			t.Fatalf("ratio %v", c.Ratio)
		}
	}
	if got["swiftlet-100"] != "B faster" || got["swiftlet-10"] != "no significant difference" || !strings.HasPrefix(got["socketio-1000"], "not comparable") {
		t.Fatalf("verdicts %v", got)
	}
}

func TestParseRows(t *testing.T) {
	if r, err := ParseRows("all"); err != nil || len(r) != 8 || r[7] != (Row{10000, 5000}) {
		t.Fatalf("all: %v %v", r, err)
	}
	if r, err := ParseRows("quick"); err != nil || len(r) != 4 || r[3] != (Row{100, 50}) {
		t.Fatalf("quick: %v %v", r, err)
	}
	if r, err := ParseRows("1000x100, 3x2"); err != nil || len(r) != 2 || r[1] != (Row{3, 2}) {
		t.Fatalf("cells: %v %v", r, err)
	}
	for _, bad := range []string{"", "10", "x5", "10x0", "ax1", "10x-1"} {
		if _, err := ParseRows(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
