package wsconf

import (
	"bytes"
	"fmt"
	"time"
)

// fr builds a masked frame with a mask key that varies with the payload.
func fr(fin bool, op uint8, p []byte) Frame {
	n := byte(len(p))
	return Frame{Fin: fin, Opcode: op, Payload: p, MaskKey: [4]byte{0x37 ^ n, 0xfa, 0x21 ^ n, 0x3d}}
}

func text(s string) Frame   { return fr(true, OpText, []byte(s)) }
func binMsg(p []byte) Frame { return fr(true, OpBinary, p) }
func ping(p []byte) Frame   { return fr(true, OpPing, p) }
func closeFrame(code int, reason string) Frame {
	return fr(true, OpClose, ClosePayload(code, reason))
}

func send(mode WriteMode, frames ...Frame) Step { return Step{Frames: frames, Mode: mode} }
func sendAll(frames ...Frame) Step              { return send(WriteAll, frames...) }
func chopped(chop int, frames ...Frame) Step {
	return Step{Frames: frames, Mode: WriteChopped, Chop: chop}
}

// seq is one expected timeline.
func seq(ev ...Event) [][]Event { return [][]Event{ev} }

// none is an expected empty timeline (distinct from nil only for readability at call sites).
var none = [][]Event{{}}

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// payload returns n bytes of printable ASCII (valid UTF-8 at any split).
func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// binPayload returns n bytes covering every byte value.
func binPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

// Cases returns every data-driven case for tg (sizes follow tg's limits), in Autobahn order, followed by
// the extras of reliability.md section 2. Handshake, flood, slowloris and half-open cases are in
// ExtraCases.
func Cases(tg Target) []Case {
	var cs []Case
	cs = append(cs, framingCases()...)
	cs = append(cs, pingCases()...)
	cs = append(cs, reservedBitCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentationCases()...)
	cs = append(cs, utf8Cases()...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitCases(tg)...)
	cs = append(cs, Case{ID: "10.1.1", Desc: "64 KiB text in 1300-byte frames",
		Steps:  []Step{sendAll(fragment(OpText, payload(65536), 1300)...)},
		Expect: seq(MsgBytes(OpText, payload(65536))), Wait: 10 * time.Second})
	cs = append(cs, frameExtraCases(tg)...)
	return cs
}

// fragment splits p into frames of size n (the last may be shorter), the first with opcode op.
func fragment(op uint8, p []byte, n int) []Frame {
	var fs []Frame
	for first := true; first || len(p) > 0; first = false {
		k := min(n, len(p))
		o := uint8(OpContinuation)
		if first {
			o = op
		}
		fs = append(fs, fr(k == len(p), o, p[:k]))
		p = p[k:]
	}
	return fs
}

func framingCases() []Case {
	var cs []Case
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536}
	for g, op := range []uint8{OpText, OpBinary} {
		for i, n := range sizes {
			p := payload(n)
			if op == OpBinary {
				p = binPayload(n)
			}
			cs = append(cs, Case{ID: fmt.Sprintf("1.%d.%d", g+1, i+1), Desc: fmt.Sprintf("echo %d bytes (opcode %d)", n, op),
				Steps: []Step{sendAll(fr(true, op, p))}, Expect: seq(MsgBytes(op, p))})
		}
		p := payload(65536)
		if op == OpBinary {
			p = binPayload(65536)
		}
		cs = append(cs, Case{ID: fmt.Sprintf("1.%d.8", g+1), Desc: "65536 bytes written in 997-byte chops",
			Steps: []Step{chopped(997, fr(true, op, p))}, Expect: seq(MsgBytes(op, p))})
	}
	return cs
}

