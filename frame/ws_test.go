package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// recorder is a FrameHandler that records events as strings, copying the
// payloads (they are only valid during the call).
type recorder struct{ events []string }

func (r *recorder) OnMessage(op Opcode, p []byte) {
	r.events = append(r.events, op.String()+":"+string(p))
}
func (r *recorder) OnPing(p []byte) { r.events = append(r.events, "ping:"+string(p)) }
func (r *recorder) OnPong(p []byte) { r.events = append(r.events, "pong:"+string(p)) }
func (r *recorder) OnClose(c CloseCode, reason []byte) {
	r.events = append(r.events, fmt.Sprintf("close:%d:%s", c, reason))
}

// result is what one decoding run of a stream produced.
type result struct {
	events   []string
	code     CloseCode // 0 when no violation
	consumed int       // total bytes consumed before the end or the violation
}

func (r result) String() string {
	ev := r.events
	for i, e := range ev {
		if len(e) > 60 {
			ev = slices.Clone(ev)
			ev[i] = fmt.Sprintf("%s...(%d bytes)", e[:40], len(e))
		}
	}
	return fmt.Sprintf("events=%q code=%d consumed=%d", ev, r.code, r.consumed)
}

// feed decodes stream the way the loop does with gnet: chunks arrive and are
// appended to a pending buffer, Decode runs over all of it, and the consumed
// prefix is discarded. cuts are the offsets where chunks end. With fresh set,
// the pending bytes are copied anew from stream before every call, as gnet's
// Peek does when the data spans its ring buffer (so anything Decode wrote
// into an unconsumed frame is lost); otherwise they are kept as Decode left
// them.
func feed(t testing.TB, lim Limits, stream []byte, cuts []int, fresh bool) result {
	t.Helper()
	d := Decoder{Limits: lim}
	var rec recorder
	var pending []byte
	res := result{}
	prev := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(stream)
		if i < len(cuts) {
			end = cuts[i]
		}
		if fresh {
			pending = append(pending[:0], stream[res.consumed:end]...)
		} else {
			pending = append(pending, stream[prev:end]...)
		}
		prev = end
		n, err := d.Decode(pending, &rec)
		if n < 0 || n > len(pending) {
			t.Fatalf("Decode consumed %d of %d bytes", n, len(pending))
		}
		res.consumed += n
		pending = append(pending[:0], pending[n:]...)
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CloseError", err)
			}
			res.code = ce.Code
			// The error is sticky.
			if n2, err2 := d.Decode(pending, &rec); n2 != 0 || err2 != err {
				t.Fatalf("after error: Decode = %d, %v", n2, err2)
			}
			break
		}
		if d.Closed() {
			break
		}
	}
	res.events = rec.events
	return res
}

func everyByte(n int) []int {
	cuts := make([]int, 0, n)
	for i := 1; i < n; i++ {
		cuts = append(cuts, i)
	}
	return cuts
}

