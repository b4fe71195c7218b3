package loadgen

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strconv"

	"swiftlet/frame"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

var (
	errMaskedServerFrame = errors.New("loadgen: server sent a masked frame")
	errBadControlFrame   = errors.New("loadgen: fragmented or oversized control frame")
	errReservedBits      = errors.New("loadgen: reserved bits set in frame header")
	errFrameTooLarge     = errors.New("loadgen: frame length does not fit in int64")
)

// wsHeader is a parsed server-to-client frame header.
type wsHeader struct {
	op     byte
	fin    bool
	length int64 // payload length
	size   int   // header length in bytes
}

// parseServerHeader parses an unmasked server frame header from the start of
// b with frame.ParseServerHeader and adds the checks a client makes: no
// reserved bits, no mask, control frames unfragmented and at most 125 bytes.
// It returns ok == false when b holds only part of the header.
func parseServerHeader(b []byte) (h wsHeader, ok bool, err error) {
	op, fin, length, size, ok := frame.ParseServerHeader(b)
	if !ok {
		if len(b) >= 10 && b[1]&0x7F == 127 {
			return h, false, errFrameTooLarge
		}
		return h, false, nil
	}
	if b[0]&0x70 != 0 {
		return h, false, errReservedBits
	}
	if b[1]&0x80 != 0 {
		return h, false, errMaskedServerFrame
	}
	h = wsHeader{op: byte(op), fin: fin, length: int64(length), size: size}
	if op.IsControl() && (!fin || length > 125) {
		return h, false, errBadControlFrame
	}
	return h, true, nil
}

// appendMaskedFrame appends one complete client frame (FIN set) carrying
// payload, masked with key, to dst.
func appendMaskedFrame(dst []byte, op byte, payload []byte, key uint32) []byte {
	return frame.AppendMaskedFrame(dst, frame.Opcode(op), true, payload,
		[4]byte{byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)})
}

// appendUpgradeRequest appends the HTTP/1.1 upgrade request for path on host
// with the given base64 Sec-WebSocket-Key.
func appendUpgradeRequest(dst []byte, host, path, key string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	return append(dst, "\r\n\r\n"...)
}

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// checkUpgradeResponse validates the server's response head (everything up to
// and including the blank line): status 101 and the expected accept key.
func checkUpgradeResponse(head []byte, key string) error {
	line := head
	for i, c := range head {
		if c == '\r' || c == '\n' {
			line = head[:i]
			break
		}
	}
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || string(line[9:12]) != "101" {
		return errors.New("loadgen: upgrade refused: " + strconv.Quote(string(line)))
	}
	want := acceptKey(key)
	if !containsFold(head, "sec-websocket-accept: "+want) {
		return errors.New("loadgen: upgrade response lacks Sec-WebSocket-Accept " + want)
	}
	return nil
}

// containsFold reports whether s occurs in b, comparing the header name part
// case-insensitively (ASCII) and the rest exactly enough for our purpose.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		j := 0
		for ; j < len(s); j++ {
			c, d := b[i+j], s[j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if d >= 'A' && d <= 'Z' {
				d += 'a' - 'A'
			}
			if c != d {
				break
			}
		}
		if j == len(s) {
			return true
		}
	}
	return false
}
