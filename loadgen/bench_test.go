package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchQuick is the bench-quick smoke test: BenchMain on the quick rows
// against swiftlet (when SWIFTLET_BIN names the binary, as make test does),
// socket.io (always) and deepstream 7 (when installed), then checks that every
// result file is complete and well formed, and that compare works on the
// output.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	ensureSocketIO(t)
	targets := "socketio"
	if err := needNodeModules(filepath.Join(testScripts, "deepstream"), "@deepstream/server"); err == nil {
		targets += ",deepstream"
	} else {
		t.Logf("deepstream 7 not installed (%v): running socket.io only", err)
	}
	args := []string{"-rows", "quick", "-rounds", "10", "-warmup", "1", "-budget", "30s", "-label", "quick", "-scripts", testScripts}
	if bin := os.Getenv("SWIFTLET_BIN"); bin != "" {
		targets = "swiftlet," + targets
		args = append(args, "-swiftlet-bin", bin)
	} else {
		t.Log("SWIFTLET_BIN not set: running without swiftlet")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := BenchMain(append(args, "-targets", targets, "-out", out), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("BenchMain exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "[1/") {
		t.Fatalf("no progress lines on stderr:\n%s", stderr.String())
	}
	dir := filepath.Join(out, "quick")
	s, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(targets, ",")
	if len(s.Cells) != len(names)*len(QuickRows) {
		t.Fatalf("%d cells in summary, want %d", len(s.Cells), len(names)*len(QuickRows))
	}
	for _, f := range []string{"machine.json", "machine.md", "summary.json", "table.md", "bench.txt", "roundtimes.png", "roundtimes.svg"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s missing or empty: %v", f, err)
		}
	}
	var m Machine
	mb, _ := os.ReadFile(filepath.Join(dir, "machine.json"))
	if err := json.Unmarshal(mb, &m); err != nil || m.GoVersion == "" || m.GOMAXPROCS < 1 || m.NullSyscallN <= 0 || m.LoopbackWriteN <= 0 || m.Kernel == "" {
		t.Fatalf("machine.json incomplete: %+v (%v)", m, err)
	}
	for _, c := range s.Cells {
		if c.Status != StatusOK || c.Delivered != c.Expected || c.Duplicates != 0 || len(c.MeasuredNs()) != 10 {
			t.Fatalf("%s: status %s %s, %d/%d delivered, %d duplicates, %d measured rounds", c.Name(), c.Status, c.Error,
				c.Delivered, c.Expected, c.Duplicates, len(c.MeasuredNs()))
		}
		rows := readHgrmFile(t, filepath.Join(dir, c.Name()+".hgrm"))
		if rows[len(rows)-1].TotalCount != c.Latency.Count {
			t.Fatalf("%s.hgrm ends at count %d, summary says %d", c.Name(), rows[len(rows)-1].TotalCount, c.Latency.Count)
		}
		f, err := os.Open(filepath.Join(dir, c.Name()+".hlog"))
		if err != nil {
			t.Fatal(err)
		}
		hs, err := ReadHlog(f)
		f.Close()
		if err != nil || len(hs) != 10 {
			t.Fatalf("%s.hlog: %d intervals, err %v", c.Name(), len(hs), err)
		}
		for _, ext := range []string{".png", ".svg"} {
			if _, err := os.Stat(filepath.Join(dir, "latency-"+itoa(c.S)+"x"+itoa(c.P)+ext)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bench := benchLines(t, filepath.Join(dir, "bench.txt"))
	if bench["BenchmarkRound"] != len(s.Cells)*10 {
		t.Fatalf("bench.txt has %d BenchmarkRound lines, want %d", bench["BenchmarkRound"], len(s.Cells)*10)
	}
	checkTableMatchesSummary(t, dir, s)

	// compare the run with itself: every cell present, ratio 1, no significant difference.
	stdout.Reset()
	cmpDir := filepath.Join(out, "cmp")
	if code := CompareMain([]string{"-out", cmpDir, dir, dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("CompareMain exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "no significant difference"); n != len(s.Cells) {
		t.Fatalf("self-compare: %d cells without difference, want %d:\n%s", n, len(s.Cells), stdout.String())
	}
	for _, f := range []string{"compare.md", "compare-roundtimes.png", "compare-roundtimes.svg", "compare-latency-10x1.png"} {
		if _, err := os.Stat(filepath.Join(cmpDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("\n%s", s.tableForLog())
}

func (s *Summary) tableForLog() string { return tableMarkdown(s) }

func itoa(i int) string { return jsonInt(i) }

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }

func readHgrmFile(t *testing.T, path string) []HgrmRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ReadHgrm(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rows) == 0 || rows[len(rows)-1].Percentile != 1 {
		t.Fatalf("%s: %d rows, last percentile %v", path, len(rows), rows[len(rows)-1].Percentile)
	}
	return rows
}

// benchLines counts the lines of bench.txt per benchmark kind, checking that
// each is in Go benchmark format (name, iterations, value-unit pairs).
func benchLines(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || !strings.HasPrefix(fs[0], "Benchmark") {
			continue
		}
		if len(fs) < 4 || len(fs)%2 != 0 || !strings.Contains(fs[0], "/target=") {
			t.Fatalf("bad benchmark line %q", sc.Text())
		}
		kind, _, _ := strings.Cut(fs[0], "/")
		n[kind]++
	}
	return n
}

// checkTableMatchesSummary parses table.md and checks each target column
// against the summary's figures.
func checkTableMatchesSummary(t *testing.T, dir string, s *Summary) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "table.md"))
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		if header == nil {
			header = cols
			continue
		}
		if header[0] != "S" || strings.HasPrefix(cols[0], "-") || strings.HasPrefix(cols[0], "---") {
			continue
		}
		var r Row
		if err := json.Unmarshal([]byte(cols[0]), &r.S); err != nil {
			t.Fatalf("table.md row %q: %v", line, err)
		}
		_ = json.Unmarshal([]byte(cols[1]), &r.P)
		for i, h := range header {
			c := s.Cell(h, r)
			if c == nil {
				continue
			}
			if cols[i] != cellText(c) {
				t.Fatalf("table.md %s %dx%d says %q, summary.json gives %q", h, r.S, r.P, cols[i], cellText(c))
			}
			found++
		}
	}
	if found != len(s.Cells) {
		t.Fatalf("table.md shows %d target cells, summary has %d", found, len(s.Cells))
	}
}