// checkSplits asserts that stream decodes to want whole, byte by byte, split
// once at every position (when the stream is small), and in random chunks.
func checkSplits(t *testing.T, lim Limits, stream []byte, want result) {
	t.Helper()
	same := func(how string, got result) {
		t.Helper()
		if !slices.Equal(got.events, want.events) || got.code != want.code || got.consumed != want.consumed {
			t.Fatalf("%s:\n got %v\nwant %v", how, got, want)
		}
	}
	same("whole", feed(t, lim, stream, nil, false))
	for _, fresh := range []bool{false, true} {
		how := fmt.Sprintf(" (fresh copies %v)", fresh)
		same("byte by byte"+how, feed(t, lim, stream, everyByte(len(stream)), fresh))
		if len(stream) <= 4096 {
			for i := 1; i < len(stream); i++ {
				same(fmt.Sprintf("split at %d%s", i, how), feed(t, lim, stream, []int{i}, fresh))
			}
		}
		r := rand.New(rand.NewPCG(uint64(len(stream)), 7))
		for range 10 {
			same("random chunks"+how, feed(t, lim, stream, randomCuts(r, len(stream)), fresh))
		}
	}
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// mf is a masked client frame.
func mf(op Opcode, fin bool, payload string) []byte {
	return AppendMaskedFrame(nil, op, fin, []byte(payload), testMask)
}

// raw builds a frame byte by byte: b0, then the length byte (mask bit added
// when masked), extended length bytes, mask key and masked payload.
func raw(b0 byte, masked bool, lenByte byte, ext []byte, payload string) []byte {
	b := []byte{b0, lenByte}
	if masked {
		b[1] |= 0x80
	}
	b = append(b, ext...)
	if masked {
		b = append(b, testMask[:]...)
	}
	p := len(b)
	b = append(b, payload...)
	if masked {
		maskBytes(testMask, 0, b[p:])
	}
	return b
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func closePayload(code CloseCode, reason string) string {
	return string([]byte{byte(code >> 8), byte(code)}) + reason
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func TestDecodeRules(t *testing.T) {
	hello := mf(OpText, true, "hello")
	type tc struct {
		name   string
		lim    Limits
		stream []byte
		events []string // delivered before the violation (or in all)
		code   CloseCode
		// consumed defaults to the length of the frames delivered before
		// the violation: the first `delivered` bytes; -1 means all.
		consumed int
	}
	cases := []tc{
		{name: "unmasked text", stream: cat(hello, raw(0x81, false, 2, nil, "hi")), events: []string{"text:hello"}, code: CloseProtocolError, consumed: len(hello)},
		{name: "unmasked ping", stream: raw(0x89, false, 0, nil, ""), code: CloseProtocolError},
		{name: "RSV1 text", stream: raw(0xC1, true, 2, nil, "hi"), code: CloseProtocolError},
		{name: "RSV2 binary", stream: raw(0xA2, true, 2, nil, "hi"), code: CloseProtocolError},
		{name: "RSV3 ping", stream: raw(0x99, true, 0, nil, ""), code: CloseProtocolError},
		{name: "RSV1+2+3 close", stream: raw(0xF8, true, 0, nil, ""), code: CloseProtocolError},
		{name: "RSV1 continuation", stream: cat(mf(OpText, false, "a"), raw(0x40|0x80, true, 1, nil, "b")), code: CloseProtocolError, consumed: len(mf(OpText, false, "a"))},
		{name: "RSV after valid message, no pong for later ping", stream: cat(hello, raw(0xC1, true, 0, nil, ""), mf(OpPing, true, "p")), events: []string{"text:hello"}, code: CloseProtocolError, consumed: len(hello)},
		{name: "close payload 126", stream: raw(0x88, true, 126, be16(126), strings.Repeat("x", 126)), code: CloseProtocolError},
		{name: "ping payload 126", stream: raw(0x89, true, 126, be16(126), strings.Repeat("x", 126)), code: CloseProtocolError},
		{name: "pong payload 127 form", stream: raw(0x8A, true, 127, be64(70000), ""), code: CloseProtocolError},
		{name: "ping payload 125 ok", stream: mf(OpPing, true, strings.Repeat("x", 125)), events: []string{"ping:" + strings.Repeat("x", 125)}, consumed: -1},
		{name: "fragmented ping", stream: raw(0x09, true, 1, nil, "p"), code: CloseProtocolError},
		{name: "fragmented pong", stream: raw(0x0A, true, 1, nil, "p"), code: CloseProtocolError},
		{name: "fragmented close", stream: raw(0x08, true, 0, nil, ""), code: CloseProtocolError},
		{name: "64-bit length MSB set", stream: raw(0x82, true, 127, be64(1<<63|5), ""), code: CloseProtocolError},
		{name: "64-bit length max", stream: raw(0x82, true, 127, be64(^uint64(0)), ""), code: CloseProtocolError},
		{name: "non-minimal 16-bit length", stream: raw(0x81, true, 126, be16(5), "hello"), code: CloseProtocolError},
		{name: "non-minimal 16-bit length 125", stream: raw(0x82, true, 126, be16(125), strings.Repeat("x", 125)), code: CloseProtocolError},
		{name: "non-minimal 64-bit length", stream: raw(0x82, true, 127, be64(200), strings.Repeat("x", 200)), code: CloseProtocolError},
		{name: "non-minimal 64-bit length 65535", stream: raw(0x82, true, 127, be64(65535), ""), code: CloseProtocolError},
		{name: "too big, header only", lim: Limits{MaxMessage: 1000}, stream: []byte{0x82, 0x80 | 126, 0x03, 0xE9}, code: CloseMessageTooBig},
		{name: "too big, default 1 MiB, header only", stream: cat([]byte{0x81, 0x80 | 127}, be64(1<<20+1)), code: CloseMessageTooBig},
		{name: "exactly the limit", lim: Limits{MaxMessage: 200}, stream: mf(OpBinary, true, strings.Repeat("b", 200)), events: []string{"binary:" + strings.Repeat("b", 200)}, consumed: -1},
		{name: "fragmented total too big", lim: Limits{MaxMessage: 1000},
			stream: cat(mf(OpBinary, false, strings.Repeat("a", 600)), []byte{0x80, 0x80 | 126, 0x01, 0x91}), code: CloseMessageTooBig, consumed: len(mf(OpBinary, false, strings.Repeat("a", 600)))},
		{name: "continuation with nothing to continue FIN=1", stream: mf(OpContinuation, true, "x"), code: CloseProtocolError},
		{name: "continuation with nothing to continue FIN=0", stream: mf(OpContinuation, false, "x"), code: CloseProtocolError},
		{name: "continuation after complete message", stream: cat(hello, mf(OpContinuation, true, "x")), events: []string{"text:hello"}, code: CloseProtocolError, consumed: len(hello)},
		{name: "text inside fragmented text", stream: cat(mf(OpText, false, "a"), mf(OpText, true, "b")), code: CloseProtocolError, consumed: len(mf(OpText, false, "a"))},
		{name: "binary inside fragmented text", stream: cat(mf(OpText, false, "a"), mf(OpBinary, false, "b")), code: CloseProtocolError, consumed: len(mf(OpText, false, "a"))},
		{name: "fragments beyond limit", lim: Limits{MaxFragments: 3},
			stream: cat(mf(OpText, false, "a"), mf(OpContinuation, false, "b"), mf(OpContinuation, false, "c"), []byte{0x80, 0x80}), code: CloseMessageTooBig, consumed: 3 * len(mf(OpText, false, "a"))},
		{name: "fragments at limit", lim: Limits{MaxFragments: 3},
			stream: cat(mf(OpText, false, "a"), mf(OpContinuation, false, "b"), mf(OpContinuation, true, "c")), events: []string{"text:abc"}, consumed: -1},
		{name: "invalid UTF-8 text", stream: cat(hello, mf(OpText, true, "a\xffb")), events: []string{"text:hello"}, code: CloseInvalidPayload, consumed: len(hello)},
		{name: "invalid UTF-8 binary is fine", stream: mf(OpBinary, true, "a\xffb"), events: []string{"binary:a\xffb"}, consumed: -1},
		{name: "text ends inside a code point", stream: mf(OpText, true, "a\xe2\x82"), code: CloseInvalidPayload},
		{name: "fragmented text ends inside a code point", stream: cat(mf(OpText, false, "a"), mf(OpContinuation, true, "\xe2\x82")), code: CloseInvalidPayload, consumed: len(mf(OpText, false, "a"))},
		{name: "code point split across fragments", stream: cat(mf(OpText, false, "a\xe2"), mf(OpContinuation, false, "\x82"), mf(OpContinuation, true, "\xac")), events: []string{"text:a€"}, consumed: -1},
		{name: "invalid across fragment boundary, fails before final fragment", stream: cat(mf(OpText, false, "a\xed"), mf(OpContinuation, false, "\xa0\x80")),
			code: CloseInvalidPayload, consumed: len(mf(OpText, false, "a\xed"))},
		{name: "fail fast inside an incomplete frame", stream: raw(0x81, true, 100, nil, "ok so far \xc0\xaf")[:6+12], code: CloseInvalidPayload},
		{name: "fail fast inside an incomplete continuation", stream: cat(mf(OpText, false, "ok"), raw(0x80, true, 100, nil, "\xf4\x90")[:6+2]), code: CloseInvalidPayload, consumed: len(mf(OpText, false, "ok"))},
		{name: "empty close", stream: mf(OpClose, true, ""), events: []string{"close:1005:"}, consumed: -1},
		{name: "close 1000 with reason", stream: mf(OpClose, true, closePayload(1000, "bye κ")), events: []string{"close:1000:bye κ"}, consumed: -1},
		{name: "close payload 1 byte", stream: mf(OpClose, true, "x"), code: CloseProtocolError},
		{name: "close 125 bytes", stream: mf(OpClose, true, closePayload(1000, strings.Repeat("r", 123))), events: []string{"close:1000:" + strings.Repeat("r", 123)}, consumed: -1},
		{name: "close reason not UTF-8", stream: mf(OpClose, true, closePayload(1000, "\xce\xba\xff")), code: CloseInvalidPayload},
		{name: "frames after close are ignored", stream: cat(mf(OpClose, true, ""), mf(OpPing, true, "p"), hello), events: []string{"close:1005:"}, consumed: len(mf(OpClose, true, ""))},
		{name: "ping interleaved in fragments is delivered first", stream: cat(mf(OpText, false, "ab"), mf(OpPing, true, "p"), mf(OpContinuation, true, "cd")), events: []string{"ping:p", "text:abcd"}, consumed: -1},
		{name: "unsolicited pong", stream: cat(mf(OpPong, true, "x"), hello), events: []string{"pong:x", "text:hello"}, consumed: -1},
		{name: "empty fragments", stream: cat(mf(OpText, false, ""), mf(OpContinuation, false, ""), mf(OpContinuation, true, "")), events: []string{"text:"}, consumed: -1},
	}
	for op := 3; op <= 15; op++ {
		if op >= 8 && op <= 10 {
			continue
		}
		cases = append(cases,
			tc{name: fmt.Sprintf("reserved opcode %d", op), stream: raw(0x80|byte(op), true, 0, nil, ""), code: CloseProtocolError},
			tc{name: fmt.Sprintf("reserved opcode %d with payload after echo", op), stream: cat(hello, raw(0x80|byte(op), true, 3, nil, "abc"), mf(OpPing, true, "")),
				events: []string{"text:hello"}, code: CloseProtocolError, consumed: len(hello)})
	}
	for _, c := range []CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, tc{name: fmt.Sprintf("invalid close code %d", c), stream: mf(OpClose, true, closePayload(c, "")), code: CloseProtocolError})
	}
	for _, c := range []CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, tc{name: fmt.Sprintf("valid close code %d", c), stream: mf(OpClose, true, closePayload(c, "r")), events: []string{fmt.Sprintf("close:%d:r", c)}, consumed: -1})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := result{events: c.events, code: c.code, consumed: c.consumed}
			if c.consumed == -1 {
				want.consumed = len(c.stream)
				if c.code != 0 {
					t.Fatal("bad table entry")
				}
			}
			checkSplits(t, c.lim, c.stream, want)
		})
	}
}

