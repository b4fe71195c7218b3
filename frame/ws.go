package frame

import (
	"encoding/binary"
	"math"
	"strconv"
)

// RFC 6455 framing: a resumable decoder for client frames and encoders for
// server (unmasked) and client (masked) frames.
//
// The decoder is built for an event loop that hands it every buffered byte
// (gnet's Peek(-1)) and discards what it consumed: Decode only consumes whole
// frames, so an incomplete trailing frame stays in the caller's buffer and is
// presented again, extended, on the next call.

// Opcode is a WebSocket frame opcode (RFC 6455 section 5.2).
type Opcode byte

// Frame opcodes.
const (
	OpContinuation Opcode = 0
	OpText         Opcode = 1
	OpBinary       Opcode = 2
	OpClose        Opcode = 8
	OpPing         Opcode = 9
	OpPong         Opcode = 10
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode 11..15). Safe for concurrent use.
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// String returns the opcode's name, e.g. "text". Safe for concurrent use.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(op)) + ")"
}

// CloseCode is a WebSocket close status code (RFC 6455 section 7.4).
type CloseCode uint16

// Close codes used by the server. CloseNoStatus and CloseAbnormal are never
// sent on the wire: they report the absence of a code.
const (
	CloseNormal           CloseCode = 1000
	CloseGoingAway        CloseCode = 1001
	CloseProtocolError    CloseCode = 1002
	CloseUnsupportedData  CloseCode = 1003
	CloseNoStatus         CloseCode = 1005
	CloseAbnormal         CloseCode = 1006
	CloseInvalidPayload   CloseCode = 1007
	ClosePolicyViolation  CloseCode = 1008
	CloseMessageTooBig    CloseCode = 1009
	CloseInternalError    CloseCode = 1011
	CloseTryAgainLater    CloseCode = 1013
	closeServiceRestart   CloseCode = 1012
	closeBadGateway       CloseCode = 1014
	closeFirstApplication CloseCode = 3000
	closeLastPrivate      CloseCode = 4999
)

// ValidCloseCode reports whether a peer may send code in a close frame:
// 1000-1003 and 1007-1011 (RFC 6455 section 7.4.1), 1012-1014 (registered
// with IANA since, and sent by this server as CloseTryAgainLater), and the
// application range 3000-4999. 1004-1006, 1015, everything below 1000 and
// everything from 5000 up are invalid. Safe for concurrent use.
func ValidCloseCode(c CloseCode) bool {
	switch {
	case c >= CloseNormal && c <= CloseUnsupportedData:
		return true
	case c >= CloseInvalidPayload && c <= closeBadGateway:
		return true
	case c >= closeFirstApplication && c <= closeLastPrivate:
		return true
	}
	return false
}

// CloseError is a protocol violation by the peer: the connection must be
// failed by sending a close frame with Code and then closing the TCP
// connection. Reason is a short text suitable for the close frame.
type CloseError struct {
	Code   CloseCode
	Reason string
}

