package loadgen

import (
	"io"
	"testing"
)

// dsBatch is one server frame's payload carrying p deliveries of round 1.
func dsBatch(p int) []byte {
	var b []byte
	for i := 0; i < p; i++ {
		b = append(b, "E\x1fEVT\x1fbench\x1fS"...)
		b = appendStamp(b, 1, uint32(i), 1)
		b = append(b, 0x1E)
	}
	return b
}

func sioPackets(p int) [][]byte {
	out := make([][]byte, p)
	for i := range out {
		m := append([]byte(`42["bench","`), appendStamp(nil, 1, uint32(i), 1)...)
		out[i] = append(m, `"]`...)
	}
	return out
}

// resetRound makes the receiver expect round 1 again.
func resetRound(c *conn, plan *roundPlan) {
	c.plan = nil
	c.round = 0
	plan.remaining.Store(1 << 40) // never completes: no channel close
}

// TestDeliveryDoesNotAllocate asserts the per-delivery path (message
// split, stamp parse, bitset, latency record, shard flush) allocates nothing.
func TestDeliveryDoesNotAllocate(t *testing.T) {
	const p = 256
	c, plan := testReceiver(ProtoDeepstream, p, &chunkConn{})
	batch := dsBatch(p)
	// A split message exercises the carry buffer too.
	head, tail := batch[:len(batch)/2+3], batch[len(batch)/2+3:]
	resetRound(c, plan)
	allocs := testing.AllocsPerRun(100, func() {
		resetRound(c, plan)
		_ = c.payload(head, false)
		_ = c.payload(tail, true)
	})
	if allocs != 0 || c.delivered.Load() == 0 {
		t.Fatalf("deepstream: %v allocs per %d deliveries (delivered %d)", allocs, p, c.delivered.Load())
	}
	s, splan := testReceiver(ProtoSocketIO, p, &chunkConn{})
	pk := sioPackets(p)
	allocs = testing.AllocsPerRun(100, func() {
		resetRound(s, splan)
		for _, m := range pk {
			_ = s.payload(m, true)
		}
	})
	if allocs != 0 || s.delivered.Load() == 0 {
		t.Fatalf("socket.io: %v allocs per %d deliveries", allocs, p)
	}
}

// TestPublishDoesNotAllocate asserts that building and writing one publish
// allocates nothing once the connection's buffers exist.
func TestPublishDoesNotAllocate(t *testing.T) {
	for _, proto := range []Proto{ProtoDeepstream, ProtoSocketIO} {
		nc := &discardConn{}
		c, _ := testReceiver(proto, 1, nc)
		_ = c.publish(1, 0, 1)
		if allocs := testing.AllocsPerRun(1000, func() { _ = c.publish(7, 3, 123456789) }); allocs != 0 {
			t.Fatalf("proto %d: %v allocs per publish", proto, allocs)
		}
	}
}

type discardConn struct{ chunkConn }

func (d *discardConn) Write(b []byte) (int, error) { return len(b), nil }

func BenchmarkDeliverDeepstream(b *testing.B) {
	const p = 1000
	c, plan := testReceiver(ProtoDeepstream, p, &chunkConn{})
	batch := dsBatch(p)
	b.SetBytes(int64(len(batch) / p))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += p {
		resetRound(c, plan)
		_ = c.payload(batch, true)
	}
}

func BenchmarkDeliverSocketIO(b *testing.B) {
	const p = 1000
	c, plan := testReceiver(ProtoSocketIO, p, &chunkConn{})
	pk := sioPackets(p)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		resetRound(c, plan)
		for _, m := range pk {
			_ = c.payload(m, true)
			i++
		}
	}
}

func BenchmarkParseStamp(b *testing.B) {
	s := appendStamp(nil, 12345, 4999, 987654321012)
	b.ReportAllocs()
	for b.Loop() {
		parseStamp(s)
	}
}

func BenchmarkPublish(b *testing.B) {
	c, _ := testReceiver(ProtoDeepstream, 1, &discardConn{})
	b.ReportAllocs()
	for b.Loop() {
		_ = c.publish(1, 2, 3)
	}
}

var _ io.Writer = (*discardConn)(nil)

func TestParseStampShapes(t *testing.T) {
	good := map[string][3]uint64{
		"000000000000000000000000": {0, 0, 0},
		"000000010002000000000003": {1, 2, 3},
		"ffffffffffffffffffffffff": {1<<32 - 1, 1<<16 - 1, 1<<48 - 1},
		"0000abcd00ef0123456789ab": {0xabcd, 0xef, 0x0123456789ab},
	}
	for in, want := range good {
		r, i, s, ok := parseStamp([]byte(in))
		if !ok || uint64(r) != want[0] || uint64(i) != want[1] || uint64(s) != want[2] {
			t.Fatalf("%q: %d %d %d %v", in, r, i, s, ok)
		}
		if enc := appendStamp(nil, r, i, s); string(enc) != in {
			t.Fatalf("%q re-encodes as %q", in, enc)
		}
	}
	for _, in := range []string{"", "1.2.3", "00000000000000000000000", "0000000000000000000000000", "00000000000000000000000G",
		"0000000000000000000000A0", " 00000000000000000000000", "0000000000000000000000-1", "00000000000000000000000\x00"} {
		if _, _, _, ok := parseStamp([]byte(in)); ok {
			t.Fatalf("%q accepted", in)
		}
	}
}