// TestDecodeTooBigBeforePayload checks that an oversize frame fails on its
// header alone, with none of its payload present.
func TestDecodeTooBigBeforePayload(t *testing.T) {
	d := Decoder{Limits: Limits{MaxMessage: 4096}}
	var rec recorder
	hdr := AppendMaskedFrame(nil, OpBinary, true, make([]byte, 4097), testMask)[:8]
	n, err := d.Decode(hdr[:3], &rec)
	if n != 0 || err != nil {
		t.Fatalf("incomplete length: %d, %v", n, err)
	}
	n, err = d.Decode(hdr[:4], &rec)
	var ce *CloseError
	if n != 0 || !errors.As(err, &ce) || ce.Code != CloseMessageTooBig {
		t.Fatalf("got %d, %v; want 1009 before the mask key and payload", n, err)
	}
}

func TestDecodeAfterClose(t *testing.T) {
	var d Decoder
	var rec recorder
	closeFrame := mf(OpClose, true, closePayload(1001, ""))
	stream := cat(closeFrame, mf(OpText, true, "late"))
	n, err := d.Decode(stream, &rec)
	if err != nil || n != len(closeFrame) || !d.Closed() || rec.events[0] != "close:1001:" {
		t.Fatalf("got %d, %v, %q", n, err, rec.events)
	}
	n, err = d.Decode(stream[n:], &rec)
	if err != nil || n != len(stream)-len(closeFrame) || len(rec.events) != 1 {
		t.Fatalf("after close: %d, %v, %q", n, err, rec.events)
	}
	d.Reset()
	rec.events = nil
	if n, err := d.Decode(mf(OpText, true, "again"), &rec); err != nil || n != 11 || rec.events[0] != "text:again" {
		t.Fatalf("after Reset: %d, %v, %q", n, err, rec.events)
	}
}

