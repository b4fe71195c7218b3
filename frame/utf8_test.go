package frame

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// validateSplit feeds p to a fresh validator in the pieces given by cuts
// (increasing offsets) and returns Write's verdicts combined with Complete.
func validateSplit(p []byte, cuts []int) bool {
	var v UTF8Validator
	prev := 0
	for _, c := range cuts {
		if !v.Write(p[prev:c]) {
			return false
		}
		prev = c
	}
	return v.Write(p[prev:]) && v.Complete()
}

// utf8EdgeCases are the Autobahn 6.x style cases: name, bytes, valid.
var utf8EdgeCases = []struct {
	name  string
	in    string
	valid bool
}{
	{"empty", "", true},
	{"kosme", "κόσμε", true},
	{"kosme prefix cut in code point", "κόσμ\xce", false},
	{"hello with non-ASCII tail", "Hello-µ@ßöäüàá-UTF-8!!", true},
	{"first 1 byte U+0000", "\x00", true},
	{"first 2 byte U+0080", "\xc2\x80", true},
	{"first 3 byte U+0800", "\xe0\xa0\x80", true},
	{"first 4 byte U+10000", "\xf0\x90\x80\x80", true},
	{"last 1 byte U+007F", "\x7f", true},
	{"last 2 byte U+07FF", "\xdf\xbf", true},
	{"last 3 byte U+FFFF", "\xef\xbf\xbf", true},
	{"last valid U+10FFFF", "\xf4\x8f\xbf\xbf", true},
	{"U+D7FF before surrogates", "\xed\x9f\xbf", true},
	{"U+E000 after surrogates", "\xee\x80\x80", true},
	{"U+FFFD", "\xef\xbf\xbd", true},
	{"beyond U+10FFFF F4 90", "\xf4\x90\x80\x80", false},
	{"F5 lead", "\xf5\x80\x80\x80", false},
	{"5 byte form", "\xf8\x88\x80\x80\x80", false},
	{"6 byte form", "\xfc\x84\x80\x80\x80\x80", false},
	{"lone continuation 80", "\x80", false},
	{"lone continuation BF", "\xbf", false},
	{"two continuations", "\x80\xbf", false},
	{"continuation after ASCII", "abc\x80", false},
	{"all continuations", string(seq(0x80, 0xbf)), false},
	{"lonely 2-byte lead then space", "\xc0 ", false},
	{"lonely 3-byte lead then space", "\xe0 ", false},
	{"lonely 4-byte lead then space", "\xf0 ", false},
	{"truncated 2 byte", "\xdf", false},
	{"truncated 3 byte", "\xef\xbf", false},
	{"truncated 4 byte", "\xf4\x8f\xbf", false},
	{"truncated sequences concatenated", "\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf\xf7\xbf\xbf", false},
	{"FE", "\xfe", false},
	{"FF", "\xff", false},
	{"FEFF", "\xfe\xfe\xff\xff", false},
	{"overlong slash 2 byte", "\xc0\xaf", false},
	{"overlong slash 3 byte", "\xe0\x80\xaf", false},
	{"overlong slash 4 byte", "\xf0\x80\x80\xaf", false},
	{"overlong max 2 byte", "\xc1\xbf", false},
	{"overlong max 3 byte", "\xe0\x9f\xbf", false},
	{"overlong max 4 byte", "\xf0\x8f\xbf\xbf", false},
	{"overlong NUL 2 byte", "\xc0\x80", false},
	{"overlong NUL 3 byte", "\xe0\x80\x80", false},
	{"overlong NUL 4 byte", "\xf0\x80\x80\x80", false},
	{"surrogate U+D800", "\xed\xa0\x80", false},
	{"surrogate U+DB7F", "\xed\xad\xbf", false},
	{"surrogate U+DBFF", "\xed\xaf\xbf", false},
	{"surrogate U+DC00", "\xed\xb0\x80", false},
	{"surrogate U+DFFF", "\xed\xbf\xbf", false},
	{"surrogate pair D800 DC00", "\xed\xa0\x80\xed\xb0\x80", false},
	{"surrogate pair DBFF DFFF", "\xed\xaf\xbf\xed\xbf\xbf", false},
	{"non-character U+FFFE", "\xef\xbf\xbe", true},
	{"non-character U+FFFF", "\xef\xbf\xbf", true},
	{"non-character U+1FFFE", "\xf0\x9f\xbf\xbe", true},
	{"non-character U+10FFFE", "\xf4\x8f\xbf\xbe", true},
	{"non-character U+FDD0", "\xef\xb7\x90", true},
	{"invalid after 8 ASCII", "abcdefgh\xff", false},
	{"invalid after 16 ASCII", "abcdefghijklmnop\xc0\x80", false},
	{"valid after 9 ASCII", "abcdefghi\xe2\x82\xac", true},
}

func seq(lo, hi byte) []byte {
	var b []byte
	for c := int(lo); c <= int(hi); c++ {
		b = append(b, byte(c))
	}
	return b
}

