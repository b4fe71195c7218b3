package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Mode selects the benchmark semantics.
type Mode string

const (
	// ModeDefault is the blog's reading: S subscriber connections plus P
	// separate publisher connections, all on one channel; a round ends after
	// S·P deliveries.
	ModeDefault Mode = "default"
	// Mode2016 is the original harness: S connections, all subscribed; P
	// publishes per round from randomly chosen subscribers (with
	// replacement), the sender excluded, so a round ends after (S-1)·P
	// deliveries.
	Mode2016 Mode = "2016"
	// ModeOpenLoop publishes on a fixed schedule for a fixed time and measures
	// latency from the intended send time.
	ModeOpenLoop Mode = "openloop"
)

// Histogram range: 1 ns to 1000 s, 3 significant digits.
const (
	histMin    = 1
	histMax    = 1_000_000_000_000
	histDigits = 3
	numShards  = 8
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// shard is one of the histograms that reader goroutines flush into.
type shard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// cellRun is the state shared by every connection of one cell.
type cellRun struct {
	proto    Proto
	p        int // publishes per round (the bitset width), or publishers in open loop
	openLoop bool
	base     time.Time
	plan     atomic.Pointer[roundPlan]
	shards   []shard
}

// now is the load generator's monotonic clock in nanoseconds.
func (r *cellRun) now() int64 { return int64(time.Since(r.base)) }

// drain moves every shard's counts into dst and resets the shards.
func (r *cellRun) drain(dst *hdrhistogram.Histogram) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		dst.Merge(s.h)
		s.h.Reset()
		s.mu.Unlock()
	}
}

// roundPlan tells the receivers what round r expects. It is published with an
// atomic store before the first publish of the round, which orders it before
// every delivery of that round.
type roundPlan struct {
	round     uint32
	want      []int32 // per receiver; nil means uniform for all
	senders   []int32 // 2016 mode: receiver id that sent each publish index
	uniform   int32
	remaining atomic.Int64 // receivers that still miss messages
	last      atomic.Int64 // latest completion time (ns on the cell clock)
	done      chan struct{}
}

func (p *roundPlan) wantFor(id int) int32 {
	if p.want == nil {
		return p.uniform
	}
	return p.want[id]
}

// arrived is called by a receiver that has got every message of the round.
func (p *roundPlan) arrived(now int64) {
	for {
		old := p.last.Load()
		if now <= old || p.last.CompareAndSwap(old, now) {
			break
		}
	}
	if p.remaining.Add(-1) == 0 {
		close(p.done)
	}
}

// cellConfig describes one cell of the matrix against one running target.
type cellConfig struct {
	target      string
	proto       Proto
	addr        string // host:port of the target
	mode        Mode
	s, p        int
	warmup      int
	rounds      int
	budget      time.Duration
	rate        float64       // open loop: publishes per second, all publishers together
	duration    time.Duration // open loop: how long to publish
	srcBase     int           // first 127.0.0.x source address octet
	concurrency int           // simultaneous dials + handshakes
	seed        uint64
	progress    io.Writer
}

// Round is one round of a cell.
type Round struct {
	Index      int   `json:"index"`
	Warmup     bool  `json:"warmup"`
	Complete   bool  `json:"complete"`
	Ns         int64 `json:"ns"`
	Deliveries int64 `json:"deliveries"`
	StartMs    int64 `json:"start_unix_ms"`
}

