// Package server holds swiftlet's deepstream semantics: the session state machine (challenge, auth,
// open), events, records, RPC, presence and listening, their error replies, and the configuration.
//
// Threading: a Session belongs to the loop of its connection and is touched only there. Work that
// crosses loops goes through fanout (Publish for topics, Send for one session); registries shared by
// all loops (listening, RPC providers, presence) have their own mutexes, never held while calling into
// another registry (see LOCKING.md).
package server

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"

	"swiftlet/fanout"
	"swiftlet/frame"
	"swiftlet/loop"
	"swiftlet/server/auth"
	"swiftlet/store"
	"swiftlet/valve"
)

// Server is the deepstream handler plugged into a loop engine.
type Server struct {
	cfg    Config
	logger *slog.Logger
	engine *loop.Server
	fan    *fanout.Engine
	auth   auth.Authenticator

	eventListeners  *listenRegistry
	recordListeners *listenRegistry
	rpc             *rpcRegistry
	presence        *presenceRegistry
	store           store.Store
	records         records
	perm            *valve.Holder // nil: everything is allowed
	stopWatch       context.CancelFunc

	loops []*loopState // per loop index, set in OnLoop

	stats struct {
		messages atomic.Uint64
		errors   atomic.Uint64
	}
}

// loopState is what the server keeps per event loop; touched only on that loop.
type loopState struct {
	l       *loop.Loop
	scratch []byte // message building
	topic   []byte // topic key building
	jsonBuf []byte // typed values as JSON for permission rules
	rnd     *rand.Rand
}

// New builds the server for cfg: authentication, permissions and storage are opened here, so a bad
// users file or data directory fails at start.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{cfg: cfg, logger: logger}
	loops := cfg.Loops
	if loops <= 0 {
		loops = LoopConfig(cfg, logger).Loops
	}
	s.loops = make([]*loopState, loops)
	s.fan = fanout.New(fanout.Options{Shards: loops, Window: cfg.FlushWindow.D()})
	s.eventListeners = newListenRegistry(s, frame.TopicEvent)
	s.recordListeners = newListenRegistry(s, frame.TopicRecord)
	s.rpc = newRPCRegistry(s)
	s.presence = newPresenceRegistry(s)
	auth, err := newAuthenticator(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.auth = auth
	if s.perm, err = newPermissions(cfg); err != nil {
		return nil, fmt.Errorf("permissions: %w", err)
	}
	if s.store, err = openStore(cfg.Storage, logger); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if len(cfg.StorageExclusion) > 0 {
		s.store = store.Exclude(s.store, cfg.StorageExclusion)
	}
	s.records.seed = maphash.MakeSeed()
	for range loops {
		s.records.shards = append(s.records.shards, newRecordShard(s, s.store))
	}
	var ctx context.Context
	ctx, s.stopWatch = context.WithCancel(context.Background())
	s.watchPermissions(ctx)
	return s, nil
}

// LoopConfig derives the network engine's settings from cfg.
func LoopConfig(cfg Config, logger *slog.Logger) loop.Config {
	lc := loop.Config{
		Addr:             fmt.Sprintf("%s:%d", cfg.Host, cfg.Port),
		Loops:            cfg.Loops,
		URLPath:          cfg.URLPath,
		HealthCheckPath:  cfg.HealthCheckPath,
		MaxMessageSize:   cfg.MaxMessageSize,
		MaxFragments:     cfg.MaxFragments,
		HandshakeTimeout: cfg.HandshakeTimeout.D(),
		CloseTimeout:     cfg.CloseTimeout.D(),
		MaxOutboundBytes: cfg.MaxOutboundBytes,
		Logger:           logger,
	}
	if cfg.HeartbeatInterval > 0 {
		// deepstream 3.x's endpoint closed sockets silent for two heartbeat intervals.
		lc.IdleTimeout = 2 * cfg.HeartbeatInterval.D()
	}
	return lc.WithDefaults()
}

// Attach records the engine the server runs on. Call it once, before the engine runs.
func (s *Server) Attach(e *loop.Server) { s.engine = e }

// Close releases the server's resources after the engine has stopped: the record shards finish what
// is queued, then the store flushes and closes.
func (s *Server) Close() error {
	s.stopWatch()
	st := s.fan.Stats()
	s.logger.Info("delivery totals", "records", st.Records, "sends", st.Sends, "delivered", st.Delivered,
		"frames", st.Frames, "drains", st.Drains, "wakes", st.Wakes, "deferred", st.Deferred, "ringFull", st.RingFull)
	for _, sh := range s.records.shards {
		sh.stop()
	}
	return s.store.Close()
}

func openStore(c StorageConfig, logger *slog.Logger) (store.Store, error) {
	if c.Type == "memory" {
		return store.NewMemory(), nil
	}
	o := store.DefaultPebbleOptions()
	o.Dir, o.Sync, o.Logger = c.Path, c.Sync, logger
	return store.OpenPebble(o)
}

// Fanout returns the delivery engine (tests and benchmarks inspect its stats).
func (s *Server) Fanout() *fanout.Engine { return s.fan }

// OnLoop implements loop.Handler: attach the loop to fanout and start its heartbeat.
func (s *Server) OnLoop(l *loop.Loop) {
	ls := &loopState{l: l, rnd: rand.New(rand.NewPCG(rand.Uint64(), uint64(l.Index())))}
	s.loops[l.Index()] = ls
	s.fan.Attach(l.Index(), l)
	if hb := s.cfg.HeartbeatInterval.D(); hb > 0 {
		var beat func()
		ping := frame.AppendFrame(nil, frame.OpText, pingMessage)
		beat = func() {
			l.ForEach(func(c *loop.Conn) { c.WriteFrame(ping) })
			l.AfterFunc(hb, beat)
		}
		l.AfterFunc(hb, beat)
	}
}

var pingMessage = frame.EndMessage(frame.AppendHeader(nil, frame.TopicConnection, frame.ActionPing))

// OnOpen implements loop.Handler: a new session, greeted with the challenge.
func (s *Server) OnOpen(c *loop.Conn) {
	sess := newSession(s, c, s.loops[c.Loop().Index()])
	c.SetContext(sess)
	sess.start()
}

// OnMessage implements loop.Handler.
func (s *Server) OnMessage(c *loop.Conn, op frame.Opcode, payload []byte) {
	sess, ok := c.Context().(*Session)
	if !ok {
		return
	}
	if op != frame.OpText {
		c.Close(frame.CloseUnsupportedData, "deepstream speaks text")
		return
	}
	sess.handle(payload)
}

// OnClose implements loop.Handler.
func (s *Server) OnClose(c *loop.Conn) {
	if sess, ok := c.Context().(*Session); ok {
		sess.closed()
	}
}
