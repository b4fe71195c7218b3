package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"swiftlet/frame"
)

// Proto is the wire protocol a target speaks.
type Proto uint8

const (
	// ProtoDeepstream is the deepstream V3 text protocol over WebSocket
	// (swiftlet, deepstream 7 ws-text).
	ProtoDeepstream Proto = iota + 1
	// ProtoSocketIO is socket.io 4 over Engine.IO v4 on a raw WebSocket.
	ProtoSocketIO
)

// eventName is the one channel every subscriber and publisher uses.
const eventName = "bench"

const (
	readBufSize  = 4096    // initial read buffer per connection
	maxReadBuf   = 1 << 16 // a connection's read buffer grows up to this
	maxCarry     = 1 << 20 // a message split across reads may not exceed this
	latBatch     = 128     // latencies buffered per connection before a shard flush
	handshakeMax = 8192
)

var (
	errCarryTooLarge = errors.New("loadgen: message larger than 1 MiB")
	errServerClosed  = errors.New("loadgen: server sent a close frame")
)

// conn is one client connection. The reader goroutine owns everything but
// the publish buffer, which belongs to the goroutine that publishes.
type conn struct {
	nc   net.Conn
	cell *cellRun
	id   int  // receiver index, or -1 for a connection that only publishes
	sub  bool // subscribes to the channel (receives deliveries)
	url  string

	// reader-owned
	rbuf    []byte
	hdr     wsHeader
	inFrame bool
	remain  int64
	msgOp   byte   // opcode of the message being received
	carry   []byte // partial message across reads/frames
	wbuf    []byte // control replies written from the reader goroutine
	rmsg    []byte // scratch for composing replies
	key     uint32 // xorshift state for mask keys (reader)
	state   connState
	ready   chan error
	readNs  int64 // arrival time of the bytes being decoded: when their read returned

	// round receipt (reader-owned)
	plan  *roundPlan
	round uint32
	got   int32
	want  int32
	seen  []uint64

	// open-loop receipt (reader-owned)
	next []uint32

	lat   []int64
	shard *shard

	// counters read after the reader exits or atomically while it runs
	delivered atomic.Int64
	lastNs    atomic.Int64 // open loop: latest arrival
	exited    sync.WaitGroup
	dups      atomic.Int64
	strays    atomic.Int64
	gaps      atomic.Int64

	// publisher-owned
	pbuf []byte
	pmsg []byte
	pkey uint32
}

type connState uint8

const (
	stOpen       connState = iota // WebSocket open, waiting for the server's first message
	stAuth                        // deepstream: A|REQ sent
	stSubscribe                   // deepstream: E|S sent
	stSIOConnect                  // socket.io: 40 sent
	stReady
)

// dialConn opens the TCP connection and performs the WebSocket upgrade; it
// does not start the reader.
func dialConn(ctx context.Context, d *net.Dialer, addr, path string, cell *cellRun, id int, sub bool) (*conn, error) {
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c := &conn{nc: nc, cell: cell, id: id, sub: sub, ready: make(chan error, 1)}
	c.url = "ws://" + addr + path
	var kb [16]byte
	_, _ = rand.Read(kb[:])
	c.key = uint32(kb[0])<<24 | uint32(kb[1])<<16 | uint32(kb[2])<<8 | uint32(kb[3]) | 1
	c.pkey = c.key*2654435761 | 1
	key := base64.StdEncoding.EncodeToString(kb[:])
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	req := appendUpgradeRequest(make([]byte, 0, 256), addr, path, key)
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return nil, err
	}
	c.rbuf = make([]byte, readBufSize)
	n := 0
	for {
		m, err := nc.Read(c.rbuf[n:])
		n += m
		if i := bytes.Index(c.rbuf[:n], []byte("\r\n\r\n")); i >= 0 {
			if err := checkUpgradeResponse(c.rbuf[:i+4], key); err != nil {
				nc.Close()
				return nil, err
			}
			copy(c.rbuf, c.rbuf[i+4:n])
			n -= i + 4
			break
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("loadgen: upgrade: %w", err)
		}
		if n == len(c.rbuf) {
			nc.Close()
			return nil, errors.New("loadgen: upgrade response head too large")
		}
	}
	_ = nc.SetDeadline(time.Time{})
	c.rbuf = c.rbuf[:n:readBufSize]
	if sub && cell.p > 0 {
		c.seen = make([]uint64, (cell.p+63)/64)
	}
	if sub && cell.openLoop {
		c.next = make([]uint32, cell.p)
	}
	c.lat = make([]int64, 0, latBatch)
	c.shard = &cell.shards[uint(id+1)%uint(len(cell.shards))]
	return c, nil
}

