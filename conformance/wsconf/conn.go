package wsconf

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EventKind says what happened on a connection.
type EventKind uint8

// Timeline event kinds.
const (
	EvMessage  EventKind = iota + 1 // a complete data message (Opcode, Payload)
	EvPong                          // a pong (Payload)
	EvPing                          // a ping from the server (Payload)
	EvClose                         // a close frame from the server (Code, Reason)
	EvEOF                           // TCP FIN from the server
	EvReset                         // TCP RST or another read error
	EvBadFrame                      // the server broke the protocol (Err)
)

// String names the kind as the summary table prints it.
func (k EventKind) String() string {
	switch k {
	case EvMessage:
		return "message"
	case EvPong:
		return "pong"
	case EvPing:
		return "ping"
	case EvClose:
		return "close"
	case EvEOF:
		return "eof"
	case EvReset:
		return "reset"
	case EvBadFrame:
		return "bad-frame"
	}
	return "?"
}

// Event is one entry of a connection's timeline.
type Event struct {
	Kind    EventKind
	Opcode  uint8  // EvMessage: OpText or OpBinary
	Payload []byte // EvMessage, EvPong, EvPing
	Code    int    // EvClose
	Reason  string // EvClose
	Err     error  // EvReset, EvBadFrame
	At      time.Duration
	// ClientClosedFirst is set on EvClose when the client had already sent its close frame.
	ClientClosedFirst bool
}

// Msg is the expected echo of a text message.
func Msg(s string) Event { return Event{Kind: EvMessage, Opcode: OpText, Payload: []byte(s)} }

// MsgBytes is the expected echo of a message with the given opcode.
func MsgBytes(op uint8, p []byte) Event { return Event{Kind: EvMessage, Opcode: op, Payload: p} }

// Pong is an expected pong with payload p.
func Pong(p []byte) Event { return Event{Kind: EvPong, Payload: p} }

// String renders the event compactly (payloads over 24 bytes by length only).
func (e Event) String() string {
	switch e.Kind {
	case EvMessage, EvPong, EvPing:
		op := ""
		if e.Kind == EvMessage && e.Opcode == OpBinary {
			op = "binary "
		}
		if len(e.Payload) > 24 {
			return fmt.Sprintf("%s(%s%d bytes)", e.Kind, op, len(e.Payload))
		}
		return fmt.Sprintf("%s(%s%q)", e.Kind, op, e.Payload)
	case EvClose:
		return fmt.Sprintf("close(%d %q)", e.Code, e.Reason)
	case EvReset, EvBadFrame:
		return fmt.Sprintf("%s(%v)", e.Kind, e.Err)
	}
	return e.Kind.String()
}

// WriteMode selects how a batch of frames is handed to TCP.
type WriteMode uint8

// Write modes.
const (
	WriteAll      WriteMode = iota // all frames in one write
	WritePerFrame                  // one write per frame
	WriteChopped                   // writes of Chop bytes (1 = per byte)
)

// Conn is a raw client connection: a net.Conn, the server's handshake response, and a reader goroutine that
// records every server frame into a timeline. Writes must come from one goroutine; Events, Wait and Done
// are safe for concurrent use.
type Conn struct {
	NC    net.Conn
	br    *bufio.Reader
	start time.Time

	mu          sync.Mutex
	cond        *sync.Cond
	events      []Event
	done        bool
	sentClose   bool
	autoPong    bool
	readStopped chan struct{}
	reading     bool
	noCloseEcho bool          // fixed at Dial
	pongs       int           // pongs in events
	closes      int           // close frames in events
	sentCloseAt time.Duration // when the client's close was written
	wmu         sync.Mutex    // serialises the client's writes with the reader's auto-replies
}

// DialOptions tune Dial.
type DialOptions struct {
	Path    string        // request path (default /deepstream)
	RcvBuf  int           // SO_RCVBUF for the socket before connect, 0 = kernel default
	Timeout time.Duration // dial + handshake timeout (default 5 s)
	NoRead  bool          // do not start the reader goroutine (call StartReader later)
	// NoCloseEcho stops the reader from answering a server close frame.
	NoCloseEcho bool
}

