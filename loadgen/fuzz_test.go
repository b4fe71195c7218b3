package loadgen

import (
	"errors"
	"io"
	"testing"
)

// splitAt cuts stream into chunks at the points encoded by splits (each byte
// is the length of the next chunk, 0 meaning 1).
func splitAt(stream, splits []byte) [][]byte {
	var chunks [][]byte
	for i, k := 0, 0; i < len(stream); k++ {
		n := 1
		if len(splits) > 0 {
			n = int(splits[k%len(splits)]) + 1
		} else {
			n = len(stream)
		}
		end := min(i+n, len(stream))
		chunks = append(chunks, stream[i:end])
		i = end
	}
	return chunks
}

// FuzzReader feeds valid delivery streams, split at random points, through
// the connection's frame and message decoder and checks that every delivery
// is counted exactly once; then it feeds the raw fuzz bytes as a stream and
// checks that bad input returns an error instead of panicking.
func FuzzReader(f *testing.F) {
	f.Add(uint8(0), uint16(50), []byte{0, 3, 200, 17}, []byte("\x81\x05hello"))
	f.Add(uint8(1), uint16(64), []byte{1}, []byte("\x81\x7e\x00\x10"))
	f.Add(uint8(0), uint16(1), []byte{}, []byte("\x89\x00\x88\x00"))
	f.Add(uint8(1), uint16(200), []byte{255, 0, 9}, []byte("\x81\x0242"))
	f.Fuzz(func(t *testing.T, kind uint8, p16 uint16, splits, garbage []byte) {
		proto := ProtoDeepstream
		if kind%2 == 1 {
			proto = ProtoSocketIO
		}
		p := int(p16%1000) + 1
		nc := &chunkConn{chunks: splitAt(deliveryStream(proto, p), splits)}
		c, plan := testReceiver(proto, p, nc)
		if err := c.readFrames(); !errors.Is(err, io.EOF) {
			t.Fatalf("valid stream: %v", err)
		}
		if c.delivered.Load() != int64(p) || c.dups.Load() != 0 || c.strays.Load() != 0 {
			t.Fatalf("p=%d: delivered %d dups %d strays %d", p, c.delivered.Load(), c.dups.Load(), c.strays.Load())
		}
		select {
		case <-plan.done:
		default:
			t.Fatal("round not complete")
		}
		g, _ := testReceiver(proto, p, &chunkConn{chunks: splitAt(garbage, splits)})
		g.state = stOpen
		_ = g.readFrames() // must return, not panic
	})
}

// FuzzParseStamp checks that any input parses without panicking and that
// every encoded stamp parses back to its values.
func FuzzParseStamp(f *testing.F) {
	f.Add([]byte("000000010002000000000003"), uint32(1), uint16(2), int64(3))
	f.Add([]byte("ffffffffffffffffffffffff"), uint32(1<<32-1), uint16(0), int64(1<<48-1))
	f.Add([]byte("00000001000200000000000G"), uint32(0), uint16(0), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, r uint32, i uint16, s int64) {
		if gr, gi, gs, ok := parseStamp(b); ok {
			if enc := appendStamp(nil, gr, gi, gs); string(enc) != string(b) {
				t.Fatalf("%q parsed to %d %d %d, which encodes as %q", b, gr, gi, gs, enc)
			}
		}
		s &= 1<<48 - 1
		enc := appendStamp(nil, r, uint32(i), s)
		gr, gi, gs, ok := parseStamp(enc)
		if !ok || gr != r || gi != uint32(i) || gs != s {
			t.Fatalf("%q: %d %d %d %v", enc, gr, gi, gs, ok)
		}
		for cut := 0; cut < len(enc); cut++ {
			if _, _, _, ok := parseStamp(enc[:cut]); ok {
				t.Fatalf("truncated %q parsed", enc[:cut])
			}
		}
	})
}
