// Package loop is swiftlet's network engine: gnet event loops (one per core) that accept TCP
// connections, run the HTTP/1.1 upgrade, decode WebSocket frames with package frame, and hand complete
// text messages to a Handler.
//
// Ownership: a connection belongs to the loop that accepted it, and all of its state is touched only on
// that loop's goroutine, so no lock guards it. Work for a loop from elsewhere goes through
// Loop.Execute. gnet has no deadlines, so each loop keeps its own timer heap (handshake, close and
// application timers), advanced by a ticker goroutine that posts a tick every Config.TickInterval.
//
// Output: everything written to a connection during one loop callback (a read, a timer, an Execute) is
// collected and written with one write at the end of the callback. A connection whose unsent output
// exceeds Config.MaxOutboundBytes is a slow consumer: it is sent a 1008 close and dropped, and counted,
// so that it never holds anyone else up.
package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"swiftlet/frame"
)

// Config holds the engine's settings. Zero values take the defaults documented on each field.
type Config struct {
	Addr             string        // host:port to listen on; default "0.0.0.0:6020"
	Loops            int           // event loops; default runtime.NumCPU()
	URLPath          string        // WebSocket endpoint; default "/deepstream"
	HealthCheckPath  string        // GET answers 200; default "/health-check"
	MaxMessageSize   int           // largest inbound message; default 1 MiB (close 1009 beyond)
	MaxFragments     int           // most fragments in one message; default 16384 (close 1009 beyond)
	MaxRequestSize   int           // largest HTTP upgrade request head; default 8 KiB (431 beyond)
	HandshakeTimeout time.Duration // the upgrade must complete within this; default 5 s (408 then close)
	CloseTimeout     time.Duration // after our close frame, drop TCP if the peer has not answered; default 5 s
	IdleTimeout      time.Duration // close a connection that sent nothing for this long; default 0 (off)
	PingInterval     time.Duration // send a WebSocket ping after this much silence; default 0 (off)
	MaxOutboundBytes int           // unsent output beyond this closes the connection with 1008; default 4 MiB
	TickInterval     time.Duration // timer resolution; default 5 ms
	Logger           *slog.Logger  // default slog.Default()
}

// WithDefaults returns c with every zero field set to its default. Safe for concurrent use.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "0.0.0.0:6020"
	}
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.URLPath == "" {
		c.URLPath = "/deepstream"
	}
	if c.HealthCheckPath == "" {
		c.HealthCheckPath = "/health-check"
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 1 << 20
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = 16384
	}
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = frame.DefaultMaxRequestSize
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.MaxOutboundBytes <= 0 {
		c.MaxOutboundBytes = 4 << 20
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 5 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Handler is what the engine hands connections and messages to. Every method is called on the loop
// that owns the connection.
type Handler interface {
	// OnLoop is called once per loop, on that loop, before any of its connections is opened.
	OnLoop(l *Loop)
	// OnOpen is called when a WebSocket upgrade has completed.
	OnOpen(c *Conn)
	// OnMessage is called for every complete message: text (valid UTF-8) or binary. payload is valid
	// only during the call.
	OnMessage(c *Conn, op frame.Opcode, payload []byte)
	// OnClose is called once for every connection that was opened, when its socket is gone.
	OnClose(c *Conn)
}

// Stats are engine counters. Read them with Server.Stats.
type Stats struct {
	Accepted      uint64 // TCP connections accepted
	Open          int64  // WebSocket connections open now
	SlowConsumers uint64 // connections dropped because their output passed MaxOutboundBytes
	Rejected      uint64 // upgrade requests refused with an HTTP error or timed out
	Panics        uint64 // handler panics recovered (each closed its connection with 1011); should stay 0
}

type stats struct {
	accepted, slowConsumers, rejected, panics atomic.Uint64
	open                                      atomic.Int64
}

// Server is the engine: gnet plus swiftlet's connection handling.
type Server struct {
	cfg     Config
	handler Handler
	logger  *slog.Logger
	stats   stats
	nextID  atomic.Uint64

	mu       sync.Mutex
	loops    []*Loop // in the order gnet's loops were first seen
	engine   gnet.Engine
	booted   chan struct{}
	stopping atomic.Bool
}

// New returns a server for cfg (defaults filled in) that hands connections to h. Call Run to serve.
func New(cfg Config, h Handler) *Server {
	cfg.setDefaults()
	return &Server{cfg: cfg, handler: h, logger: cfg.Logger, booted: make(chan struct{})}
}

// Config returns the effective configuration (defaults filled in). Safe for concurrent use.
func (s *Server) Config() Config { return s.cfg }

// Loops returns the number of event loops. Safe for concurrent use.
func (s *Server) Loops() int { return s.cfg.Loops }

// Stats returns the engine counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted:      s.stats.accepted.Load(),
		Open:          s.stats.open.Load(),
		SlowConsumers: s.stats.slowConsumers.Load(),
		Rejected:      s.stats.rejected.Load(),
		Panics:        s.stats.panics.Load(),
	}
}

