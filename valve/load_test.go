package valve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustLoad(t testing.TB, path string) *Permissions {
	t.Helper()
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func check(t testing.TB, p *Permissions, req *Request, lookup Lookup) (bool, error) {
	t.Helper()
	return p.Check(req, lookup)
}

func TestLoadOpen(t *testing.T) {
	p := mustLoad(t, "testdata/open.yml")
	if p.MaxRuleIterations() != 3 {
		t.Fatalf("MaxRuleIterations = %d, want 3", p.MaxRuleIterations())
	}
	for s := Section(0); s < numSections; s++ {
		for _, rt := range sectionRules[s] {
			ok, err := p.Check(&Request{Section: s, Type: rt, Name: "any/thing"}, nil)
			if !ok || err != nil {
				t.Errorf("%s %s: got %v %v, want allowed", s, rt, ok, err)
			}
		}
	}
	// A rule type the section does not define is denied, not an error.
	ok, err := p.Check(&Request{Section: SectionPresence, Type: Write, Name: "x"}, nil)
	if ok || err != nil {
		t.Errorf("undefined rule type: got %v %v, want denied", ok, err)
	}
}

func TestParseWithOptions(t *testing.T) {
	data, err := os.ReadFile("testdata/open.yml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseWithOptions(data, "open.yml", Options{MaxRuleIterations: 7})
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxRuleIterations() != 7 {
		t.Fatalf("MaxRuleIterations = %d", p.MaxRuleIterations())
	}
}

func TestLoadComplex(t *testing.T) {
	p := mustLoad(t, "testdata/complex.json")
	alice := &User{ID: "alice", Authenticated: true}
	admin := &User{ID: "root", Authenticated: true, Data: []byte(`{"role":"admin","roles":["user","admin"]}`)}
	items := map[string]string{"item/apple": `{"stock":3}`, "item/pear": `{"stock":0}`}
	lookup := func(name string) ([]byte, bool, bool) {
		v, ok := items[name]
		return []byte(v), ok, true
	}
	tests := []struct {
		name    string
		req     Request
		want    bool
		wantErr bool
	}{
		{"root record", Request{Section: SectionRecord, Type: Write, Name: "x"}, true, false},
		{"forbidden read", Request{Section: SectionRecord, Type: Read, Name: "forbidden/x"}, false, false},
		{"open read", Request{Section: SectionRecord, Type: Read, Name: "open/x"}, true, false},
		{"private write own", Request{Section: SectionRecord, Type: Write, Name: "public-read-private-write/alice", User: alice, Data: []byte(`{}`)}, true, false},
		{"private write other", Request{Section: SectionRecord, Type: Write, Name: "public-read-private-write/bob", User: alice, Data: []byte(`{}`)}, false, false},
		{"private read falls to entry read", Request{Section: SectionRecord, Type: Read, Name: "public-read-private-write/bob", User: alice}, true, false},
		{"increment ok", Request{Section: SectionRecord, Type: Write, Name: "only-increment/a", Data: []byte(`{"value":3}`), OldData: []byte(`{"value":2}`)}, true, false},
		{"increment from nothing", Request{Section: SectionRecord, Type: Write, Name: "only-increment/a", Data: []byte(`{"value":1}`), OldData: []byte(`{}`)}, true, false},
		{"decrement", Request{Section: SectionRecord, Type: Write, Name: "only-increment/a", Data: []byte(`{"value":1}`), OldData: []byte(`{"value":2}`)}, false, false},
		{"delete egon", Request{Section: SectionRecord, Type: Delete, Name: "only-delete-egon-miller/Egon/Miller"}, true, false},
		{"delete other", Request{Section: SectionRecord, Type: Delete, Name: "only-delete-egon-miller/Egon/Meier"}, false, false},
		{"purchase in stock", Request{Section: SectionRecord, Type: Write, Name: "only-allows-purchase-of-products-in-stock/p1", Data: []byte(`{"itemId":"apple"}`)}, true, false},
		{"purchase out of stock", Request{Section: SectionRecord, Type: Write, Name: "only-allows-purchase-of-products-in-stock/p1", Data: []byte(`{"itemId":"pear"}`)}, false, false},
		{"purchase missing item is null -> TypeError", Request{Section: SectionRecord, Type: Write, Name: "only-allows-purchase-of-products-in-stock/p1", Data: []byte(`{"itemId":"plum"}`)}, false, true},
		{"purchase undefined item", Request{Section: SectionRecord, Type: Write, Name: "only-allows-purchase-of-products-in-stock/p1", Data: []byte(`{}`)}, false, true},
		{"admin read", Request{Section: SectionRecord, Type: Read, Name: "admin/x", User: admin}, true, false},
		{"admin write roles", Request{Section: SectionRecord, Type: Write, Name: "admin/x", User: admin, Data: []byte(`1`)}, true, false},
		{"non-admin has null user.data -> TypeError", Request{Section: SectionRecord, Type: Read, Name: "admin/x", User: alice}, false, true},
		{"event a-to-b publish A", Request{Section: SectionEvent, Type: Publish, Name: "a-to-b/x", User: &User{ID: "A"}}, true, false},
		{"event a-to-b publish B", Request{Section: SectionEvent, Type: Publish, Name: "a-to-b/x", User: &User{ID: "B"}}, false, false},
		{"event a-to-b subscribe B", Request{Section: SectionEvent, Type: Subscribe, Name: "a-to-b/x", User: &User{ID: "B"}}, true, false},
		{"news own topic", Request{Section: SectionEvent, Type: Publish, Name: "news/alice", User: alice}, true, false},
		{"news other topic", Request{Section: SectionEvent, Type: Publish, Name: "news/bob", User: alice}, false, false},
		{"news subscribe uses root", Request{Section: SectionEvent, Type: Subscribe, Name: "news/bob", User: alice}, true, false},
		{"number 11", Request{Section: SectionEvent, Type: Publish, Name: "number", Data: []byte(`11`)}, true, false},
		{"number 5", Request{Section: SectionEvent, Type: Publish, Name: "number", Data: []byte(`5`)}, false, false},
		{"number string", Request{Section: SectionEvent, Type: Publish, Name: "number", Data: []byte(`"20"`)}, false, false},
		{"place match", Request{Section: SectionEvent, Type: Publish, Name: "place/berlin", Data: []byte(`{"address":{"city":"Berlin"}}`)}, true, false},
		{"place mismatch", Request{Section: SectionEvent, Type: Publish, Name: "place/berlin", Data: []byte(`{"address":{"city":"Munich"}}`)}, false, false},
		{"place no address", Request{Section: SectionEvent, Type: Publish, Name: "place/berlin", Data: []byte(`{}`)}, false, true},
		{"rpc provide a", Request{Section: SectionRPC, Type: Provide, Name: "a-provide-b-request", User: &User{ID: "a"}}, true, false},
		{"rpc request a", Request{Section: SectionRPC, Type: RequestRule, Name: "a-provide-b-request", User: &User{ID: "a"}}, false, false},
		{"rpc request b", Request{Section: SectionRPC, Type: RequestRule, Name: "a-provide-b-request", User: &User{ID: "b"}}, true, false},
		{"rpc full data", Request{Section: SectionRPC, Type: RequestRule, Name: "only-full-user-data", Data: []byte(`{"firstname":"a","lastname":"b"}`)}, true, false},
		{"rpc partial data", Request{Section: SectionRPC, Type: RequestRule, Name: "only-full-user-data", Data: []byte(`{"firstname":1}`)}, false, false},
		{"presence", Request{Section: SectionPresence, Type: Allow, Name: "S"}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Check(&tc.req, lookup)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				var re *RuleError
				if !errors.As(err, &re) {
					t.Fatalf("error %T is not a *RuleError", err)
				}
			}
			if got != tc.want {
				t.Fatalf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

const validTail = `
event:
  "*":
    publish: true
rpc:
  "*":
    request: true
presence:
  "*":
    allow: true
`

func TestLoadRejections(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"unknown section", "record:\n  \"*\":\n    read: true\nnotify:\n  \"*\":\n    read: true\n" + validTail, `p.yml:4: unknown section "notify"`},
		{"missing section", "record:\n  \"*\":\n    read: true\nevent:\n  \"*\":\n    publish: true\n", `missing section "rpc"`},
		{"empty section", "record: {}\n" + validTail, `p.yml:1: record: section must not be empty`},
		{"section not a mapping", "record: true\n" + validTail, `p.yml:1: record: section must be a mapping`},
		{"no root entry", "record:\n  \"a/*\":\n    read: true\n" + validTail, `p.yml:1: record: section must have a "*" entry`},
		{"unknown rule type", "record:\n  \"*\":\n    read: true\n    publish: true\n" + validTail, `p.yml:4: record "*": unknown rule type "publish"`},
		{"notify rejected", "record:\n  \"*\":\n    read: true\n    notify: true\n" + validTail, `p.yml:4: record "*": unknown rule type "notify"`},
		{"leading slash", "record:\n  \"*\":\n    read: true\n  /a:\n    read: true\n" + validTail, `p.yml:4: record "/a": path must not start with /`},
		{"number rule", "record:\n  \"*\":\n    read: 1\n" + validTail, `p.yml:3: record "*" read: rule must be true, false or a string`},
		{"list rule", "record:\n  \"*\":\n    read: [a]\n" + validTail, `p.yml:3: record "*" read: rule must be true, false or a string`},
		{"arrow function", "record:\n  \"*\":\n    read: true\n  \"user/$id\":\n    write: \"() => true\"\n" + validTail, `p.yml:5: record "user/$id" write: unexpected token "=>"`},
		{"function", "record:\n  \"*\":\n    write: \"function() { return true }\"\n" + validTail, `p.yml:3: record "*" write: user functions are not supported`},
		{"new", "record:\n  \"*\":\n    write: \"new Date() > 0\"\n" + validTail, `p.yml:3: record "*" write: the new keyword is not supported`},
		{"assignment", "record:\n  \"*\":\n    write: \"data.a = 1\"\n" + validTail, `p.yml:3: record "*" write: assignments are not supported`},
		{"increment", "record:\n  \"*\":\n    write: \"data.a++\"\n" + validTail, `p.yml:3: record "*" write: unexpected token "++"`},
		{"other function", "record:\n  \"*\":\n    write: \"data.a.charAt(0) == 'a'\"\n" + validTail, `p.yml:3: record "*" write: function charAt is not supported`},
		{"global call", "record:\n  \"*\":\n    write: \"parseInt(data.a)\"\n" + validTail, `p.yml:3: record "*" write: unknown identifier parseInt`},
		{"syntax error", "record:\n  \"*\":\n    write: \"data.a ==\"\n" + validTail, `p.yml:3: record "*" write: unexpected end of rule`},
		{"unbalanced", "record:\n  \"*\":\n    write: \"(data.a\"\n" + validTail, `p.yml:3: record "*" write: unexpected end of rule`},
		{"data in read", "record:\n  \"*\":\n    read: \"data.a\"\n" + validTail, `p.yml:3: record "*" read: data is not available`},
		{"data in create", "record:\n  \"*\":\n    create: \"data.a\"\n" + validTail, `p.yml:3: record "*" create: data is not available`},
		{"oldData in publish", "record:\n  \"*\":\n    read: true\nevent:\n  \"*\":\n    publish: \"oldData.a\"\n" + strings.SplitN(validTail, "rpc:", 2)[0][0:0] + "rpc:\n  \"*\":\n    request: true\npresence:\n  \"*\":\n    allow: true\n", `p.yml:6: event "*" publish: oldData is only available`},
		{"unknown path var", "record:\n  \"*\":\n    read: true\n  \"user/$id\":\n    read: \"$name == 'x'\"\n" + validTail, `p.yml:5: record "user/$id" read: unknown path variable $name`},
		{"lookahead regex", "record:\n  \"*\":\n    read: \"user.id.match(/a(?=b)/)\"\n" + validTail, `p.yml:3: record "*" read: regular expression /a(?=b)/: lookaround is not supported`},
		{"untranslatable string regex", "record:\n  \"*\":\n    read: \"user.id.match('(?!x)')\"\n" + validTail, `p.yml:3: record "*" read: regular expression /(?!x)/: lookaround is not supported`},
		{"backreference", "record:\n  \"*\":\n    read: \"user.id.match(/(a)\\\\1/)\"\n" + validTail, `backreferences are not supported`},
		{"not yaml", "record: [\n", `p.yml: `},
		{"template literal", "record:\n  \"*\":\n    read: \"`a`\"\n" + validTail, `template literals are not supported`},
		{"bare _", "record:\n  \"*\":\n    read: \"_ == 1\"\n" + validTail, `_ can only be called`},
		{"duplicate path", "record:\n  \"*\":\n    read: true\n  \"*\":\n    read: false\n" + validTail, `p.yml:4: record "*": duplicate path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file), "p.yml")
			if err == nil {
				t.Fatalf("accepted, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadYAMLAnchorsAndMerge(t *testing.T) {
	file := `
record:
  "*": &open
    create: true
    read: true
    write: true
  "owned/$id":
    <<: *open
    write: &own "user.id === $id"
  "mirror/$id":
    read: *own
event:
  "*":
    publish: true
rpc:
  "*": { request: true }
presence:
  "*": { allow: true }
`
	p, err := Parse([]byte(file), "a.yml")
	if err != nil {
		t.Fatal(err)
	}
	u := &User{ID: "bob"}
	for _, tc := range []struct {
		rt   RuleType
		name string
		want bool
	}{{Read, "owned/alice", true}, {Create, "owned/alice", true}, {Write, "owned/alice", false}, {Write, "owned/bob", true},
		{Read, "mirror/bob", true}, {Read, "mirror/eve", false}} {
		ok, err := p.Check(&Request{Section: SectionRecord, Type: tc.rt, Name: tc.name, User: u, Data: []byte(`{}`)}, nil)
		if err != nil || ok != tc.want {
			t.Errorf("%s %s: %v %v, want %v", tc.rt, tc.name, ok, err, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yml")); err == nil {
		t.Fatal("want error for a missing file")
	}
}
