package valve

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// semEnv is the environment of the semantics table.
var semEnv = env{
	user:    User{ID: "alice", Authenticated: true, Data: []byte(`{"role":"admin","roles":["a","admin"],"n":5}`)},
	data:    []byte(`{"owner":"alice","price":42,"s":"Hello World","e":"","z":0,"arr":[1,"2",null,[3,4]],"obj":{"k":"v"},"t":true,"nul":null,"num":"12","u":"ab😀c","sp":"  x \u00a0", "dup":1, "dup":2, "k\u0065y":"v\"\n\u00e9\ud83d\ude00", "deep":{"a":[{"b":{"c":"[}\"{"}}]} }`),
	oldData: []byte(`{"owner":"bob","price":40}`),
	recs:    map[string]string{"users/alice": `{"role":"admin"}`, "n": `7`},
	now:     1700000000000,
	action:  "UPDATE",
	id:      "alice",
}

// TestSemantics checks every operator, conversion and method against the
// expected JavaScript result, and double-checks the expectation with goja.
func TestSemantics(t *testing.T) {
	h := newJSHarness(t)
	const E = "error"
	tests := []struct {
		rule string
		want string // "typeof String(value)" or "error"
	}{
		// literals
		{`1`, "number 1"}, {`1.5e3`, "number 1500"}, {`0x1F`, "number 31"}, {`.5`, "number 0.5"},
		{`'a\'b'`, `string a'b`}, {`"a\"b"`, `string a"b`}, {`'\x41\u0042\u{43}\n'`, "string ABC\n"},
		{`true`, "boolean true"}, {`null`, "object null"}, {`undefined`, "undefined undefined"},
		{`NaN`, "number NaN"}, {`Infinity`, "number Infinity"}, {`/a+b/gi`, "object /a+b/gi"},
		// variables
		{`user.id`, "string alice"}, {`user.isAuthenticated`, "boolean true"}, {`user.data.role`, "string admin"},
		{`user`, "object [object Object]"}, {`user.nope`, "undefined undefined"},
		{`data.owner`, "string alice"}, {`oldData.owner`, "string bob"}, {`now`, "number 1700000000000"},
		{`action`, "string UPDATE"}, {`$id`, "string alice"}, {`data.nope`, "undefined undefined"},
		{`data['owner']`, "string alice"}, {`data.arr[1]`, "string 2"}, {`data.arr['1']`, "string 2"},
		{`data.arr[3][1]`, "number 4"}, {`data.arr.length`, "number 4"}, {`data.s.length`, "number 11"},
		{`data.u.length`, "number 5"}, {`data.s[0]`, "string H"}, {`data.arr[9]`, "undefined undefined"},
		{`data.obj`, "object [object Object]"}, {`data.arr`, "object 1,2,,3,4"}, {`data.price.x`, "undefined undefined"},
		// TypeErrors
		{`data.nope.x`, E}, {`data.nul.x`, E}, {`user.nope.x`, E}, {`data.nope.toLowerCase()`, E},
		{`data.price.toLowerCase()`, E}, {`data.obj.trim()`, E}, {`data.t.startsWith('t')`, E},
		{`'abc'.startsWith(/a/)`, E}, {`'abc'.includes(/a/)`, E}, {`_(1)`, E},
		// unary
		{`!data.owner`, "boolean false"}, {`!data.e`, "boolean true"}, {`-data.num`, "number -12"},
		{`+data.num`, "number 12"}, {`+'0x10'`, "number 16"}, {`+' 1 '`, "number 1"}, {`+'1a'`, "number NaN"},
		{`+''`, "number 0"}, {`+data.arr`, "number NaN"}, {`+[]`, "number 0"}, {`+['7']`, "number 7"}, {`[1, 'a', null] + ''`, "string 1,a,"},
		{`['admin', 'mod'].includes(user.data.role)`, "boolean true"}, {`[user.id, $id].indexOf('alice')`, "number 0"},
		{`[] == []`, "boolean false"}, {`[[1, 2], 3].length`, "number 2"}, {`[1,][0]`, "number 1"}, {`[] == ''`, "boolean true"},
		{`typeof data`, "string object"}, {`typeof data.nope`, "string undefined"}, {`typeof data.nul`, "string object"},
		{`typeof data.price`, "string number"}, {`typeof data.s`, "string string"}, {`typeof data.t`, "string boolean"},
		{`typeof /a/`, "string object"},
		// arithmetic and concatenation
		{`data.price + 1`, "number 43"}, {`data.price + '1'`, "string 421"}, {`'a' + null`, "string anull"},
		{`'a' + undefined`, "string aundefined"}, {`1 + true`, "number 2"}, {`1 + null`, "number 1"},
		{`1 + undefined`, "number NaN"}, {`'x' + data.arr`, "string x1,2,,3,4"}, {`'x' + data.obj`, "string x[object Object]"},
		{`data.num - 2`, "number 10"}, {`'3' * '4'`, "number 12"}, {`7 / 2`, "number 3.5"}, {`1 / 0`, "number Infinity"},
		{`-7 % 3`, "number -1"}, {`7 % -3`, "number 1"}, {`5.5 % 2`, "number 1.5"}, {`0.1 + 0.2`, "number 0.30000000000000004"},
		{`1e21 + ''`, "string 1e+21"}, {`1e-7 + ''`, "string 1e-7"}, {`123456789 * 1000 + ''`, "string 123456789000"},
		{`-0 + ''`, "string 0"}, {`2 - 3 - 4`, "number -5"}, {`2 + 3 * 4`, "number 14"}, {`(2 + 3) * 4`, "number 20"},
		{`'a' + 1 + 2`, "string a12"}, {`1 + 2 + 'a'`, "string 3a"}, {`/a/ + 'x'`, "string /a/x"},
		// relational
		{`data.price < 100`, "boolean true"}, {`'10' < '9'`, "boolean true"}, {`'10' < 9`, "boolean false"},
		{`null < 1`, "boolean true"}, {`undefined < 1`, "boolean false"}, {`undefined >= 1`, "boolean false"},
		{`NaN <= NaN`, "boolean false"}, {`'a' < 'b'`, "boolean true"}, {`'B' < 'a'`, "boolean true"},
		{`data.arr < 2`, "boolean false"}, {`true > 0`, "boolean true"}, {`null >= 0`, "boolean true"},
		{`'abc' >= 'abc'`, "boolean true"}, {`1 <= 1`, "boolean true"}, {`2 > 1`, "boolean true"},
		// equality
		{`1 == '1'`, "boolean true"}, {`1 === '1'`, "boolean false"}, {`null == undefined`, "boolean true"},
		{`null === undefined`, "boolean false"}, {`null == 0`, "boolean false"}, {`'' == 0`, "boolean true"},
		{`'0' == false`, "boolean true"}, {`true == 1`, "boolean true"}, {`true == '1'`, "boolean true"},
		{`NaN == NaN`, "boolean false"}, {`NaN != NaN`, "boolean true"}, {`data.obj == data.obj`, "boolean true"},
		{`data.obj === data.obj`, "boolean true"}, {`data == oldData`, "boolean false"}, {`data.obj == '[object Object]'`, "boolean true"},
		{`data.arr[3] == '3,4'`, "boolean true"}, {`user == user`, "boolean true"}, {`user.data === user.data`, "boolean true"},
		{`/a/ == /a/`, "boolean false"}, {`/a/ == '/a/'`, "boolean true"}, {`data.nope === undefined`, "boolean true"},
		{`data.nul === null`, "boolean true"}, {`0 === -0`, "boolean true"}, {`data.z !== 0`, "boolean false"},
		{`_('users/' + user.id) === _('users/alice')`, "boolean true"},
		// logical and conditional
		{`data.owner && data.price`, "number 42"}, {`data.e && data.price`, "string "}, {`data.e || data.price`, "number 42"},
		{`data.z || 'dflt'`, "string dflt"}, {`data.nope || data.nul`, "object null"}, {`false || data.nope.x`, E},
		{`true || data.nope.x`, "boolean true"}, {`false && data.nope.x`, "boolean false"},
		{`data.t ? 'y' : 'n'`, "string y"}, {`data.z ? 'y' : 'n'`, "string n"}, {`data.z ? 1 : data.t ? 2 : 3`, "number 2"},
		{`true ? 1 : data.nope.x`, "number 1"}, {`1 < 2 && 2 < 3 || false`, "boolean true"}, {`!true === false`, "boolean true"},
		// string methods
		{`data.s.startsWith('Hello')`, "boolean true"}, {`data.s.startsWith('World', 6)`, "boolean true"},
		{`data.s.startsWith('hello')`, "boolean false"}, {`data.s.endsWith('World')`, "boolean true"},
		{`data.s.endsWith('Hello', 5)`, "boolean true"}, {`data.s.includes('o W')`, "boolean true"},
		{`data.s.includes('o', 8)`, "boolean false"}, {`data.s.indexOf('o')`, "number 4"}, {`data.s.indexOf('o', 5)`, "number 7"},
		{`data.s.indexOf('zz')`, "number -1"}, {`data.s.indexOf('', 99)`, "number 11"}, {`data.u.indexOf('c')`, "number 4"},
		{`data.u.includes('😀')`, "boolean true"}, {`'a1'.startsWith(1, 1)`, "boolean true"}, {`'null'.startsWith(null)`, "boolean true"},
		{`'undefined'.includes()`, "boolean true"}, {`data.s.toUpperCase()`, "string HELLO WORLD"}, {`data.s.toLowerCase()`, "string hello world"},
		{`data.sp.trim()`, "string x"}, {`'abc'.indexOf('c', -5)`, "number 2"}, {`data.s.startsWith('', 50)`, "boolean true"},
		{`data.s.match(/o/g)`, "object o,o"}, {`data.s.match(/(W)(x)?/)`, "object W,W,"}, {`data.s.match(/z/)`, "object null"},
		{`data.s.match(/world/i)[0]`, "string World"}, {`data.s.match('l+')[0]`, "string ll"}, {`data.s.match(/o/g).length`, "number 2"},
		{`data.s.match(/^hello/i) !== null`, "boolean true"}, {`'a.b'.match(/a.b/)[0]`, "string a.b"}, {`'a\nb'.match(/a.b/)`, "object null"},
		{`'a\nb'.match(/a.b/s)[0]`, "string a\nb"}, {`'x\ny'.match(/^y$/m)[0]`, "string y"}, {`'x\ny'.match(/^y$/)`, "object null"},
		{`'a b'.match(/\s/)[0]`, "string  "}, {`'ab12'.match(/\d+/)[0]`, "string 12"}, {`data.s.match()[0]`, "string "},
		// array methods
		{`data.arr.includes(1)`, "boolean true"}, {`data.arr.includes('1')`, "boolean false"}, {`data.arr.indexOf('2')`, "number 1"},
		{`data.arr.indexOf(null)`, "number 2"}, {`data.arr.includes(null, 3)`, "boolean false"}, {`data.arr.indexOf(1, -4)`, "number 0"},
		{`user.data.roles.includes('admin')`, "boolean true"}, {`data.arr.startsWith(1)`, E}, {`data.s.match(/o/g).includes('o')`, "boolean true"},
		// cross-record references
		{`_('users/alice').role`, "string admin"}, {`_('users/' + $id).role == 'admin'`, "boolean true"},
		{`_('missing')`, "object null"}, {`_('missing').x`, E}, {`_('users/' + data.nope)`, "undefined undefined"},
		{`_(data.nope)`, "undefined undefined"}, {`_('n') + 1`, "number 8"},
		// JSON decoding: duplicate keys (last wins), escapes, nesting
		{`data.dup`, "number 2"}, {`data.key`, "string v\"\né😀"}, {`data.key.length`, "number 6"},
		{`data.deep.a[0].b.c`, "string [}\"{"}, {`data.deep.a.length`, "number 1"}, {`data.deep.a[1]`, "undefined undefined"},
		// comments and semicolons
		{`1 /* one */ + 1 // two`, "number 2"}, {`true;`, "boolean true"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			js := h.eval(tc.rule, semEnv)
			jsStr := js.typ + " " + js.str
			if js.err {
				jsStr = E
			}
			got, err := valveEval(tc.rule, semEnv)
			if err != nil {
				t.Fatalf("compile error: %v", err)
			}
			gotStr := got.typ + " " + got.str
			if got.err {
				gotStr = E
			}
			if jsStr != tc.want {
				t.Errorf("test expectation %q disagrees with goja %q", tc.want, jsStr)
			}
			if gotStr != tc.want {
				t.Errorf("valve %q (%s), want %q", gotStr, got.msg, tc.want)
			}
		})
	}
}