func pingCases() []Case {
	hello := []byte("Hello, world!")
	bin := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	p125, p126 := binPayload(125), binPayload(126)
	tenPings := func() ([]Frame, []Event) {
		var fs []Frame
		var ev []Event
		for i := range 10 {
			p := []byte(fmt.Sprintf("payload-%d", i))
			fs = append(fs, ping(p))
			ev = append(ev, Pong(p))
		}
		return fs, ev
	}
	pings, pongs := tenPings()
	return []Case{
		{ID: "2.1", Desc: "ping without payload", Steps: []Step{sendAll(ping(nil))}, Expect: seq(Pong(nil))},
		{ID: "2.2", Desc: "ping with text payload", Steps: []Step{sendAll(ping(hello))}, Expect: seq(Pong(hello))},
		{ID: "2.3", Desc: "ping with binary payload", Steps: []Step{sendAll(ping(bin))}, Expect: seq(Pong(bin))},
		{ID: "2.4", Desc: "ping with 125-byte payload", Steps: []Step{sendAll(ping(p125))}, Expect: seq(Pong(p125))},
		{ID: "2.5", Desc: "ping with 126-byte payload must fail", Steps: []Step{sendAll(ping(p126))},
			Fail: true, Codes: []int{1002}},
		{ID: "2.6", Desc: "125-byte ping written one byte at a time, 1 ms apart",
			Steps:  []Step{{Frames: []Frame{ping(p125)}, Mode: WriteChopped, Chop: 1, Pause: time.Millisecond}},
			Expect: seq(Pong(p125))},
		{ID: "2.7", Desc: "unsolicited pong without payload is ignored", Steps: []Step{sendAll(fr(true, OpPong, nil))},
			Expect: none},
		{ID: "2.8", Desc: "unsolicited pong with payload is ignored",
			Steps: []Step{sendAll(fr(true, OpPong, []byte("unsolicited pong payload")))}, Expect: none},
		{ID: "2.9", Desc: "unsolicited pong then ping: only the ping is answered",
			Steps:  []Step{sendAll(fr(true, OpPong, []byte("unsolicited pong payload")), ping([]byte("ping payload")))},
			Expect: seq(Pong([]byte("ping payload")))},
		{ID: "2.10", Desc: "10 pings in a row get 10 pongs", Steps: []Step{sendAll(pings...)}, Expect: seq(pongs...)},
		{ID: "2.11", Desc: "10 pings written one byte at a time get 10 pongs",
			Steps: []Step{chopped(1, pings...)}, Expect: seq(pongs...)},
	}
}

func withRsv(f Frame, rsv uint8) Frame { f.Rsv = rsv; return f }

func reservedBitCases() []Case {
	hello := "Hello, world!"
	after := func(id string, rsv uint8, mode WriteMode, chop int) Case {
		return Case{ID: id, Desc: fmt.Sprintf("text echo, then text with RSV=%d, then ping", rsv),
			Steps:  []Step{{Frames: []Frame{text(hello), withRsv(text(hello), rsv), ping([]byte(hello))}, Mode: mode, Chop: chop}},
			Expect: seq(Msg(hello)), NonStrictExpect: none, Fail: true, Codes: []int{1002}}
	}
	return []Case{
		{ID: "3.1", Desc: "text with RSV=1", Steps: []Step{sendAll(withRsv(text(hello), 1))}, Fail: true, Codes: []int{1002}},
		after("3.2", 2, WriteAll, 0),
		after("3.3", 3, WritePerFrame, 0),
		after("3.4", 4, WriteChopped, 1),
		{ID: "3.5", Desc: "binary with RSV=5", Steps: []Step{sendAll(withRsv(binMsg(binPayload(8)), 5))}, Fail: true, Codes: []int{1002}},
		{ID: "3.6", Desc: "ping with RSV=6", Steps: []Step{sendAll(withRsv(ping([]byte(hello)), 6))}, Fail: true, Codes: []int{1002}},
		{ID: "3.7", Desc: "close with RSV=7", Steps: []Step{sendAll(withRsv(closeFrame(1000, ""), 7))}, Fail: true,
			Codes: []int{1002}, OwnClose: true},
	}
}

func opcodeCases() []Case {
	var cs []Case
	for g, ops := range [][]uint8{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		grp := fmt.Sprintf("4.%d", g+1)
		p := []byte("reserved opcode payload")
		cs = append(cs,
			Case{ID: grp + ".1", Desc: fmt.Sprintf("opcode %d without payload", ops[0]),
				Steps: []Step{sendAll(fr(true, ops[0], nil))}, Fail: true, Codes: []int{1002}},
			Case{ID: grp + ".2", Desc: fmt.Sprintf("opcode %d with payload", ops[1]),
				Steps: []Step{sendAll(fr(true, ops[1], p))}, Fail: true, Codes: []int{1002}},
			Case{ID: grp + ".3", Desc: fmt.Sprintf("text echo, opcode %d, ping", ops[2]),
				Steps:  []Step{send(WritePerFrame, text("Hello, world!"), fr(true, ops[2], nil), ping(nil))},
				Expect: seq(Msg("Hello, world!")), NonStrictExpect: none, Fail: true, Codes: []int{1002}},
			Case{ID: grp + ".4", Desc: fmt.Sprintf("text echo, opcode %d with payload, ping", ops[3]),
				Steps:  []Step{sendAll(text("Hello, world!"), fr(true, ops[3], p), ping(nil))},
				Expect: seq(Msg("Hello, world!")), NonStrictExpect: none, Fail: true, Codes: []int{1002}},
			Case{ID: grp + ".5", Desc: fmt.Sprintf("text echo, opcode %d with payload, ping, one byte per write", ops[4]),
				Steps:  []Step{chopped(1, text("Hello, world!"), fr(true, ops[4], p), ping(nil))},
				Expect: seq(Msg("Hello, world!")), NonStrictExpect: none, Fail: true, Codes: []int{1002}},
		)
	}
	return cs
}

