package frame

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Kind is the one-byte prefix of a typed value (protocol.md section 2: event
// data, RPC data and results, record PATCH values, auth clientData, write-ack
// errors). Its value is the wire byte.
type Kind byte

// The typed value prefixes.
const (
	KindString    Kind = 'S' // the rest of the part, verbatim
	KindObject    Kind = 'O' // JSON text (object or array as the client sends it)
	KindNumber    Kind = 'N' // a JavaScript number, as String(number) prints it
	KindTrue      Kind = 'T'
	KindFalse     Kind = 'F'
	KindNull      Kind = 'L'
	KindUndefined Kind = 'U'
)

// ParseTyped errors. The server answers any of them with INVALID_MESSAGE_DATA.
var (
	ErrTypedEmpty    = errors.New("frame: empty typed value")
	ErrTypedKind     = errors.New("frame: unknown typed value prefix")
	ErrTypedNumber   = errors.New("frame: typed number is not a JavaScript number literal")
	ErrTypedJSON     = errors.New("frame: typed object is not valid JSON")
	ErrTypedTrailing = errors.New("frame: bytes after a T, F, L or U typed value")
)

// Value is one typed value. Raw holds the bytes after the prefix (string
// text, JSON text, number text; empty for T, F, L and U) and aliases the
// input of ParseTyped.
type Value struct {
	Kind Kind
	Raw  []byte
}

// ParseTyped validates the typed part b and returns its value. It does not
// allocate. The rules are stricter than the 3.x server's lenient converter
// (which takes parseFloat of anything and ignores bytes after T/F/L/U), yet
// accept everything the 2.3.4 client sends:
//
//   - empty input is ErrTypedEmpty, an unknown prefix ErrTypedKind;
//   - S accepts any bytes, including none;
//   - O must be one valid JSON text (RFC 8259, accepted exactly as
//     encoding/json.Valid accepts it: any JSON value, surrounding whitespace,
//     nesting up to 10000 levels; like JSON.parse);
//   - N must be a JSON number literal (-?int frac? exp?), or NaN, Infinity or
//     -Infinity: a small superset of the texts JavaScript's String(number)
//     produces, which is what the client sends. parseFloat's leniency
//     (leading blanks, "+", ".5", "12abc", hex) is rejected with
//     ErrTypedNumber;
//   - T, F, L and U must be the whole part: anything after the prefix is
//     ErrTypedTrailing.
//
// Safe for concurrent use.
func ParseTyped(b []byte) (Value, error) {
	if len(b) == 0 {
		return Value{}, ErrTypedEmpty
	}
	v := Value{Kind: Kind(b[0]), Raw: b[1:len(b):len(b)]}
	switch v.Kind {
	case KindString:
	case KindObject:
		if !jsonValid(v.Raw) {
			return Value{}, ErrTypedJSON
		}
	case KindNumber:
		if !validJSNumber(v.Raw) {
			return Value{}, ErrTypedNumber
		}
	case KindTrue, KindFalse, KindNull, KindUndefined:
		if len(v.Raw) != 0 {
			return Value{}, ErrTypedTrailing
		}
	default:
		return Value{}, ErrTypedKind
	}
	return v, nil
}

// validJSNumber reports whether b is a JSON number or one of JavaScript's
// non-finite number texts.
func validJSNumber(b []byte) bool {
	switch string(b) {
	case "NaN", "Infinity", "-Infinity":
		return true
	}
	return jsonScanNumber(b, 0) == len(b)
}

// jsonScanNumber returns the index after the JSON number that starts at b[i]
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or -1 if there is none.
func jsonScanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = jsonSkipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := jsonSkipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := jsonSkipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func jsonSkipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// AppendTypedString appends "S" and s. Safe for concurrent use.
func AppendTypedString(dst []byte, s string) []byte {
	dst = append(dst, byte(KindString))
	return append(dst, s...)
}

// AppendTypedNumber appends "N" and f formatted exactly as JavaScript's
// String(f) (Number::toString, ECMA-262 section 6.1.6.1.20): the shortest
// digits that round-trip, plain notation for exponents -7 < e < 21, otherwise
// "1.5e+21" / "1e-7" style; -0 prints "0", and NaN, Infinity, -Infinity print
// as themselves. It does not allocate. Safe for concurrent use.
func AppendTypedNumber(dst []byte, f float64) []byte {
	dst = append(dst, byte(KindNumber))
	return appendJSNumber(dst, f)
}

func appendJSNumber(dst []byte, f float64) []byte {
	switch {
	case f != f:
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		return append(dst, '0')
	case f == math.Trunc(f) && math.Abs(f) < 1<<53:
		// Every integer below 2^53 is exact and its shortest form is its own
		// digits, which JS prints in full (it is < 1e21).
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// Shortest round-trip digits in scientific form: "d.ddde±xx" or "de±xx".
	var buf [32]byte
	sci := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	var digits [24]byte
	k := 0
	i := 0
	for ; sci[i] != 'e'; i++ {
		if sci[i] != '.' {
			digits[k] = sci[i]
			k++
		}
	}
	exp := 0
	neg := sci[i+1] == '-'
	for _, c := range sci[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if neg {
		exp = -exp
	}
	n := exp + 1 // position of the decimal point relative to the digits
	d := digits[:k]
	switch {
	case k <= n && n <= 21:
		dst = append(dst, d...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, d[:n]...)
		dst = append(dst, '.')
		dst = append(dst, d[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, d...)
	default:
		dst = append(dst, d[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 < 0 {
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(1-n), 10)
		} else {
			dst = append(dst, '+')
			dst = strconv.AppendInt(dst, int64(n-1), 10)
		}
	}
	return dst
}

// AppendTypedJSON appends "O" and text, which must be valid JSON; it is not
// checked. Safe for concurrent use.
func AppendTypedJSON(dst []byte, text []byte) []byte {
	dst = append(dst, byte(KindObject))
	return append(dst, text...)
}

// AppendTypedBool appends "T" or "F". Safe for concurrent use.
func AppendTypedBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, byte(KindTrue))
	}
	return append(dst, byte(KindFalse))
}

// AppendTypedNull appends "L". Safe for concurrent use.
func AppendTypedNull(dst []byte) []byte { return append(dst, byte(KindNull)) }

// AppendTypedUndefined appends "U". Safe for concurrent use.
func AppendTypedUndefined(dst []byte) []byte { return append(dst, byte(KindUndefined)) }

// AppendJSON appends v as JSON text, the way JSON.stringify would print the
// value the client meant, for rules and storage:
//
//   - S: a quoted JSON string, escaping '"', '\\' and control characters as
//     JSON.stringify does (\b \f \n \r \t, else \u00xx) and writing each
//     invalid UTF-8 byte as \ufffd, so the output is always valid JSON;
//   - N: the number text, or null for NaN and for numbers that are not
//     finite as float64 (Infinity, 1e999), as JSON.stringify prints them;
//   - T, F, L: true, false, null;
//   - O: Raw, unchanged;
//   - U (undefined, which has no JSON form) and the zero Value: nothing is
//     appended and dst is returned as it was; check v.Kind first.
//
// It does not allocate beyond growing dst, except one error value when an N
// overflows float64. Safe for concurrent use.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.Kind {
	case KindString:
		return appendJSONString(dst, v.Raw)
	case KindNumber:
		if !finiteJSNumber(v.Raw) {
			return append(dst, "null"...)
		}
		return append(dst, v.Raw...)
	case KindTrue:
		return append(dst, "true"...)
	case KindFalse:
		return append(dst, "false"...)
	case KindNull:
		return append(dst, "null"...)
	case KindObject:
		return append(dst, v.Raw...)
	}
	return dst
}