// testPerms builds a permission file with record entries from path → rules.
func testPerms(t testing.TB, record string) *Permissions {
	t.Helper()
	p, err := Parse([]byte("record:\n"+record+validTail), "t.yml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPathMatching(t *testing.T) {
	p := testPerms(t, `
  "*":
    read: "'root'"
  "user/*":
    read: "'user-star'"
  "user/$id":
    read: "'user-id:' + $id"
  "user/$id/settings":
    read: "'settings:' + $id"
  "user/admin":
    read: false
  "a/$x/b/$y":
    read: "$x + '|' + $y"
  "v1.0/*":
    read: "'dot'"
  "writeonly/*":
    write: true
`)
	tests := []struct {
		name string
		want string // value of the winning rule, "" = denied
	}{
		{"anything", "root"},
		{"user/alice", "user-id:alice"},       // "user/$id" (8) beats "user/*" (6)
		{"user/alice/x", "user-star"},         // $id does not cross "/"
		{"user/bob/settings", "settings:bob"}, // longest
		{"user/admin", "user-id:admin"},       // "user/admin" (10) is longer than "user/$id" (8)... see below
		{"user/", "user-star"},                // $id needs one char
		{"a/1/b/2", "1|2"},
		{"a/1/c/2", "root"},
		{"v1x0/z", "dot"}, // "." in a path is a regex wildcard, as in deepstream
		{"v1.0/z", "dot"},
		{"writeonly/x", "root"},               // the longer entry does not define read
		{"user/alice\nx", "user-id:alice\nx"}, // [^/] matches a newline, "." does not
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := p.choose(SectionRecord, Read, tc.name)
			got := ""
			if i != noEntry {
				e := p.sections[SectionRecord][i]
				c := &ctx{}
				c.setup(&Request{Name: tc.name}, nil, e)
				if e.rules[Read].constant {
					got = fmt.Sprint(e.rules[Read].allow)
				} else {
					v, err := e.rules[Read].fn(c)
					if err != nil {
						t.Fatal(err)
					}
					got = toString(v)
				}
			}
			want := tc.want
			if tc.name == "user/admin" {
				want = "false" // "user/admin" is the longest path string
			}
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			// The cached choice must give the same answer.
			if j := p.choose(SectionRecord, Read, tc.name); j != i {
				t.Fatalf("cached choice %d != %d", j, i)
			}
		})
	}
}

