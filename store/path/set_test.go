package path

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func mustParse(t testing.TB, s string) Path {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

// sameJSON reports whether a and b decode to equal values (numbers compared
// by their text, object key order ignored).
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	va, ea := decode(a)
	vb, eb := decode(b)
	if ea != nil || eb != nil {
		t.Fatalf("sameJSON: %v / %v (%s / %s)", ea, eb, a, b)
	}
	return reflect.DeepEqual(va, vb)
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func TestSet(t *testing.T) {
	cases := []struct {
		doc, path, value, want string
		del                    bool
	}{
		{doc: `{}`, path: "age", value: `33`, want: `{"age":33}`},
		{doc: `{"age":1,"b":2}`, path: "age", value: `34`, want: `{"age":34,"b":2}`},
		{doc: `{"address":{"city":"A","zip":1}}`, path: "address.city", value: `"B"`, want: `{"address":{"city":"B","zip":1}}`},
		{doc: `{"tags":["x"]}`, path: "tags[1]", value: `"y"`, want: `{"tags":["x","y"]}`},
		{doc: `{"tags":["x"]}`, path: "tags[3]", value: `"y"`, want: `{"tags":["x",null,null,"y"]}`},
		{doc: `{}`, path: "a.b.c", value: `1`, want: `{"a":{"b":{"c":1}}}`},
		{doc: `{}`, path: "a[1].b", value: `true`, want: `{"a":[null,{"b":true}]}`},
		{doc: `{}`, path: "a.0.b", value: `true`, want: `{"a":[{"b":true}]}`},
		{doc: `{}`, path: "a[0][1]", value: `2`, want: `{"a":[[null,2]]}`},
		{doc: `{"a":{"1":"x"}}`, path: "a[1]", value: `"y"`, want: `{"a":{"1":"y"}}`},
		{doc: `[1,2,3]`, path: "[1]", value: `{"k":[]}`, want: `[1,{"k":[]},3]`},
		{doc: `{"a":{"x":1,"y":2}}`, path: "a.x", del: true, want: `{"a":{"y":2}}`},
		{doc: `{"a":1}`, path: "missing", del: true, want: `{"a":1}`},
		{doc: `{}`, path: "a.b", del: true, want: `{"a":{}}`},
		{doc: `{"a":[1,2]}`, path: "a[0]", del: true, want: `{"a":[null,2]}`},
		{doc: `{"a":[1]}`, path: "a[2]", del: true, want: `{"a":[1,null,null]}`},
		{doc: `{"a\u0062":1}`, path: "ab", value: `2`, want: `{"ab":2}`},
		{doc: `{"\u0007k\u000b":1,"s":"\u001a"}`, path: "x", value: `"\u007f"`, want: `{"\u0007k\u000b":1,"s":"\u001a","x":"\u007f"}`},
		{doc: `{"n":1.50e3}`, path: "m", value: `12345678901234567890`, want: `{"n":1.50e3,"m":12345678901234567890}`},
	}
	var s Setter
	for _, c := range cases {
		var value []byte
		if !c.del {
			value = []byte(c.value)
		}
		got, err := s.Set([]byte(c.doc), mustParse(t, c.path), value)
		if err != nil {
			t.Errorf("Set(%s, %s, %s): %v", c.doc, c.path, c.value, err)
			continue
		}
		if !sameJSON(t, got, []byte(c.want)) {
			t.Errorf("Set(%s, %s, %s) = %s, want %s", c.doc, c.path, c.value, got, c.want)
		}
		// The reference agrees on every table case.
		ref, rerr := refSet([]byte(c.doc), mustParse(t, c.path), value)
		if rerr != nil || !sameJSON(t, got, ref) {
			t.Errorf("reference disagrees on %s %s: %s (%v) vs %s", c.doc, c.path, ref, rerr, got)
		}
	}
}

func TestSetErrors(t *testing.T) {
	cases := []struct {
		doc, path, value string
		want             error
	}{
		{`"str"`, "a", `1`, ErrNotContainer},
		{`12`, "a", `1`, ErrNotContainer},
		{`{"a":"str"}`, "a.b", `1`, ErrNotContainer},
		{`{"a":null}`, "a.b", `1`, ErrNotContainer},
		{`{"a":[null]}`, "a[0].b", `1`, ErrNotContainer},
		{`{"a":[1]}`, "a.b", `1`, ErrKeyOnArray},
		{`{"a":[[1]]}`, "a[0].b.c", `1`, ErrKeyOnArray},
		{`[[1]]`, "[0].x", `1`, ErrKeyOnArray},
		{`[1]`, "x", `1`, ErrKeyOnArray},
		{`{"a":`, "a", `1`, ErrBadJSON},
		{`{}`, "a", `{`, ErrBadJSON},
		{`{}`, "a", ``, ErrBadJSON},
		{`{} x`, "a", `1`, ErrBadJSON},
		{`{}`, "a", `+`, ErrBadJSON},
		{`{"a":nan}`, "b", `1`, ErrBadJSON},
	}
	var s Setter
	for _, c := range cases {
		_, err := s.Set([]byte(c.doc), mustParse(t, c.path), []byte(c.value))
		if !errors.Is(err, c.want) {
			t.Errorf("Set(%s, %s, %s) error = %v, want %v", c.doc, c.path, c.value, err, c.want)
		}
	}
	if _, err := s.Set([]byte(`{}`), Path{}, []byte(`1`)); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty path: %v", err)
	}
}