// Latency summarises a latency histogram, in nanoseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ns"`
	P50   int64   `json:"p50_ns"`
	P90   int64   `json:"p90_ns"`
	P99   int64   `json:"p99_ns"`
	P999  int64   `json:"p999_ns"`
	Max   int64   `json:"max_ns"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	return Latency{
		Count: h.TotalCount(), Mean: h.Mean(),
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(),
	}
}

// Cell status values.
const (
	StatusOK     = "ok"
	StatusBudget = "budget" // ran out of its time budget: reported as "> budget"
	StatusError  = "error"
)

// CellResult is everything measured for one target and one S×P cell.
type CellResult struct {
	Target     string  `json:"target"`
	Mode       Mode    `json:"mode"`
	S          int     `json:"subscribers"`
	P          int     `json:"publishers"`
	Status     string  `json:"status"`
	Error      string  `json:"error,omitempty"`
	BudgetNs   int64   `json:"budget_ns"`
	ConnectNs  int64   `json:"connect_ns"`
	Rounds     []Round `json:"rounds"`
	Expected   int64   `json:"expected_deliveries"`
	Delivered  int64   `json:"delivered"`
	Missing    int64   `json:"missing"`
	Duplicates int64   `json:"duplicates"`
	Strays     int64   `json:"strays"`
	// Round time statistics over the complete measured rounds, ns.
	MeanNs   float64 `json:"round_mean_ns"`
	MedianNs float64 `json:"round_median_ns"`
	MinNs    int64   `json:"round_min_ns"`
	MaxNs    int64   `json:"round_max_ns"`
	Latency  Latency `json:"latency"`
	// Open loop only.
	OfferedRate  float64 `json:"offered_deliveries_per_s,omitempty"`
	AchievedRate float64 `json:"achieved_deliveries_per_s,omitempty"`
	PublishRate  float64 `json:"publish_rate_per_s,omitempty"`
	DurationNs   int64   `json:"duration_ns,omitempty"`

	hist      *hdrhistogram.Histogram   // all measured latencies
	intervals []*hdrhistogram.Histogram // one per measured round (or second, open loop)
}

// Name is the file stem for the cell, "<target>-<S>x<P>".
func (c *CellResult) Name() string {
	return c.Target + "-" + strconv.Itoa(c.S) + "x" + strconv.Itoa(c.P)
}

// MeasuredNs returns the round times of the complete measured rounds.
func (c *CellResult) MeasuredNs() []float64 {
	var v []float64
	for _, r := range c.Rounds {
		if !r.Warmup && r.Complete {
			v = append(v, float64(r.Ns))
		}
	}
	return v
}

func (c *CellResult) finishStats() {
	v := c.MeasuredNs()
	if len(v) == 0 {
		return
	}
	sort.Float64s(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	c.MeanNs = sum / float64(len(v))
	c.MedianNs = median(v)
	c.MinNs, c.MaxNs = int64(v[0]), int64(v[len(v)-1])
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// runCell connects, runs the rounds (or the open-loop schedule) and
// disconnects. It never returns a partial cell without saying so in Status.
func runCell(ctx context.Context, cfg cellConfig) *CellResult {
	res := &CellResult{Target: cfg.target, Mode: cfg.mode, S: cfg.s, P: cfg.p, Status: StatusOK,
		BudgetNs: int64(cfg.budget), hist: newHist()}
	ctx, cancel := context.WithTimeout(ctx, cfg.budget)
	defer cancel()

	run := &cellRun{proto: cfg.proto, p: cfg.p, openLoop: cfg.mode == ModeOpenLoop, base: time.Now(),
		shards: make([]shard, numShards)}
	for i := range run.shards {
		run.shards[i].h = newHist()
	}

	t0 := time.Now()
	subs, pubs, all, err := connectAll(ctx, cfg, run)
	defer func() {
		for _, c := range all {
			c.close()
		}
		for _, c := range all {
			c.exited.Wait()
		}
	}()
	res.ConnectNs = int64(time.Since(t0))
	if err != nil {
		return res.fail(ctx, err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(cfg.progress, "  %s %dx%d %s: %d connections ready in %v (load generator: %d goroutines, %d MiB from the OS)\n",
		cfg.target, cfg.s, cfg.p, cfg.mode, len(all), time.Since(t0).Round(time.Millisecond), runtime.NumGoroutine(), ms.Sys>>20)

	if run.openLoop {
		err = runOpenLoop(ctx, cfg, run, res, subs, pubs)
	} else {
		err = runRounds(ctx, cfg, run, res, subs, pubs)
	}
	// A short grace so that duplicates of the last round can still show up.
	grace := time.NewTimer(50 * time.Millisecond)
	<-grace.C
	for _, c := range all {
		c.close()
	}
	for _, c := range all {
		c.exited.Wait()
	}
	for _, c := range subs {
		res.Delivered += c.delivered.Load()
		res.Duplicates += c.dups.Load()
		res.Strays += c.strays.Load()
		res.Missing += c.gaps.Load()
	}
	for _, c := range pubs {
		res.Strays += c.strays.Load()
	}
	if run.openLoop {
		tail := newHist()
		run.drain(tail)
		if tail.TotalCount() > 0 {
			// The rest (last partial second and the drain) is one more interval.
			startMs := time.Now().UnixMilli()
			if n := len(res.intervals); n > 0 {
				startMs = res.intervals[n-1].EndTimeMs()
			}
			tail.SetStartTimeMs(startMs)
			tail.SetEndTimeMs(max(startMs+1, time.Now().UnixMilli()))
			res.hist.Merge(tail)
			res.intervals = append(res.intervals, tail)
		}
		res.Missing = res.Expected - res.Delivered
	} else {
		res.Missing = res.Expected - res.Delivered
	}
	res.Latency = summarize(res.hist)
	res.finishStats()
	if err != nil {
		return res.fail(ctx, err)
	}
	return res
}

func (res *CellResult) fail(ctx context.Context, err error) *CellResult {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		res.Status = StatusBudget
		res.Error = "time budget exhausted: " + err.Error()
	} else {
		res.Status = StatusError
		res.Error = err.Error()
	}
	res.Latency = summarize(res.hist)
	res.finishStats()
	return res
}

// connectAll dials every connection with bounded concurrency and waits for
// every handshake (and subscription ack) to finish.
func connectAll(ctx context.Context, cfg cellConfig, run *cellRun) (subs, pubs, all []*conn, err error) {
	path := "/deepstream"
	pubPath := path
	if cfg.proto == ProtoSocketIO {
		path = "/socket.io/?EIO=4&transport=websocket"
		pubPath = path + "&role=pub"
	}
	nPubs := cfg.p
	if cfg.mode == Mode2016 {
		nPubs = 0
	}
	total := cfg.s + nPubs
	all = make([]*conn, total)
	conc := cfg.concurrency
	if conc <= 0 {
		conc = 256
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for w := 0; w < conc && w < total; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(cfg.srcBase+i/10000))}, Control: bindNoPort}
				sub, id, p := i < cfg.s, i, path
				if !sub {
					id, p = -1, pubPath
				}
				hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
				c, err := dialConn(hctx, d, cfg.addr, p, run, id, sub)
				if err == nil {
					c.exited.Add(1)
					go func() { defer c.exited.Done(); c.readLoop() }()
					select {
					case err = <-c.ready:
					case <-hctx.Done():
						err = fmt.Errorf("handshake: %w", hctx.Err())
					}
					all[i] = c
				}
				hcancel()
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	live := all[:0:0]
	for _, c := range all {
		if c != nil {
			live = append(live, c)
		}
	}
	if firstErr != nil {
		return nil, nil, live, firstErr
	}
	return all[:cfg.s], all[cfg.s:], all, nil
}

// publishersPerWorker sets how many publishes of a round one goroutine sends:
// a round of P publishes is sent by min(maxPublishWorkers, P/publishersPerWorker)
// goroutines (at least one).
const (
	publishersPerWorker = 32
	maxPublishWorkers   = 8
)

// publishRound sends publish i of round r from sender[i], every one stamped
// with the time it is written. Large rounds are sent by several goroutines:
// one goroutine's writes (about 13 us each on loopback here) queue behind the
// thousands of reader goroutines the first deliveries wake, which stretched a
// 1000-publish round's sending over tens of milliseconds and so measured the
// load generator instead of the server. A connection's publishes always go
// from one goroutine, in order (the 2016 mode may pick a connection twice).
func publishRound(sender []*conn, r uint32, now func() int64) error {
	workers := min(maxPublishWorkers, len(sender)/publishersPerWorker)
	if workers <= 1 {
		for i, c := range sender {
			if err := c.publish(r, uint32(i), now()); err != nil {
				return err
			}
		}
		return nil
	}
	slot := make(map[*conn]int, len(sender))
	for _, c := range sender {
		if _, ok := slot[c]; !ok {
			slot[c] = len(slot) % workers
		}
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, c := range sender {
				if slot[c] != w {
					continue
				}
				if err := c.publish(r, uint32(i), now()); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runRounds runs warm-up and measured rounds back to back.
func runRounds(ctx context.Context, cfg cellConfig, run *cellRun, res *CellResult, subs, pubs []*conn) error {
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(cfg.s)<<32|uint64(cfg.p)))
	sender := make([]*conn, cfg.p)
	var want []int32
	if cfg.mode == Mode2016 {
		want = make([]int32, cfg.s)
	}
	roundHist := newHist()
	total := cfg.warmup + cfg.rounds
	for r := 1; r <= total; r++ {
		plan := &roundPlan{round: uint32(r), done: make(chan struct{})}
		receivers := int64(cfg.s)
		expected := int64(cfg.s) * int64(cfg.p)
		if cfg.mode == Mode2016 {
			for i := range want {
				want[i] = int32(cfg.p)
			}
			for i := range sender {
				k := rng.IntN(cfg.s)
				sender[i] = subs[k]
				want[k]--
			}
			receivers, expected = 0, 0
			for _, w := range want {
				if w > 0 {
					receivers++
					expected += int64(w)
				}
			}
			plan.want = append([]int32(nil), want...)
			plan.senders = make([]int32, cfg.p)
			for i, c := range sender {
				plan.senders[i] = int32(c.id)
			}
		} else {
			copy(sender, pubs)
			plan.uniform = int32(cfg.p)
		}
		plan.remaining.Store(receivers)
		res.Expected += expected
		run.plan.Store(plan)
		rd := Round{Index: r, Warmup: r <= cfg.warmup, Deliveries: expected, StartMs: time.Now().UnixMilli()}
		start := run.now()
		if err := publishRound(sender, uint32(r), run.now); err != nil {
			res.Rounds = append(res.Rounds, rd)
			return fmt.Errorf("round %d publish: %w", r, err)
		}
		if receivers == 0 {
			close(plan.done)
			plan.last.Store(run.now())
		}
		select {
		case <-plan.done:
		case <-ctx.Done():
			rd.Ns = run.now() - start
			res.Rounds = append(res.Rounds, rd)
			return fmt.Errorf("round %d: %d of %d receivers incomplete: %w", r, plan.remaining.Load(), receivers, ctx.Err())
		}
		rd.Complete = true
		rd.Ns = plan.last.Load() - start
		res.Rounds = append(res.Rounds, rd)
		roundHist.Reset()
		run.drain(roundHist)
		if !rd.Warmup {
			h := roundHist.Clone()
			h.SetStartTimeMs(rd.StartMs)
			h.SetEndTimeMs(rd.StartMs + max(1, rd.Ns/1e6))
			res.intervals = append(res.intervals, h)
			res.hist.Merge(roundHist)
		}
		fmt.Fprintf(cfg.progress, "  %s %dx%d round %d/%d%s: %.3f ms\n", cfg.target, cfg.s, cfg.p, r, total,
			map[bool]string{true: " (warm-up)", false: ""}[rd.Warmup], float64(rd.Ns)/1e6)
	}
	return nil
}

// runOpenLoop publishes cfg.rate messages per second, round-robin over the
// publishers, for cfg.duration; every message is stamped with its intended
// send time so that latency includes any delay in sending it (coordinated
// omission, as wrk2 measures it).
func runOpenLoop(ctx context.Context, cfg cellConfig, run *cellRun, res *CellResult, subs, pubs []*conn) error {
	if cfg.rate <= 0 || cfg.p == 0 {
		return errors.New("open loop needs -rate > 0 and at least one publisher")
	}
	interval := float64(time.Second) / cfg.rate
	totalMsgs := int64(cfg.rate * cfg.duration.Seconds())
	res.PublishRate = cfg.rate
	res.OfferedRate = cfg.rate * float64(cfg.s)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	startWall := time.Now()
	start := run.now()
	nextInterval := start + int64(time.Second)
	intervalStartMs := startWall.UnixMilli()
	var k int64
	var err error
	for k < totalMsgs && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			continue
		case <-tick.C:
		}
		now := run.now()
		for k < totalMsgs {
			intended := start + int64(float64(k)*interval)
			if intended > now {
				break
			}
			pub := pubs[k%int64(len(pubs))]
			if err = pub.publish(uint32(k/int64(len(pubs))), uint32(k%int64(len(pubs))), intended); err != nil {
				break
			}
			k++
		}
		if now >= nextInterval {
			h := newHist()
			run.drain(h)
			h.SetStartTimeMs(intervalStartMs)
			h.SetEndTimeMs(intervalStartMs + 1000)
			intervalStartMs += 1000
			nextInterval += int64(time.Second)
			res.intervals = append(res.intervals, h)
			res.hist.Merge(h)
		}
	}
	res.Expected = k * int64(cfg.s)
	// Drain: wait until every delivery arrived, the budget ends, or 10 s pass.
	drainEnd := time.NewTimer(10 * time.Second)
	defer drainEnd.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	var last int64
	for err == nil {
		var got int64
		last = 0
		for _, c := range subs {
			got += c.delivered.Load() + c.gaps.Load()
			last = max(last, c.lastNs.Load())
		}
		if got >= res.Expected {
			break
		}
		select {
		case <-poll.C:
			continue
		case <-drainEnd.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	for _, c := range subs {
		last = max(last, c.lastNs.Load())
	}
	res.DurationNs = last - start
	var got int64
	for _, c := range subs {
		got += c.delivered.Load()
	}
	if res.DurationNs > 0 {
		res.AchievedRate = float64(got) / (float64(res.DurationNs) / 1e9)
	}
	fmt.Fprintf(cfg.progress, "  %s %dx%d openloop: offered %.0f/s achieved %.0f/s deliveries\n", cfg.target, cfg.s, cfg.p, res.OfferedRate, res.AchievedRate)
	return err
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT so that binding the source address
// leaves the port to connect(), which picks it per destination: without it,
// bind() searches the ephemeral range for a port free on every destination,
// which cost the load generator ~2 ms of CPU per connection at 10 000.
func bindNoPort(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
