package loop

import (
	"net"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"swiftlet/frame"
)

// connection states
const (
	stateHandshake uint8 = iota // waiting for the HTTP upgrade request
	stateOpen                   // WebSocket open: messages flow
	stateClosing                // we sent a close frame and wait for the peer's, or for closeTimeout
	stateClosed                 // gnet closed the socket; nothing may touch gc any more
)

// Conn is one client connection. It is owned by exactly one Loop: every method must be called on that
// loop's goroutine (inside a Handler callback, a timer callback or a function run by Loop.Execute),
// unless its doc says otherwise.
type Conn struct {
	gc    gnet.Conn
	loop  *Loop
	id    uint64
	state uint8
	open  bool // Handler.OnOpen was called, so Handler.OnClose is owed

	dec frame.Decoder

	// Output collected during one loop callback and written once at its end (flush). single is a frame
	// owned by someone else (a fanout batch) that is written without copying when it is the only output
	// of the callback; everything else is copied into out.
	single []byte
	out    []byte
	dirty  bool

	timer    *Timer    // handshake or close timeout
	lastRead time.Time // coarse (loop clock), for the idle sweep
	pinged   bool      // a keep-alive ping is outstanding since the last read
	// closeAfterFlush: the close handshake is complete (the peer's close frame arrived), so the TCP
	// connection is dropped once the queued output (our close echo) is written.
	closeAfterFlush bool
	violated        bool // the peer broke the protocol; its further input is discarded
	dropped         bool // the socket close is queued in gnet: nothing more is written or read
	halfClosed      bool // our side of TCP is shut down after a protocol violation
	index           int  // position in loop.conns

	ctx any
}

// ID returns the connection's process-unique id. Safe for concurrent use.
func (c *Conn) ID() uint64 { return c.id }

// Loop returns the loop that owns the connection. Safe for concurrent use.
func (c *Conn) Loop() *Loop { return c.loop }

// Context returns the value stored by SetContext (the server's session). Must be called on the owning loop.
func (c *Conn) Context() any { return c.ctx }

// SetContext stores a value with the connection. Must be called on the owning loop.
func (c *Conn) SetContext(v any) { c.ctx = v }

// RemoteAddr returns the peer's address. Safe for concurrent use.
func (c *Conn) RemoteAddr() net.Addr { return c.gc.RemoteAddr() }

// IsOpen reports whether the WebSocket is open for messages (not closing or closed). Must be called on
// the owning loop.
func (c *Conn) IsOpen() bool { return c.state == stateOpen }

// SendText queues payload as one WebSocket text frame. payload is copied. The bytes reach the socket
// with one write at the end of the current loop callback. Must be called on the owning loop.
func (c *Conn) SendText(payload []byte) {
	if c.state != stateOpen {
		return
	}
	c.spill()
	c.out = frame.AppendFrame(c.out, frame.OpText, payload)
	c.markDirty()
}

// AppendText lets the caller build a text frame's payload in place: build appends the payload to the
// slice it is given and returns it. This avoids a copy for replies built from several parts. Must be
// called on the owning loop.
func (c *Conn) AppendText(build func(dst []byte) []byte) {
	if c.state != stateOpen {
		return
	}
	c.spill()
	// Reserve the largest header, build the payload after it, then move the payload down when the
	// real header is shorter.
	start := len(c.out)
	c.out = append(c.out, make([]byte, 10)...)
	c.out = build(c.out)
	n := len(c.out) - start - 10
	hs := frame.FrameHeaderSize(n)
	hdr := frame.AppendFrameHeader(c.out[start:start], frame.OpText, true, n)
	_ = hdr
	if hs != 10 {
		copy(c.out[start+hs:], c.out[start+10:])
		c.out = c.out[:start+hs+n]
	}
	c.markDirty()
}

// WriteFrame queues b, a complete encoded WebSocket frame. b must stay unchanged until the current loop
// callback returns (it may be written without copying). Must be called on the owning loop. It implements
// fanout.Subscriber through the server's session.
func (c *Conn) WriteFrame(b []byte) {
	if c.state != stateOpen {
		return
	}
	if c.single == nil && len(c.out) == 0 {
		c.single = b
	} else {
		c.spill()
		c.out = append(c.out, b...)
	}
	c.markDirty()
}

// Close starts the closing handshake with code and reason: a close frame is sent, and the TCP
// connection is dropped when the peer answers or after the loop's close timeout. Must be called on the
// owning loop. Closing a connection that is already closing does nothing.
func (c *Conn) Close(code frame.CloseCode, reason string) {
	if c.state != stateOpen {
		return
	}
	c.spill()
	c.out = frame.AppendClose(c.out, code, reason)
	c.markDirty()
	c.state = stateClosing
	c.stopTimer()
	c.timer = c.loop.timers.Schedule(c.loop.now().Add(c.loop.srv.cfg.CloseTimeout), c.drop)
	c.loop.srv.logger.Debug("closing connection", "conn", c.id, "code", uint16(code), "reason", reason)
}

