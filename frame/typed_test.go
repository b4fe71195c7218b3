package frame

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseTyped(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind Kind
		raw  string
		err  error
	}{
		{"Shello", KindString, "hello", nil},
		{"S", KindString, "", nil},
		{"S with spaces and \x00 and é", KindString, " with spaces and \x00 and é", nil},
		{`O{"a":1}`, KindObject, `{"a":1}`, nil},
		{`O["x",{"y":[1,2,null]}]`, KindObject, `["x",{"y":[1,2,null]}]`, nil},
		{`O {"a":1} `, KindObject, ` {"a":1} `, nil}, // JSON.parse allows surrounding blanks
		{"O5", KindObject, "5", nil},                 // any JSON value, as JSON.parse
		{`Onull`, KindObject, "null", nil},
		{"N42", KindNumber, "42", nil},
		{"N3.5", KindNumber, "3.5", nil},
		{"N-0", KindNumber, "-0", nil},
		{"N0", KindNumber, "0", nil},
		{"N1e+21", KindNumber, "1e+21", nil},
		{"N1.5e-7", KindNumber, "1.5e-7", nil},
		{"N2E10", KindNumber, "2E10", nil},
		{"N1e999", KindNumber, "1e999", nil}, // Infinity in JS; still a number literal
		{"NNaN", KindNumber, "NaN", nil},
		{"NInfinity", KindNumber, "Infinity", nil},
		{"N-Infinity", KindNumber, "-Infinity", nil},
		{"T", KindTrue, "", nil},
		{"F", KindFalse, "", nil},
		{"L", KindNull, "", nil},
		{"U", KindUndefined, "", nil},

		{"", 0, "", ErrTypedEmpty},
		{"X1", 0, "", ErrTypedKind},
		{"s", 0, "", ErrTypedKind},
		{"{}", 0, "", ErrTypedKind},
		{"O", 0, "", ErrTypedJSON},
		{"O{", 0, "", ErrTypedJSON},
		{"O{'a':1}", 0, "", ErrTypedJSON},
		{`O{"a":1}x`, 0, "", ErrTypedJSON},
		{"Oundefined", 0, "", ErrTypedJSON},
		{"N", 0, "", ErrTypedNumber},
		{"N-", 0, "", ErrTypedNumber},
		{"N+5", 0, "", ErrTypedNumber},
		{"N.5", 0, "", ErrTypedNumber},
		{"N5.", 0, "", ErrTypedNumber},
		{"N007", 0, "", ErrTypedNumber},
		{"N 5", 0, "", ErrTypedNumber},
		{"N5 ", 0, "", ErrTypedNumber},
		{"N12abc", 0, "", ErrTypedNumber},
		{"N0x10", 0, "", ErrTypedNumber},
		{"N1e", 0, "", ErrTypedNumber},
		{"N1e+", 0, "", ErrTypedNumber},
		{"N1_000", 0, "", ErrTypedNumber},
		{"NInf", 0, "", ErrTypedNumber},
		{"Nnan", 0, "", ErrTypedNumber},
		{"N+Infinity", 0, "", ErrTypedNumber},
		{"Ttrue", 0, "", ErrTypedTrailing},
		{"F ", 0, "", ErrTypedTrailing},
		{"Lnull", 0, "", ErrTypedTrailing},
		{"UU", 0, "", ErrTypedTrailing},
	} {
		v, err := ParseTyped([]byte(tc.in))
		if err != tc.err {
			t.Errorf("ParseTyped(%q) error = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && (v.Kind != tc.kind || string(v.Raw) != tc.raw) {
			t.Errorf("ParseTyped(%q) = %c %q, want %c %q", tc.in, v.Kind, v.Raw, tc.kind, tc.raw)
		}
		if err != nil && (v.Kind != 0 || v.Raw != nil) {
			t.Errorf("ParseTyped(%q) returned %+v with its error", tc.in, v)
		}
	}
}

