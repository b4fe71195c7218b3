// Package wsconf is swiftlet's re-implementation of the Autobahn|Testsuite WebSocket conformance cases
// (reliability.md sections 1 and 2), plus the cases Autobahn lacks: the opening handshake, unmasked client
// frames, illegal length encodings, size and fragment caps, ping floods, slowloris and half-open clients.
//
// It is a test tool, not part of the server: a raw net.Conn client whose frame writer can produce illegal
// frames, a strict reader of server frames that records a timeline of events, and cases written as data
// (Case) that are graded OK / NON-STRICT / FAILED the way Autobahn grades them. The Go tests in this
// directory run every case against a freshly built swiftlet (or, with -wsconf.ref, against a reference
// gorilla/websocket echo server).
//
// Nothing in this package is safe for concurrent use unless its doc comment says so.
package wsconf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// LenMode selects how a frame's payload length is encoded on the wire.
type LenMode uint8

// Length encodings. LenMinimal is what RFC 6455 requires; the others produce non-minimal encodings.
const (
	LenMinimal LenMode = iota // 7-bit, 16-bit or 64-bit, whichever is shortest
	Len16                     // always the 16-bit form (126)
	Len64                     // always the 64-bit form (127)
)

// Frame is one WebSocket frame as the client will write it, legal or not.
type Frame struct {
	Fin     bool    // FIN bit
	Rsv     uint8   // RSV1..RSV3 as a 3-bit number (bit 2 = RSV1)
	Opcode  uint8   // 4-bit opcode, any value
	Payload []byte  // payload before masking
	NoMask  bool    // write the frame unmasked (illegal from a client)
	MaskKey [4]byte // masking key used when NoMask is false
	Len     LenMode // length encoding
	// DeclaredLen, when non-zero, is written as the 64-bit length instead of len(Payload) (which is then
	// still written as the body). It makes frames whose header lies, e.g. with the MSB set.
	DeclaredLen uint64
}

// AppendFrame appends the wire form of f to dst and returns the extended slice.
func AppendFrame(dst []byte, f Frame) []byte {
	b0 := f.Opcode & 0x0F
	b0 |= (f.Rsv & 0x7) << 4
	if f.Fin {
		b0 |= 0x80
	}
	var mask byte
	if !f.NoMask {
		mask = 0x80
	}
	n := uint64(len(f.Payload))
	switch {
	case f.DeclaredLen != 0:
		dst = append(dst, b0, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, f.DeclaredLen)
	case f.Len == Len64 || (f.Len == LenMinimal && n > 0xFFFF):
		dst = append(dst, b0, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, n)
	case f.Len == Len16 || (f.Len == LenMinimal && n > 125):
		dst = append(dst, b0, mask|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, mask|byte(n))
	}
	if f.NoMask {
		return append(dst, f.Payload...)
	}
	dst = append(dst, f.MaskKey[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	for i := range f.Payload {
		dst[start+i] ^= f.MaskKey[i&3]
	}
	return dst
}

// ServerFrame is one frame read from the server.
type ServerFrame struct {
	Fin     bool
	Rsv     uint8
	Opcode  uint8
	Payload []byte
}

// Errors returned by ReadServerFrame when the server breaks RFC 6455.
var (
	ErrMaskedServerFrame = errors.New("wsconf: server frame is masked")
	ErrServerRsv         = errors.New("wsconf: server frame has RSV bits set")
	ErrServerOpcode      = errors.New("wsconf: server frame has a reserved opcode")
	ErrServerControl     = errors.New("wsconf: server control frame is fragmented or longer than 125 bytes")
	ErrServerLength      = errors.New("wsconf: server frame length is not minimally encoded or too large")
	ErrServerClose       = errors.New("wsconf: server close frame has an invalid code or reason")
)

// maxServerFrame bounds what the reader accepts in one frame (the largest echo the suite provokes).
const maxServerFrame = 64 << 20

// ReadServerFrame reads one frame from r and checks it strictly as a frame from a server: unmasked, no
// RSV bits (no extension is ever negotiated), a defined opcode, control frames unfragmented and at most
// 125 bytes, and minimally encoded lengths. buf is reused for the payload when large enough. Bad input
// returns an error, never a panic; a truncated frame returns io.ErrUnexpectedEOF (io.EOF before the
// first byte).
func ReadServerFrame(r io.Reader, buf []byte) (ServerFrame, error) {
	var hdr [10]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return ServerFrame{}, err
	}
	f := ServerFrame{Fin: hdr[0]&0x80 != 0, Rsv: (hdr[0] >> 4) & 7, Opcode: hdr[0] & 0x0F}
	if hdr[1]&0x80 != 0 {
		return f, ErrMaskedServerFrame
	}
	if f.Rsv != 0 {
		return f, ErrServerRsv
	}
	switch f.Opcode {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return f, ErrServerOpcode
	}
	n := uint64(hdr[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, hdr[2:4]); err != nil {
			return f, unexpected(err)
		}
		n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		if n < 126 {
			return f, ErrServerLength
		}
	case 127:
		if _, err := io.ReadFull(r, hdr[2:10]); err != nil {
			return f, unexpected(err)
		}
		n = binary.BigEndian.Uint64(hdr[2:10])
		if n <= 0xFFFF || n > maxServerFrame {
			return f, ErrServerLength
		}
	}
	if f.Opcode >= OpClose && (!f.Fin || n > 125) {
		return f, ErrServerControl
	}
	if uint64(cap(buf)) >= n {
		f.Payload = buf[:n]
	} else {
		f.Payload = make([]byte, n)
	}
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return f, unexpected(err)
	}
	if f.Opcode == OpClose {
		if _, _, err := ParseClose(f.Payload); err != nil {
			return f, err
		}
	}
	return f, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// NoStatus is the code ParseClose reports for a close frame without a payload (RFC 6455's 1005, which
// never appears on the wire).
const NoStatus = 1005

// ParseClose splits a close payload into its code and reason and checks both: a payload is empty or at
// least 2 bytes, the code is one a peer may send (ValidCloseCode) and the reason is UTF-8. An empty payload
// gives NoStatus.
func ParseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return NoStatus, "", nil
	case len(p) == 1:
		return 0, "", fmt.Errorf("%w: 1-byte payload", ErrServerClose)
	}
	code = int(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return code, "", fmt.Errorf("%w: code %d", ErrServerClose, code)
	}
	if !utf8.Valid(p[2:]) {
		return code, "", fmt.Errorf("%w: reason is not UTF-8", ErrServerClose)
	}
	return code, string(p[2:]), nil
}

// ValidCloseCode reports whether code may appear in a close frame on the wire (RFC 6455 section 7.4):
// 1000-1003, 1007-1014 and 3000-4999.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ClosePayload builds a close frame payload from a code and reason (no validation: cases send bad ones).
func ClosePayload(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}
