package fanout

import "swiftlet/frame"

// appendTextHeader appends the header fanout puts in front of each batch: a final, unmasked text
// frame (server to client frames are never masked, RFC 6455 section 5.1) with an n-byte payload,
// in the minimal 2-, 4- or 10-byte length encoding.
func appendTextHeader(dst []byte, n int) []byte {
	return frame.AppendFrameHeader(dst, frame.OpText, true, n)
}