// validStream builds a stream of every length-encoding boundary in text and
// binary, fragmented messages with control frames interleaved, and code
// points split across fragments, with varying mask keys.
func validStream(big bool) (stream []byte, events []string) {
	r := rand.New(rand.NewPCG(3, 4))
	mask := func() [4]byte { return [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())} }
	add := func(op Opcode, fin bool, p string) {
		stream = AppendMaskedFrame(stream, op, fin, []byte(p), mask())
	}
	lengths := []int{0, 1, 7, 8, 9, 125, 126, 127, 128}
	if big {
		lengths = append(lengths, 65535, 65536, 70001)
	}
	for _, n := range lengths {
		txt := strings.Repeat("aκ€𝄞"[:1], n) // ASCII of length n
		if n >= 10 {
			txt = strings.Repeat("x", n-9) + "κ€𝄞" // 2+3+4 bytes at the end
		}
		bin := make([]byte, n)
		for i := range bin {
			bin[i] = byte(i * 7)
		}
		add(OpText, true, txt)
		add(OpBinary, true, string(bin))
		events = append(events, "text:"+txt, "binary:"+string(bin))
	}
	// Fragmented text with pings and a pong interleaved and a code point
	// split across fragments.
	add(OpText, false, "Hel")
	add(OpPing, true, "p1")
	add(OpContinuation, false, "lo κ\xcf")
	add(OpPong, true, "")
	add(OpContinuation, false, "\x8cσ")
	add(OpPing, true, strings.Repeat("P", 125))
	add(OpContinuation, true, "με")
	events = append(events, "ping:p1", "pong:", "ping:"+strings.Repeat("P", 125), "text:Hello κόσμε")
	// Fragmented binary, one fragment empty.
	add(OpBinary, false, "\x00\xff")
	add(OpContinuation, false, "")
	add(OpContinuation, true, "\xfe")
	events = append(events, "binary:\x00\xff\xfe")
	// Many small fragments of a larger text.
	part := strings.Repeat("0123456789abcdef", 8)
	var whole string
	for i := range 40 {
		op := OpContinuation
		if i == 0 {
			op = OpText
		}
		add(op, i == 39, part)
		whole += part
	}
	events = append(events, "text:"+whole)
	if big {
		// A 100 KiB fragmented message in 1300-byte frames (Autobahn 10.1).
		msg := strings.Repeat("z", 100<<10)
		for i := 0; i < len(msg); i += 1300 {
			op := OpContinuation
			if i == 0 {
				op = OpText
			}
			add(op, i+1300 >= len(msg), msg[i:min(i+1300, len(msg))])
		}
		events = append(events, "text:"+msg)
	}
	add(OpClose, true, closePayload(CloseNormal, "done"))
	events = append(events, "close:1000:done")
	return stream, events
}

