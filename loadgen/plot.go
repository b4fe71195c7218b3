package loadgen

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// savePlot writes p as <stem>.png and <stem>.svg. gonum panics on some
// degenerate plots (a log axis without a positive value); that is an error
// here, never a crash after a long run.
func savePlot(p *plot.Plot, dir, stem string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot %s: %v", stem, r)
		}
	}()
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, stem+ext)); err != nil {
			return err
		}
	}
	return nil
}

// series is one line on a plot.
type series struct {
	name string
	pts  plotter.XYs
}

func linePlot(title, xLabel, yLabel string, logX bool, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / 7)
		pts.Color = plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	return p, nil
}

// roundSeries returns one point per row with a complete measurement:
// x = row index, y = mean round time in ms.
func roundSeries(s *Summary, target, suffix string) series {
	out := series{name: target + suffix}
	for i, r := range s.Rows {
		if c := s.Cell(target, r); c != nil && c.Status == StatusOK && c.MeanNs > 0 {
			out.pts = append(out.pts, plotter.XY{X: float64(i), Y: c.MeanNs / 1e6})
		}
	}
	return out
}

func rowTicks(rows []Row) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(rows))
	for i, r := range rows {
		t[i] = plot.Tick{Value: float64(i), Label: strconv.Itoa(r.S) + "x" + strconv.Itoa(r.P)}
	}
	return t
}

// percentileSeries turns a latency histogram into the HdrHistogram plotter's
// curve: x = 1/(1-percentile), y = latency in ms.
func percentileSeries(name string, h *hdrhistogram.Histogram) series {
	out := series{name: name}
	if h == nil || h.TotalCount() == 0 {
		return out
	}
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		q := b.Quantile / 100
		if q >= 1 {
			continue
		}
		y := float64(b.ValueAt) / 1e6
		if y <= 0 {
			continue
		}
		out.pts = append(out.pts, plotter.XY{X: 1 / (1 - q), Y: y})
	}
	return out
}

// writePlots draws roundtimes.{png,svg} (mean round time per row for every
// target, log scale, with the published 2016 figures) and, per row,
// latency-<S>x<P>.{png,svg} (latency percentile curves for every target).
func writePlots(dir string, s *Summary) error {
	if len(s.Rows) == 0 {
		return nil
	}
	var ss []series
	for _, t := range s.Targets {
		ss = append(ss, roundSeries(s, t, ""))
	}
	ds, sio := series{name: "deepstream 2016 (published)"}, series{name: "socket.io 2016 (published)"}
	for i, r := range s.Rows {
		if p, ok := publishedFor(r); ok {
			ds.pts = append(ds.pts, plotter.XY{X: float64(i), Y: p.DeepstreamMs})
			sio.pts = append(sio.pts, plotter.XY{X: float64(i), Y: p.SocketIOMs})
		}
	}
	ss = append(ss, ds, sio)
	if !hasRoundPoints(ss) {
		// Nothing to draw: an open-loop run has no rounds, and its rows may not be published ones.
		return writeLatencyPlots(dir, s)
	}
	p, err := linePlot(fmt.Sprintf("Round time per row (%s, mode %s)", s.Label, s.Mode), "subscribers x publishers", "round time (ms, log)", false, ss)
	if err != nil {
		return err
	}
	p.X.Tick.Marker = rowTicks(s.Rows)
	p.X.Min, p.X.Max = -0.5, float64(len(s.Rows))-0.5
	if err := savePlot(p, dir, "roundtimes"); err != nil {
		return err
	}
	return writeLatencyPlots(dir, s)
}

// hasRoundPoints reports whether any series has a point to draw.
func hasRoundPoints(ss []series) bool {
	for _, s := range ss {
		if len(s.pts) > 0 {
			return true
		}
	}
	return false
}

// writeLatencyPlots draws latency-<S>x<P>.{png,svg} per row with a latency to show.
func writeLatencyPlots(dir string, s *Summary) error {
	for _, r := range s.Rows {
		var ls []series
		for _, t := range s.Targets {
			if c := s.Cell(t, r); c != nil {
				ls = append(ls, percentileSeries(t, c.hist))
			}
		}
		if !hasPoints(ls) {
			continue
		}
		p, err := linePlot(fmt.Sprintf("Delivery latency by percentile, %dx%d (%s)", r.S, r.P, s.Mode), "1/(1-percentile)  (10 = p90, 100 = p99, 1000 = p99.9)", "latency (ms, log)", true, ls)
		if err != nil {
			return err
		}
		if err := savePlot(p, dir, fmt.Sprintf("latency-%dx%d", r.S, r.P)); err != nil {
			return err
		}
	}
	return nil
}

func hasPoints(ss []series) bool {
	for _, s := range ss {
		if len(s.pts) > 1 && !math.IsInf(s.pts[len(s.pts)-1].X, 0) {
			return true
		}
	}
	return false
}