// spill moves a borrowed single frame into the owned buffer, so that output keeps its order.
func (c *Conn) spill() {
	if c.single != nil {
		c.out = append(c.out, c.single...)
		c.single = nil
	}
}

func (c *Conn) markDirty() {
	if !c.dirty {
		c.dirty = true
		c.loop.dirty = append(c.loop.dirty, c)
	}
}

// flush writes everything queued during this callback with one write, then drops the connection if
// its unsent output passed the limit (a slow consumer).
func (c *Conn) flush() {
	c.dirty = false
	if c.state == stateClosed || c.dropped {
		c.single, c.out = nil, c.out[:0]
		return
	}
	var b []byte
	if c.single != nil {
		b, c.single = c.single, nil
	} else {
		b = c.out
	}
	if len(b) > 0 {
		// gnet writes what the socket takes at once and copies the rest into its outbound buffer; a
		// write error closes the connection (OnClose runs inside Write).
		_, _ = c.gc.Write(b)
	}
	c.out = c.out[:0]
	if cap(c.out) > maxIdleOut {
		c.out = nil // do not keep a large buffer on an idle connection
	}
	if c.state == stateClosed {
		return
	}
	pending := c.gc.OutboundBuffered()
	if c.violated && c.state == stateClosing && pending == 0 && !c.halfClosed {
		// We failed the connection and our close frame is on the wire: close our side of TCP first
		// (RFC 6455 7.1.1) so the peer sees the end at once. Reading goes on, discarding, until the
		// peer closes too (or the close timeout), which avoids resetting a peer still sending.
		c.halfClosed = true
		_ = syscall.Shutdown(c.gc.Fd(), syscall.SHUT_WR)
	}
	if pending > c.loop.srv.cfg.MaxOutboundBytes {
		c.loop.srv.stats.slowConsumers.Add(1)
		c.loop.srv.logger.Warn("slow consumer disconnected", "conn", c.id, "remote", c.gc.RemoteAddr().String(),
			"pending", pending, "limit", c.loop.srv.cfg.MaxOutboundBytes)
		// Best effort: the close frame joins the queue the peer is not reading; then drop the socket.
		_, _ = c.gc.Write(frame.AppendClose(nil, frame.ClosePolicyViolation, "slow consumer"))
		c.drop()
	}
}

// drop closes the TCP connection now (gnet flushes what it can first).
func (c *Conn) drop() {
	if c.state == stateClosed || c.dropped {
		return
	}
	c.dropped = true
	c.violated = true // read nothing more
	if c.state == stateOpen {
		c.state = stateClosing
	}
	c.stopTimer()
	_ = c.gc.Close()
}

func (c *Conn) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// maxIdleOut bounds the output buffer a connection keeps between callbacks.
const maxIdleOut = 64 << 10

// The frame.FrameHandler implementation: events decoded from the peer.

// OnMessage implements frame.FrameHandler. Called on the owning loop by the decoder.
func (c *Conn) OnMessage(op frame.Opcode, payload []byte) {
	if c.state != stateOpen {
		return
	}
	c.loop.srv.handler.OnMessage(c, op, payload)
}

// OnPing implements frame.FrameHandler: a ping is answered with a pong carrying the same payload.
func (c *Conn) OnPing(payload []byte) {
	if c.state != stateOpen {
		return
	}
	c.spill()
	c.out = frame.AppendFrame(c.out, frame.OpPong, payload)
	c.markDirty()
}

// OnPong implements frame.FrameHandler. Any read already proves liveness, so nothing else is needed.
func (c *Conn) OnPong([]byte) {}

// OnClose implements frame.FrameHandler: the peer's close frame. If we did not start the close, it is
// echoed (an empty close is answered with 1000); either way the TCP connection is then dropped.
func (c *Conn) OnClose(code frame.CloseCode, _ []byte) {
	if c.state == stateOpen {
		if code == frame.CloseNoStatus {
			code = frame.CloseNormal
		}
		c.spill()
		c.out = frame.AppendClose(c.out, code, "")
		c.markDirty()
	}
	c.state = stateClosing
	c.closeAfterFlush = true
}

// sendPing queues a keep-alive ping.
func (c *Conn) sendPing() {
	c.spill()
	c.out = frame.AppendFrame(c.out, frame.OpPing, nil)
	c.markDirty()
}

// SendBinary queues payload as one WebSocket binary frame (payload is copied). Must be called on the
// owning loop.
func (c *Conn) SendBinary(payload []byte) {
	if c.state != stateOpen {
		return
	}
	c.spill()
	c.out = frame.AppendFrame(c.out, frame.OpBinary, payload)
	c.markDirty()
}
