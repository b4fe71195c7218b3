package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ParseRows parses -rows: "all" (the eight published rows), "quick"
// (10x1,10x5,100x10,100x50) or a comma-separated list of SxP cells.
func ParseRows(s string) ([]Row, error) {
	switch s {
	case "all":
		return AllRows(), nil
	case "quick":
		return append([]Row(nil), QuickRows...), nil
	}
	var rows []Row
	for _, f := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(f), "x")
		sn, err1 := strconv.Atoi(a)
		pn, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || sn < 1 || pn < 1 || pn > maxPublishers {
			return nil, fmt.Errorf("bad row %q: want all, quick or SxP (e.g. 1000x100)", f)
		}
		rows = append(rows, Row{sn, pn})
	}
	return rows, nil
}

// BenchMain runs the benchmark matrix; it is `swiftlet bench`. It returns
// the process exit code: 0 when every cell ran (a cell that exhausted its
// budget counts as run), 1 when a cell failed, 2 on bad flags.
func BenchMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "swiftlet,socketio,deepstream", "comma-separated targets: swiftlet, socketio, deepstream")
	rowsFlag := fs.String("rows", "all", "all | quick (10x1,10x5,100x10,100x50) | SxP[,SxP...]")
	mode := fs.String("mode", "default", "default (S subscribers + P publishers) | 2016 (P publishes from random subscribers) | openloop")
	rounds := fs.Int("rounds", 10, "measured rounds per cell (at least 10 for a published figure)")
	warmup := fs.Int("warmup", 2, "warm-up rounds per cell (not measured)")
	budget := fs.Duration("budget", 60*time.Second, "time budget per target and cell, connecting included")
	label := fs.String("label", "", "result folder name under -out (default: UTC date-time)")
	out := fs.String("out", "results", "results root directory")
	swiftletBin := fs.String("swiftlet-bin", "bin/swiftlet", "path of the swiftlet binary (run as <bin> start --host 127.0.0.1 --port N)")
	scripts := fs.String("scripts", "scripts", "directory holding socketio/ and deepstream/")
	rate := fs.Float64("rate", 1000, "openloop: publishes per second, all publishers together")
	duration := fs.Duration("duration", 10*time.Second, "openloop: publishing time per cell")
	conc := fs.Int("concurrency", 256, "connections dialled and handshaking at once (somaxconn is 4096)")
	seed := fs.Uint64("seed", 1, "seed for the 2016 mode's random publishers")
	cpuprofile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	m := Mode(*mode)
	if m != ModeDefault && m != Mode2016 && m != ModeOpenLoop {
		fmt.Fprintf(stderr, "bench: unknown -mode %q\n", *mode)
		return 2
	}
	rows, err := ParseRows(*rowsFlag)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	known := Targets(*scripts, *swiftletBin)
	var names []string
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if _, ok := known[t]; !ok {
			fmt.Fprintf(stderr, "bench: unknown target %q\n", t)
			return 2
		}
		names = append(names, t)
	}
	if *rounds < 1 || *warmup < 0 || *budget <= 0 {
		fmt.Fprintln(stderr, "bench: -rounds must be >= 1, -warmup >= 0, -budget > 0")
		return 2
	}
	if *rounds < 10 {
		fmt.Fprintf(stderr, "bench: warning: -rounds %d; a published figure needs at least 10 measured rounds\n", *rounds)
	}
	if *label == "" {
		*label = time.Now().UTC().Format("20060102-150405")
	}
	dir := filepath.Join(*out, *label)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := &Summary{Label: *label, Mode: m, Started: time.Now().UTC().Format(time.RFC3339), Machine: DetectMachine(),
		Targets: names, Rows: rows, Options: map[string]string{}}
	fs.VisitAll(func(f *flag.Flag) { s.Options[f.Name] = f.Value.String() })
	fmt.Fprintf(stderr, "bench %s: mode %s, %d targets x %d rows, %d+%d rounds, budget %v; null syscall %.0f ns, loopback write %.1f us\n",
		*label, m, len(names), len(rows), *warmup, *rounds, *budget, s.Machine.NullSyscallN, s.Machine.LoopbackWriteN/1e3)

	failed := false
	cellNo, cells := 0, len(names)*len(rows)
	for _, name := range names {
		tg := known[name]
		var srv *server
		for _, r := range rows {
			cellNo++
			if ctx.Err() != nil {
				break
			}
			cfg := cellConfig{target: name, proto: tg.Proto, mode: m, s: r.S, p: r.P, warmup: *warmup, rounds: *rounds,
				budget: *budget, rate: *rate, duration: *duration, concurrency: *conc, seed: *seed, progress: stderr,
				srcBase: 2 + (cellNo*2)%240}
			if srv == nil {
				port, err := freePort()
				if err == nil {
					srv, err = startServer(ctx, tg, port, filepath.Join(dir, "tmp", name+".log"))
				}
				if err != nil {
					fmt.Fprintf(stderr, "[%d/%d] %s %dx%d: cannot start: %v\n", cellNo, cells, name, r.S, r.P, err)
					s.Cells = append(s.Cells, &CellResult{Target: name, Mode: m, S: r.S, P: r.P, Status: StatusError,
						Error: err.Error(), BudgetNs: int64(*budget), hist: newHist()})
					failed = true
					srv = nil
					continue
				}
			}
			cfg.addr = srv.addr
			fmt.Fprintf(stderr, "[%d/%d] %s %dx%d %s ...\n", cellNo, cells, name, r.S, r.P, m)
			res := runCell(ctx, cfg)
			s.Cells = append(s.Cells, res)
			fmt.Fprintf(stderr, "[%d/%d] %s %dx%d: %s (%s; %d/%d delivered, %d duplicates)\n", cellNo, cells, name, r.S, r.P,
				cellText(res), res.Status, res.Delivered, res.Expected, res.Duplicates)
			if res.Status == StatusError {
				failed = true
				fmt.Fprintf(stderr, "    error: %s\n", res.Error)
			}
			if res.Status != StatusOK || res.Missing != 0 || res.Duplicates != 0 {
				// A server that is still working through a backlog would
				// distort the next cell: start it afresh.
				srv.stop()
				srv = nil
			}
		}
		if srv != nil {
			srv.stop()
		}
	}
	if err := WriteResults(dir, s); err != nil {
		fmt.Fprintln(stderr, "bench: writing results:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", tableMarkdown(s))
	fmt.Fprintf(stderr, "results in %s\n", dir)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted")
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

var errUsage = errors.New("usage: compare [-out dir] [-alpha 0.05] A B")