func fragmentationCases() []Case {
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	modes := []struct {
		mode WriteMode
		chop int
		name string
	}{{WriteAll, 0, "in one write"}, {WritePerFrame, 0, "one write per frame"}, {WriteChopped, 1, "one byte per write"}}
	cs := []Case{
		{ID: "5.1", Desc: "fragmented ping", Steps: []Step{sendAll(fr(false, OpPing, f1), fr(true, OpContinuation, f2))},
			Fail: true, Codes: []int{1002}},
		{ID: "5.2", Desc: "fragmented pong", Steps: []Step{sendAll(fr(false, OpPong, f1), fr(true, OpContinuation, f2))},
			Fail: true, Codes: []int{1002}},
	}
	n := 3
	for _, m := range modes {
		cs = append(cs, Case{ID: fmt.Sprintf("5.%d", n), Desc: "text in 2 fragments, " + m.name,
			Steps:  []Step{{Frames: []Frame{fr(false, OpText, f1), fr(true, OpContinuation, f2)}, Mode: m.mode, Chop: m.chop}},
			Expect: seq(Msg("fragment1fragment2"))})
		n++
	}
	for _, m := range modes {
		cs = append(cs, Case{ID: fmt.Sprintf("5.%d", n), Desc: "ping between 2 text fragments, " + m.name,
			Steps: []Step{{Frames: []Frame{fr(false, OpText, f1), ping([]byte("pongme!")), fr(true, OpContinuation, f2)},
				Mode: m.mode, Chop: m.chop}},
			Expect: seq(Pong([]byte("pongme!")), Msg("fragment1fragment2"))})
		n++
	}
	for _, fin := range []bool{true, false} {
		for _, m := range modes {
			cs = append(cs, Case{ID: fmt.Sprintf("5.%d", n),
				Desc: fmt.Sprintf("continuation (FIN=%v) with nothing to continue, then text, %s", fin, m.name),
				Steps: []Step{{Frames: []Frame{fr(fin, OpContinuation, []byte("non-continuation payload")), text("Hello, world!")},
					Mode: m.mode, Chop: m.chop}},
				Fail: true, Codes: []int{1002}})
			n++
		}
	}
	// n == 15
	cs = append(cs,
		Case{ID: "5.15", Desc: "text in 2 fragments, then a continuation and text that break the order",
			Steps: []Step{sendAll(fr(false, OpText, f1), fr(true, OpContinuation, f2),
				fr(false, OpContinuation, []byte("fragment3")), fr(true, OpText, []byte("fragment4")))},
			Expect: [][]Event{{Msg("fragment1fragment2")}, {}}, Fail: true, Codes: []int{1002}},
		Case{ID: "5.16", Desc: "twice: continuation FIN=0, text FIN=0, continuation FIN=1",
			Steps: []Step{sendAll(fr(false, OpContinuation, f1), fr(false, OpText, f2), fr(true, OpContinuation, []byte("fragment3")),
				fr(false, OpContinuation, f1), fr(false, OpText, f2), fr(true, OpContinuation, []byte("fragment3")))},
			Fail: true, Codes: []int{1002}},
		Case{ID: "5.17", Desc: "twice: continuation FIN=1, text FIN=0, continuation FIN=1",
			Steps: []Step{sendAll(fr(true, OpContinuation, f1), fr(false, OpText, f2), fr(true, OpContinuation, []byte("fragment3")),
				fr(true, OpContinuation, f1), fr(false, OpText, f2), fr(true, OpContinuation, []byte("fragment3")))},
			Fail: true, Codes: []int{1002}},
		Case{ID: "5.18", Desc: "text FIN=0 followed by a second text opcode",
			Steps: []Step{sendAll(fr(false, OpText, f1), fr(true, OpText, f2))}, Fail: true, Codes: []int{1002}},
	)
	for i, mode := range []WriteMode{WriteAll, WritePerFrame} {
		p1, p2 := []byte("pongme 1!"), []byte("pongme 2!")
		cs = append(cs, Case{ID: fmt.Sprintf("5.%d", 19+i),
			Desc: "5 text fragments with 2 pings, 1 s pause mid-message: pongs come at once, then the echo",
			Steps: []Step{
				{Frames: []Frame{fr(false, OpText, []byte("f1")), fr(false, OpContinuation, []byte("f2")), ping(p1)}, Mode: mode, Await: 1},
				{Sleep: time.Second, Frames: []Frame{fr(false, OpContinuation, []byte("f3")), fr(false, OpContinuation, []byte("f4")), ping(p2)},
					Mode: mode, Await: 2},
				{Frames: []Frame{fr(true, OpContinuation, []byte("f5"))}, Mode: mode, Await: 3},
			},
			Expect: seq(Pong(p1), Pong(p2), Msg("f1f2f3f4f5"))})
	}
	return cs
}

