package loadgen

import "encoding/binary"

// A stamp identifies one publish: the round it belongs to (in open-loop mode
// the publisher's sequence number), its index within the round (0..P-1) and
// the time it was (or, in open-loop mode, should have been) sent, in
// nanoseconds on the load generator's monotonic clock. It is written as 24
// lowercase hex digits, fixed width and without separators, so that both
// protocols carry it as a plain string and a receiver decodes it eight digits
// at a time with SWAR arithmetic (three 64-bit loads):
//
//	rrrrrrrr iiii tttttttttttt   (round: 32 bits, index: 16 bits, ns: 48 bits = 78 hours)
const stampLen = 24

// maxPublishers is the largest P a stamp can index.
const maxPublishers = 1 << 16

const hexDigits = "0123456789abcdef"

// appendStamp appends the stamp to dst. index must be below maxPublishers
// and sentNs below 2^48.
func appendStamp(dst []byte, round, index uint32, sentNs int64) []byte {
	var b [stampLen]byte
	putHex(b[0:8], uint64(round))
	putHex(b[8:12], uint64(index))
	putHex(b[12:24], uint64(sentNs))
	return append(dst, b[:]...)
}

func putHex(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hexDigits[v&0xF]
		v >>= 4
	}
}

// hex8 decodes 8 lowercase hex digits packed big-endian in x (first digit
// in the top byte) with SWAR arithmetic; ok is false unless every byte is
// one of 0-9 a-f.
func hex8(x uint64) (v uint32, ok bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// Bytes below 0x80 add without carries between bytes, so the high bit
	// of x+(0x80-lo) says x >= lo, per byte.
	ge := func(lo uint64) uint64 { return x + (0x80-lo)*ones }
	digit := ge(0x30) &^ ge(0x3A)
	letter := ge(0x61) &^ ge(0x67)
	if x&highs != 0 || (digit|letter)&highs != highs {
		return 0, false
	}
	n := x&(0x0F*ones) + 9*(x>>6&ones) // one nibble value per byte
	n = (n>>4 | n) & 0x00FF00FF00FF00FF
	n = (n>>8 | n) & 0x0000FFFF0000FFFF
	n = (n>>16 | n) & 0x00000000FFFFFFFF
	return uint32(n), true
}

// parseStamp decodes a stamp written by appendStamp. It reports ok == false
// for anything else (length, non-hex or uppercase digit), never panics and
// does not allocate.
func parseStamp(b []byte) (round, index uint32, sentNs int64, ok bool) {
	if len(b) != stampLen {
		return 0, 0, 0, false
	}
	r, ok0 := hex8(binary.BigEndian.Uint64(b[0:8]))
	m, ok1 := hex8(binary.BigEndian.Uint64(b[8:16])) // index (16 bits), top of ns (16 bits)
	l, ok2 := hex8(binary.BigEndian.Uint64(b[16:24]))
	if !ok0 || !ok1 || !ok2 {
		return 0, 0, 0, false
	}
	return r, m >> 16, int64(m&0xFFFF)<<32 | int64(l), true
}
