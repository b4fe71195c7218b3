package valve

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The evaluator reads JSON documents lazily: an object or array is kept as
// its raw text (kJSON, value.s) and a member access scans only the top level
// of that text, skipping nested values without decoding them. Nothing is
// materialised and nothing is allocated except strings that contain escape
// sequences. A document is read only during one Check, so values alias the
// caller's bytes.
//
// Parts of a document a rule never reaches are not validated (the server
// produced or parsed them already); malformed text on the path a rule reads
// is a rule error.

var errBadJSON = errors.New("invalid JSON")

// bytesToString aliases b; the bytes must not change while the string is used.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func jsonSkipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonStringEnd returns the index after the closing quote of the string
// starting at s[i] == '"', and whether it contains escapes.
func jsonStringEnd(s string, i int) (int, bool, error) {
	esc := false
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			return j + 1, esc, nil
		case '\\':
			esc = true
			j++ // skip the escaped byte
		}
	}
	return 0, false, errBadJSON
}

// jsonValueEnd returns the index after the JSON value starting at s[i].
func jsonValueEnd(s string, i int) (int, error) {
	if i >= len(s) {
		return 0, errBadJSON
	}
	switch s[i] {
	case '"':
		end, _, err := jsonStringEnd(s, i)
		return end, err
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			case '"':
				end, _, err := jsonStringEnd(s, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			}
		}
		return 0, errBadJSON
	default:
		j := i
		for j < len(s) {
			c := s[j]
			if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			j++
		}
		if j == i {
			return 0, errBadJSON
		}
		return j, nil
	}
}

// decodeJSON converts the raw text of one JSON value into a value.
func decodeJSON(raw string) (value, error) {
	if raw == "" {
		return undefinedV, errBadJSON
	}
	switch raw[0] {
	case '{', '[':
		return value{k: kJSON, s: raw}, nil
	case '"':
		s, err := jsonUnquote(raw)
		return strV(s), err
	case 't':
		if raw == "true" {
			return trueV, nil
		}
	case 'f':
		if raw == "false" {
			return falseV, nil
		}
	case 'n':
		if raw == "null" {
			return nullV, nil
		}
	default:
		if isJSONNumber(raw) {
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil && !isRangeErr(err) {
				return undefinedV, errBadJSON
			}
			return numV(f), nil
		}
	}
	return undefinedV, errBadJSON
}

// decodeDocument decodes a whole document (surrounding whitespace allowed).
func decodeDocument(b []byte) (value, error) {
	s := bytesToString(b)
	i := jsonSkipWS(s, 0)
	if i < len(s) && (s[i] == '{' || s[i] == '[') {
		// Containers are validated level by level as a rule reads them;
		// only the closing bracket is checked here, to avoid a full scan.
		e := len(s)
		for e > i && (s[e-1] == ' ' || s[e-1] == '\t' || s[e-1] == '\n' || s[e-1] == '\r') {
			e--
		}
		if e-i < 2 || s[e-1] != s[i]+2 { // '{'+2 == '}', '['+2 == ']'
			return undefinedV, errBadJSON
		}
		return value{k: kJSON, s: s[i:e]}, nil
	}
	end, err := jsonValueEnd(s, i)
	if err != nil {
		return undefinedV, err
	}
	if jsonSkipWS(s, end) != len(s) {
		return undefinedV, errBadJSON
	}
	return decodeJSON(s[i:end])
}

func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}

