package fanout

// The WebSocket frame header fanout puts in front of each batch: FIN set, opcode 1 (text), no mask
// (server to client frames are never masked, RFC 6455 section 5.1), then the payload length in 7,
// 7+16 or 7+64 bits. Kept here rather than borrowed from frame so that fanout stays self-contained;
// it is four lines and tested against the RFC's examples.

// textHeaderSize returns the size of the header of an unmasked frame with an n-byte payload.
func textHeaderSize(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// appendTextHeader appends the header of a final, unmasked text frame with an n-byte payload.
func appendTextHeader(dst []byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		u := uint64(n)
		return append(dst, 0x81, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
}
