package loadgen

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"
)

// MannWhitney returns the two-sided p-value of the Mann-Whitney U test for
// samples a and b (normal approximation with tie correction and continuity
// correction), and U for a. With an empty sample it returns p = 1.
func MannWhitney(a, b []float64) (u, p float64) {
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	n := float64(n1 + n2)
	var rankA, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of ranks i+1..j
		t := float64(j - i)
		ties += t*t*t - t
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankA += rank
			}
		}
		i = j
	}
	u = rankA - float64(n1*(n1+1))/2
	mu := float64(n1*n2) / 2
	sigma := math.Sqrt(float64(n1*n2) / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 {
		return u, 1
	}
	z := math.Abs(u-mu) - 0.5
	if z < 0 {
		z = 0
	}
	z /= sigma
	return u, math.Erfc(z / math.Sqrt2)
}

// Comparison is the verdict for one cell present in both runs.
type Comparison struct {
	Target   string
	Row      Row
	MedianA  float64 // ns
	MedianB  float64 // ns
	Ratio    float64 // MedianB / MedianA: below 1 means B is faster
	P        float64
	Verdict  string
	StatusAB string
}

// Compare matches the cells of a and b and tests each pair's round times.
func Compare(a, b *Summary, alpha float64) []Comparison {
	var out []Comparison
	for _, cb := range b.Cells {
		r := Row{cb.S, cb.P}
		ca := a.Cell(cb.Target, r)
		if ca == nil {
			continue
		}
		cmp := Comparison{Target: cb.Target, Row: r, StatusAB: ca.Status + "/" + cb.Status}
		va, vb := ca.MeasuredNs(), cb.MeasuredNs()
		sort.Float64s(va)
		sort.Float64s(vb)
		cmp.MedianA, cmp.MedianB = median(va), median(vb)
		switch {
		case len(va) == 0 || len(vb) == 0:
			cmp.Verdict = "not comparable (" + cmp.StatusAB + ")"
			cmp.P = 1
		default:
			cmp.Ratio = cmp.MedianB / cmp.MedianA
			_, cmp.P = MannWhitney(va, vb)
			switch {
			case cmp.P >= alpha:
				cmp.Verdict = "no significant difference"
			case cmp.Ratio < 1:
				cmp.Verdict = "B faster"
			default:
				cmp.Verdict = "B slower"
			}
		}
		out = append(out, cmp)
	}
	return out
}

// CompareMain is `swiftlet compare A B`: per cell present in both result
// folders it prints the ratio of median round times (B/A), the Mann-Whitney
// U p-value and a verdict, writes compare.md and overlay plots to -out, and
// returns the exit code.
func CompareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (default: <B>/compare-<basename of A>)")
	alpha := fs.Float64("alpha", 0.05, "significance level of the Mann-Whitney U test")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, errUsage)
		return 2
	}
	dirA, dirB := fs.Arg(0), fs.Arg(1)
	a, err := ReadSummary(dirA)
	if err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	b, err := ReadSummary(dirB)
	if err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	if *out == "" {
		*out = filepath.Join(dirB, "compare-"+filepath.Base(filepath.Clean(dirA)))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	cmps := Compare(a, b, *alpha)
	md := compareMarkdown(a, b, cmps, *alpha)
	fmt.Fprint(stdout, md)
	if err := os.WriteFile(filepath.Join(*out, "compare.md"), []byte(md), 0o644); err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	loadHists(dirA, a)
	loadHists(dirB, b)
	if err := compareOverlays(*out, a, b); err != nil {
		fmt.Fprintln(stderr, "compare: plots:", err)
		return 1
	}
	fmt.Fprintf(stderr, "compare: %d cells, written to %s\n", len(cmps), *out)
	return 0
}

func compareMarkdown(a, b *Summary, cmps []Comparison, alpha float64) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# compare A = %s (mode %s) vs B = %s (mode %s)\n\n", a.Label, a.Mode, b.Label, b.Mode)
	if a.Mode != b.Mode {
		fmt.Fprintf(&s, "**Warning: the runs used different modes (%s vs %s); a difference is expected.**\n\n", a.Mode, b.Mode)
	}
	fmt.Fprintf(&s, "Median round times; ratio = B/A (below 1: B is faster); two-sided Mann-Whitney U on the measured rounds, alpha %.3g.\n\n", alpha)
	s.WriteString("| target | S×P | A median | B median | B/A | p | verdict |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, c := range cmps {
		ratio := "–"
		if c.Ratio > 0 {
			ratio = fmt.Sprintf("%.3f", c.Ratio)
		}
		fmt.Fprintf(&s, "| %s | %dx%d | %s | %s | %s | %.4f | %s |\n", c.Target, c.Row.S, c.Row.P,
			fmtMs(c.MedianA), fmtMs(c.MedianB), ratio, c.P, c.Verdict)
	}
	return s.String()
}

// loadHists restores each cell's latency histogram from its .hlog file.
func loadHists(dir string, s *Summary) {
	for _, c := range s.Cells {
		c.hist = newHist()
		f, err := os.Open(filepath.Join(dir, c.Name()+".hlog"))
		if err != nil {
			continue
		}
		hs, err := ReadHlog(f)
		f.Close()
		if err != nil {
			continue
		}
		for _, h := range hs {
			c.hist.Merge(h)
		}
	}
}

// compareOverlays draws round times and latency curves of A and B together.
func compareOverlays(dir string, a, b *Summary) error {
	rows := b.Rows
	// Use B's rows; A's points are placed at B's row positions.
	idx := map[Row]int{}
	for i, r := range rows {
		idx[r] = i
	}
	var ss []series
	for _, run := range []struct {
		s   *Summary
		tag string
	}{{a, " (A " + a.Label + ")"}, {b, " (B " + b.Label + ")"}} {
		for _, t := range run.s.Targets {
			se := series{name: t + run.tag}
			for _, c := range run.s.Cells {
				i, ok := idx[Row{c.S, c.P}]
				if ok && c.Target == t && c.Status == StatusOK && c.MeanNs > 0 {
					se.pts = append(se.pts, plotter.XY{X: float64(i), Y: c.MedianNs / 1e6})
				}
			}
			ss = append(ss, se)
		}
	}
	p, err := linePlot("Median round time, A vs B", "subscribers x publishers", "round time (ms, log)", false, ss)
	if err != nil {
		return err
	}
	p.X.Tick.Marker = rowTicks(rows)
	p.X.Min, p.X.Max = -0.5, float64(len(rows))-0.5
	if err := savePlot(p, dir, "compare-roundtimes"); err != nil {
		return err
	}
	for _, r := range rows {
		var ls []series
		for _, t := range b.Targets {
			if ca := a.Cell(t, r); ca != nil {
				ls = append(ls, percentileSeries(t+" (A)", ca.hist))
			}
			if cb := b.Cell(t, r); cb != nil {
				ls = append(ls, percentileSeries(t+" (B)", cb.hist))
			}
		}
		if !hasPoints(ls) {
			continue
		}
		p, err := linePlot(fmt.Sprintf("Latency by percentile, %dx%d, A vs B", r.S, r.P), "1/(1-percentile)", "latency (ms, log)", true, ls)
		if err != nil {
			return err
		}
		if err := savePlot(p, dir, fmt.Sprintf("compare-latency-%dx%d", r.S, r.P)); err != nil {
			return err
		}
	}
	return nil
}