func TestNoMatchDenies(t *testing.T) {
	p := testPerms(t, `
  "*":
    write: true
  "a/*":
    read: true
`)
	ok, err := p.Check(&Request{Section: SectionRecord, Type: Read, Name: "b"}, nil)
	if ok || err != nil {
		t.Fatalf("got %v %v, want denied", ok, err)
	}
	ok, err = p.Check(&Request{Section: SectionRecord, Type: Read, Name: "a/b"}, nil)
	if !ok || err != nil {
		t.Fatalf("got %v %v, want allowed", ok, err)
	}
}

func TestCrossRecordNeedRecords(t *testing.T) {
	p := testPerms(t, `
  "*":
    write: "_('users/' + user.id).role === 'admin' && _('config').open && _('x/' + data.nope) === undefined"
`)
	store := map[string]string{"users/alice": `{"role":"admin"}`, "config": `{"open":true}`}
	loaded := map[string]bool{}
	lookup := func(name string) ([]byte, bool, bool) {
		if !loaded[name] {
			return nil, false, false
		}
		v, ok := store[name]
		return []byte(v), ok, true
	}
	req := &Request{Section: SectionRecord, Type: Write, Name: "r", User: &User{ID: "alice"}, Data: []byte(`{}`)}
	iterations := 0
	for {
		iterations++
		if iterations > p.MaxRuleIterations() {
			t.Fatal("exceeded MaxRuleIterations")
		}
		ok, err := p.Check(req, lookup)
		var need *NeedRecords
		if errors.As(err, &need) {
			if ok {
				t.Fatal("allowed together with NeedRecords")
			}
			if iterations == 1 && strings.Join(need.Names, ",") != "users/alice,config" {
				t.Fatalf("first iteration needs %v", need.Names)
			}
			for _, n := range need.Names {
				loaded[n] = true
			}
			continue
		}
		if err != nil || !ok {
			t.Fatalf("got %v %v, want allowed", ok, err)
		}
		break
	}
	if iterations != 2 {
		t.Fatalf("took %d iterations, want 2 (all needs reported at once)", iterations)
	}
	// A record that is loaded but does not exist is null: property access throws.
	store2 := map[string]string{}
	ok, err := p.Check(req, func(name string) ([]byte, bool, bool) { v, ok := store2[name]; return []byte(v), ok, true })
	var re *RuleError
	if ok || !errors.As(err, &re) || !strings.Contains(err.Error(), "Cannot read properties of null") {
		t.Fatalf("missing record: got %v %v", ok, err)
	}
	if (&NeedRecords{Names: []string{"a", "b"}}).Error() != "valve: records not loaded: a, b" {
		t.Fatal("NeedRecords.Error")
	}
}

