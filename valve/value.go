package valve

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// kind tags a value. The set mirrors the JavaScript types a rule can observe.
type kind uint8

const (
	kUndefined kind = iota
	kNull
	kBool
	kNumber
	kString
	kJSON  // object or array kept as its raw JSON text in s (see json.go)
	kArray // array produced by the evaluator (String.prototype.match result)
	kUser  // the user object {isAuthenticated, id, data}
	kRegex // a regex literal
	// kPending is the result of _() for a record that is not loaded yet, and
	// of everything computed from it. It lets one evaluation pass discover
	// every record a rule needs; its value is never observed by a caller.
	kPending
)

// value is the evaluator's tagged value. It is passed by value; s may alias
// the request's JSON bytes and a, re point at per-check or compiled state,
// so a value never outlives Check.
type value struct {
	k  kind
	b  bool
	n  float64
	s  string // kString: the string; kJSON: the raw JSON text
	a  *[]value
	re *jsRegex
}

var (
	undefinedV = value{k: kUndefined}
	pendingV   = value{k: kPending}
	nullV      = value{k: kNull}
	trueV      = value{k: kBool, b: true}
	falseV     = value{k: kBool}
)

func boolV(b bool) value       { return value{k: kBool, b: b} }
func numV(n float64) value     { return value{k: kNumber, n: n} }
func strV(s string) value      { return value{k: kString, s: s} }
func arrV(a []value) value     { return value{k: kArray, a: &a} }
func isNullish(v value) bool   { return v.k == kUndefined || v.k == kNull }
func isObjectish(v value) bool { return v.k >= kJSON && v.k != kPending }

// isArray reports whether v is a JavaScript array.
func isArray(v value) bool {
	return v.k == kArray || (v.k == kJSON && v.s[0] == '[')
}

// truthy implements ToBoolean.
func truthy(v value) bool {
	switch v.k {
	case kUndefined, kNull, kPending:
		return false
	case kBool:
		return v.b
	case kNumber:
		return v.n != 0 && !math.IsNaN(v.n)
	case kString:
		return v.s != ""
	default:
		return true
	}
}

// typeOf implements the typeof operator.
func typeOf(v value) string {
	switch v.k {
	case kUndefined:
		return "undefined"
	case kBool:
		return "boolean"
	case kNumber:
		return "number"
	case kString:
		return "string"
	default:
		return "object"
	}
}

// toPrimitive implements ToPrimitive for the objects a rule can see. Plain
// objects become "[object Object]", arrays their comma-joined elements and
// regexes their source text; none of them has a user-defined valueOf.
func toPrimitive(v value) value {
	if v.k < kJSON {
		return v
	}
	return strV(toString(v))
}

// toString implements ToString.
func toString(v value) string {
	switch v.k {
	case kUndefined:
		return "undefined"
	case kNull:
		return "null"
	case kBool:
		if v.b {
			return "true"
		}
		return "false"
	case kNumber:
		return numberToString(v.n)
	case kString:
		return v.s
	case kJSON:
		if v.s[0] == '[' {
			var sb strings.Builder
			_ = jsonArrayEach(v.s, func(i int, e string) bool {
				if i > 0 {
					sb.WriteByte(',')
				}
				if ev, err := decodeJSON(e); err == nil && !isNullish(ev) {
					sb.WriteString(toString(ev))
				}
				return true
			})
			return sb.String()
		}
		return "[object Object]"
	case kArray:
		var sb strings.Builder
		for i, e := range *v.a {
			if i > 0 {
				sb.WriteByte(',')
			}
			if !isNullish(e) {
				sb.WriteString(toString(e))
			}
		}
		return sb.String()
	case kRegex:
		return "/" + v.re.source + "/" + v.re.flags
	default:
		return "[object Object]"
	}
}

// toNumber implements ToNumber.
func toNumber(v value) float64 {
	switch v.k {
	case kUndefined:
		return math.NaN()
	case kNull:
		return 0
	case kBool:
		if v.b {
			return 1
		}
		return 0
	case kNumber:
		return v.n
	case kString:
		return stringToNumber(v.s)
	case kJSON, kArray:
		if isArray(v) {
			return stringToNumber(toString(v))
		}
		return math.NaN()
	default:
		return math.NaN()
	}
}

// isJSSpace reports whether r is JavaScript WhiteSpace or LineTerminator.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func jsTrim(s string) string { return strings.TrimFunc(s, isJSSpace) }