// Run listens and serves until Shutdown. It blocks. Call it once.
func (s *Server) Run() error {
	eh := &engineHandler{s: s}
	err := gnet.Run(eh, "tcp://"+s.cfg.Addr,
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.logger}),
		gnet.WithLoadBalancing(gnet.RoundRobin),
	)
	s.mu.Lock()
	for _, l := range s.loops {
		close(l.stopTicker)
	}
	s.mu.Unlock()
	return err
}

// WaitBooted blocks until the listener is up (or ctx ends). Safe for concurrent use.
func (s *Server) WaitBooted(ctx context.Context) error {
	select {
	case <-s.booted:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown closes every WebSocket connection with 1001 "server shutting down", writes what is queued,
// and stops the engine; Run then returns. Safe for concurrent use.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.stopping.CompareAndSwap(false, true) {
		return errors.New("loop: shutdown already in progress")
	}
	select {
	case <-s.booted:
	default:
		return errors.New("loop: server not running")
	}
	s.mu.Lock()
	loops := append([]*Loop(nil), s.loops...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		ok := l.execute(func() {
			defer wg.Done()
			for _, c := range l.conns {
				switch c.state {
				case stateOpen:
					c.Close(frame.CloseGoingAway, "server shutting down")
				case stateHandshake:
					c.drop()
				}
			}
		})
		if !ok {
			wg.Done()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	// Give peers a moment to answer the close frames (a clean close), bounded by ctx and CloseTimeout.
	waitCtx, cancel := context.WithTimeout(ctx, s.cfg.CloseTimeout)
	defer cancel()
	for s.stats.open.Load() > 0 {
		select {
		case <-waitCtx.Done():
			return s.engine.Stop(ctx)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return s.engine.Stop(ctx)
}

// recoverConn is the last line of defence: a panic while handling a connection's input is logged with
// its stack, counted, and costs that connection (1011), not the process. Deferred on the loop.
func (s *Server) recoverConn(c *Conn) {
	if r := recover(); r != nil {
		s.stats.panics.Add(1)
		s.logger.Error("panic while handling a connection; closing it", "conn", c.id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		if c.state == stateOpen {
			c.Close(frame.CloseInternalError, "internal error")
		}
		c.violated = true
	}
}

func (s *Server) sweepInterval() time.Duration {
	d := time.Duration(0)
	for _, v := range []time.Duration{s.cfg.IdleTimeout, s.cfg.PingInterval} {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	d /= 4
	if d < s.cfg.TickInterval {
		d = s.cfg.TickInterval
	}
	return d
}

// loopFor returns swiftlet's Loop for a gnet loop, creating it on first sight. Called on that loop.
func (s *Server) loopFor(el gnet.EventLoop) *Loop {
	s.mu.Lock()
	for _, l := range s.loops {
		if l.el == el {
			s.mu.Unlock()
			return l
		}
	}
	l := &Loop{srv: s, index: len(s.loops), el: el, stopTicker: make(chan struct{}), clock: time.Now()}
	if l.index >= s.cfg.Loops {
		s.mu.Unlock()
		panic(fmt.Sprintf("loop: gnet started more loops than the %d configured", s.cfg.Loops))
	}
	s.loops = append(s.loops, l)
	s.mu.Unlock()
	s.handler.OnLoop(l)
	if s.cfg.IdleTimeout > 0 || s.cfg.PingInterval > 0 {
		l.timers.Schedule(l.clock.Add(s.sweepInterval()), l.sweep)
	}
	go l.runTicker(s.cfg.TickInterval)
	return l
}

// engineHandler adapts gnet's callbacks.
type engineHandler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (h *engineHandler) OnBoot(e gnet.Engine) gnet.Action {
	h.s.engine = e
	h.s.logger.Info("listening", "addr", h.s.cfg.Addr, "loops", h.s.cfg.Loops, "path", h.s.cfg.URLPath)
	close(h.s.booted)
	return gnet.None
}

func (h *engineHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	l := s.loopFor(gc.EventLoop())
	l.enter()
	s.stats.accepted.Add(1)
	if s.stopping.Load() {
		return nil, gnet.Close
	}
	c := &Conn{gc: gc, loop: l, id: s.nextID.Add(1), lastRead: l.clock}
	c.dec.Limits = frame.Limits{MaxMessage: s.cfg.MaxMessageSize, MaxFragments: s.cfg.MaxFragments}
	c.timer = l.timers.Schedule(l.clock.Add(s.cfg.HandshakeTimeout), c.handshakeTimedOut)
	gc.SetContext(c)
	l.addConn(c)
	return nil, gnet.None
}

func (h *engineHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.None
	}
	l := c.loop
	l.enter()
	c.state = stateClosed
	c.stopTimer()
	l.removeConn(c)
	if c.open {
		c.open = false
		h.s.stats.open.Add(-1)
		h.s.handler.OnClose(c)
		if err != nil {
			h.s.logger.Debug("connection closed", "conn", c.id, "err", err)
		}
	}
	l.leave()
	return gnet.None
}

func (h *engineHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.Close
	}
	l := c.loop
	l.enter()
	defer l.leave()
	defer h.s.recoverConn(c)
	c.lastRead = l.clock
	c.pinged = false
	if c.violated {
		// After a protocol violation nothing more is read from this stream: the peer's close frame
		// cannot be found reliably in it. The socket goes when the peer closes it or at the close timeout.
		_, _ = gc.Discard(-1)
		return gnet.None
	}
	buf, _ := gc.Peek(-1)
	if c.state == stateHandshake {
		n, ok := h.handshake(c, buf)
		if !ok {
			return gnet.None
		}
		buf = buf[n:]
		_, _ = gc.Discard(n) // n > 0 once the request is complete
	}
	if len(buf) == 0 || c.state == stateClosed {
		return gnet.None
	}
	n, err := c.dec.Decode(buf, c)
	if n > 0 {
		// Careful: gnet's Discard(0) discards everything buffered.
		_, _ = gc.Discard(n)
	}
	if err != nil {
		var ce *frame.CloseError
		if !errors.As(err, &ce) {
			ce = &frame.CloseError{Code: frame.CloseProtocolError, Reason: "protocol error"}
		}
		h.s.logger.Debug("protocol error", "conn", c.id, "code", uint16(ce.Code), "reason", ce.Reason)
		c.Close(ce.Code, ce.Reason)
		c.violated = true
		_, _ = gc.Discard(-1)
	}
	if c.closeAfterFlush && !c.dirty {
		c.drop()
	}
	return gnet.None
}

// handshake parses the upgrade request in buf. ok is false while the request is incomplete or when it
// was answered with an HTTP response (the connection is then being closed). n is the request's length.
func (h *engineHandler) handshake(c *Conn, buf []byte) (n int, ok bool) {
	s := h.s
	req, n, err := frame.ParseRequest(buf, s.cfg.MaxRequestSize)
	if err == nil && n == 0 {
		return 0, false
	}
	if err == nil {
		switch {
		case string(req.Path) == s.cfg.HealthCheckPath && string(req.Method) == "GET":
			h.respond(c, 200, "", "OK\n", false)
			return n, false
		case string(req.Path) != s.cfg.URLPath:
			err = &frame.HTTPError{Status: 404, Reason: "not found"}
		default:
			err = req.CheckUpgrade()
		}
	}
	if err != nil {
		s.stats.rejected.Add(1)
		var he *frame.HTTPError
		if !errors.As(err, &he) {
			he = &frame.HTTPError{Status: 400, Reason: err.Error()}
		}
		h.respond(c, he.Status, he.Header, he.Reason+"\n", false)
		return n, false
	}
	c.stopTimer()
	c.out = frame.AppendAccept(c.out, req.Key)
	c.markDirty()
	c.state = stateOpen
	c.open = true
	s.stats.open.Add(1)
	s.handler.OnOpen(c)
	return n, true
}

// respond writes a plain HTTP response and closes the connection after it.
func (h *engineHandler) respond(c *Conn, status int, header, body string, keepAlive bool) {
	c.out = frame.AppendHTTPResponse(c.out, status, header, body, keepAlive)
	c.markDirty()
	c.state = stateClosing
	c.closeAfterFlush = true
	_, _ = c.gc.Discard(-1)
}

// handshakeTimedOut answers a connection that did not complete its upgrade in time.
func (c *Conn) handshakeTimedOut() {
	c.timer = nil
	if c.state != stateHandshake {
		return
	}
	c.loop.srv.stats.rejected.Add(1)
	c.out = frame.AppendHTTPResponse(c.out, 408, "", "request timeout\n", false)
	c.markDirty()
	c.state = stateClosing
	c.closeAfterFlush = true
}