func TestRuleErrors(t *testing.T) {
	p := testPerms(t, `
  "*":
    read: "user.data.role === 'admin'"
    write: "data.name.toLowerCase() === 'x'"
`)
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Section: SectionRecord, Type: Read, Name: "a", User: &User{ID: "u"}}, "Cannot read properties of null (reading 'role')"},
		{Request{Section: SectionRecord, Type: Write, Name: "a", Data: []byte(`{}`)}, "Cannot read properties of undefined (reading 'toLowerCase')"},
		{Request{Section: SectionRecord, Type: Write, Name: "a", Data: []byte(`{"name":1}`)}, "1.toLowerCase is not a function"},
		{Request{Section: SectionRecord, Type: Write, Name: "a", Data: []byte(`{bad`)}, "invalid data JSON"},
		{Request{Section: SectionRecord, Type: Write, Name: "a"}, "Cannot read properties of undefined (reading 'name')"},
	} {
		ok, err := p.Check(&tc.req, nil)
		var re *RuleError
		if ok || !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v %v, want error containing %q", tc.req, ok, err, tc.want)
		}
		if re != nil && (re.Path != "*" || re.Section != SectionRecord) {
			t.Errorf("RuleError fields %+v", re)
		}
	}
	if _, err := p.Check(&Request{Section: 9}, nil); err == nil {
		t.Error("invalid section accepted")
	}
}