// readLoop runs on the connection's reader goroutine until the connection
// fails or is closed. It reports the handshake outcome on c.ready.
func (c *conn) readLoop() {
	err := c.readFrames()
	c.flushLat()
	if c.state != stReady {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("loadgen: connection closed during handshake")
		}
		c.ready <- err
	}
	c.nc.Close()
}

func (c *conn) readFrames() error {
	buf := c.rbuf[:cap(c.rbuf)]
	r, w := 0, len(c.rbuf)
	c.readNs = c.cell.now()
	filled := false
	for {
		// Consume every complete piece of buf[r:w].
		for r < w {
			if c.inFrame {
				n := int64(w - r)
				if n > c.remain {
					n = c.remain
				}
				c.remain -= n
				last := c.remain == 0
				if last {
					c.inFrame = false
				}
				if err := c.payload(buf[r:r+int(n)], last && c.hdr.fin); err != nil {
					return err
				}
				r += int(n)
				continue
			}
			h, ok, err := parseServerHeader(buf[r:w])
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if h.op >= opClose {
				if int64(w-r) < int64(h.size)+h.length {
					break // wait for the whole control frame
				}
				p := buf[r+h.size : r+h.size+int(h.length)]
				r += h.size + int(h.length)
				if err := c.control(h.op, p); err != nil {
					return err
				}
				continue
			}
			if h.op != opContinuation {
				c.msgOp = h.op
			}
			r += h.size
			c.hdr = h
			c.remain = h.length
			c.inFrame = true
			if h.length == 0 {
				c.inFrame = false
				if err := c.payload(nil, h.fin); err != nil {
					return err
				}
			}
		}
		if r == w {
			r, w = 0, 0
		} else if r > 0 && w == len(buf) {
			copy(buf, buf[r:w])
			w -= r
			r = 0
		}
		if filled && len(buf) < maxReadBuf {
			// The last read filled the buffer: the server sends more than
			// it holds at a time (large batched frames), so read bigger
			// pieces and spend fewer system calls per message.
			nb := make([]byte, 2*len(buf))
			w = copy(nb, buf[r:w])
			r, buf = 0, nb
		}
		n, err := c.nc.Read(buf[w:])
		filled = n == len(buf)-w
		// One clock read per read system call: every message in these bytes
		// arrived when the read returned (it also keeps the clock, ~100 ns
		// in this VM, off the per-delivery path).
		c.readNs = c.cell.now()
		w += n
		if err != nil && n == 0 {
			return err
		}
	}
}

// control answers a control frame.
func (c *conn) control(op byte, p []byte) error {
	switch op {
	case opPing:
		c.wbuf = appendMaskedFrame(c.wbuf[:0], opPong, p, c.nextKey())
		_, err := c.nc.Write(c.wbuf)
		return err
	case opClose:
		return errServerClosed
	}
	return nil
}

func (c *conn) nextKey() uint32 {
	x := c.key
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	c.key = x
	return x
}