func closeCases() []Case {
	hello := "Hello, world!"
	cs := []Case{
		{ID: "7.1.1", Desc: "text echo then close", Steps: []Step{sendAll(text(hello))}, Expect: seq(Msg(hello))},
		{ID: "7.1.2", Desc: "close twice", Steps: []Step{sendAll(closeFrame(1000, ""), closeFrame(1000, ""))}, OwnClose: true, Expect: none},
		{ID: "7.1.3", Desc: "ping after close is ignored", Steps: []Step{sendAll(closeFrame(1000, ""), ping([]byte(hello)))},
			OwnClose: true, Expect: none},
		{ID: "7.1.4", Desc: "text after close is ignored", Steps: []Step{sendAll(closeFrame(1000, ""), text(hello))},
			OwnClose: true, Expect: none},
		{ID: "7.1.5", Desc: "fragment, close, final fragment: no echo",
			Steps:    []Step{sendAll(fr(false, OpText, []byte("fragment1")), closeFrame(1000, ""), fr(true, OpContinuation, []byte("fragment2")))},
			OwnClose: true, Expect: none},
		{ID: "7.1.6", Desc: "256 KiB text immediately followed by close", Informational: true,
			Steps:    []Step{sendAll(text(string(payload(256<<10))), closeFrame(1000, ""), ping([]byte(hello)))},
			OwnClose: true, Expect: [][]Event{{MsgBytes(OpText, payload(256<<10))}, {}}},
		{ID: "7.3.1", Desc: "close with empty payload: answered with 1000",
			Steps: []Step{sendAll(fr(true, OpClose, nil))}, OwnClose: true, Expect: none, Codes: []int{1000},
			NonStrictCodes: []int{NoStatus}},
		{ID: "7.3.2", Desc: "close with a 1-byte payload must fail",
			Steps: []Step{sendAll(fr(true, OpClose, []byte{0x03}))}, OwnClose: true, Expect: none, Codes: []int{1002}},
		{ID: "7.3.3", Desc: "close 1000 without reason",
			Steps: []Step{sendAll(closeFrame(1000, ""))}, OwnClose: true, Expect: none},
		{ID: "7.3.4", Desc: "close 1000 with reason",
			Steps: []Step{sendAll(closeFrame(1000, "Hello World!"))}, OwnClose: true, Expect: none},
		{ID: "7.3.5", Desc: "close 1000 with a 123-byte reason (125 bytes)",
			Steps: []Step{sendAll(closeFrame(1000, string(payload(123))))}, OwnClose: true, Expect: none},
		{ID: "7.3.6", Desc: "close 1000 with a 124-byte reason (126 bytes) must fail",
			Steps: []Step{sendAll(closeFrame(1000, string(payload(124))))}, OwnClose: true, Expect: none, Codes: []int{1002}},
		{ID: "7.5.1", Desc: "close reason with invalid UTF-8",
			Steps:    []Step{sendAll(fr(true, OpClose, append(ClosePayload(1000, ""), "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"...)))},
			OwnClose: true, Expect: none, Codes: []int{1007, 1002}},
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.7.%d", i+1), Desc: fmt.Sprintf("valid close code %d: echoed or 1000", code),
			Steps: []Step{sendAll(closeFrame(code, ""))}, OwnClose: true, Expect: none, Codes: []int{code, 1000}})
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.9.%d", i+1), Desc: fmt.Sprintf("invalid close code %d: 1002", code),
			Steps: []Step{sendAll(closeFrame(code, ""))}, OwnClose: true, Expect: none, Codes: []int{1002}})
	}
	for i, code := range []int{5000, 65535} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.13.%d", i+1), Desc: fmt.Sprintf("undefined close code %d", code),
			Steps: []Step{sendAll(closeFrame(code, ""))}, OwnClose: true, Expect: none, Codes: []int{1002}, Informational: true})
	}
	return cs
}

