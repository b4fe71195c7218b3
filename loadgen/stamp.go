package loadgen

// A stamp identifies one publish: the round it belongs to, its index within
// the round (0..P-1) and the time it was (or, in open-loop mode, should have
// been) sent, in nanoseconds on the load generator's monotonic clock. It is
// written as decimal "<round>.<index>.<ns>" so that both protocols carry it as
// a plain string.

// appendStamp appends the decimal stamp to dst.
func appendStamp(dst []byte, round, index uint32, sentNs int64) []byte {
	dst = appendUint(dst, uint64(round))
	dst = append(dst, '.')
	dst = appendUint(dst, uint64(index))
	dst = append(dst, '.')
	return appendUint(dst, uint64(sentNs))
}

func appendUint(dst []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// parseStamp parses a stamp written by appendStamp. It reports ok == false for
// anything else (wrong shape, overflow), never panics and does not allocate.
func parseStamp(b []byte) (round, index uint32, sentNs int64, ok bool) {
	r, n, ok := parseUint(b, 1<<32-1)
	if !ok || n >= len(b) || b[n] != '.' {
		return 0, 0, 0, false
	}
	b = b[n+1:]
	i, n, ok := parseUint(b, 1<<32-1)
	if !ok || n >= len(b) || b[n] != '.' {
		return 0, 0, 0, false
	}
	b = b[n+1:]
	s, n, ok := parseUint(b, 1<<63-1)
	if !ok || n != len(b) {
		return 0, 0, 0, false
	}
	return uint32(r), uint32(i), int64(s), true
}

// parseUint reads the leading decimal digits of b (at least one, at most 19)
// and reports how many bytes it used.
func parseUint(b []byte, max uint64) (v uint64, n int, ok bool) {
	for n < len(b) && n < 19 {
		c := b[n]
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
		n++
	}
	if n == 0 || v > max || (n < len(b) && b[n] >= '0' && b[n] <= '9') {
		return 0, 0, false
	}
	return v, n, true
}
