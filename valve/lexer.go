package valve

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// tokKind classifies a token of a rule expression.
type tokKind uint8

const (
	tEOF tokKind = iota
	tNumber
	tString
	tRegex
	tIdent
	tPunct
)

// token is one lexical token. text is the source text (for punctuators and
// identifiers), str the decoded string value, num the number value.
type token struct {
	kind  tokKind
	text  string
	str   string
	num   float64
	flags string // regex flags
	pos   int
	nl    bool // a line terminator precedes the token
}

// punctuators, longest first, including the ones the parser rejects so that
// they produce a precise "unexpected token" message.
var punctuators = []string{
	">>>=", "===", "!==", "**=", "<<=", ">>=", ">>>", "...",
	"=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=",
	"&=", "|=", "^=", "**", "<<", ">>",
	"<", ">", "!", "?", ":", "(", ")", "[", "]", "{", "}", ".", ",", ";", "+", "-", "*", "/", "%",
	"=", "&", "|", "^", "~", "@", "#",
}

// lexer tokenises a rule. It decides between division and a regex literal
// from the previous token, which is exact for the expression grammar.
type lexer struct {
	src  string
	pos  int
	prev token
	has  bool
	nl   bool // a line terminator was skipped since the last token
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// regexAllowed reports whether a '/' at the current position starts a regex.
func (l *lexer) regexAllowed() bool {
	if !l.has {
		return true
	}
	switch l.prev.kind {
	case tNumber, tString, tRegex:
		return false
	case tIdent:
		switch l.prev.text {
		case "typeof", "return", "in", "instanceof", "new", "delete", "void":
			return true
		}
		return false
	case tPunct:
		return l.prev.text != ")" && l.prev.text != "]" && l.prev.text != "}"
	}
	return true
}

func (l *lexer) next() (token, error) {
	t, err := l.scan()
	if err == nil {
		l.prev, l.has = t, true
	}
	return t, err
}

func (l *lexer) scan() (token, error) {
	t, err := l.scanToken()
	t.nl = l.nl
	l.nl = false
	return t, err
}

func (l *lexer) scanToken() (token, error) {
	// Skip whitespace and comments.
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '\n' || c == '\r' {
			l.nl = true
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			l.pos++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			if r == 0x2028 || r == 0x2029 {
				l.nl = true
			}
			if isJSSpace(r) {
				l.pos += n
				continue
			}
		}
		if strings.HasPrefix(l.src[l.pos:], "//") {
			end := strings.IndexAny(l.src[l.pos:], "\n\r")
			if end < 0 {
				l.pos = len(l.src)
			} else {
				l.pos += end
			}
			continue
		}
		if strings.HasPrefix(l.src[l.pos:], "/*") {
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return token{}, fmt.Errorf("unterminated comment")
			}
			if strings.ContainsAny(l.src[l.pos:l.pos+end+4], "\n\r\u2028\u2029") {
				l.nl = true
			}
			l.pos += end + 4
			continue
		}
		break
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		if l.pos < len(l.src) && (l.src[l.pos] == '\\' || l.src[l.pos] >= utf8.RuneSelf) {
			return token{}, fmt.Errorf("unsupported identifier character at offset %d", l.pos)
		}
		return token{kind: tIdent, text: l.src[start:l.pos], pos: start}, nil
	case c >= '0' && c <= '9' || (c == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9'):
		return l.number()
	case c == '"' || c == '\'':
		return l.stringLit(c)
	case c == '`':
		return token{}, fmt.Errorf("unexpected token \"`\" (template literals are not supported)")
	case c == '/' && l.regexAllowed():
		return l.regex()
	}
	for _, p := range punctuators {
		if strings.HasPrefix(l.src[l.pos:], p) {
			l.pos += len(p)
			return token{kind: tPunct, text: p, pos: start}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{}, fmt.Errorf("unexpected character %q", r)
}

func (l *lexer) number() (token, error) {
	start := l.pos
	s := l.src
	if s[l.pos] == '0' && l.pos+1 < len(s) {
		base := 0
		switch s[l.pos+1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			l.pos += 2
			ds := l.pos
			for l.pos < len(s) && isIdentPart(s[l.pos]) {
				l.pos++
			}
			f := parseRadix(s[ds:l.pos], base)
			if f != f { // NaN: bad digit
				return token{}, fmt.Errorf("invalid number %q", s[start:l.pos])
			}
			return token{kind: tNumber, num: f, text: s[start:l.pos], pos: start}, nil
		}
		if s[l.pos+1] >= '0' && s[l.pos+1] <= '9' {
			return token{}, fmt.Errorf("legacy octal literal %q is not supported", s[start:l.pos+2])
		}
	}
	for l.pos < len(s) && s[l.pos] >= '0' && s[l.pos] <= '9' {
		l.pos++
	}
	if l.pos < len(s) && s[l.pos] == '.' {
		l.pos++
		for l.pos < len(s) && s[l.pos] >= '0' && s[l.pos] <= '9' {
			l.pos++
		}
	}
	if l.pos < len(s) && (s[l.pos] == 'e' || s[l.pos] == 'E') {
		l.pos++
		if l.pos < len(s) && (s[l.pos] == '+' || s[l.pos] == '-') {
			l.pos++
		}
		ds := l.pos
		for l.pos < len(s) && s[l.pos] >= '0' && s[l.pos] <= '9' {
			l.pos++
		}
		if ds == l.pos {
			return token{}, fmt.Errorf("invalid number %q", s[start:l.pos])
		}
	}
	if l.pos < len(s) && isIdentPart(s[l.pos]) {
		return token{}, fmt.Errorf("invalid number %q", s[start:l.pos+1])
	}
	f, err := strconv.ParseFloat(s[start:l.pos], 64)
	if err != nil && !isRangeErr(err) {
		return token{}, fmt.Errorf("invalid number %q", s[start:l.pos])
	}
	return token{kind: tNumber, num: f, text: s[start:l.pos], pos: start}, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (l *lexer) hex(n int) (rune, error) {
	if l.pos+n > len(l.src) {
		return 0, fmt.Errorf("invalid escape sequence")
	}
	var r rune
	for i := 0; i < n; i++ {
		d := hexVal(l.src[l.pos+i])
		if d < 0 {
			return 0, fmt.Errorf("invalid escape sequence")
		}
		r = r<<4 | rune(d)
	}
	l.pos += n
	return r, nil
}

func (l *lexer) stringLit(q byte) (token, error) {
	start := l.pos
	l.pos++
	var sb strings.Builder
	var pendingHigh rune = -1 // a \uD8xx high surrogate waiting for its pair
	flushHigh := func() {
		if pendingHigh >= 0 {
			sb.WriteRune(utf8.RuneError)
			pendingHigh = -1
		}
	}
	for {
		if l.pos >= len(l.src) {
			return token{}, fmt.Errorf("unterminated string literal")
		}
		c := l.src[l.pos]
		if c == q {
			l.pos++
			flushHigh()
			return token{kind: tString, str: sb.String(), text: l.src[start:l.pos], pos: start}, nil
		}
		if c == '\n' || c == '\r' {
			return token{}, fmt.Errorf("unterminated string literal")
		}
		if c != '\\' {
			flushHigh()
			sb.WriteByte(c)
			l.pos++
			continue
		}
		l.pos++
		if l.pos >= len(l.src) {
			return token{}, fmt.Errorf("unterminated string literal")
		}
		e := l.src[l.pos]
		l.pos++
		var r rune = -1
		switch e {
		case 'n':
			r = '\n'
		case 't':
			r = '\t'
		case 'r':
			r = '\r'
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'v':
			r = '\v'
		case '0':
			if l.pos < len(l.src) && l.src[l.pos] >= '0' && l.src[l.pos] <= '9' {
				return token{}, fmt.Errorf("octal escape sequences are not supported")
			}
			r = 0
		case '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return token{}, fmt.Errorf("octal escape sequences are not supported")
		case 'x':
			v, err := l.hex(2)
			if err != nil {
				return token{}, err
			}
			r = v
		case 'u':
			if l.pos < len(l.src) && l.src[l.pos] == '{' {
				end := strings.IndexByte(l.src[l.pos:], '}')
				if end < 2 || end > 8 {
					return token{}, fmt.Errorf("invalid escape sequence")
				}
				v, err := strconv.ParseUint(l.src[l.pos+1:l.pos+end], 16, 32)
				if err != nil || v > 0x10ffff {
					return token{}, fmt.Errorf("invalid escape sequence")
				}
				l.pos += end + 1
				r = rune(v)
			} else {
				v, err := l.hex(4)
				if err != nil {
					return token{}, err
				}
				r = v
			}
		case '\r':
			if l.pos < len(l.src) && l.src[l.pos] == '\n' {
				l.pos++
			}
			continue // line continuation
		case '\n':
			continue
		default:
			// Identity escape; copy the whole (possibly multi-byte) character.
			l.pos--
			rr, n := utf8.DecodeRuneInString(l.src[l.pos:])
			l.pos += n
			r = rr
		}
		if r >= 0xd800 && r <= 0xdbff {
			flushHigh()
			pendingHigh = r
			continue
		}
		if r >= 0xdc00 && r <= 0xdfff && pendingHigh >= 0 {
			sb.WriteRune(utf16.DecodeRune(pendingHigh, r))
			pendingHigh = -1
			continue
		}
		flushHigh()
		sb.WriteRune(r)
	}
}

func (l *lexer) regex() (token, error) {
	start := l.pos
	l.pos++
	inClass := false
	for {
		if l.pos >= len(l.src) || l.src[l.pos] == '\n' || l.src[l.pos] == '\r' {
			return token{}, fmt.Errorf("unterminated regular expression")
		}
		c := l.src[l.pos]
		if c == '\\' {
			l.pos += 2
			continue
		}
		if c == '[' {
			inClass = true
		} else if c == ']' {
			inClass = false
		} else if c == '/' && !inClass {
			break
		}
		l.pos++
	}
	body := l.src[start+1 : l.pos]
	l.pos++
	fs := l.pos
	for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
		l.pos++
	}
	if body == "" {
		return token{}, fmt.Errorf("empty regular expression")
	}
	return token{kind: tRegex, str: body, flags: l.src[fs:l.pos], text: l.src[start:l.pos], pos: start}, nil
}