func TestUTF8EdgeCases(t *testing.T) {
	for _, tc := range utf8EdgeCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if got := utf8.Valid(in); got != tc.valid {
				t.Fatalf("table error: utf8.Valid = %v", got)
			}
			if got := validUTF8(in); got != tc.valid {
				t.Fatalf("whole: got %v, want %v", got, tc.valid)
			}
			// Split at every pair of points.
			for i := 0; i <= len(in); i++ {
				for j := i; j <= len(in); j++ {
					if got := validateSplit(in, []int{i, j}); got != tc.valid {
						t.Fatalf("split at %d,%d: got %v, want %v", i, j, got, tc.valid)
					}
				}
			}
		})
	}
}

// TestUTF8Sticky checks that once invalid, the validator stays invalid, and
// that Complete distinguishes a sequence in progress.
func TestUTF8Sticky(t *testing.T) {
	var v UTF8Validator
	if !v.Write([]byte("\xe2\x82")) || v.Complete() {
		t.Fatal("prefix of € must be a valid, incomplete prefix")
	}
	if !v.Write([]byte("\xac")) || !v.Complete() {
		t.Fatal("€ completed must be complete")
	}
	if v.Write([]byte("\xff")) {
		t.Fatal("0xFF accepted")
	}
	if v.Write([]byte("abc")) || v.Complete() {
		t.Fatal("invalid state not sticky")
	}
	v.Reset()
	if !v.Write([]byte("abc")) || !v.Complete() {
		t.Fatal("Reset did not restore the initial state")
	}
}

// TestUTF8AllCodePoints checks every scalar value, and every surrogate,
// encoded the way a lax encoder would.
func TestUTF8AllCodePoints(t *testing.T) {
	var buf []byte
	for r := rune(0); r <= 0x10FFFF; r++ {
		buf = buf[:0]
		switch {
		case r < 0x80:
			buf = append(buf, byte(r))
		case r < 0x800:
			buf = append(buf, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
		case r < 0x10000:
			buf = append(buf, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
		default:
			buf = append(buf, 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
		}
		want := r < 0xD800 || r > 0xDFFF
		if got := validUTF8(buf); got != want {
			t.Fatalf("U+%04X % x: got %v, want %v", r, buf, got, want)
		}
	}
}

// randomUTF8ish returns bytes that are mostly valid UTF-8 with occasional
// corruption, so both outcomes are common.
func randomUTF8ish(r *rand.Rand) []byte {
	var sb strings.Builder
	n := r.IntN(64)
	for range n {
		switch r.IntN(8) {
		case 0, 1, 2:
			sb.WriteString("ascii text ")
		case 3:
			sb.WriteRune(rune(0x80 + r.IntN(0x780)))
		case 4:
			sb.WriteRune(rune(0x800 + r.IntN(0xF800)))
		case 5:
			sb.WriteRune(rune(0x10000 + r.IntN(0x100000)))
		case 6:
			if r.IntN(4) == 0 {
				sb.WriteByte(byte(r.Uint32()))
			}
		case 7:
			sb.WriteRune('κ')
		}
	}
	b := []byte(sb.String())
	if len(b) > 0 && r.IntN(3) == 0 {
		b = b[:r.IntN(len(b))] // maybe cut inside a code point
	}
	return b
}

func randomCuts(r *rand.Rand, n int) []int {
	var cuts []int
	for c := 0; n > 0 && c < n; {
		c += 1 + r.IntN(1+n/4)
		if c < n {
			cuts = append(cuts, c)
		}
	}
	return cuts
}

func TestUTF8Differential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var valid, invalid int
	for range 20000 {
		var in []byte
		if r.IntN(4) == 0 {
			in = make([]byte, r.IntN(40))
			for i := range in {
				in[i] = byte(r.Uint32())
			}
		} else {
			in = randomUTF8ish(r)
		}
		want := utf8.Valid(in)
		if want {
			valid++
		} else {
			invalid++
		}
		if got := validateSplit(in, randomCuts(r, len(in))); got != want {
			t.Fatalf("%q: got %v, want %v", in, got, want)
		}
	}
	if valid < 1000 || invalid < 1000 {
		t.Fatalf("generator is lopsided: %d valid, %d invalid", valid, invalid)
	}
}

func TestUTF8NoAllocs(t *testing.T) {
	p := []byte(strings.Repeat("ascii κόσμε € 𝄞 ", 64))
	var v UTF8Validator
	if a := testing.AllocsPerRun(100, func() { v.Reset(); v.Write(p) }); a != 0 {
		t.Fatalf("%v allocs per Write", a)
	}
}

func FuzzUTF8(f *testing.F) {
	for _, tc := range utf8EdgeCases {
		f.Add([]byte(tc.in), uint16(1))
	}
	f.Add([]byte("plain ascii that is longer than eight bytes"), uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, seed uint16) {
		want := utf8.Valid(in)
		if got := validUTF8(in); got != want {
			t.Fatalf("whole %q: got %v, want %v", in, got, want)
		}
		r := rand.New(rand.NewPCG(uint64(seed), 0))
		if got := validateSplit(in, randomCuts(r, len(in))); got != want {
			t.Fatalf("split %q: got %v, want %v", in, got, want)
		}
	})
}

func BenchmarkUTF8(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"ASCII", strings.Repeat("The quick brown fox jumps over the lazy dog. ", 100)},
		{"Mixed", strings.Repeat("E|EVT|chat|Sκόσμε € 𝄞 hello world {\"a\":1}+", 100)},
	} {
		p := []byte(bc.text)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			var v UTF8Validator
			for b.Loop() {
				v.Reset()
				if !v.Write(p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
