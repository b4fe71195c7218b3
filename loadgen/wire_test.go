package loadgen

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// serverFrame builds an unmasked server frame as a server would send it.
func serverFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, byte(n))
	case n <= 0xFFFF:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, payload...)
}

func TestParseServerHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 200000} {
		f := serverFrame(opText, n%2 == 0, bytes.Repeat([]byte{'x'}, n))
		h, ok, err := parseServerHeader(f)
		if err != nil || !ok || h.length != int64(n) || h.size+n != len(f) || h.op != opText || h.fin != (n%2 == 0) {
			t.Fatalf("n=%d: %+v ok=%v err=%v", n, h, ok, err)
		}
		for cut := 0; cut < h.size; cut++ {
			if _, ok, err := parseServerHeader(f[:cut]); ok || err != nil {
				t.Fatalf("n=%d cut=%d: ok=%v err=%v on a partial header", n, cut, ok, err)
			}
		}
	}
	bad := map[string][]byte{
		"masked":          {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"reserved":        {0xC1, 0x00},
		"fragmented ping": {0x09, 0x00},
		"oversized close": {0x88, 126, 0, 200},
		"64-bit top bit":  {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
	}
	for name, b := range bad {
		if _, _, err := parseServerHeader(b); err == nil {
			t.Errorf("%s: accepted %x", name, b)
		}
	}
}

func TestMaskedFrameUnmasks(t *testing.T) {
	payload := []byte("E\x1fEVT\x1fbench\x1fS1.2.3\x1e")
	f := appendMaskedFrame(nil, opText, payload, 0xA1B2C3D4)
	if f[0] != 0x81 || f[1] != 0x80|byte(len(payload)) {
		t.Fatalf("header %x", f[:2])
	}
	key := f[2:6]
	got := append([]byte(nil), f[6:]...)
	for i := range got {
		got[i] ^= key[i&3]
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("unmasked %q", got)
	}
}

func TestUpgradeResponse(t *testing.T) {
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	if acceptKey(key) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept key %s", acceptKey(key))
	}
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if err := checkUpgradeResponse([]byte(ok), key); err != nil {
		t.Fatal(err)
	}
	if err := checkUpgradeResponse([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), key); err == nil {
		t.Fatal("accepted a 400")
	}
	if err := checkUpgradeResponse([]byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n"), key); err == nil {
		t.Fatal("accepted a wrong accept key")
	}
}

// chunkConn is a net.Conn that reads the given chunks in order, then io.EOF,
// and records what is written.
type chunkConn struct {
	chunks [][]byte
	wrote  bytes.Buffer
}

func (c *chunkConn) Read(b []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}
func (c *chunkConn) Write(b []byte) (int, error)      { return c.wrote.Write(b) }
func (c *chunkConn) Close() error                     { return nil }
func (c *chunkConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *chunkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *chunkConn) SetDeadline(time.Time) error      { return nil }
func (c *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *chunkConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*chunkConn)(nil)

// testReceiver builds a subscribed, ready receiver for round 1 of a cell
// with p publishes, reading from nc.
func testReceiver(proto Proto, p int, nc net.Conn) (*conn, *roundPlan) {
	run := &cellRun{proto: proto, p: p, base: time.Now(), shards: make([]shard, 1)}
	run.shards[0].h = newHist()
	plan := &roundPlan{round: 1, uniform: int32(p), done: make(chan struct{})}
	plan.remaining.Store(1)
	run.plan.Store(plan)
	c := &conn{nc: nc, cell: run, id: 0, sub: true, state: stReady, ready: make(chan error, 1), key: 1,
		seen: make([]uint64, (p+63)/64), lat: make([]int64, 0, latBatch), rbuf: make([]byte, 0, readBufSize)}
	c.shard = &run.shards[0]
	return c, plan
}