// Dial connects to addr (host:port), performs the opening handshake and starts the reader.
func Dial(addr string, o DialOptions) (*Conn, error) {
	if o.Path == "" {
		o.Path = "/deepstream"
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: o.Timeout}
	if o.RcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.RcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	key := NewKey()
	req := "GET " + o.Path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = nc.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("wsconf: handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("wsconf: handshake: status %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		nc.Close()
		return nil, fmt.Errorf("wsconf: handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade") {
		nc.Close()
		return nil, errors.New("wsconf: handshake: response lacks Upgrade/Connection tokens")
	}
	_ = nc.SetDeadline(time.Time{})
	c := &Conn{NC: nc, br: br, start: time.Now(), readStopped: make(chan struct{}), noCloseEcho: o.NoCloseEcho}
	c.cond = sync.NewCond(&c.mu)
	if !o.NoRead {
		c.StartReader()
	}
	return c, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// NewKey returns a fresh random Sec-WebSocket-Key.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// AcceptKey computes the Sec-WebSocket-Accept value for key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// SetAutoPong makes the reader answer server pings with pongs (off by default: the half-open case must not).
func (c *Conn) SetAutoPong(on bool) {
	c.mu.Lock()
	c.autoPong = on
	c.mu.Unlock()
}

// StartReader starts the goroutine that reads server frames into the timeline until TCP ends.
func (c *Conn) StartReader() {
	c.mu.Lock()
	c.reading = true
	c.mu.Unlock()
	go c.readLoop()
}

func (c *Conn) readLoop() {
	defer close(c.readStopped)
	var (
		msg     []byte
		msgOp   uint8
		inFrag  bool
		scratch []byte
	)
	for {
		f, err := ReadServerFrame(c.br, scratch)
		if err != nil {
			switch {
			case err == io.EOF:
				c.add(Event{Kind: EvEOF})
			case errors.Is(err, ErrMaskedServerFrame), errors.Is(err, ErrServerRsv), errors.Is(err, ErrServerOpcode),
				errors.Is(err, ErrServerControl), errors.Is(err, ErrServerLength), errors.Is(err, ErrServerClose):
				c.add(Event{Kind: EvBadFrame, Err: err})
				c.NC.Close()
			default:
				c.add(Event{Kind: EvReset, Err: err})
			}
			c.finish()
			return
		}
		if cap(f.Payload) > cap(scratch) && len(f.Payload) <= 1<<20 {
			scratch = f.Payload[:0]
		}
		switch f.Opcode {
		case OpText, OpBinary, OpContinuation:
			if (f.Opcode == OpContinuation) != inFrag {
				c.add(Event{Kind: EvBadFrame, Err: errors.New("wsconf: server broke fragmentation order")})
				c.NC.Close()
				c.finish()
				return
			}
			if f.Opcode != OpContinuation {
				msgOp = f.Opcode
				msg = nil
			}
			msg = append(msg, f.Payload...)
			inFrag = !f.Fin
			if f.Fin {
				if msg == nil {
					msg = []byte{}
				}
				c.add(Event{Kind: EvMessage, Opcode: msgOp, Payload: msg})
				msg = nil
			}
		case OpPong:
			c.add(Event{Kind: EvPong, Payload: bytes.Clone(f.Payload)})
		case OpPing:
			p := bytes.Clone(f.Payload)
			c.add(Event{Kind: EvPing, Payload: p})
			c.mu.Lock()
			auto := c.autoPong && !c.sentClose
			c.mu.Unlock()
			if auto {
				_ = c.WriteFrames(WritePerFrame, 0, Frame{Fin: true, Opcode: OpPong, Payload: p})
			}
		case OpClose:
			code, reason, _ := ParseClose(f.Payload)
			c.mu.Lock()
			first := c.sentClose
			c.mu.Unlock()
			c.add(Event{Kind: EvClose, Code: code, Reason: reason, ClientClosedFirst: first})
			if !first && !c.noCloseEcho {
				// Echo the server's close as Autobahn's client does, then wait for the server's TCP close.
				echo := f.Payload
				if code == NoStatus {
					echo = nil
				}
				_ = c.WriteFrames(WritePerFrame, 0, Frame{Fin: true, Opcode: OpClose, Payload: bytes.Clone(echo)})
			}
		}
	}
}

func (c *Conn) add(e Event) {
	e.At = time.Since(c.start)
	c.mu.Lock()
	switch e.Kind {
	case EvPong:
		c.pongs++
	case EvClose:
		c.closes++
	}
	c.events = append(c.events, e)
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *Conn) finish() {
	c.mu.Lock()
	c.done = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// WriteFrames writes frames in the given mode. In WriteChopped mode, chop is the write size (at least 1);
// pause, if non-zero, is slept between writes. Safe for concurrent use with the reader's auto-replies.
func (c *Conn) WriteFrames(mode WriteMode, chop int, frames ...Frame) error {
	return c.writeFrames(mode, chop, 0, frames)
}

func (c *Conn) writeFrames(mode WriteMode, chop int, pause time.Duration, frames []Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, f := range frames {
		// Only a well-formed close starts the client's side of the close handshake; a malformed one is
		// a protocol error the server must fail, and the client then still answers the server's close.
		if f.Opcode == OpClose && f.Fin && f.Rsv == 0 && !f.NoMask {
			c.mu.Lock()
			if !c.sentClose {
				c.sentCloseAt = time.Since(c.start)
			}
			c.sentClose = true
			c.mu.Unlock()
		}
	}
	var chunks [][]byte
	switch mode {
	case WritePerFrame:
		for _, f := range frames {
			chunks = append(chunks, AppendFrame(nil, f))
		}
	default:
		var all []byte
		for _, f := range frames {
			all = AppendFrame(all, f)
		}
		if mode == WriteChopped {
			if chop < 1 {
				chop = 1
			}
			for len(all) > chop {
				chunks = append(chunks, all[:chop])
				all = all[chop:]
			}
		}
		chunks = append(chunks, all)
	}
	for i, ch := range chunks {
		if i > 0 && pause > 0 {
			pauseFor(pause)
		}
		if _, err := c.NC.Write(ch); err != nil {
			return err
		}
	}
	return nil
}

// WriteRaw writes raw bytes.
func (c *Conn) WriteRaw(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.NC.Write(p)
	return err
}

// Events returns a copy of the timeline so far. Safe for concurrent use.
func (c *Conn) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitEvents blocks until at least n events are recorded, the reader ends, or d passes; it reports whether
// n events were reached. Safe for concurrent use.
func (c *Conn) WaitEvents(n int, d time.Duration) bool {
	return c.waitFor(d, func() bool { return len(c.events) >= n || c.done }) && c.count() >= n
}

func (c *Conn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// WaitDone blocks until the reader has seen the end of TCP or d passes; it reports whether TCP ended.
// Safe for concurrent use.
func (c *Conn) WaitDone(d time.Duration) bool {
	return c.waitFor(d, func() bool { return c.done })
}

// WaitClose blocks until a server close frame or the end of TCP, or d passes. Safe for concurrent use.
func (c *Conn) WaitClose(d time.Duration) bool {
	return c.waitFor(d, func() bool {
		if c.done {
			return true
		}
		for _, e := range c.events {
			if e.Kind == EvClose {
				return true
			}
		}
		return false
	})
}

func (c *Conn) waitFor(d time.Duration, ok func() bool) bool {
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer t.Stop()
	deadline := time.Now().Add(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for !ok() {
		if !time.Now().Before(deadline) {
			return false
		}
		c.cond.Wait()
	}
	return true
}

// SentCloseAt is when (since Dial) the client sent its close frame; ok is false if it has not.
// Safe for concurrent use.
func (c *Conn) SentCloseAt() (at time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentCloseAt, c.sentClose
}

// SentClose reports whether the client has written a close frame. Safe for concurrent use.
func (c *Conn) SentClose() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentClose
}

// Close closes the TCP connection and waits briefly for the reader to stop. Safe for concurrent use.
func (c *Conn) Close() error {
	err := c.NC.Close()
	c.mu.Lock()
	reading := c.reading
	c.mu.Unlock()
	if !reading {
		return err
	}
	select {
	case <-c.readStopped:
	case <-time.After(time.Second):
	}
	return err
}

// pauseFor waits d: pauses between writes are what the "sync" write mode and the timing cases test.
func pauseFor(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}
