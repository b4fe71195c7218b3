// Package path implements deepstream record paths ("address.city", "tags[1]")
// and applies path patches to JSON documents the way deepstream's server
// json-path.js (3.x) and the 2.3.4 client do.
//
// Syntax: a path is one or more segments separated by '.'. A segment is an
// optional key followed by zero or more array indexes "[n]"; a segment made of
// decimal digits only ("a.0") is an array index too, as in deepstream, where
// isNaN(part) decides. Every segment must contribute at least one token.
//
// Deliberate strictness compared with deepstream (which silently skips empty
// parts and feeds anything through isNaN/parseInt): empty segments, empty or
// unterminated brackets, non-digit index text, whitespace inside brackets,
// negative indexes and indexes above MaxIndex are errors. Keys are taken
// verbatim (no whitespace trimming).
package path

import (
	"errors"
	"strconv"
	"strings"
)

// MaxIndex is the largest array index a path may hold. Setting an index past
// an array's end pads it with nulls, so the bound also caps how much one patch
// can grow a record.
const MaxIndex = 1<<16 - 1

// Errors returned by Parse.
var (
	// ErrEmpty is returned for an empty path.
	ErrEmpty = errors.New("path: empty path")
	// ErrEmptySegment is returned for "a..b", ".a", "a." and similar.
	ErrEmptySegment = errors.New("path: empty segment")
	// ErrBadBracket is returned for unbalanced, empty or misplaced brackets.
	ErrBadBracket = errors.New("path: bad bracket")
	// ErrBadIndex is returned for an index that is not a decimal number in
	// [0, MaxIndex].
	ErrBadIndex = errors.New("path: bad array index")
)

// Token is one step of a path: an object key or an array index. For an index
// token Key holds its canonical decimal text, so an index applied to an object
// addresses the key of the same name (JavaScript's obj[1] === obj["1"]).
type Token struct {
	Key     string
	Index   int
	IsIndex bool
}

// Path is a parsed deepstream path. Key strings point into the string given to
// Parse (no copies are made).
type Path struct {
	Tokens []Token
}

// Parse parses a deepstream path.
func Parse(s string) (Path, error) {
	var p Path
	err := ParseInto(&p, s)
	return p, err
}

// ParseInto parses s into p, reusing p.Tokens' storage; with enough capacity
// it does not allocate (except to canonicalise an index written with leading
// zeros). On error p.Tokens is left empty.
func ParseInto(p *Path, s string) error {
	p.Tokens = p.Tokens[:0]
	err := parse(p, s)
	if err != nil {
		p.Tokens = p.Tokens[:0]
	}
	return err
}

func parse(p *Path, s string) error {
	if s == "" {
		return ErrEmpty
	}
	for {
		seg := s
		dot := strings.IndexByte(s, '.')
		if dot >= 0 {
			seg = s[:dot]
		}
		if err := parseSegment(p, seg); err != nil {
			return err
		}
		if dot < 0 {
			return nil
		}
		s = s[dot+1:]
	}
}

// parseSegment parses key? ("[" digits "]")* with no '.' inside.
func parseSegment(p *Path, seg string) error {
	if seg == "" {
		return ErrEmptySegment
	}
	br := strings.IndexByte(seg, '[')
	key := seg
	if br >= 0 {
		key = seg[:br]
	}
	if strings.IndexByte(key, ']') >= 0 {
		return ErrBadBracket
	}
	if key != "" {
		if isDigits(key) {
			t, err := indexToken(key)
			if err != nil {
				return err
			}
			p.Tokens = append(p.Tokens, t)
		} else {
			p.Tokens = append(p.Tokens, Token{Key: key})
		}
	}
	if br < 0 {
		return nil
	}
	rest := seg[br:]
	for rest != "" {
		if rest[0] != '[' {
			return ErrBadBracket
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return ErrBadBracket
		}
		num := rest[1:end]
		if num == "" || strings.IndexByte(num, '[') >= 0 {
			return ErrBadBracket
		}
		if !isDigits(num) {
			return ErrBadIndex
		}
		t, err := indexToken(num)
		if err != nil {
			return err
		}
		p.Tokens = append(p.Tokens, t)
		rest = rest[end+1:]
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// indexToken converts a digit string into an index token with canonical Key.
func indexToken(digits string) (Token, error) {
	trimmed := strings.TrimLeft(digits, "0")
	if trimmed == "" {
		return Token{Key: "0", Index: 0, IsIndex: true}, nil
	}
	if len(trimmed) > 6 {
		return Token{}, ErrBadIndex
	}
	n := 0
	for i := 0; i < len(trimmed); i++ {
		n = n*10 + int(trimmed[i]-'0')
	}
	if n > MaxIndex {
		return Token{}, ErrBadIndex
	}
	key := trimmed
	if len(trimmed) != len(digits) {
		// Leading zeros: JavaScript's parseInt("01") is 1, and as an object
		// key it is "1". Rare; allocating here is fine.
		key = strconv.Itoa(n)
	}
	return Token{Key: key, Index: n, IsIndex: true}, nil
}

// String returns the path in canonical form: keys joined by '.', indexes as
// "[n]". Parse(p.String()) yields the same tokens for any path Parse returned.
func (p Path) String() string {
	var b strings.Builder
	for i, t := range p.Tokens {
		if t.IsIndex {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(t.Index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t.Key)
	}
	return b.String()
}