func TestStringers(t *testing.T) {
	if SectionRPC.String() != "rpc" || RequestRule.String() != "request" || Allow.String() != "allow" {
		t.Fatal("names")
	}
	if Section(9).String() != "Section(9)" || RuleType(99).String() != "RuleType(99)" {
		t.Fatal("out of range names")
	}
}

func TestMalformedJSON(t *testing.T) {
	p := testPerms(t, `
  "*":
    write: "data.a.b == 1"
`)
	for _, doc := range []string{`{bad`, `{"a" {"b":1}}`, `{"a":{"b" 1}}`, `{"a":{"b":1,}}`, `{"a":{"b":1}`, `{"a":{"b":01}}`, `{"a":{"b":"\x"}}`, `[1] [2]`} {
		ok, err := p.Check(&Request{Section: SectionRecord, Type: Write, Name: "x", Data: []byte(doc)}, nil)
		if ok || err == nil {
			t.Errorf("%s: got %v %v, want a rule error", doc, ok, err)
		}
	}
	ok, err := p.Check(&Request{Section: SectionRecord, Type: Write, Name: "x", Data: []byte(" {\"a\" : { \"b\" : 1 } }\n")}, nil)
	if !ok || err != nil {
		t.Errorf("whitespace: %v %v", ok, err)
	}
}