// payload receives the bytes of a data frame as they arrive; end is true at
// the end of the WebSocket message.
func (c *conn) payload(p []byte, end bool) error {
	if c.cell.proto == ProtoSocketIO {
		// One Engine.IO packet per WebSocket message.
		if len(c.carry) == 0 && end {
			return c.sioPacket(p)
		}
		if len(c.carry)+len(p) > maxCarry {
			return errCarryTooLarge
		}
		c.carry = append(c.carry, p...)
		if !end {
			return nil
		}
		err := c.sioPacket(c.carry)
		c.carry = c.carry[:0]
		return err
	}
	// deepstream: messages end with 0x1E and may span reads and frames.
	for len(p) > 0 {
		i := bytes.IndexByte(p, frame.MessageSeparator)
		if i < 0 {
			if len(c.carry)+len(p) > maxCarry {
				return errCarryTooLarge
			}
			c.carry = append(c.carry, p...)
			return nil
		}
		if len(c.carry) > 0 {
			c.carry = append(c.carry, p[:i]...)
			err := c.dsMessage(c.carry)
			c.carry = c.carry[:0]
			if err != nil {
				return err
			}
		} else if err := c.dsMessage(p[:i]); err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

var (
	dsEventPrefix = []byte("E\x1fEVT\x1f" + eventName + "\x1fS")
	dsPing        = []byte("C\x1fPI")
	dsSubAck      = []byte("E\x1fA\x1fS\x1f" + eventName)
)

// dsMessage handles one deepstream message (without its 0x1E).
func (c *conn) dsMessage(m []byte) error {
	if len(m) < 3 {
		return nil // both sides skip chunks shorter than 3 bytes
	}
	if bytes.HasPrefix(m, dsEventPrefix) {
		c.deliver(m[len(dsEventPrefix):])
		return nil
	}
	if bytes.Equal(m, dsPing) {
		return c.sendText(frame.EndMessage(frame.AppendHeader(c.msgBuf(), frame.TopicConnection, frame.ActionPong)))
	}
	if c.state == stReady {
		return nil // other traffic (e.g. errors about nothing we did) is ignored
	}
	switch {
	case bytes.Equal(m, []byte("C\x1fCH")):
		b := frame.AppendHeader(c.msgBuf(), frame.TopicConnection, frame.ActionChallengeResponse)
		return c.sendText(frame.EndMessage(frame.AppendPartString(b, c.url)))
	case bytes.Equal(m, []byte("C\x1fA")):
		c.state = stAuth
		b := frame.AppendHeader(c.msgBuf(), frame.TopicAuth, frame.ActionRequest)
		return c.sendText(frame.EndMessage(frame.AppendPartString(b, "{}")))
	case bytes.HasPrefix(m, []byte("A\x1fA")) && c.state == stAuth:
		if !c.sub {
			c.setReady(nil)
			return nil
		}
		c.state = stSubscribe
		b := frame.AppendHeader(c.msgBuf(), frame.TopicEvent, frame.ActionSubscribe)
		return c.sendText(frame.EndMessage(frame.AppendPartString(b, eventName)))
	case bytes.Equal(m, dsSubAck) && c.state == stSubscribe:
		c.setReady(nil)
		return nil
	}
	return fmt.Errorf("loadgen: unexpected message during handshake: %q", m)
}

var (
	sioEventPrefix = []byte(`42["` + eventName + `","`)
	sioEventSuffix = []byte(`"]`)
)

// sioPacket handles one Engine.IO packet.
func (c *conn) sioPacket(m []byte) error {
	if len(m) == 0 {
		return nil
	}
	if bytes.HasPrefix(m, sioEventPrefix) && bytes.HasSuffix(m, sioEventSuffix) {
		c.deliver(m[len(sioEventPrefix) : len(m)-len(sioEventSuffix)])
		return nil
	}
	switch m[0] {
	case '2': // Engine.IO ping
		return c.sendText(append(c.msgBuf(), '3'))
	case '1':
		return errServerClosed
	}
	if c.state == stReady {
		return nil
	}
	switch {
	case m[0] == '0' && c.state == stOpen:
		c.state = stSIOConnect
		return c.sendText(append(c.msgBuf(), "40"...))
	case bytes.HasPrefix(m, []byte("40")) && c.state == stSIOConnect:
		c.setReady(nil)
		return nil
	}
	return fmt.Errorf("loadgen: unexpected socket.io packet during handshake: %q", m)
}

func (c *conn) setReady(err error) {
	c.state = stReady
	c.ready <- err
}

// msgBuf returns the reader's scratch buffer for composing a reply.
func (c *conn) msgBuf() []byte {
	if c.rmsg == nil {
		c.rmsg = make([]byte, 0, 256)
	}
	return c.rmsg[:0]
}

// sendText frames m and writes it from the reader goroutine.
func (c *conn) sendText(m []byte) error {
	c.rmsg = m[:0]
	c.wbuf = appendMaskedFrame(c.wbuf[:0], opText, m, c.nextKey())
	_, err := c.nc.Write(c.wbuf)
	return err
}

// deliver records one delivery whose stamp is s.
func (c *conn) deliver(s []byte) {
	now := c.readNs
	round, index, sent, ok := parseStamp(s)
	if !ok || !c.sub || int(index) >= c.cell.p {
		c.strays.Add(1)
		return
	}
	if c.cell.openLoop {
		// round is the publisher's sequence number, index the publisher.
		n := c.next[index]
		switch {
		case round == n:
			c.next[index] = n + 1
		case round > n:
			c.gaps.Add(int64(round - n))
			c.next[index] = round + 1
		default:
			c.dups.Add(1)
			return
		}
		c.delivered.Add(1)
		c.lastNs.Store(now)
		c.record(now - sent)
		return
	}
	if round != c.round || c.plan == nil {
		p := c.cell.plan.Load()
		if p == nil || p.round != round || c.id < 0 {
			c.strays.Add(1)
			return
		}
		c.plan, c.round, c.got = p, round, 0
		c.want = p.wantFor(c.id)
		clear(c.seen)
	}
	if c.plan.senders != nil && c.plan.senders[index] == int32(c.id) {
		c.strays.Add(1) // an echo of our own publish: the sender must be excluded
		return
	}
	w, bit := index>>6, uint64(1)<<(index&63)
	if c.seen[w]&bit != 0 || c.got >= c.want {
		c.dups.Add(1)
		return
	}
	c.seen[w] |= bit
	c.got++
	c.delivered.Add(1)
	c.record(now - sent)
	if c.got == c.want {
		c.flushLat()
		c.plan.arrived(now)
	}
}

func (c *conn) record(ns int64) {
	if ns < 1 {
		ns = 1
	}
	c.lat = append(c.lat, ns)
	if len(c.lat) == cap(c.lat) {
		c.flushLat()
	}
}

func (c *conn) flushLat() {
	if len(c.lat) == 0 {
		return
	}
	c.shard.mu.Lock()
	for _, v := range c.lat {
		_ = c.shard.h.RecordValue(v)
	}
	c.shard.mu.Unlock()
	c.lat = c.lat[:0]
}

// publish sends one event stamped (round, index, sentNs). It must be called
// from the connection's single publishing goroutine.
func (c *conn) publish(round, index uint32, sentNs int64) error {
	switch c.cell.proto {
	case ProtoSocketIO:
		c.pmsg = append(c.pmsg[:0], sioEventPrefix...)
		c.pmsg = appendStamp(c.pmsg, round, index, sentNs)
		c.pmsg = append(c.pmsg, sioEventSuffix...)
	default:
		c.pmsg = frame.AppendHeader(c.pmsg[:0], frame.TopicEvent, frame.ActionEvent)
		c.pmsg = frame.AppendPartString(c.pmsg, eventName)
		c.pmsg = append(c.pmsg, frame.PartSeparator, 'S')
		c.pmsg = appendStamp(c.pmsg, round, index, sentNs)
		c.pmsg = frame.EndMessage(c.pmsg)
	}
	x := c.pkey
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	c.pkey = x
	c.pbuf = appendMaskedFrame(c.pbuf[:0], opText, c.pmsg, x)
	_, err := c.nc.Write(c.pbuf)
	return err
}

// close closes the socket; the reader goroutine then exits.
func (c *conn) close() { c.nc.Close() }

// String names the connection in error messages.
func (c *conn) String() string { return "conn " + strconv.Itoa(c.id) }