// Error implements error. Safe for concurrent use.
func (e *CloseError) Error() string {
	return "frame: websocket " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

// The violations Decode reports. They are preallocated so that failing a
// connection does not allocate either.
var (
	errUnmasked       = &CloseError{CloseProtocolError, "unmasked client frame"}
	errReservedBits   = &CloseError{CloseProtocolError, "reserved bits set"}
	errReservedOpcode = &CloseError{CloseProtocolError, "reserved opcode"}
	errControlFrag    = &CloseError{CloseProtocolError, "fragmented control frame"}
	errControlLen     = &CloseError{CloseProtocolError, "control frame longer than 125 bytes"}
	errLengthMSB      = &CloseError{CloseProtocolError, "64-bit length with the top bit set"}
	errNonMinimal     = &CloseError{CloseProtocolError, "non-minimal length encoding"}
	errNoContinuation = &CloseError{CloseProtocolError, "continuation frame with nothing to continue"}
	errNotContinued   = &CloseError{CloseProtocolError, "new data frame inside a fragmented message"}
	errTooBig         = &CloseError{CloseMessageTooBig, "message too big"}
	errTooManyFrags   = &CloseError{CloseMessageTooBig, "too many fragments"}
	errBadUTF8        = &CloseError{CloseInvalidPayload, "invalid UTF-8 in text message"}
	errCloseLen1      = &CloseError{CloseProtocolError, "close payload of 1 byte"}
	errCloseCode      = &CloseError{CloseProtocolError, "invalid close code"}
	errCloseReason    = &CloseError{CloseInvalidPayload, "invalid UTF-8 in close reason"}
)

// Default limits, used where a Limits field is zero or negative.
const (
	DefaultMaxMessage   = 1 << 20
	DefaultMaxFragments = 16384
)

// reassemblyKeep is the capacity up to which the reassembly buffer is kept
// between fragmented messages; beyond it the buffer is released so that an
// idle connection stays small.
const reassemblyKeep = 64 << 10

// maxControlPayload is the largest payload of a control frame.
const maxControlPayload = 125

// Limits bounds what a Decoder accepts. Zero fields take the defaults.
type Limits struct {
	// MaxMessage is the largest message payload in bytes, whole or summed
	// over its fragments (default DefaultMaxMessage, 1 MiB).
	MaxMessage int
	// MaxFragments is the largest number of frames one message may span
	// (default DefaultMaxFragments, 16384).
	MaxFragments int
}

// FrameHandler receives the events Decode produces. Slices passed to it are
// valid only during the call (they point into the caller's buffer or the
// Decoder's reassembly buffer). Methods are called on the goroutine that
// called Decode.
type FrameHandler interface {
	// OnMessage receives a complete text (UTF-8 validated) or binary message,
	// reassembled if it was fragmented. op is OpText or OpBinary.
	OnMessage(op Opcode, payload []byte)
	// OnPing receives a ping's payload (at most 125 bytes). The caller
	// answers with a pong carrying the same payload.
	OnPing(payload []byte)
	// OnPong receives a pong's payload.
	OnPong(payload []byte)
	// OnClose receives the peer's valid close frame: code is CloseNoStatus
	// when the payload was empty; reason is valid UTF-8.
	OnClose(code CloseCode, reason []byte)
}

// Decoder is the resumable per-connection state of RFC 6455 frame decoding
// for frames sent by a client. The zero value (with optional Limits) is ready
// to use. A Decoder is not safe for concurrent use: it is owned by the
// connection's loop goroutine.
//
// Decisions beyond RFC 6455's MUSTs:
//   - Non-minimal length encodings (a 16-bit length below 126, a 64-bit
//     length below 65536) are rejected with 1002, as section 5.2 says the
//     minimal number of bytes MUST be used. Real clients never send them.
//   - Text is validated as it arrives: a fragment is checked when it is
//     complete, and an incomplete text frame is checked up to the bytes
//     already buffered, so invalid UTF-8 fails the connection (1007) before
//     the rest of the frame or message arrives.
type Decoder struct {
	// Limits bounds messages and fragments; zero fields take the defaults.
	Limits Limits

	msgOp   Opcode        // OpText or OpBinary while a fragmented message is open, else 0
	frags   int           // frames of the open fragmented message so far
	msg     []byte        // reassembly buffer of the open fragmented message
	text    UTF8Validator // state of the text message being received
	partial int           // payload bytes of the trailing incomplete text frame already validated
	closed  bool          // a close frame was delivered
	err     *CloseError   // sticky violation
}

// Reset returns d to its initial state, keeping Limits and releasing a
// reassembly buffer larger than 64 KiB.
// Must be called on the goroutine that owns d (the connection's loop).
func (d *Decoder) Reset() {
	d.msgOp, d.frags, d.partial, d.closed, d.err = 0, 0, 0, false, nil
	d.text.Reset()
	d.releaseMsg()
}

// Closed reports whether Decode has delivered the peer's close frame.
// Must be called on the goroutine that owns d (the connection's loop).
func (d *Decoder) Closed() bool { return d.closed }

// InMessage reports whether a fragmented message is open (its first frame
// arrived, its final frame did not).
// Must be called on the goroutine that owns d (the connection's loop).
func (d *Decoder) InMessage() bool { return d.msgOp != 0 }

func (d *Decoder) releaseMsg() {
	if cap(d.msg) > reassemblyKeep {
		d.msg = nil
	} else {
		d.msg = d.msg[:0]
	}
}

func (d *Decoder) fail(e *CloseError) error {
	d.err = e
	return e
}

// Decode consumes complete frames from the start of buf, unmasking them in
// place and calling h for each event, and returns how many bytes it consumed.
// A trailing incomplete frame is left unconsumed (n stops before it) and
// unmodified; the caller must present those bytes again (the same bytes or a
// copy, as gnet's Peek may return either), extended by whatever arrived
// since, at the start of buf on the next call. Decode remembers how much of
// an incomplete text frame it has already validated. Unfragmented messages are
// delivered in place, without copying; fragments are reassembled into a
// buffer owned by d. Control frames interleaved within a fragmented message
// are delivered at once.
//
// On a violation Decode returns a *CloseError whose Code the connection must
// be failed with; n still counts the frames consumed before the bad one, and
// every later call returns the same error. After delivering a close frame
// Decode returns at once; later calls consume and ignore all input (they
// return len(buf), nil) until Reset.
//
// Decode does not allocate except to grow the reassembly buffer.
// Must be called on the goroutine that owns d (the connection's loop).
func (d *Decoder) Decode(buf []byte, h FrameHandler) (n int, err error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.closed {
		return len(buf), nil
	}
	maxMsg := uint64(DefaultMaxMessage)
	if d.Limits.MaxMessage > 0 {
		maxMsg = uint64(d.Limits.MaxMessage)
	}
	maxFrags := DefaultMaxFragments
	if d.Limits.MaxFragments > 0 {
		maxFrags = d.Limits.MaxFragments
	}
	for len(buf)-n >= 2 {
		b := buf[n:]
		b0, b1 := b[0], b[1]
		if b0&0x70 != 0 {
			return n, d.fail(errReservedBits)
		}
		if b1&0x80 == 0 {
			return n, d.fail(errUnmasked)
		}
		fin := b0&0x80 != 0
		op := Opcode(b0 & 0x0f)
		length := uint64(b1 & 0x7f)
		switch op {
		case OpText, OpBinary:
			if d.msgOp != 0 {
				return n, d.fail(errNotContinued)
			}
		case OpContinuation:
			if d.msgOp == 0 {
				return n, d.fail(errNoContinuation)
			}
		case OpClose, OpPing, OpPong:
			if !fin {
				return n, d.fail(errControlFrag)
			}
			if length > maxControlPayload {
				return n, d.fail(errControlLen)
			}
		default:
			return n, d.fail(errReservedOpcode)
		}
		hdr := 2
		switch length {
		case 126:
			if len(b) < 4 {
				return n, nil
			}
			length = uint64(binary.BigEndian.Uint16(b[2:]))
			if length < 126 {
				return n, d.fail(errNonMinimal)
			}
			hdr = 4
		case 127:
			if len(b) < 10 {
				return n, nil
			}
			length = binary.BigEndian.Uint64(b[2:])
			if length>>63 != 0 {
				return n, d.fail(errLengthMSB)
			}
			if length <= math.MaxUint16 {
				return n, d.fail(errNonMinimal)
			}
			hdr = 10
		}
		if !op.IsControl() {
			// Enforce the limits from the header alone, before any of the
			// payload is buffered.
			total, frags := length, 1
			if op == OpContinuation {
				total += uint64(len(d.msg))
				frags += d.frags
			}
			if total > maxMsg {
				return n, d.fail(errTooBig)
			}
			if frags > maxFrags {
				return n, d.fail(errTooManyFrags)
			}
		}
		hdr += 4
		if len(b) < hdr {
			return n, nil
		}
		key := [4]byte(b[hdr-4 : hdr])
		isText := op == OpText || (op == OpContinuation && d.msgOp == OpText)
		if avail := uint64(len(b) - hdr); avail < length {
			// Incomplete frame: fail fast on bad text already buffered,
			// validating an unmasked copy so that the bytes left in the
			// caller's buffer stay as they arrived.
			if isText {
				if !d.validateMasked(key, d.partial, b[hdr+d.partial:]) {
					return n, d.fail(errBadUTF8)
				}
				d.partial = len(b) - hdr
			}
			return n, nil
		}
		end := hdr + int(length)
		payload := b[hdr:end]
		maskBytes(key, 0, payload)
		if isText && !d.text.Write(payload[d.partial:]) {
			return n, d.fail(errBadUTF8)
		}
		d.partial = 0
		switch op {
		case OpText, OpBinary:
			if fin {
				if isText {
					if !d.text.Complete() {
						return n, d.fail(errBadUTF8)
					}
					d.text.Reset()
				}
				n += end
				h.OnMessage(op, payload)
				continue
			}
			d.msgOp, d.frags = op, 1
			d.msg = append(d.msg[:0], payload...)
		case OpContinuation:
			d.frags++
			d.msg = append(d.msg, payload...)
			if fin {
				if isText {
					if !d.text.Complete() {
						return n, d.fail(errBadUTF8)
					}
					d.text.Reset()
				}
				n += end
				msgOp := d.msgOp
				d.msgOp, d.frags = 0, 0
				h.OnMessage(msgOp, d.msg)
				d.releaseMsg()
				continue
			}
		case OpPing:
			n += end
			h.OnPing(payload)
			continue
		case OpPong:
			n += end
			h.OnPong(payload)
			continue
		case OpClose:
			code, reason := CloseNoStatus, payload[:0]
			switch {
			case len(payload) == 1:
				return n, d.fail(errCloseLen1)
			case len(payload) >= 2:
				code, reason = CloseCode(binary.BigEndian.Uint16(payload)), payload[2:]
				if !ValidCloseCode(code) {
					return n, d.fail(errCloseCode)
				}
				if !validUTF8(reason) {
					return n, d.fail(errCloseReason)
				}
			}
			n += end
			d.closed = true
			h.OnClose(code, reason)
			return n, nil
		}
		n += end
	}
	return n, nil
}

// validateMasked feeds the unmasked form of the masked payload bytes p,
// which start at payload offset pos, to d.text without modifying p.
func (d *Decoder) validateMasked(key [4]byte, pos int, p []byte) bool {
	var scratch [256]byte
	for len(p) > 0 {
		c := scratch[:copy(scratch[:], p)]
		maskBytes(key, pos, c)
		if !d.text.Write(c) {
			return false
		}
		pos += len(c)
		p = p[len(c):]
	}
	return true
}

// maskBytes XORs b with the masking key, where b starts at payload offset
// pos (so the key is rotated by pos mod 4). It works 8 bytes at a time.
func maskBytes(key [4]byte, pos int, b []byte) {
	if len(b) == 0 {
		return
	}
	k := binary.LittleEndian.Uint32(key[:])
	if r := uint(pos&3) * 8; r != 0 {
		k = k>>r | k<<(32-r)
	}
	k64 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+32 <= len(b); i += 32 {
		c := b[i : i+32 : i+32]
		binary.LittleEndian.PutUint64(c, binary.LittleEndian.Uint64(c)^k64)
		binary.LittleEndian.PutUint64(c[8:], binary.LittleEndian.Uint64(c[8:])^k64)
		binary.LittleEndian.PutUint64(c[16:], binary.LittleEndian.Uint64(c[16:])^k64)
		binary.LittleEndian.PutUint64(c[24:], binary.LittleEndian.Uint64(c[24:])^k64)
	}
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= byte(k64)
		k64 = k64>>8 | k64<<56
	}
}