func TestDecodeValidTraffic(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			stream, events := validStream(big)
			checkSplits(t, Limits{}, stream, result{events: events, consumed: len(stream)})
		})
	}
}

// inPlace checks that an unfragmented payload is delivered without copying.
type inPlace struct {
	buf []byte
	ok  bool
}

func (h *inPlace) OnMessage(op Opcode, p []byte) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(h.buf)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	h.ok = at >= start && at < start+uintptr(len(h.buf))
}
func (h *inPlace) OnPing([]byte)             {}
func (h *inPlace) OnPong([]byte)             {}
func (h *inPlace) OnClose(CloseCode, []byte) {}

func TestDecodeInPlace(t *testing.T) {
	buf := mf(OpText, true, "in place please")
	h := &inPlace{buf: buf}
	var d Decoder
	if _, err := d.Decode(buf, h); err != nil || !h.ok {
		t.Fatalf("payload was not delivered in place (err %v)", err)
	}
}

func TestDecodeReleasesLargeReassemblyBuffer(t *testing.T) {
	var d Decoder
	var rec recorder
	small := cat(mf(OpBinary, false, "ab"), mf(OpContinuation, true, "cd"))
	if _, err := d.Decode(small, &rec); err != nil || cap(d.msg) == 0 {
		t.Fatalf("small message: err %v, cap %d (want kept)", err, cap(d.msg))
	}
	big := cat(mf(OpBinary, false, strings.Repeat("a", 70000)), mf(OpContinuation, true, "b"))
	if _, err := d.Decode(big, &rec); err != nil || d.msg != nil {
		t.Fatalf("large message: err %v, cap %d (want released)", err, cap(d.msg))
	}
	if rec.events[1] != "binary:"+strings.Repeat("a", 70000)+"b" {
		t.Fatal("large message corrupted")
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for n := range 80 {
		for pos := range 4 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i * 13)
			}
			want := slices.Clone(b)
			for i := range want {
				want[i] ^= key[(pos+i)&3]
			}
			maskBytes(key, pos, b)
			if !bytes.Equal(b, want) {
				t.Fatalf("n=%d pos=%d: % x, want % x", n, pos, b, want)
			}
		}
	}
}