func TestSetChained(t *testing.T) {
	// The output may be fed back as the next doc (the Setter copies its input).
	var s Setter
	doc := []byte(`{}`)
	var err error
	for i := 0; i < 50; i++ {
		doc, err = s.Set(doc, mustParse(t, "list["+strconv.Itoa(i)+"].n"), []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
	}
	v, ok := Get(doc, mustParse(t, "list[49].n"))
	if !ok || string(v) != "49" {
		t.Fatalf("Get = %s %v; doc %s", v, ok, doc)
	}
}

func TestGet(t *testing.T) {
	doc := []byte(`{"a":{"b":[10,{"c":"x"}],"1":"one"},"s":"str","n":null}`)
	cases := []struct {
		path, want string
		found      bool
	}{
		{"a.b[0]", "10", true},
		{"a.b[1].c", `"x"`, true},
		{"a.b", `[10,{"c":"x"}]`, true},
		{"a[1]", `"one"`, true},
		{"n", `null`, true},
		{"a.b[2]", "", false},
		{"a.b.c", "", false},
		{"s.x", "", false},
		{"n.x", "", false},
		{"zz", "", false},
	}
	for _, c := range cases {
		v, ok := Get(doc, mustParse(t, c.path))
		if ok != c.found || string(v) != c.want {
			t.Errorf("Get(%s) = %s, %v; want %s, %v", c.path, v, ok, c.want, c.found)
		}
	}
	if _, ok := Get([]byte(`{`), mustParse(t, "a")); ok {
		t.Error("Get on bad JSON found a value")
	}
}

var doc1KB = func() []byte {
	var b strings.Builder
	b.WriteString(`{"a":{"b":[1,2,3],"c":"hello"}`)
	for i := 0; b.Len() < 1100; i++ {
		b.WriteString(`,"field` + strconv.Itoa(i) + `":{"name":"value number ` + strconv.Itoa(i) + `","n":` + strconv.Itoa(i*7) + `}`)
	}
	b.WriteString(`}`)
	return []byte(b.String())
}()

func TestSetNoAllocs(t *testing.T) {
	var s Setter
	p := mustParse(t, "a.b[1]")
	value := []byte(`20`)
	for i := 0; i < 3; i++ {
		if _, err := s.Set(doc1KB, p, value); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.Set(doc1KB, p, value); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Set on an existing path allocates %v times per call", allocs)
	}
	got, _ := s.Set(doc1KB, p, value)
	if v, _ := Get(got, p); string(v) != "20" {
		t.Errorf("patched value = %s", v)
	}
}

func BenchmarkSetSmall(b *testing.B) {
	var s Setter
	doc := []byte(`{"name":"Alice","age":32,"address":{"city":"A"}}`)
	p := mustParse(b, "address.city")
	value := []byte(`"Berlin"`)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := s.Set(doc, p, value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet1KB(b *testing.B) {
	var s Setter
	p := mustParse(b, "a.b[1]")
	value := []byte(`20`)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc1KB)))
	for b.Loop() {
		if _, err := s.Set(doc1KB, p, value); err != nil {
			b.Fatal(err)
		}
	}
}

// refSet is the plain reference: encoding/json into map[string]any / []any,
// deepstream's setValue walk, then json.Marshal.
func refSet(doc []byte, p Path, value []byte) ([]byte, error) {
	root, err := decode(doc)
	if err != nil {
		return nil, ErrBadJSON
	}
	var val any
	del := value == nil
	if !del {
		if val, err = decode(value); err != nil {
			return nil, ErrBadJSON
		}
	}
	switch root.(type) {
	case map[string]any, []any:
	default:
		return nil, ErrNotContainer
	}
	root, err = refPut(root, p.Tokens, val, del)
	if err != nil {
		return nil, err
	}
	return json.Marshal(root)
}

