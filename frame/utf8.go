package frame

import "encoding/binary"

// UTF-8 validation as a table-driven DFA.
//
// The automaton follows Table 3-7 of the Unicode Standard ("Well-Formed UTF-8
// Byte Sequences") literally: each state records what the next byte must be.
// Lead bytes E0, ED, F0 and F4 restrict the range of their first continuation
// byte, which is how overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and
// code points above U+10FFFF are rejected. Non-characters such as U+FFFE are
// well-formed and accepted. The transition table is built once at package
// initialisation from those ranges, so the rules stay readable here instead of
// hiding in a literal table of numbers.

// utf8State is a DFA state; see the constants below.
type utf8State uint8

const (
	utf8Accept utf8State = iota // between code points
	utf8Tail1                   // one more 80..BF
	utf8Tail2                   // two more 80..BF
	utf8Tail3                   // three more 80..BF (after F1..F3)
	utf8E0                      // after E0: A0..BF, then one more
	utf8ED                      // after ED: 80..9F, then one more
	utf8F0                      // after F0: 90..BF, then two more
	utf8F4                      // after F4: 80..8F, then two more
	utf8Reject                  // invalid; sticky
)

// utf8Table[s][b] is the state after reading byte b in state s. It has 16
// rows (the unused ones reject) so that indexing with s&15 needs no bounds
// check in the hot loop.
var utf8Table = buildUTF8Table()

func buildUTF8Table() (t [16][256]utf8State) {
	for s := range t {
		for b := range t[s] {
			t[s][b] = utf8Reject
		}
	}
	set := func(s utf8State, lo, hi int, next utf8State) {
		for b := lo; b <= hi; b++ {
			t[s][b] = next
		}
	}
	set(utf8Accept, 0x00, 0x7F, utf8Accept)
	set(utf8Accept, 0xC2, 0xDF, utf8Tail1)
	set(utf8Accept, 0xE0, 0xE0, utf8E0)
	set(utf8Accept, 0xE1, 0xEC, utf8Tail2)
	set(utf8Accept, 0xED, 0xED, utf8ED)
	set(utf8Accept, 0xEE, 0xEF, utf8Tail2)
	set(utf8Accept, 0xF0, 0xF0, utf8F0)
	set(utf8Accept, 0xF1, 0xF3, utf8Tail3)
	set(utf8Accept, 0xF4, 0xF4, utf8F4)
	set(utf8Tail1, 0x80, 0xBF, utf8Accept)
	set(utf8Tail2, 0x80, 0xBF, utf8Tail1)
	set(utf8Tail3, 0x80, 0xBF, utf8Tail2)
	set(utf8E0, 0xA0, 0xBF, utf8Tail1)
	set(utf8ED, 0x80, 0x9F, utf8Tail1)
	set(utf8F0, 0x90, 0xBF, utf8Tail2)
	set(utf8F4, 0x80, 0x8F, utf8Tail2)
	// utf8Reject maps everything to itself (already filled).
	return t
}

// UTF8Validator is an incremental UTF-8 validator whose state carries across
// calls to Write, so a text message can be checked fragment by fragment and a
// code point may be split anywhere. The zero value is ready to use.
//
// A UTF8Validator is not safe for concurrent use; it belongs to whoever owns
// the stream it checks (for a Decoder, the connection's loop goroutine).
type UTF8Validator struct {
	state utf8State
}

const asciiMask = 0x8080808080808080

// Write feeds p to the validator and reports whether the input seen so far is
// a valid UTF-8 prefix. Once it returns false it keeps returning false until
// Reset. Overlong forms, surrogates, code points above U+10FFFF and the bytes
// C0, C1, F5..FF are invalid. It does not allocate.
// Not safe for concurrent use; call it from the owner's goroutine.
func (v *UTF8Validator) Write(p []byte) bool {
	s := v.state
	i := 0
	for i < len(p) {
		if s == utf8Accept {
			// Fast path: skip ASCII 16, then 8 bytes at a time between
			// code points.
			for i+16 <= len(p) {
				c := p[i : i+16 : i+16]
				if (binary.LittleEndian.Uint64(c)|binary.LittleEndian.Uint64(c[8:]))&asciiMask != 0 {
					break
				}
				i += 16
			}
			for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&asciiMask == 0 {
				i += 8
			}
			for i < len(p) && p[i] < 0x80 {
				i++
			}
			if i == len(p) {
				break
			}
		}
		s = utf8Table[s&15][p[i]]
		if s == utf8Reject {
			break
		}
		i++
	}
	v.state = s
	return s != utf8Reject
}

// Complete reports whether the input so far is valid and ends on a code point
// boundary (not inside a multi-byte sequence).
// Not safe for concurrent use; call it from the owner's goroutine.
func (v *UTF8Validator) Complete() bool { return v.state == utf8Accept }

// Reset returns the validator to its initial state.
// Not safe for concurrent use; call it from the owner's goroutine.
func (v *UTF8Validator) Reset() { v.state = utf8Accept }

// validUTF8 reports whether p is complete, valid UTF-8.
func validUTF8(p []byte) bool {
	var v UTF8Validator
	return v.Write(p) && v.Complete()
}
