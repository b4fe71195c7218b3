package valve

import (
	"strings"
	"testing"
)

// fuzzSeedRules are valid rules covering the grammar.
var fuzzSeedRules = []string{
	`user.id == data.owner && data.price < 100`,
	`_('users/' + user.id).role === 'admin'`,
	`typeof data.s === 'string' && data.s.startsWith('He', 0)`,
	`data.s.match(/o(r)?/gi) !== null ? data.arr.length : -1`,
	`!oldData.price || data.price > oldData.price`,
	`$id.toLowerCase().trim().endsWith("ce") || now % 2 == 0`,
	`data.arr.includes(1) && data.arr.indexOf('2') === 1`,
	`'a\u0062\x63' + 1.5e3 + null + undefined + NaN + Infinity`,
	`(data.obj['k'] || 'x').includes(action) /* c */ // d`,
	`+data.num - -1 * 2 / 3 != '4'`,
}

// prototypeNames are properties JavaScript inherits from the String, Array
// and Object prototypes; valve treats them as absent (rules can only call
// the allowed methods), so fuzzed rules that read them are not compared.
var prototypeNames = []string{"constructor", "proto", "toString", "valueOf", "hasOwnProperty", "isPrototypeOf",
	"propertyIsEnumerable", "toLocale", "charAt", "charCodeAt", "codePointAt", "concat", "slice", "substr", "split",
	"replace", "search", "repeat", "pad", "normalize", "at", "trim", "startsWith", "endsWith", "includes", "indexOf",
	"lastIndexOf", "match", "toUpperCase", "toLowerCase", "join", "push", "pop", "map", "filter", "reduce", "every",
	"some", "find", "sort", "reverse", "keys", "values", "entries", "fill", "flat", "copyWithin", "shift", "unshift",
	"splice", "forEach", "length", "localeCompare", "big", "anchor", "blink", "bold", "fixed", "font", "italics",
	"link", "small", "strike", "sub", "sup", "raw", "isWellFormed", "toWellFormed", "findLast", "toSorted",
	"toReversed", "toSpliced", "with", "group", "source", "flags", "global", "lastIndex", "index", "input",
	"ignoreCase", "multiline", "sticky", "unicode", "dotAll", "hasIndices", "exec", "test", "compile"}

// comparable reports whether a fuzzed rule is inside the domain where valve
// promises goja's result: no reads of inherited prototype properties (other
// than as allowed method calls) and no chained relational operators, which
// goja evaluates wrongly (1 > 2 >= 0 is false in goja, true in V8).
func comparable(rule string) bool {
	rel := strings.Count(rule, "<") + strings.Count(rule, ">")
	if rel > 1 {
		return false
	}
	for _, n := range prototypeNames {
		i := 0
		for {
			j := strings.Index(rule[i:], n)
			if j < 0 {
				break
			}
			k := i + j + len(n)
			if !allowedMethods[n] || k >= len(rule) || rule[k] != '(' {
				return false
			}
			i = k
		}
	}
	return true
}

// FuzzRules runs fuzzed rule text through valve and goja and requires the
// same outcome for every rule valve accepts.
func FuzzRules(f *testing.F) {
	for _, r := range fuzzSeedRules {
		f.Add(r)
	}
	h := newJSHarness(f)
	envs := []env{semEnv, {user: User{ID: "bob"}, data: []byte(`[1,"a",{"b":null}]`), recs: map[string]string{}, id: "1"}}
	f.Fuzz(func(t *testing.T, rule string) {
		if len(rule) > 400 {
			return
		}
		if _, err := valveEval(rule, envs[0]); err != nil || !comparable(rule) {
			return // rejected at load time (the error path is FuzzParse's job)
		}
		for _, e := range envs {
			got, _ := valveEval(rule, e)
			want := h.eval(rule, e)
			if want.err && strings.Contains(want.msg, "SyntaxError") {
				t.Fatalf("valve accepted %q, which is a JavaScript syntax error: %s", rule, want.msg)
			}
			if !sameOutcome(got, want) {
				t.Fatalf("rule %q\n  valve: %v\n  goja:  %v", rule, got, want)
			}
		}
	})
}

// FuzzParse feeds the rule parser valid rules split at a fuzzed point and
// recombined; it must never panic, only return errors.
func FuzzParse(f *testing.F) {
	for i, r := range fuzzSeedRules {
		f.Add(r, uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, rule string, cut uint16) {
		at := 0
		if len(rule) > 0 {
			at = int(cut) % (len(rule) + 1)
		}
		head, tail := rule[:at], rule[at:]
		for _, src := range []string{rule, head, tail, tail + head, head + "(" + tail, head + "'" + tail, head + "/" + tail, head + "." + tail} {
			for _, rt := range []RuleType{Read, Write, Publish} {
				r, err := compileRule(src, rt, []string{"$id"})
				if err != nil {
					continue
				}
				// Whatever compiles must evaluate without panicking.
				c := &ctx{}
				m, vars, _ := compilePath("items/$id")
				c.setup(&Request{Name: "items/x", Data: []byte(`{"a":[1,{"b":"c"}]}`), OldData: []byte(`"s"`)}, nil, &entry{m: m, vars: vars})
				_, _ = r.fn(c)
			}
		}
	})
}

// FuzzLoad feeds the file loader a valid permission file split at a fuzzed
// point; it must never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("record:\n  \"*\":\n    read: true\n  \"user/$id\":\n    write: \"user.id === $id\"\n"+validTail), uint16(17))
	f.Add([]byte(`{"record":{"*":{"read":"true"}},"event":{"*":{"publish":true}},"rpc":{"*":{"request":true}},"presence":{"*":{"allow":true}}}`), uint16(40))
	f.Fuzz(func(t *testing.T, file []byte, cut uint16) {
		at := 0
		if len(file) > 0 {
			at = int(cut) % (len(file) + 1)
		}
		for _, b := range [][]byte{file, file[:at], file[at:], append(append([]byte{}, file[at:]...), file[:at]...)} {
			p, err := Parse(b, "f.yml")
			if err != nil {
				if !strings.HasPrefix(err.Error(), "f.yml") {
					t.Fatalf("error %q does not name the file", err)
				}
				continue
			}
			for s := Section(0); s < numSections; s++ {
				for _, rt := range sectionRules[s] {
					_, _ = p.Check(&Request{Section: s, Type: rt, Name: "user/x", Data: []byte(`{}`)}, nil)
				}
			}
		}
	})
}
