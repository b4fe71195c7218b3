package loop

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Loop is one gnet event loop as swiftlet sees it: the connections it owns, its timers, and the
// connections written during the current callback. Everything in it is touched only on the loop's own
// goroutine, except the methods documented as safe for concurrent use.
type Loop struct {
	srv   *Server
	index int
	el    gnet.EventLoop

	conns  []*Conn
	dirty  []*Conn
	timers Timers
	clock  time.Time // loop clock, refreshed at each callback entry
	// flushing guards leave against re-entry from OnClose during a write
	flushing bool

	tickScheduled atomic.Bool
	stopTicker    chan struct{}
}

// Index returns the loop's index, 0 ≤ Index < Server.Loops(). Safe for concurrent use.
func (l *Loop) Index() int { return l.index }

// Execute runs fn on the loop's goroutine soon, then writes every connection fn wrote to. Safe for
// concurrent use; fn must not block. Once the engine is shutting down, fn is dropped. gnet allocates one
// small task per call, so callers batch work per call (fanout wakes a loop once per drain, not once per
// message). It implements fanout.Executor.
func (l *Loop) Execute(fn func()) { l.execute(fn) }

// execute is Execute reporting whether fn was queued.
func (l *Loop) execute(fn func()) bool {
	err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.enter()
		defer l.leave()
		defer l.recoverTask()
		fn()
		return nil
	}))
	return err == nil
}

// AfterFunc runs fn on the loop after d. The loop's timer resolution is Config.TickInterval. Must be
// called on the loop's goroutine; fn runs there too.
func (l *Loop) AfterFunc(d time.Duration, fn func()) *Timer {
	return l.timers.Schedule(l.now().Add(d), fn)
}

// Now returns the loop's clock: the time the current callback started. Must be called on the loop's
// goroutine.
func (l *Loop) Now() time.Time { return l.now() }

// ForEach calls fn for every open WebSocket connection of the loop. fn must not close connections other
// than the one it is given. Must be called on the loop's goroutine.
func (l *Loop) ForEach(fn func(c *Conn)) {
	for i := 0; i < len(l.conns); i++ {
		c := l.conns[i]
		if c.state == stateOpen {
			fn(c)
		}
	}
}

func (l *Loop) now() time.Time { return l.clock }

// recoverTask keeps a panicking task (a timer, a fanout drain) from taking the process down: it is
// logged with its stack and counted.
func (l *Loop) recoverTask() {
	if r := recover(); r != nil {
		l.srv.stats.panics.Add(1)
		l.srv.logger.Error("panic in a loop task", "loop", l.index, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// enter starts a loop callback: refresh the clock.
func (l *Loop) enter() { l.clock = time.Now() }

// leave ends a loop callback: write every dirty connection once. A write can fail and make gnet call
// OnClose re-entrantly (which calls leave again): the outer pass then also flushes whatever that added.
func (l *Loop) leave() {
	if l.flushing {
		return
	}
	l.flushing = true
	defer func() { l.flushing = false }()
	for i := 0; i < len(l.dirty); i++ {
		c := l.dirty[i]
		c.flush()
		if c.closeAfterFlush {
			c.drop()
		}
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
}

func (l *Loop) addConn(c *Conn) {
	c.index = len(l.conns)
	l.conns = append(l.conns, c)
}

func (l *Loop) removeConn(c *Conn) {
	last := len(l.conns) - 1
	if c.index < 0 || c.index > last || l.conns[c.index] != c {
		return
	}
	l.conns[c.index] = l.conns[last]
	l.conns[c.index].index = c.index
	l.conns[last] = nil
	l.conns = l.conns[:last]
	c.index = -1
}

// tick runs due timers. It is posted by the loop's ticker goroutine; at most one tick is queued at a time.
func (l *Loop) tick() {
	l.tickScheduled.Store(false)
	l.timers.Advance(l.now())
}

// runTicker posts a tick to the loop every interval, on its own goroutine, until the server stops.
func (l *Loop) runTicker(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stopTicker:
			return
		case <-t.C:
			if l.tickScheduled.CompareAndSwap(false, true) {
				if !l.execute(l.tick) {
					l.tickScheduled.Store(false)
				}
			}
		}
	}
}

// sweep is the loop's idle and keep-alive check, rescheduled every sweep interval.
func (l *Loop) sweep() {
	cfg := &l.srv.cfg
	now := l.now()
	for i := 0; i < len(l.conns); i++ {
		c := l.conns[i]
		if c.state != stateOpen {
			continue
		}
		idle := now.Sub(c.lastRead)
		switch {
		case cfg.IdleTimeout > 0 && idle >= cfg.IdleTimeout:
			c.Close(1001, "idle timeout")
		case cfg.PingInterval > 0 && idle >= cfg.PingInterval && !c.pinged:
			c.pinged = true
			c.sendPing()
		}
	}
	l.timers.Schedule(now.Add(l.srv.sweepInterval()), l.sweep)
}