// TestAppendTypedNumber compares with what JavaScript's String(x) prints
// (values checked against ECMA-262 Number::toString and V8 output).
func TestAppendTypedNumber(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{42, "42"},
		{-42, "-42"},
		{3.5, "3.5"},
		{-3.5, "-3.5"},
		{0.1, "0.1"},
		{dsPointOne + dsPointTwo, "0.30000000000000004"},
		{1.0 / 3, "0.3333333333333333"},
		{123.456, "123.456"},
		{100, "100"},
		{1e6, "1000000"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1.5e21, "1.5e+21"},
		{123456789012345680000, "123456789012345680000"},
		{1 << 53, "9007199254740992"},
		{1<<53 + 2, "9007199254740994"},
		{1 << 60, "1152921504606847000"},
		{-(1 << 60), "-1152921504606847000"},
		{0.000001, "0.000001"},
		{0.0000015, "0.0000015"},
		{1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"},
		{-1.5e300, "-1.5e+300"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.SmallestNonzeroFloat64, "5e-324"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{1234.5e-10, "1.2345e-7"},
		{0.5, "0.5"},
		{12345678.9, "12345678.9"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	} {
		got := AppendTypedNumber([]byte("x"), tc.f)
		if string(got) != "xN"+tc.want {
			t.Errorf("AppendTypedNumber(%v) = %q, want %q", tc.f, got[1:], "N"+tc.want)
		}
	}
}

// TestTypedRoundTrip builds every kind, parses it back, and checks the
// value and its JSON form.
func TestTypedRoundTrip(t *testing.T) {
	for _, s := range []string{"", "hello", `quote " and \ backslash`, "tab\tnew\nline\x01", "é€😀", "a\u2028b"} {
		b := AppendTypedString(nil, s)
		v, err := ParseTyped(b)
		if err != nil || v.Kind != KindString || string(v.Raw) != s {
			t.Errorf("string %q: %+v %v", s, v, err)
		}
		var back string
		if err := json.Unmarshal(v.AppendJSON(nil), &back); err != nil || back != s {
			t.Errorf("string %q: JSON %s gives %q, %v", s, v.AppendJSON(nil), back, err)
		}
	}
	for _, f := range []float64{0, 1, -1, 42, 3.5, dsPointOne + dsPointTwo, 1e21, 1e-7, 1 << 60, math.MaxFloat64, math.SmallestNonzeroFloat64, -123.456e-200} {
		b := AppendTypedNumber(nil, f)
		v, err := ParseTyped(b)
		if err != nil || v.Kind != KindNumber {
			t.Errorf("number %v: %q %+v %v", f, b, v, err)
			continue
		}
		back, err := strconv.ParseFloat(string(v.Raw), 64)
		if err != nil || back != f {
			t.Errorf("number %v: %q parses back as %v, %v", f, v.Raw, back, err)
		}
		var j float64
		if err := json.Unmarshal(v.AppendJSON(nil), &j); err != nil || j != f {
			t.Errorf("number %v: JSON %s gives %v, %v", f, v.AppendJSON(nil), j, err)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		v, err := ParseTyped(AppendTypedNumber(nil, f))
		if err != nil || v.Kind != KindNumber || string(v.AppendJSON(nil)) != "null" {
			t.Errorf("number %v: %+v %v JSON %s, want null", f, v, err, v.AppendJSON(nil))
		}
	}
	for _, j := range []string{`{"a":1}`, `[1,"x",{"y":null}]`, `{}`, `[]`} {
		v, err := ParseTyped(AppendTypedJSON(nil, []byte(j)))
		if err != nil || v.Kind != KindObject || string(v.Raw) != j || string(v.AppendJSON(nil)) != j {
			t.Errorf("json %s: %+v %v", j, v, err)
		}
	}
	for _, tc := range []struct {
		b    []byte
		kind Kind
		json string
	}{
		{AppendTypedBool(nil, true), KindTrue, "true"},
		{AppendTypedBool(nil, false), KindFalse, "false"},
		{AppendTypedNull(nil), KindNull, "null"},
		{AppendTypedUndefined(nil), KindUndefined, ""},
	} {
		v, err := ParseTyped(tc.b)
		if err != nil || v.Kind != tc.kind || len(v.Raw) != 0 || string(v.AppendJSON(nil)) != tc.json {
			t.Errorf("%q: %+v %v JSON %q, want %q", tc.b, v, err, v.AppendJSON(nil), tc.json)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string // typed text
		want string
	}{
		{`Sa"b\c`, `"a\"b\\c"`},
		{"S\b\f\n\r\t\x00\x1f\x7f", `"\b\f\n\r\t\u0000\u001f` + "\x7f\""},
		{"S<&>", `"<&>"`},                       // JSON.stringify does not escape HTML
		{"S\u2028", "\"\u2028\""},               // nor the line separators
		{"Sok\xffok\xc3", `"ok\ufffdok\ufffd"`}, // invalid UTF-8: one U+FFFD per byte
		{"Sé€😀", `"é€😀"`},
		{"N-12.5e3", "-12.5e3"},
		{"N1e999", "null"},
		{"N-1e999", "null"},
		{"N1e-999", "1e-999"},
		{"N" + strings.Repeat("9", 308), strings.Repeat("9", 308)},
		{"N" + strings.Repeat("9", 309), "null"},
		{"NNaN", "null"},
		{"T", "true"},
		{"L", "null"},
		{`O {"a" : [1]}`, ` {"a" : [1]}`},
		{"U", ""},
	} {
		v, err := ParseTyped([]byte(tc.in))
		if err != nil {
			t.Errorf("ParseTyped(%q): %v", tc.in, err)
			continue
		}
		got := v.AppendJSON([]byte("x"))
		if string(got[1:]) != tc.want || got[0] != 'x' {
			t.Errorf("AppendJSON(%q) = %q, want %q", tc.in, got[1:], tc.want)
		}
		if tc.want != "" && !json.Valid(got[1:]) {
			t.Errorf("AppendJSON(%q) = %q is not valid JSON", tc.in, got[1:])
		}
	}
	if got := (Value{}).AppendJSON(nil); got != nil {
		t.Errorf("zero Value: %q, want nothing", got)
	}
}

// dsStdlibMaxDepth is encoding/json's nesting limit (maxNestingDepth).
const dsStdlibMaxDepth = 10000

// dsJSONCases are texts on both sides of the JSON grammar's edges.
func dsJSONCases() []string {
	cases := []string{
		"", " ", "{}", "[]", `{"a":1}`, " { \"a\" : [ 1 , 2 ] }\t\r\n", `{"a":1,}`, `[1,]`, `[,1]`, `{,}`,
		`{"a"}`, `{"a":}`, `{1:2}`, `{"a" 1}`, `{"a":1 "b":2}`, `[1 2]`, "1 2", `{"a":{"b":{}}}`, `[[[]]]`, `[[[]]`,
		"]", "}", "[}", "{]", `"\u00e9"`, `"\u00g9"`, `"\u12"`, `"\x"`, "\"a\x01\"", "\"a\x7f\"", `"\/\b\f\n\r\t\\\""`,
		"\"\xff\xfe\"", `"unterminated`, `["a\"]`, `"\`, "tru", "true", "truex", "false", "fals", "nul", "null", "nulll",
		"-", "-0", "-01", "01", "0", "1.", "1.e5", ".5", "1e", "1E+5", "1e-05", "-1.5E3", "+1", "0x1", "1_0", "NaN",
		"\f5", "\v5", "\u00a05", "5\x00", "[1,{\"x\":[true,false,null]}]", `{"":""}`, `{"a":[{"b":[{"c":[]}]}]}`,
		strings.Repeat("[", dsStdlibMaxDepth) + strings.Repeat("]", dsStdlibMaxDepth),
		strings.Repeat("[", dsStdlibMaxDepth+1) + strings.Repeat("]", dsStdlibMaxDepth+1),
		strings.Repeat(`{"a":`, dsStdlibMaxDepth) + "1" + strings.Repeat("}", dsStdlibMaxDepth),
		strings.Repeat(`{"a":`, dsStdlibMaxDepth+1) + "1" + strings.Repeat("}", dsStdlibMaxDepth+1),
	}
	// Alternating containers across several 64-level words of the kind
	// stack, closed correctly and with one pair of closers swapped deep down.
	open, closeOK := strings.Repeat(`[{"k":`, jsonFastDepth/2-1), strings.Repeat("}]", jsonFastDepth/2-1)
	cases = append(cases, open+"1"+closeOK, open+"1"+"]}"+closeOK[2:], open+"1"+closeOK[:100]+"]}"+closeOK[102:])
	// Just below, at and above the depth where jsonValid hands over.
	for _, d := range []int{jsonFastDepth - 1, jsonFastDepth, jsonFastDepth + 1} {
		cases = append(cases, strings.Repeat("[", d)+strings.Repeat("]", d), strings.Repeat("[", d)+strings.Repeat("]", d-1))
	}
	return cases
}

// TestJSONValid checks the hand-written validator against encoding/json.
func TestJSONValid(t *testing.T) {
	valid := 0
	for _, s := range dsJSONCases() {
		got, want := jsonValid([]byte(s)), json.Valid([]byte(s))
		if got != want {
			t.Errorf("jsonValid(%.60q) = %v, encoding/json.Valid says %v", s, got, want)
		}
		if want {
			valid++
		}
	}
	if valid < 20 {
		t.Errorf("only %d valid cases: the table lost its valid half", valid)
	}
}

func TestTypedZeroAlloc(t *testing.T) {
	parts := [][]byte{
		[]byte("Shello"), []byte(`O{"a":[1,2,{"b":"c"}],"d":null}`), []byte("N-12.5e3"), []byte("T"),
		[]byte("L"), []byte("U"), []byte("N1e21"), []byte("S\"esc\"\n\xff"),
	}
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		buf = buf[:0]
		for _, p := range parts {
			v, err := ParseTyped(p)
			if err != nil {
				panic(err)
			}
			buf = v.AppendJSON(buf)
		}
		buf = AppendTypedNumber(buf, dsPointOne+dsPointTwo)
		buf = AppendTypedNumber(buf, 1e300)
		buf = AppendTypedNumber(buf, 42)
		buf = AppendTypedString(buf, "hello")
		buf = AppendTypedJSON(buf, parts[1][1:])
		buf = AppendTypedBool(buf, true)
		buf = AppendTypedNull(buf)
		buf = AppendTypedUndefined(buf)
	})
	if allocs != 0 {
		t.Fatalf("typed parse/append: %v allocs per run, want 0", allocs)
	}
}

func BenchmarkParseTyped(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"string", "Shello world"},
		{"number", "N-12.5e3"},
		{"object", `O{"a":1}`},
		{"object100B", `O{"name":"Alice","tags":["x","y"],"address":{"city":"Berlin","zip":"10115"},"age":33,"ok":true}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseTyped(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendTypedNumber(b *testing.B) {
	buf := make([]byte, 0, 32)
	for _, bc := range []struct {
		name string
		f    float64
	}{{"int", 12345}, {"frac", dsPointOne + dsPointTwo}, {"exp", 1.5e300}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendTypedNumber(buf[:0], bc.f)
			}
		})
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	v, _ := ParseTyped([]byte("Sa fairly ordinary string with one \"quote\" and é"))
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = v.AppendJSON(buf[:0])
	}
}

// dsJSONStringOf is what a JSON string literal produced from s must decode
// to: s with each invalid UTF-8 byte replaced by U+FFFD.
func dsJSONStringOf(s []byte) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// FuzzTyped checks that ParseTyped never panics, that Raw lies within the
// input, that every accepted value re-encodes to the same bytes with the
// builders, and that AppendJSON always yields valid JSON meaning the same
// value.
func FuzzTyped(f *testing.F) {
	for _, s := range []string{
		"Shello", "S", `O{"a":1}`, `O[1,2,{"b":[]}]`, "N42", "N-3.5e-7", "NNaN", "N-Infinity",
		"T", "F", "L", "U", "Ttrue", "N.5", "O{", "S\xff\"\n", "X", "", "N1e999",
	} {
		f.Add([]byte(s))
	}
	for _, s := range dsJSONCases() {
		f.Add(append([]byte{'O'}, s...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := jsonValid(b), json.Valid(b); got != want {
			t.Fatalf("jsonValid(%q) = %v, encoding/json.Valid says %v", b, got, want)
		}
		if len(b) > 0 {
			if got, want := jsonValid(b[1:]), json.Valid(b[1:]); got != want {
				t.Fatalf("jsonValid(%q) = %v, encoding/json.Valid says %v", b[1:], got, want)
			}
		}
		v, err := ParseTyped(b)
		if err != nil {
			if v.Kind != 0 || v.Raw != nil {
				t.Fatalf("error %v with value %+v", err, v)
			}
			return
		}
		if !dsTight(b, v.Raw) || len(v.Raw) != len(b)-1 {
			t.Fatalf("Raw %q does not alias the input tail", v.Raw)
		}
		var re []byte
		switch v.Kind {
		case KindString:
			re = AppendTypedString(nil, string(v.Raw))
		case KindObject:
			re = AppendTypedJSON(nil, v.Raw)
		case KindNumber:
			f, perr := strconv.ParseFloat(string(v.Raw), 64)
			if perr != nil && !math.IsInf(f, 0) {
				t.Fatalf("accepted number %q does not parse: %v", v.Raw, perr)
			}
			re = append([]byte{'N'}, v.Raw...)
			// The JS formatting of the value must itself be accepted and mean the same number.
			js := AppendTypedNumber(nil, f)
			w, err := ParseTyped(js)
			if err != nil {
				t.Fatalf("AppendTypedNumber(%v) = %q rejected: %v", f, js, err)
			}
			if g, _ := strconv.ParseFloat(string(w.Raw), 64); g != f && !(f != f && g != g) {
				t.Fatalf("AppendTypedNumber(%v) = %q means %v", f, js, g)
			}
		case KindTrue:
			re = AppendTypedBool(nil, true)
		case KindFalse:
			re = AppendTypedBool(nil, false)
		case KindNull:
			re = AppendTypedNull(nil)
		case KindUndefined:
			re = AppendTypedUndefined(nil)
		default:
			t.Fatalf("unknown kind %q accepted", v.Kind)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %q as %q", b, re)
		}
		j := v.AppendJSON(nil)
		if v.Kind == KindUndefined {
			if len(j) != 0 {
				t.Fatalf("undefined gave JSON %q", j)
			}
			return
		}
		if !json.Valid(j) {
			t.Fatalf("AppendJSON(%q) = %q is not valid JSON", b, j)
		}
		if v.Kind == KindString {
			var s string
			if err := json.Unmarshal(j, &s); err != nil || s != dsJSONStringOf(v.Raw) {
				t.Fatalf("AppendJSON(%q) = %q decodes to %q, %v", b, j, s, err)
			}
		}
	})
}

// Variables, not constants: Go evaluates 0.1 + 0.2 exactly at compile time.
var dsPointOne, dsPointTwo = 0.1, 0.2