func TestAppendFrameHeader(t *testing.T) {
	cases := []struct {
		op     Opcode
		fin    bool
		length int
		want   []byte
	}{
		{OpText, true, 0, []byte{0x81, 0}},
		{OpText, true, 125, []byte{0x81, 125}},
		{OpBinary, true, 126, []byte{0x82, 126, 0, 126}},
		{OpBinary, false, 65535, []byte{0x02, 126, 0xff, 0xff}},
		{OpContinuation, true, 65536, []byte{0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{OpPing, true, 3, []byte{0x89, 3}},
	}
	for _, c := range cases {
		got := AppendFrameHeader([]byte("x"), c.op, c.fin, c.length)
		if !bytes.Equal(got[1:], c.want) || got[0] != 'x' {
			t.Errorf("%v %v %d: % x, want % x", c.op, c.fin, c.length, got[1:], c.want)
		}
		if FrameHeaderSize(c.length) != len(c.want) {
			t.Errorf("FrameHeaderSize(%d) = %d", c.length, FrameHeaderSize(c.length))
		}
		op, fin, length, hdr, ok := ParseServerHeader(got[1:])
		if !ok || op != c.op || fin != c.fin || length != c.length || hdr != len(c.want) {
			t.Errorf("ParseServerHeader(% x) = %v %v %d %d %v", c.want, op, fin, length, hdr, ok)
		}
		for i := range len(c.want) {
			if _, _, _, _, ok := ParseServerHeader(c.want[:i]); ok {
				t.Errorf("ParseServerHeader(% x) ok on an incomplete header", c.want[:i])
			}
		}
	}
	if _, _, _, _, ok := ParseServerHeader(cat([]byte{0x82, 127}, be64(1<<63))); ok {
		t.Error("ParseServerHeader accepted a length with the top bit set")
	}
	masked := mf(OpText, true, "abc")
	if _, _, l, hdr, ok := ParseServerHeader(masked); !ok || l != 3 || hdr != 6 {
		t.Errorf("masked header: %d %d %v", l, hdr, ok)
	}
}

// serverFrames decodes unmasked server frames with ParseServerHeader.
func serverFrames(t *testing.T, b []byte) (ops []Opcode, payloads []string) {
	t.Helper()
	for len(b) > 0 {
		op, fin, l, hdr, ok := ParseServerHeader(b)
		if !ok || !fin || b[1]&0x80 != 0 || len(b) < hdr+l {
			t.Fatalf("bad server frame % x", b)
		}
		ops, payloads = append(ops, op), append(payloads, string(b[hdr:hdr+l]))
		b = b[hdr+l:]
	}
	return ops, payloads
}

func TestAppendFrameAndClose(t *testing.T) {
	var out []byte
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		out = AppendFrame(out, OpText, bytes.Repeat([]byte("t"), n))
	}
	out = AppendClose(out, CloseNoStatus, "ignored")
	out = AppendClose(out, CloseGoingAway, "restart")
	long := strings.Repeat("x", 121) + "κκ" // 125 bytes: κ straddles the cut
	out = AppendClose(out, CloseProtocolError, long)
	ops, payloads := serverFrames(t, out)
	wantOps := []Opcode{OpText, OpText, OpText, OpText, OpText, OpClose, OpClose, OpClose}
	if !slices.Equal(ops, wantOps) {
		t.Fatalf("ops %v", ops)
	}
	for i, n := range []int{0, 125, 126, 65535, 65536} {
		if payloads[i] != strings.Repeat("t", n) {
			t.Fatalf("text %d corrupted", n)
		}
	}
	if payloads[5] != "" || payloads[6] != closePayload(1001, "restart") {
		t.Fatalf("close payloads %q %q", payloads[5], payloads[6])
	}
	if want := closePayload(1002, strings.Repeat("x", 121)+"κ"); payloads[7] != want || len(want) > 125 {
		t.Fatalf("long close reason: %q (len %d)", payloads[7], len(payloads[7]))
	}
}

func TestCloseErrorAndOpcodeStrings(t *testing.T) {
	if s := errTooBig.Error(); s != "frame: websocket 1009: message too big" {
		t.Fatal(s)
	}
	if OpPong.String() != "pong" || Opcode(3).String() != "opcode(3)" || !OpPing.IsControl() || OpBinary.IsControl() {
		t.Fatal("opcode helpers")
	}
}

type nopHandler struct{ n int }

func (h *nopHandler) OnMessage(_ Opcode, p []byte) { h.n += len(p) }
func (h *nopHandler) OnPing([]byte)                {}
func (h *nopHandler) OnPong([]byte)                {}
func (h *nopHandler) OnClose(CloseCode, []byte)    {}

// smallFrames is a buffer of count masked 16-byte text frames, and a pristine
// copy to restore it from (Decode unmasks in place).
func smallFrames(count int) (buf, orig []byte) {
	for range count {
		orig = AppendMaskedFrame(orig, OpText, true, []byte("E|EVT|chat|Shi!!"), testMask)
	}
	return slices.Clone(orig), orig
}

func TestDecodeNoAllocs(t *testing.T) {
	buf, orig := smallFrames(64)
	frag := cat(mf(OpText, false, strings.Repeat("a", 1000)), mf(OpPing, true, "p"), mf(OpContinuation, true, "b"))
	fragOrig := slices.Clone(frag)
	var d Decoder
	h := &nopHandler{}
	d.Decode(slices.Clone(fragOrig), h) // grow the reassembly buffer once
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, orig)
		if n, err := d.Decode(buf, h); err != nil || n != len(buf) {
			t.Fatal(n, err)
		}
		copy(frag, fragOrig)
		if n, err := d.Decode(frag, h); err != nil || n != len(frag) {
			t.Fatal(n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode: %v allocs per run", allocs)
	}
	out := make([]byte, 0, 1<<17)
	payload := make([]byte, 70000)
	allocs = testing.AllocsPerRun(100, func() {
		out = AppendFrame(out[:0], OpText, payload[:16])
		out = AppendFrame(out, OpBinary, payload)
		out = AppendFrameHeader(out, OpText, true, 300)
		out = AppendClose(out, CloseNormal, "bye")
		out = AppendMaskedFrame(out, OpText, true, payload[:100], testMask)
	})
	if allocs != 0 {
		t.Fatalf("encoders: %v allocs per run", allocs)
	}
}

// FuzzDecode feeds arbitrary bytes (which must never panic, and must decode
// the same split or whole) and valid streams generated from spec (which must
// produce exactly the expected events, split or whole).
func FuzzDecode(f *testing.F) {
	stream, _ := validStream(false)
	f.Add(stream, []byte(nil), uint64(1))
	f.Add([]byte(nil), []byte("hello κόσμε\x00world"), uint64(2))
	f.Add(cat(mf(OpText, false, "a\xed"), mf(OpContinuation, false, "\xa0\x80")), []byte("\xff\xfe"), uint64(3))
	f.Add(raw(0x82, true, 127, be64(1<<63|5), ""), []byte("spec"), uint64(4))
	f.Add(cat(mf(OpClose, true, closePayload(1000, "x")), mf(OpText, true, "after")), []byte{}, uint64(5))
	f.Fuzz(func(t *testing.T, arbitrary, spec []byte, seed uint64) {
		r := rand.New(rand.NewPCG(seed, seed>>32))
		lim := Limits{MaxMessage: 1 << 16, MaxFragments: 64}

		// Arbitrary bytes: never panic, n within bounds (checked by feed),
		// and any split gives the same result as none.
		whole := feed(t, lim, arbitrary, nil, false)
		cuts := randomCuts(r, len(arbitrary))
		for _, fresh := range []bool{false, true} {
			split := feed(t, lim, arbitrary, cuts, fresh)
			if !slices.Equal(whole.events, split.events) || whole.code != split.code || whole.consumed != split.consumed {
				t.Fatalf("arbitrary input: split (fresh %v) differs:\n whole %v\n split %v", fresh, whole, split)
			}
		}

		// A valid stream generated from spec: every event expected, whole
		// and split.
		var valid []byte
		var want []string
		mask := func() [4]byte { return [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())} }
		for len(spec) > 0 {
			n := min(len(spec), int(spec[0])+1)
			msg := spec[:n]
			spec = spec[n:]
			op := OpBinary
			if validUTF8(msg) {
				op = OpText
			}
			want = append(want, op.String()+":"+string(msg))
			frags := 1 + r.IntN(4)
			var pings []string
			for i := 0; i < frags; i++ {
				lo, hi := len(msg)*i/frags, len(msg)*(i+1)/frags
				fop := op
				if i > 0 {
					fop = OpContinuation
				}
				valid = AppendMaskedFrame(valid, fop, i == frags-1, msg[lo:hi], mask())
				if i < frags-1 && r.IntN(2) == 0 {
					p := fmt.Sprint(i)
					valid = AppendMaskedFrame(valid, OpPing, true, []byte(p), mask())
					pings = append(pings, "ping:"+p)
				}
			}
			want = append(want[:len(want)-1], append(pings, want[len(want)-1])...)
		}
		wantRes := result{events: want, consumed: len(valid)}
		cuts = randomCuts(r, len(valid))
		for i, cuts := range [][]int{nil, cuts, cuts} {
			got := feed(t, lim, valid, cuts, i == 2)
			if !slices.Equal(got.events, wantRes.events) || got.code != 0 || got.consumed != len(valid) {
				t.Fatalf("valid stream:\n got %v\nwant %v", got, wantRes)
			}
		}
	})
}

func BenchmarkDecodeSmall(b *testing.B) {
	buf, orig := smallFrames(256)
	var d Decoder
	h := &nopHandler{}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, orig) // re-mask: Decode unmasks in place
		if n, err := d.Decode(buf, h); err != nil || n != len(buf) {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/frame")
}

func BenchmarkDecode64K(b *testing.B) {
	for _, op := range []Opcode{OpText, OpBinary} {
		b.Run(op.String(), func(b *testing.B) {
			orig := AppendMaskedFrame(nil, op, true, bytes.Repeat([]byte("0123456789abcdef"), 4096), testMask)
			buf := slices.Clone(orig)
			var d Decoder
			h := &nopHandler{}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, orig)
				if n, err := d.Decode(buf, h); err != nil || n != len(buf) {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	payload := []byte("E|EVT|chat|Shello world+")
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		for range 64 {
			out = AppendFrame(out, OpText, payload)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/frame")
}