// FrameHeaderSize returns the size of an unmasked frame header for a payload
// of length bytes: 2, 4 or 10. Safe for concurrent use.
func FrameHeaderSize(length int) int {
	switch {
	case length <= 125:
		return 2
	case length <= math.MaxUint16:
		return 4
	}
	return 10
}

// AppendFrameHeader appends the header of an unmasked (server) frame with
// the given opcode, FIN bit and payload length, using the minimal length
// encoding, so that a caller can build a frame in place around a payload it
// writes itself. It does not allocate when dst has capacity.
// Safe for concurrent use (it touches only dst).
func AppendFrameHeader(dst []byte, op Opcode, fin bool, length int) []byte {
	b0 := byte(op & 0x0f)
	if fin {
		b0 |= 0x80
	}
	switch {
	case length <= 125:
		return append(dst, b0, byte(length))
	case length <= math.MaxUint16:
		return append(dst, b0, 126, byte(length>>8), byte(length))
	}
	return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(length))
}

// AppendFrame appends a complete unmasked frame (FIN set) carrying payload.
// It does not allocate when dst has capacity.
// Safe for concurrent use (it touches only dst).
func AppendFrame(dst []byte, op Opcode, payload []byte) []byte {
	return append(AppendFrameHeader(dst, op, true, len(payload)), payload...)
}