// deliveryStream encodes p deliveries of round 1 (indices 0..p-1) as server
// frames, batched several messages per frame for deepstream, with pings in
// between.
func deliveryStream(proto Proto, p int) []byte {
	var out, batch []byte
	for i := 0; i < p; i++ {
		if proto == ProtoSocketIO {
			m := append([]byte(`42["bench","`), appendStamp(nil, 1, uint32(i), 1)...)
			out = append(out, serverFrame(opText, true, append(m, `"]`...))...)
			if i%7 == 3 {
				out = append(out, serverFrame(opText, true, []byte("2"))...)
			}
			continue
		}
		batch = append(batch, "E\x1fEVT\x1fbench\x1fS"...)
		batch = appendStamp(batch, 1, uint32(i), 1)
		batch = append(batch, 0x1E)
		if i%5 == 4 || i == p-1 {
			if i%10 == 9 {
				batch = append(batch, "C\x1fPI\x1e"...)
			}
			// Split the batch over a text frame and a continuation frame.
			half := len(batch) / 2
			out = append(out, serverFrame(opText, false, batch[:half])...)
			out = append(out, serverFrame(opPing, true, []byte("hi"))...)
			out = append(out, serverFrame(opContinuation, true, batch[half:])...)
			batch = batch[:0]
		}
	}
	return out
}

func TestReaderCountsEveryDelivery(t *testing.T) {
	for _, tc := range []struct {
		proto Proto
		chunk int
	}{{ProtoDeepstream, 37}, {ProtoSocketIO, 37}, {ProtoDeepstream, 1 << 20}, {ProtoSocketIO, 1 << 20}} {
		proto := tc.proto
		// p = 3000 makes the stream larger than the initial read buffer,
		// so whole-stream reads also exercise the buffer growth.
		const p = 3000
		stream := deliveryStream(proto, p)
		// Deliver once more the first 10, to be counted as duplicates.
		stream = append(stream, deliveryStream(proto, 10)...)
		var chunks [][]byte
		for i := 0; i < len(stream); i += tc.chunk {
			chunks = append(chunks, stream[i:min(i+tc.chunk, len(stream))])
		}
		nc := &chunkConn{chunks: chunks}
		c, plan := testReceiver(proto, p, nc)
		err := c.readFrames()
		if !errors.Is(err, io.EOF) {
			t.Fatalf("proto %d: %v", proto, err)
		}
		c.flushLat()
		if c.delivered.Load() != p || c.dups.Load() != 10 || c.strays.Load() != 0 {
			t.Fatalf("proto %d: delivered %d dups %d strays %d", proto, c.delivered.Load(), c.dups.Load(), c.strays.Load())
		}
		select {
		case <-plan.done:
		default:
			t.Fatalf("proto %d: round not complete", proto)
		}
		if n := c.shard.h.TotalCount(); n != p {
			t.Fatalf("proto %d: %d latencies", proto, n)
		}
		pongs := map[string]int{}
		for _, f := range clientFrames(t, nc.wrote.Bytes()) {
			pongs[f]++
		}
		if proto == ProtoDeepstream {
			// One WebSocket pong ("hi") per ping frame, one C|PO per C|PI.
			if pongs["\x0ahi"] != p/5+2 || pongs["\x01C\x1fPO\x1e"] != p/10+1 { // +: the 10 repeated deliveries
				t.Fatalf("deepstream replies %v", pongs)
			}
		} else if pongs["\x013"] != (p+3)/7+1 {
			t.Fatalf("socket.io replies %v", pongs)
		}
	}
}

// clientFrames decodes the masked frames a connection wrote, returning each
// as its opcode byte followed by the unmasked payload.
func clientFrames(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		if len(b) < 6 || b[0]&0x80 == 0 || b[1]&0x80 == 0 {
			t.Fatalf("bad client frame % x", b[:min(len(b), 8)])
		}
		n, hdr := int(b[1]&0x7F), 2
		if n == 126 {
			n, hdr = int(b[2])<<8|int(b[3]), 4
		}
		key := b[hdr : hdr+4]
		p := append([]byte{b[0] & 0x0F}, b[hdr+4:hdr+4+n]...)
		for i := range p[1:] {
			p[1+i] ^= key[i&3]
		}
		out = append(out, string(p))
		b = b[hdr+4+n:]
	}
	return out
}