// finiteJSNumber reports whether the number text b (already validated by
// ParseTyped) is finite as a float64.
func finiteJSNumber(b []byte) bool {
	if len(b) == 0 || b[0] == 'N' || b[0] == 'I' || (b[0] == '-' && len(b) > 1 && b[1] == 'I') {
		return false
	}
	hasExp := false
	for _, c := range b {
		if c == 'e' || c == 'E' {
			hasExp = true
			break
		}
	}
	if !hasExp && len(b) <= 308 {
		return true // at most 308 integer digits: below 1e308
	}
	// unsafe.String avoids copying; ParseFloat does not keep its argument
	// (its errors clone the text).
	f, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	return !math.IsInf(f, 0)
}

const jsonHexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal, escaped as
// JSON.stringify escapes it.
func appendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', jsonHexDigits[c>>4], jsonHexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonFastDepth is the nesting depth up to which jsonValid tracks containers
// itself; deeper texts (rare, and never sent by the client for real data) are
// handed to encoding/json.Valid, so the two accept exactly the same texts
// including its nesting limit of 10000.
const jsonFastDepth = 128

// jsonValid reports whether b is exactly one JSON text (RFC 8259) with
// optional surrounding whitespace. It accepts what encoding/json.Valid
// accepts (TestJSONValid and FuzzTyped check this) at a fraction of its cost,
// having no per-byte state-function calls, and does not allocate: the kind of
// each open container is one bit of a two-word stack array. Like
// encoding/json it does not check UTF-8 inside strings; WebSocket text
// payloads are validated before they get here.
func jsonValid(b []byte) bool {
	var objects [jsonFastDepth / 64]uint64 // bit set: that level is an object
	depth := 0
	i := 0
	for {
		// A value must start at i.
		i = jsonSkipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == jsonFastDepth {
				return json.Valid(b)
			}
			isObject := c == '{'
			if isObject {
				objects[depth/64] |= 1 << (depth % 64)
			} else {
				objects[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = jsonSkipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				depth--
				i++
				break // an empty container is a complete value
			}
			if isObject {
				if i = jsonScanKey(b, i); i < 0 {
					return false
				}
			}
			continue // the first member's or element's value
		case '"':
			i = jsonScanString(b, i)
		case 't':
			i = jsonScanLiteral(b, i, "true")
		case 'f':
			i = jsonScanLiteral(b, i, "false")
		case 'n':
			i = jsonScanLiteral(b, i, "null")
		default:
			i = jsonScanNumber(b, i)
		}
		if i < 0 {
			return false
		}
		// A value ended: close containers until one continues or the text ends.
		for {
			i = jsonSkipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			isObject := objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if b[i] == ',' {
				i++
				if isObject {
					if i = jsonScanKey(b, jsonSkipSpace(b, i)); i < 0 {
						return false
					}
				}
				break // the next value
			}
			if (isObject && b[i] == '}') || (!isObject && b[i] == ']') {
				depth--
				i++
				continue
			}
			return false
		}
	}
}

func jsonSkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonScanKey scans `"name" :` starting at b[i] and returns the index after the
// colon, or -1.
func jsonScanKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = jsonScanString(b, i); i < 0 {
		return -1
	}
	i = jsonSkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// jsonScanString scans the JSON string starting at the quote b[i] and returns the
// index after its closing quote, or -1.
func jsonScanString(b []byte, i int) int {
	for i++; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !jsonIsHex(b[i+2]) || !jsonIsHex(b[i+3]) || !jsonIsHex(b[i+4]) || !jsonIsHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

func jsonIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// jsonScanLiteral checks that lit starts at b[i] and returns the index after it,
// or -1.
func jsonScanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
