package path

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func key(k string) Token { return Token{Key: k} }
func idx(n int, k string) Token {
	return Token{Key: k, Index: n, IsIndex: true}
}

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want []Token
	}{
		{"age", []Token{key("age")}},
		{"address.city", []Token{key("address"), key("city")}},
		{"tags[1]", []Token{key("tags"), idx(1, "1")}},
		{"a[0][12].b", []Token{key("a"), idx(0, "0"), idx(12, "12"), key("b")}},
		{"a.0.b", []Token{key("a"), idx(0, "0"), key("b")}},
		{"[3]", []Token{idx(3, "3")}},
		{"[3].x", []Token{idx(3, "3"), key("x")}},
		{"a.[2]", []Token{key("a"), idx(2, "2")}},
		{"a[007]", []Token{key("a"), idx(7, "7")}},
		{"a[000]", []Token{key("a"), idx(0, "0")}},
		{"a.-1", []Token{key("a"), key("-1")}},
		{"first name", []Token{key("first name")}},
		{"ünï.cødé", []Token{key("ünï"), key("cødé")}},
		{"a[65535]", []Token{key("a"), idx(MaxIndex, "65535")}},
	}
	for _, c := range cases {
		p, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(p.Tokens, c.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, p.Tokens, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"", ErrEmpty},
		{".", ErrEmptySegment},
		{"a.", ErrEmptySegment},
		{".a", ErrEmptySegment},
		{"a..b", ErrEmptySegment},
		{"a[", ErrBadBracket},
		{"a[1", ErrBadBracket},
		{"a]", ErrBadBracket},
		{"a[]", ErrBadBracket},
		{"a[1]b", ErrBadBracket},
		{"a[[1]]", ErrBadBracket},
		{"a[1]]", ErrBadBracket},
		{"a[x]", ErrBadIndex},
		{"a[-1]", ErrBadIndex},
		{"a[ 1]", ErrBadIndex},
		{"a[1e3]", ErrBadIndex},
		{"a[65536]", ErrBadIndex},
		{"a[99999999999999999999999]", ErrBadIndex},
		{"a.65536", ErrBadIndex},
	}
	for _, c := range cases {
		p, err := Parse(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("Parse(%q) error = %v, want %v", c.in, err, c.want)
		}
		if len(p.Tokens) != 0 {
			t.Errorf("Parse(%q) left tokens %+v on error", c.in, p.Tokens)
		}
	}
}

func TestString(t *testing.T) {
	cases := map[string]string{
		"a.b":       "a.b",
		"a[1].b[2]": "a[1].b[2]",
		"a.1":       "a[1]",
		"[0].x":     "[0].x",
		"a[007]":    "a[7]",
		"a.[2]":     "a[2]",
	}
	for in, want := range cases {
		p, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", in, got, want)
		}
	}
}

func TestParseIntoReuse(t *testing.T) {
	var p Path
	if err := ParseInto(&p, "a.b[1].c"); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseInto(&p, "x.y[2].z"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseInto allocates %v times with enough capacity", allocs)
	}
	if got := p.String(); got != "x.y[2].z" {
		t.Errorf("got %q", got)
	}
}

// FuzzParse feeds valid paths split at random points (each half, and the
// halves rejoined with a '.' or a bracket) and garbled input: Parse must never
// panic, and every accepted path must round-trip through String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a", "address.city", "tags[1]", "a[0][12].b", "a.0.b", "[3].x",
		"a[007]", "a..b", "a[", "a[]", "a]", "a[-1]", "a[65536]", "ünï.cødé",
	} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, s string, cut uint8) {
		k := 0
		if len(s) > 0 {
			k = int(cut) % (len(s) + 1)
		}
		for _, in := range []string{s, s[:k], s[k:], s[:k] + "." + s[k:], s[:k] + "[" + s[k:], s[:k] + "]" + s[k:]} {
			checkParse(t, in)
		}
	})
}

func checkParse(t *testing.T, in string) {
	p, err := Parse(in)
	if err != nil {
		if len(p.Tokens) != 0 {
			t.Fatalf("Parse(%q) returned tokens with error %v", in, err)
		}
		return
	}
	if len(p.Tokens) == 0 {
		t.Fatalf("Parse(%q) accepted with no tokens", in)
	}
	for _, tok := range p.Tokens {
		if tok.IsIndex && (tok.Index < 0 || tok.Index > MaxIndex) {
			t.Fatalf("Parse(%q) index %d out of range", in, tok.Index)
		}
		if !tok.IsIndex && (tok.Key == "" || strings.ContainsAny(tok.Key, ".[]") || isDigits(tok.Key)) {
			t.Fatalf("Parse(%q) bad key %q", in, tok.Key)
		}
	}
	s := p.String()
	q, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q).String() = %q does not parse: %v", in, s, err)
	}
	if !reflect.DeepEqual(p.Tokens, q.Tokens) {
		t.Fatalf("round trip %q -> %q: %+v != %+v", in, s, p.Tokens, q.Tokens)
	}
	if q.String() != s {
		t.Fatalf("String not stable: %q -> %q", s, q.String())
	}
}