// AppendClose appends an unmasked close frame with code and reason. For
// CloseNoStatus the payload is empty. The reason is cut at a code point
// boundary so that the payload fits a control frame (125 bytes).
// Safe for concurrent use (it touches only dst).
func AppendClose(dst []byte, code CloseCode, reason string) []byte {
	if code == CloseNoStatus {
		return append(dst, 0x80|byte(OpClose), 0)
	}
	if len(reason) > maxControlPayload-2 {
		cut := maxControlPayload - 2
		for cut > 0 && reason[cut]&0xC0 == 0x80 {
			cut--
		}
		reason = reason[:cut]
	}
	dst = append(dst, 0x80|byte(OpClose), byte(2+len(reason)), byte(code>>8), byte(code))
	return append(dst, reason...)
}

// AppendMaskedFrame appends a client frame masked with mask, with the given
// opcode and FIN bit, using the minimal length encoding. It is meant for
// load generators and tests. It does not allocate when dst has capacity.
// Safe for concurrent use (it touches only dst).
func AppendMaskedFrame(dst []byte, op Opcode, fin bool, payload []byte, mask [4]byte) []byte {
	start := len(dst)
	dst = AppendFrameHeader(dst, op, fin, len(payload))
	dst[start+1] |= 0x80
	dst = append(dst, mask[:]...)
	p := len(dst)
	dst = append(dst, payload...)
	maskBytes(mask, 0, dst[p:])
	return dst
}

// ParseServerHeader parses the header of one server frame at the start of b
// and returns its opcode, FIN bit, payload length and header size (including
// a masking key, should the frame carry one). ok is false while the header is
// incomplete, and for a 64-bit length with the top bit set (which no valid
// frame has). It does not validate opcodes or reserved bits.
// Safe for concurrent use.
func ParseServerHeader(b []byte) (op Opcode, fin bool, length int, hdr int, ok bool) {
	if len(b) < 2 {
		return 0, false, 0, 0, false
	}
	op, fin = Opcode(b[0]&0x0f), b[0]&0x80 != 0
	hdr = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return 0, false, 0, 0, false
		}
		length, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, false, 0, 0, false
		}
		l64 := binary.BigEndian.Uint64(b[2:])
		if l64 > math.MaxInt {
			return 0, false, 0, 0, false
		}
		length, hdr = int(l64), 10
	default:
		length = int(l)
	}
	if b[1]&0x80 != 0 {
		hdr += 4
		if len(b) < hdr {
			return 0, false, 0, 0, false
		}
	}
	return op, fin, length, hdr, true
}
