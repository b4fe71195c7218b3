package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Summary is the content of summary.json.
type Summary struct {
	Label   string            `json:"label"`
	Mode    Mode              `json:"mode"`
	Started string            `json:"started"`
	Machine Machine           `json:"machine"`
	Options map[string]string `json:"options"`
	Targets []string          `json:"targets"`
	Rows    []Row             `json:"rows"`
	Cells   []*CellResult     `json:"cells"`
}

// Cell returns the result for target and row, or nil.
func (s *Summary) Cell(target string, r Row) *CellResult {
	for _, c := range s.Cells {
		if c.Target == target && c.S == r.S && c.P == r.P {
			return c
		}
	}
	return nil
}

// hgrmValueScale writes .hgrm values in milliseconds (latencies are recorded
// in nanoseconds), as the HdrHistogram plotter expects.
const hgrmValueScale = 1e6

// writeCellFiles writes <name>.hgrm and <name>.hlog for one cell.
func writeCellFiles(dir string, c *CellResult) error {
	var b bytes.Buffer
	if _, err := c.hist.PercentilesPrint(&b, 5, hgrmValueScale); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, c.Name()+".hgrm"), b.Bytes(), 0o644); err != nil {
		return err
	}
	b.Reset()
	lw := hdrhistogram.NewHistogramLogWriter(&b)
	startMs := time.Now().UnixMilli()
	if len(c.intervals) > 0 {
		startMs = c.intervals[0].StartTimeMs()
	}
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	if err := lw.OutputComment(fmt.Sprintf("[swiftlet loadgen %s %s %dx%d: one interval per measured round (open loop: per second), values in ns]", c.Target, c.Mode, c.S, c.P)); err != nil {
		return err
	}
	if err := lw.OutputStartTime(startMs); err != nil {
		return err
	}
	if err := lw.OutputBaseTime(startMs); err != nil {
		return err
	}
	lw.SetBaseTime(startMs)
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	for _, h := range c.intervals {
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, c.Name()+".hlog"), b.Bytes(), 0o644)
}

// WriteResults writes every result file of a run into dir (results/<label>):
// machine.json, machine.md, the per-cell .hgrm/.hlog files, summary.json,
// table.md, bench.txt and the plots.
func WriteResults(dir string, s *Summary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mj, err := json.MarshalIndent(s.Machine, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "machine.json"), append(mj, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "machine.md"), []byte(machineMarkdown(s.Machine)), 0o644); err != nil {
		return err
	}
	for _, c := range s.Cells {
		if err := writeCellFiles(dir, c); err != nil {
			return err
		}
	}
	sj, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(sj, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "table.md"), []byte(tableMarkdown(s)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.txt"), []byte(benchText(s)), 0o644); err != nil {
		return err
	}
	return writePlots(dir, s)
}

func machineMarkdown(m Machine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Machine\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s |\n| CPUs | %d |\n| GOMAXPROCS | %d |\n| kernel | %s |\n| Go | %s %s/%s |\n| null syscall (getppid) | %.0f ns |\n",
		m.CPUModel, m.NumCPU, m.GOMAXPROCS, m.Kernel, m.GoVersion, m.GOOS, m.GOARCH, m.NullSyscallN)
	if m.LoopbackWriteN > 0 {
		fmt.Fprintf(&b, "| loopback TCP write, reader parked (100 B) | %.1f us |\n", m.LoopbackWriteN/1e3)
	}
	fmt.Fprintf(&b, "| host | %s |\n| time | %s |\n", m.Hostname, m.Time)
	return b.String()
}

// fmtMs formats a round time in nanoseconds as milliseconds for table.md.
func fmtMs(ns float64) string {
	ms := ns / 1e6
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(ms, 'f', 3, 64) + " ms"
	}
}

// cellText is what table.md shows for a cell: its mean measured round time,
// "> budget" if it ran out of time, or the error.
func cellText(c *CellResult) string {
	switch {
	case c == nil:
		return "–"
	case c.Status == StatusBudget:
		return "> " + time.Duration(c.BudgetNs).String() + " budget"
	case c.Status != StatusOK:
		return "error"
	case c.Mode == ModeOpenLoop:
		return fmt.Sprintf("p99 %s", fmtMs(float64(c.Latency.P99)))
	}
	return fmtMs(c.MeanNs)
}