// stringToNumber implements StringToNumber (ECMA-262 7.1.4.1.1).
func stringToNumber(s string) float64 {
	s = jsTrim(s)
	if s == "" {
		return 0
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			return parseRadix(s[2:], base)
		}
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	if body == "Infinity" {
		if s[0] == '-' {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	if !isDecimalLiteral(body) {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Only range errors remain possible here; ParseFloat returns ±Inf or 0.
		return f
	}
	return f
}

// parseRadix parses an unsigned integer in base 2, 8 or 16, as JS does
// (arbitrarily long, rounded to float64).
func parseRadix(s string, base int) float64 {
	if s == "" {
		return math.NaN()
	}
	f := 0.0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			return math.NaN()
		}
		if d >= base {
			return math.NaN()
		}
		f = f*float64(base) + float64(d)
	}
	return f
}

// isDecimalLiteral reports whether s is a StrUnsignedDecimalLiteral without
// the Infinity form: digits [. digits] [e[+-]digits], with at least one digit
// in the mantissa.
func isDecimalLiteral(s string) bool {
	i, digits := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// numberToString implements Number::toString(10) (ECMA-262 6.1.6.1.20).
func numberToString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f == 0:
		return "0"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	neg := f < 0
	if neg {
		f = -f
	}
	// Shortest round-trip digits and the decimal exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddddde±xx
	mant, expPart, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(expPart)
	n := x + 1 // value = 0.digits × 10^n
	k := len(digits)
	var sb strings.Builder
	if neg {
		sb.WriteByte('-')
	}
	switch {
	case k <= n && n <= 21:
		sb.WriteString(digits)
		sb.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		sb.WriteString(digits[:n])
		sb.WriteByte('.')
		sb.WriteString(digits[n:])
	case -6 < n && n <= 0:
		sb.WriteString("0.")
		sb.WriteString(strings.Repeat("0", -n))
		sb.WriteString(digits)
	default:
		sb.WriteByte(digits[0])
		if k > 1 {
			sb.WriteByte('.')
			sb.WriteString(digits[1:])
		}
		sb.WriteByte('e')
		if n-1 >= 0 {
			sb.WriteByte('+')
		}
		sb.WriteString(strconv.Itoa(n - 1))
	}
	return sb.String()
}

// strictEquals implements IsStrictlyEqual.
func strictEquals(a, b value) bool {
	if a.k != b.k {
		return false
	}
	switch a.k {
	case kUndefined, kNull:
		return true
	case kBool:
		return a.b == b.b
	case kNumber:
		return a.n == b.n
	case kString:
		return a.s == b.s
	case kJSON:
		// The same object is the same text at the same address.
		return len(a.s) == len(b.s) && unsafe.StringData(a.s) == unsafe.StringData(b.s)
	case kArray:
		return a.a == b.a
	case kUser:
		return true // there is one user object per check
	default:
		return false // every evaluation of a regex literal is a new object
	}
}

// looseEquals implements IsLooselyEqual (==).
func looseEquals(a, b value) bool {
	for {
		if a.k == b.k {
			return strictEquals(a, b)
		}
		if isNullish(a) && isNullish(b) {
			return true
		}
		if isNullish(a) || isNullish(b) {
			return false
		}
		switch {
		case a.k == kNumber && b.k == kString:
			return a.n == stringToNumber(b.s)
		case a.k == kString && b.k == kNumber:
			return stringToNumber(a.s) == b.n
		case a.k == kBool:
			a = numV(toNumber(a))
		case b.k == kBool:
			b = numV(toNumber(b))
		case isObjectish(a) && !isObjectish(b):
			a = toPrimitive(a)
		case isObjectish(b) && !isObjectish(a):
			b = toPrimitive(b)
		default:
			// Two objects of different kinds (e.g. JSON object and regex).
			return false
		}
	}
}

// lessThan implements IsLessThan with LeftFirst; the second result is false
// when the comparison is undefined (a NaN was involved).
func lessThan(a, b value) (lt bool, defined bool) {
	pa, pb := toPrimitive(a), toPrimitive(b)
	if pa.k == kString && pb.k == kString {
		return compareUTF16(pa.s, pb.s) < 0, true
	}
	na, nb := toNumber(pa), toNumber(pb)
	if math.IsNaN(na) || math.IsNaN(nb) {
		return false, false
	}
	return na < nb, true
}

// compareUTF16 orders strings by UTF-16 code units, as JavaScript does. For
// strings without supplementary-plane characters this equals byte order.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := utf16Units(ra), utf16Units(rb)
			if ua != ub {
				if ua < ub {
					return -1
				}
				return 1
			}
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	default:
		return 1
	}
}

// utf16Units returns the first UTF-16 code unit of r.
func utf16Units(r rune) rune {
	if r >= 0x10000 {
		h, _ := utf16.EncodeRune(r)
		return h
	}
	return r
}

// isASCII reports whether s has only ASCII bytes, so byte offsets equal
// UTF-16 offsets.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// utf16Len is String.prototype.length.
func utf16Len(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

var (
	nan    = math.NaN()
	posInf = math.Inf(1)
)