func limitCases(tg Target) []Case {
	limit := tg.MaxMessageSize
	var cs []Case
	sizes := []int{64 << 10, 256 << 10, limit}
	for g, op := range []uint8{OpText, OpBinary} {
		mk := payload
		if op == OpBinary {
			mk = binPayload
		}
		for i, n := range sizes {
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", g+1, i+1), Desc: fmt.Sprintf("single %d-byte message", n),
				Steps: []Step{sendAll(fr(true, op, mk(n)))}, Expect: seq(MsgBytes(op, mk(n))), Wait: 10 * time.Second})
		}
		cs = append(cs, Case{ID: fmt.Sprintf("9.%d.4", g+1), Desc: fmt.Sprintf("single %d-byte message (limit+1): 1009", limit+1),
			Steps: []Step{sendAll(fr(true, op, mk(limit+1)))}, Fail: true, Codes: []int{1009}, Wait: 10 * time.Second})
		// 9.3 / 9.4: the largest message in fragments of 64 B .. the whole message.
		i := 1
		for fs := 64; fs <= limit; fs *= 4 {
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", g+3, i), Desc: fmt.Sprintf("%d-byte message in %d-byte fragments", limit, fs),
				Steps: []Step{sendAll(fragment(op, mk(limit), fs)...)}, Expect: seq(MsgBytes(op, mk(limit))), Wait: 10 * time.Second})
			i++
		}
		// 9.5 / 9.6: the largest message written in chops of 64 .. 2048 bytes.
		i = 1
		for chop := 64; chop <= 2048; chop *= 2 {
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", g+5, i), Desc: fmt.Sprintf("%d-byte message in %d-byte writes", limit, chop),
				Steps: []Step{chopped(chop, fr(true, op, mk(limit)))}, Expect: seq(MsgBytes(op, mk(limit))), Wait: 10 * time.Second})
			i++
		}
		// 9.7 / 9.8: 1000 sequential round trips.
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			var steps []Step
			var want []Event
			for k := range 1000 {
				steps = append(steps, Step{Frames: []Frame{fr(true, op, mk(n))}, Mode: WriteAll, Await: k + 1})
				want = append(want, MsgBytes(op, mk(n)))
			}
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", g+7, i+1), Desc: fmt.Sprintf("1000 round trips of %d bytes", n),
				Steps: steps, Expect: [][]Event{want}, Wait: 10 * time.Second})
		}
	}
	return cs
}