// jsonUnquote decodes a JSON string literal; without escapes it returns a
// substring of raw (no allocation).
func jsonUnquote(raw string) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errBadJSON
	}
	body := raw[1 : len(raw)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body, nil
	}
	var sb strings.Builder
	sb.Grow(len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", errBadJSON
		}
		switch body[i] {
		case '"', '\\', '/':
			sb.WriteByte(body[i])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := hex4(body, i+1)
			if !ok {
				return "", errBadJSON
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(body, i+3); ok && i+2 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						sb.WriteRune(d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			sb.WriteRune(r)
		default:
			return "", errBadJSON
		}
	}
	return sb.String(), nil
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		d := hexVal(s[j])
		if d < 0 {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// jsonKeyEquals compares the raw key literal (quotes included) with key.
func jsonKeyEquals(raw string, esc bool, key string) bool {
	if !esc {
		return len(raw) == len(key)+2 && raw[1:len(raw)-1] == key
	}
	k, err := jsonUnquote(raw)
	return err == nil && k == key
}

// jsonObjectGet returns the raw value of key in the object raw, or "" if
// absent. Like JSON.parse, the last of duplicate keys wins.
func jsonObjectGet(raw, key string) (string, error) {
	found := ""
	i := jsonSkipWS(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return "", nil
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return "", errBadJSON
		}
		kend, esc, err := jsonStringEnd(raw, i)
		if err != nil {
			return "", err
		}
		match := jsonKeyEquals(raw[i:kend], esc, key)
		i = jsonSkipWS(raw, kend)
		if i >= len(raw) || raw[i] != ':' {
			return "", errBadJSON
		}
		i = jsonSkipWS(raw, i+1)
		vend, err := jsonValueEnd(raw, i)
		if err != nil {
			return "", err
		}
		if match {
			found = raw[i:vend]
		}
		i = jsonSkipWS(raw, vend)
		if i >= len(raw) {
			return "", errBadJSON
		}
		if raw[i] == '}' {
			return found, nil
		}
		if raw[i] != ',' {
			return "", errBadJSON
		}
		i = jsonSkipWS(raw, i+1)
	}
}

// jsonArrayEach calls fn for every element of the array raw until fn
// returns false.
func jsonArrayEach(raw string, fn func(i int, elem string) bool) error {
	i := jsonSkipWS(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		end, err := jsonValueEnd(raw, i)
		if err != nil {
			return err
		}
		if !fn(n, raw[i:end]) {
			return nil
		}
		i = jsonSkipWS(raw, end)
		if i >= len(raw) {
			return errBadJSON
		}
		if raw[i] == ']' {
			return nil
		}
		if raw[i] != ',' {
			return errBadJSON
		}
		i = jsonSkipWS(raw, i+1)
	}
}

// jsonArrayIndex returns the raw element i of the array raw, or "".
func jsonArrayIndex(raw string, idx int) (string, error) {
	out := ""
	err := jsonArrayEach(raw, func(i int, e string) bool {
		if i == idx {
			out = e
			return false
		}
		return true
	})
	return out, err
}

// jsonArrayLen counts the elements of the array raw.
func jsonArrayLen(raw string) (int, error) {
	n := 0
	err := jsonArrayEach(raw, func(int, string) bool { n++; return true })
	return n, err
}

// jsonField is one top-level member of an indexed object.
type jsonField struct {
	key string // raw key literal, quotes included
	esc bool   // key contains escapes
	val string // raw value
}

// objIndex lists the members of one object read during a check, so that a
// rule reading several members of data scans it once.
type objIndex struct {
	raw    string
	fields []jsonField
}

// maxIndexedObjects bounds the objects indexed per check; further objects
// are scanned per access.
const maxIndexedObjects = 4

// indexObject scans the object raw into fields (appended to buf).
func indexObject(raw string, buf []jsonField) ([]jsonField, error) {
	i := jsonSkipWS(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return buf, nil
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return buf, errBadJSON
		}
		kend, esc, err := jsonStringEnd(raw, i)
		if err != nil {
			return buf, err
		}
		key := raw[i:kend]
		i = jsonSkipWS(raw, kend)
		if i >= len(raw) || raw[i] != ':' {
			return buf, errBadJSON
		}
		i = jsonSkipWS(raw, i+1)
		vend, err := jsonValueEnd(raw, i)
		if err != nil {
			return buf, err
		}
		buf = append(buf, jsonField{key: key, esc: esc, val: raw[i:vend]})
		i = jsonSkipWS(raw, vend)
		if i >= len(raw) {
			return buf, errBadJSON
		}
		if raw[i] == '}' {
			return buf, nil
		}
		if raw[i] != ',' {
			return buf, errBadJSON
		}
		i = jsonSkipWS(raw, i+1)
	}
}

// objectGet returns the raw value of key in the object raw ("" if absent),
// through the per-check index when there is room for it.
func (c *ctx) objectGet(raw, key string) (string, error) {
	var idx *objIndex
	for i := range c.objs {
		o := &c.objs[i]
		if len(o.raw) == len(raw) && unsafe.StringData(o.raw) == unsafe.StringData(raw) {
			idx = o
			break
		}
	}
	if idx == nil {
		if len(c.objs) == maxIndexedObjects {
			return jsonObjectGet(raw, key)
		}
		if cap(c.objs) == 0 {
			c.objs = make([]objIndex, 0, maxIndexedObjects)
		}
		n := len(c.objs)
		c.objs = c.objs[:n+1] // keeps the element's fields buffer from earlier checks
		idx = &c.objs[n]
		idx.raw = raw
		var err error
		if idx.fields, err = indexObject(raw, idx.fields[:0]); err != nil {
			c.objs = c.objs[:len(c.objs)-1]
			return "", err
		}
	}
	for i := len(idx.fields) - 1; i >= 0; i-- { // the last duplicate wins
		f := &idx.fields[i]
		if jsonKeyEquals(f.key, f.esc, key) {
			return f.val, nil
		}
	}
	return "", nil
}
