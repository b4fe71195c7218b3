package fanout

import (
	"bytes"
	"testing"

	"swiftlet/frame"
)

func TestAppendTextHeader(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{5, []byte{0x81, 5}}, // RFC 6455 5.7 "Hello"
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{256, []byte{0x81, 126, 1, 0}}, // RFC 6455 5.7, 256 bytes
		{65535, []byte{0x81, 126, 0xFF, 0xFF}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}}, // RFC 6455 5.7, 64 KiB
		{1 << 33, []byte{0x81, 127, 0, 0, 0, 2, 0, 0, 0, 0}},
	} {
		got := appendTextHeader([]byte{0xAA}, c.n)
		if !bytes.Equal(got[1:], c.want) || got[0] != 0xAA {
			t.Errorf("appendTextHeader(%d) = % x, want % x", c.n, got[1:], c.want)
		}
		if frame.FrameHeaderSize(c.n) != len(c.want) {
			t.Errorf("FrameHeaderSize(%d) = %d, want %d", c.n, frame.FrameHeaderSize(c.n), len(c.want))
		}
	}
}

// TestHeaderRoundTrip checks the header against the test decoder at every length boundary.
func TestHeaderRoundTrip(t *testing.T) {
	for _, n := range []int{1, 124, 125, 126, 127, 65534, 65535, 65536, 70000} {
		f := appendTextHeader(nil, n)
		f = append(f, bytes.Repeat([]byte{'x'}, n)...)
		p, err := decodeTextFrame(f)
		if err != nil || len(p) != n {
			t.Errorf("n=%d: decode gives %d bytes, %v", n, len(p), err)
		}
	}
}