// refPut sets toks in node (an object or array) and returns the node, which
// changes identity when an array grows.
func refPut(node any, toks []Token, val any, del bool) (any, error) {
	tok := toks[0]
	last := len(toks) == 1
	switch n := node.(type) {
	case map[string]any:
		if last {
			if del {
				delete(n, tok.Key)
			} else {
				n[tok.Key] = val
			}
			return n, nil
		}
		child, ok := n[tok.Key]
		if !ok {
			child = newNode(toks[1])
		}
		child, err := refChild(child, toks[1:], val, del)
		if err != nil {
			return nil, err
		}
		n[tok.Key] = child
		return n, nil
	case []any:
		if !tok.IsIndex {
			return nil, ErrKeyOnArray
		}
		var child any
		exists := tok.Index < len(n)
		if exists {
			child = n[tok.Index]
		}
		for len(n) <= tok.Index {
			n = append(n, nil)
		}
		if last {
			if del {
				n[tok.Index] = nil
			} else {
				n[tok.Index] = val
			}
			return n, nil
		}
		if !exists {
			child = newNode(toks[1])
		}
		child, err := refChild(child, toks[1:], val, del)
		if err != nil {
			return nil, err
		}
		n[tok.Index] = child
		return n, nil
	}
	return nil, ErrNotContainer
}

func refChild(child any, toks []Token, val any, del bool) (any, error) {
	switch child.(type) {
	case map[string]any, []any:
		return refPut(child, toks, val, del)
	}
	return nil, ErrNotContainer
}

func newNode(next Token) any {
	if next.IsIndex {
		return []any{}
	}
	return map[string]any{}
}

// FuzzSet compares Setter.Set with refSet. Documents the two decoders read
// differently (duplicate keys, invalid UTF-8, nesting limits) are skipped.
func FuzzSet(f *testing.F) {
	seeds := []struct{ doc, path, value string }{
		{`{}`, "age", `33`},
		{`{"address":{"city":"A"}}`, "address.city", `"B"`},
		{`{"tags":["x"]}`, "tags[3]", `"y"`},
		{`{}`, "a[1].b", `true`},
		{`{}`, "a.0.b", `[1,{"z":null}]`},
		{`{"a":{"x":1,"y":2}}`, "a.x", ``},
		{`{"a":[1,2]}`, "a[0]", ``},
		{`[1,2,3]`, "[1]", `{"k":[]}`},
		{`{"a":"s"}`, "a.b", `1`},
		{`{"a":[1]}`, "a.b", `1`},
		{`{"a\u0062":1,"n":1.5e3}`, "ab", `"\u00e9"`},
		{string(doc1KB), "a.b[1]", `20`},
	}
	for _, s := range seeds {
		f.Add(s.doc, s.path, s.value, s.value == "", uint16(len(s.doc)/2))
	}
	var s Setter
	f.Fuzz(func(t *testing.T, doc, path, value string, del bool, cut uint16) {
		// Valid input split at a random point: each half must be handled
		// without panicking (mostly rejected as bad JSON).
		k := int(cut) % (len(doc) + 1)
		p, perr := Parse(path)
		if perr != nil {
			return
		}
		var v []byte
		if !del {
			v = []byte(value)
		}
		s.Set([]byte(doc[:k]), p, v)
		s.Set([]byte(doc[k:]), p, v)

		if !utf8.ValidString(doc) || !utf8.ValidString(value) {
			s.Set([]byte(doc), p, v)
			return
		}
		// Skip documents the two decoders read differently.
		norm, err := s.Set([]byte(doc), Path{Tokens: []Token{{Key: "\x00probe"}}}, nil)
		if err != nil {
			s.Set([]byte(doc), p, v)
			return
		}
		if d, err := decode([]byte(doc)); err != nil || !reflect.DeepEqual(d, mustDecode(t, norm)) {
			s.Set([]byte(doc), p, v)
			return
		}
		got, err := s.Set([]byte(doc), p, v)
		want, rerr := refSet([]byte(doc), p, v)
		if (err == nil) != (rerr == nil) {
			if errors.Is(err, ErrBadJSON) && !del {
				if _, derr := decode(v); derr == nil {
					return // fastjson's nesting limit on the value
				}
			}
			t.Fatalf("Set(%q, %q, %q) err=%v, ref err=%v (got %s, want %s)", doc, path, v, err, rerr, got, want)
		}
		if err != nil {
			if !errors.Is(err, rerr) {
				t.Fatalf("Set(%q, %q, %q) err=%v, ref err=%v", doc, path, v, err, rerr)
			}
			return
		}
		if !sameJSON(t, got, want) {
			t.Fatalf("Set(%q, %q, %q) = %s, reference %s", doc, path, v, got, want)
		}
	})
}

func mustDecode(t *testing.T, b []byte) any {
	v, err := decode(b)
	if err != nil {
		t.Fatalf("Setter produced invalid JSON %q: %v", b, err)
	}
	return v
}

// BenchmarkSet1KBTrusted is the B.3 case without validating the document
// (the record owner's canonical bytes are already valid).
func BenchmarkSet1KBTrusted(b *testing.B) {
	var s Setter
	p := mustParse(b, "a.b[1]")
	value := []byte(`20`)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc1KB)))
	for b.Loop() {
		if _, err := s.SetTrusted(doc1KB, p, value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	var p Path
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseInto(&p, "address.lines[2].city"); err != nil {
			b.Fatal(err)
		}
	}
}