func factor(x float64) string {
	switch {
	case x >= 100:
		return "x" + strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return "x" + strconv.FormatFloat(x, 'f', 1, 64)
	}
	return "x" + strconv.FormatFloat(x, 'f', 2, 64)
}

// tableMarkdown renders the published table with a measured column per
// target and factors beside it: published deepstream 2016 / measured (how
// many times faster than deepstream 2016 the target is) and, when socket.io
// was measured, socket.io / target on this machine.
func tableMarkdown(s *Summary) string {
	var b strings.Builder
	if s.Mode == ModeOpenLoop {
		fmt.Fprintf(&b, "# %s (mode %s)\n\nOpen loop: publishes on a fixed schedule, latency from the intended send time (coordinated omission accounted for); the first table shows p99 latency per cell, the last one the offered and achieved rates. ", s.Label, s.Mode)
	} else {
		fmt.Fprintf(&b, "# %s (mode %s)\n\nMean of the measured rounds (round = every publisher sends one message, until every subscriber has every message). ", s.Label, s.Mode)
	}
	fmt.Fprintf(&b, "\"vs ds2016\" = published deepstream 2016 time / measured time; \"vs socketio\" = socket.io measured here / target.\n\n")
	hdr := "| S | P | deepstream 2016 | socket.io 2016 |"
	sep := "|---:|---:|---:|---:|"
	hasSIO := false
	for _, t := range s.Targets {
		hasSIO = hasSIO || t == "socketio"
	}
	for _, t := range s.Targets {
		hdr += " " + t + " | " + t + " vs ds2016 |"
		sep += "---:|---:|"
		if hasSIO && t != "socketio" {
			hdr += " " + t + " vs socketio |"
			sep += "---:|"
		}
	}
	b.WriteString(hdr + "\n" + sep + "\n")
	for _, r := range s.Rows {
		pub, ok := publishedFor(r)
		line := fmt.Sprintf("| %d | %d |", r.S, r.P)
		if ok {
			line += fmt.Sprintf(" %s | %s |", fmtMs(pub.DeepstreamMs*1e6), fmtMs(pub.SocketIOMs*1e6))
		} else {
			line += " – | – |"
		}
		sio := s.Cell("socketio", r)
		for _, t := range s.Targets {
			c := s.Cell(t, r)
			line += " " + cellText(c) + " |"
			if ok && c != nil && c.Status == StatusOK && c.MeanNs > 0 && c.Mode != ModeOpenLoop {
				line += " " + factor(pub.DeepstreamMs*1e6/c.MeanNs) + " |"
			} else {
				line += " – |"
			}
			if hasSIO && t != "socketio" {
				if c != nil && sio != nil && c.Status == StatusOK && sio.Status == StatusOK && c.MeanNs > 0 && c.Mode != ModeOpenLoop {
					line += " " + factor(sio.MeanNs/c.MeanNs) + " |"
				} else if c != nil && sio != nil && c.Status == StatusOK && sio.Status == StatusBudget && c.MeanNs > 0 {
					line += " > " + factor(float64(sio.BudgetNs)/c.MeanNs) + " |"
				} else {
					line += " – |"
				}
			}
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("\nDeliveries (expected = delivered, none missing, none duplicated) and latency per cell:\n\n")
	b.WriteString("| target | S×P | status | rounds | expected | delivered | missing | duplicates | latency p50 | p99 | p99.9 | max |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range s.Cells {
		// A cell that measured no round (it ran out of budget first) has no latency to show.
		lat := [4]string{"–", "–", "–", "–"}
		if c.Latency.Count > 0 {
			lat = [4]string{fmtMs(float64(c.Latency.P50)), fmtMs(float64(c.Latency.P99)), fmtMs(float64(c.Latency.P999)), fmtMs(float64(c.Latency.Max))}
		}
		fmt.Fprintf(&b, "| %s | %dx%d | %s | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n", c.Target, c.S, c.P, c.Status,
			len(c.MeasuredNs()), c.Expected, c.Delivered, c.Missing, c.Duplicates, lat[0], lat[1], lat[2], lat[3])
	}
	if s.Mode == ModeOpenLoop {
		b.WriteString("\nOpen-loop rates (deliveries per second; offered = publishes/s x subscribers) and latency from the intended send time:\n\n")
		b.WriteString("| target | S×P | status | publishes/s | offered deliveries/s | achieved deliveries/s | achieved/offered | p50 | p99 | p99.9 | max |\n")
		b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range s.Cells {
			ratio := "–"
			if c.OfferedRate > 0 {
				ratio = strconv.FormatFloat(c.AchievedRate/c.OfferedRate, 'f', 3, 64)
			}
			lat := [4]string{"–", "–", "–", "–"}
			if c.Latency.Count > 0 {
				lat = [4]string{fmtMs(float64(c.Latency.P50)), fmtMs(float64(c.Latency.P99)), fmtMs(float64(c.Latency.P999)), fmtMs(float64(c.Latency.Max))}
			}
			fmt.Fprintf(&b, "| %s | %dx%d | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s |\n", c.Target, c.S, c.P, c.Status,
				c.PublishRate, c.OfferedRate, c.AchievedRate, ratio, lat[0], lat[1], lat[2], lat[3])
		}
	}
	return b.String()
}

// benchName is the Go benchmark name of a cell.
func benchName(kind string, c *CellResult) string {
	return fmt.Sprintf("Benchmark%s/target=%s/S=%d/P=%d", kind, c.Target, c.S, c.P)
}

// benchText renders bench.txt: one BenchmarkRound line per measured round
// (benchstat treats them as samples), and one BenchmarkLatency line per cell.
func benchText(s *Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\npkg: swiftlet/loadgen\ncpu: %s\nmode: %s\nlabel: %s\n", s.Machine.GOOS, s.Machine.GOARCH, s.Machine.CPUModel, s.Mode, s.Label)
	for _, c := range s.Cells {
		for _, r := range c.Rounds {
			if r.Warmup || !r.Complete {
				continue
			}
			rate := float64(r.Deliveries) / (float64(r.Ns) / 1e9)
			fmt.Fprintf(&b, "%s 1 %d ns/op %.0f deliveries/s\n", benchName("Round", c), r.Ns, rate)
		}
		if c.Latency.Count > 0 {
			fmt.Fprintf(&b, "%s %d %.0f ns/op %d p50-ns %d p99-ns %d p99.9-ns %d max-ns\n", benchName("Latency", c), c.Latency.Count,
				c.Latency.Mean, c.Latency.P50, c.Latency.P99, c.Latency.P999, c.Latency.Max)
		}
		if c.Mode == ModeOpenLoop && c.AchievedRate > 0 {
			fmt.Fprintf(&b, "%s 1 %.0f offered/s %.0f achieved/s\n", benchName("OpenLoop", c), c.OfferedRate, c.AchievedRate)
		}
	}
	return b.String()
}

// HgrmRow is one line of a .hgrm percentile file.
type HgrmRow struct {
	Value, Percentile float64
	TotalCount        int64
	Inverse           float64 // 1/(1-Percentile); +Inf for the last line
}

// ReadHgrm parses a .hgrm file in the 4-column HdrHistogram percentile
// format (header line, blank line, rows, "#[" footer lines).
func ReadHgrm(r io.Reader) ([]HgrmRow, error) {
	sc := bufio.NewScanner(r)
	var rows []HgrmRow
	header := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if !header {
			if len(f) != 4 || f[0] != "Value" || f[1] != "Percentile" || f[2] != "TotalCount" || f[3] != "1/(1-Percentile)" {
				return nil, fmt.Errorf("hgrm: bad header %q", line)
			}
			header = true
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("hgrm: %d columns in %q", len(f), line)
		}
		var row HgrmRow
		var err error
		if row.Value, err = strconv.ParseFloat(f[0], 64); err != nil {
			return nil, err
		}
		if row.Percentile, err = strconv.ParseFloat(f[1], 64); err != nil {
			return nil, err
		}
		if row.TotalCount, err = strconv.ParseInt(f[2], 10, 64); err != nil {
			return nil, err
		}
		if row.Inverse, err = strconv.ParseFloat(f[3], 64); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if !header {
		return nil, fmt.Errorf("hgrm: no header")
	}
	return rows, sc.Err()
}

// ReadHlog decodes every interval histogram of a .hlog file.
func ReadHlog(r io.Reader) ([]*hdrhistogram.Histogram, error) {
	lr := hdrhistogram.NewHistogramLogReader(r)
	var hs []*hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, err
		}
		if h == nil {
			return hs, nil
		}
		hs = append(hs, h)
	}
}

// ReadSummary reads summary.json from a result directory.
func ReadSummary(dir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &s, nil
}