func frameExtraCases(tg Target) []Case {
	hello := []byte("Hello, world!")
	unmasked := func(f Frame) Frame { f.NoMask = true; return f }
	withLen := func(f Frame, m LenMode) Frame { f.Len = m; return f }
	header := func(fin bool, op uint8, declared uint64) []byte {
		return AppendFrame(nil, Frame{Fin: fin, Opcode: op, DeclaredLen: declared, MaskKey: [4]byte{9, 8, 7, 6}})
	}
	limit := tg.MaxMessageSize
	half := payload(limit/2 + 1)
	var manyFrags, maxFrags []Frame
	for i := 0; i <= tg.MaxFragments; i++ {
		op := uint8(OpContinuation)
		if i == 0 {
			op = OpText
		}
		manyFrags = append(manyFrags, fr(i == tg.MaxFragments, op, []byte{'x'}))
	}
	maxFrags = append(maxFrags, manyFrags[:tg.MaxFragments]...)
	maxFrags[len(maxFrags)-1].Fin = true
	var emptyFrags []Frame
	for i := 0; i <= tg.MaxFragments; i++ {
		op := uint8(OpContinuation)
		if i == 0 {
			op = OpText
		}
		emptyFrags = append(emptyFrags, fr(i == tg.MaxFragments, op, nil))
	}
	return []Case{
		{ID: "X.1.1", Desc: "unmasked text frame: 1002", Steps: []Step{sendAll(unmasked(text("Hello, world!")))}, Fail: true, Codes: []int{1002}},
		{ID: "X.1.2", Desc: "unmasked ping: 1002", Steps: []Step{sendAll(unmasked(ping(hello)))}, Fail: true, Codes: []int{1002}},
		{ID: "X.1.3", Desc: "masked text, then unmasked continuation: 1002",
			Steps: []Step{sendAll(fr(false, OpText, hello), unmasked(fr(true, OpContinuation, hello)))}, Fail: true, Codes: []int{1002}},
		{ID: "X.2.1", Desc: "non-minimal 16-bit length on a 5-byte text (accepted, or 1002 NON-STRICT)",
			Steps: []Step{sendAll(withLen(text("Hello"), Len16))}, Expect: seq(Msg("Hello")), NonStrictExpect: none, NonStrictCodes: []int{1002}},
		{ID: "X.2.2", Desc: "non-minimal 64-bit length on a 5-byte text",
			Steps: []Step{sendAll(withLen(text("Hello"), Len64))}, Expect: seq(Msg("Hello")), NonStrictExpect: none, NonStrictCodes: []int{1002}},
		{ID: "X.2.3", Desc: "non-minimal 64-bit length on a 200-byte binary",
			Steps:  []Step{sendAll(withLen(binMsg(binPayload(200)), Len64))},
			Expect: seq(MsgBytes(OpBinary, binPayload(200))), NonStrictExpect: none, NonStrictCodes: []int{1002}},
		{ID: "X.2.4", Desc: "non-minimal 16-bit length on a ping",
			Steps: []Step{sendAll(withLen(ping(hello), Len16))}, Expect: seq(Pong(hello)), NonStrictExpect: none, NonStrictCodes: []int{1002}},
		{ID: "X.3.1", Desc: "64-bit length with the MSB set: 1002 (or 1009)",
			Steps: []Step{{Raw: append(header(true, OpBinary, 1<<63|5), 1, 2, 3, 4, 5)}}, Fail: true, Codes: []int{1002, 1009}},
		{ID: "X.4.1", Desc: "header declares limit+1 bytes: 1009 before any payload is sent",
			Steps: []Step{{Raw: header(true, OpBinary, uint64(limit+1))}}, Fail: true, Codes: []int{1009}},
		{ID: "X.4.2", Desc: "header declares 1 GiB: 1009 before any payload is sent",
			Steps: []Step{{Raw: header(true, OpText, 1<<30)}}, Fail: true, Codes: []int{1009}},
		{ID: "X.4.3", Desc: "fragments whose sum passes the limit: 1009 at the second header",
			Steps: []Step{sendAll(fr(false, OpText, half)), {Raw: header(true, OpContinuation, uint64(len(half)))}},
			Fail:  true, Codes: []int{1009}},
		{ID: "X.5.1", Desc: fmt.Sprintf("%d one-byte fragments (cap+1): 1009", len(manyFrags)),
			Steps: []Step{sendAll(manyFrags...)}, Fail: true, Codes: []int{1009}, Wait: 5 * time.Second},
		{ID: "X.5.2", Desc: fmt.Sprintf("%d one-byte fragments (the cap): echoed", len(maxFrags)),
			Steps: []Step{sendAll(maxFrags...)}, Expect: seq(MsgBytes(OpText, repeat('x', len(maxFrags)))), Wait: 5 * time.Second},
		{ID: "X.5.3", Desc: fmt.Sprintf("%d empty fragments (cap+1): 1009", len(emptyFrags)),
			Steps: []Step{sendAll(emptyFrags...)}, Fail: true, Codes: []int{1009}, Wait: 5 * time.Second},
		{ID: "X.6.1", Desc: "RSV1 on a continuation frame: 1002",
			Steps: []Step{sendAll(fr(false, OpText, hello), withRsv(fr(true, OpContinuation, hello), 4))}, Fail: true, Codes: []int{1002}},
		{ID: "X.6.2", Desc: "RSV1 on a close frame after a fragment: 1002",
			Steps: []Step{sendAll(fr(false, OpText, hello), withRsv(closeFrame(1000, ""), 4))}, Fail: true, Codes: []int{1002}, OwnClose: true},
		{ID: "X.7.1", Desc: "close timeout: the client never answers the server's close; TCP dropped within closeTimeout",
			Steps: []Step{sendAll(fr(true, 3, nil))}, Fail: true, Codes: []int{1002}, NoCloseEcho: true,
			Wait: tg.CloseTimeout + 2*time.Second},
	}
}
