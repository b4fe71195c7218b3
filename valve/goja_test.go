package valve

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// jsHarness evaluates rules with goja exactly as deepstream does
// (new Function('_','user','data','oldData','now','action',...pathVars,
// 'return <rule>;')), to prove valve's semantics.
type jsHarness struct {
	rt  *goja.Runtime
	run goja.Callable
}

const harnessJS = `(function(rule, uid, auth, userJSON, dataJSON, oldJSON, recs, now, action, id) {
  var fn = new Function('_', 'user', 'data', 'oldData', 'now', 'action', '$id', 'return ' + rule + ';');
  var user = {isAuthenticated: auth, id: uid, data: userJSON === null ? null : JSON.parse(userJSON)};
  var data = dataJSON === null ? undefined : JSON.parse(dataJSON);
  var oldData = oldJSON === null ? undefined : JSON.parse(oldJSON);
  var cache = {};
  var _ = function(name) {
    var t = typeof name;
    if (t !== 'undefined' && t !== 'string') { throw new Error('crossreference got unsupported type ' + t); }
    if (t === 'undefined' || name.indexOf('undefined') !== -1) { return undefined; }
    if (!(name in recs)) { return null; }
    if (!(name in cache)) { cache[name] = JSON.parse(recs[name]); }
    return cache[name];
  };
  var r = fn(_, user, data, oldData, now, action, id);
  return [typeof r, String(r), !!r];
})`

func newJSHarness(t testing.TB) *jsHarness {
	rt := goja.New()
	v, err := rt.RunString(harnessJS)
	if err != nil {
		t.Fatal(err)
	}
	fn, ok := goja.AssertFunction(v)
	if !ok {
		t.Fatal("harness is not a function")
	}
	return &jsHarness{rt: rt, run: fn}
}

// env is one evaluation environment shared by both engines.
type env struct {
	user    User
	data    []byte // nil = undefined
	oldData []byte
	recs    map[string]string
	now     int64
	action  string
	id      string // the $id path variable
}

// outcome is what a rule produced: typeof, String() and truthiness, or an error.
type outcome struct {
	timeout bool // goja was interrupted; not comparable
	err     bool
	typ     string
	str     string
	truthy  bool
	msg     string
}

func (o outcome) String() string {
	if o.err {
		return "error(" + o.msg + ")"
	}
	return fmt.Sprintf("%s %q %v", o.typ, o.str, o.truthy)
}

func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func (h *jsHarness) eval(rule string, e env) outcome {
	recs := h.rt.NewObject()
	for k, v := range e.recs {
		_ = recs.Set(k, v)
	}
	h.rt.ClearInterrupt()
	// Rules cannot loop, but goja's backtracking regex engine can take
	// exponential time; a generous bound keeps a test from hanging.
	timer := time.AfterFunc(10*time.Second, func() { h.rt.Interrupt(errGojaTimeout) })
	res, err := h.run(goja.Undefined(), h.rt.ToValue(rule), h.rt.ToValue(e.user.ID), h.rt.ToValue(e.user.Authenticated),
		h.rt.ToValue(nullable(e.user.Data)), h.rt.ToValue(nullable(e.data)), h.rt.ToValue(nullable(e.oldData)),
		recs, h.rt.ToValue(e.now), h.rt.ToValue(e.action), h.rt.ToValue(e.id))
	timer.Stop()
	if err != nil {
		var ie *goja.InterruptedError
		if errors.As(err, &ie) {
			return outcome{timeout: true}
		}
		return outcome{err: true, msg: err.Error()}
	}
	arr := res.Export().([]any)
	return outcome{typ: arr[0].(string), str: arr[1].(string), truthy: arr[2].(bool)}
}

// valveEval compiles rule for a write on "items/$id" and evaluates it in env.
func valveEval(rule string, e env) (outcome, error) {
	r, err := compileRule(rule, Write, []string{"$id"})
	if err != nil {
		return outcome{}, err
	}
	m, vars, _ := compilePath("items/$id")
	ent := &entry{path: "items/$id", m: m, vars: vars}
	req := &Request{Section: SectionRecord, Type: Write, Name: "items/" + e.id, User: &e.user,
		Data: e.data, OldData: e.oldData, Action: e.action, Now: e.now}
	lookup := func(name string) ([]byte, bool, bool) {
		v, ok := e.recs[name]
		return []byte(v), ok, true
	}
	c := &ctx{}
	c.setup(req, lookup, ent)
	v, err := r.fn(c)
	if err != nil {
		return outcome{err: true, msg: err.Error()}, nil
	}
	return outcome{typ: typeOf(v), str: toString(v), truthy: truthy(v)}, nil
}

// ---- random generation ----

var genKeys = []string{"a", "b", "s", "n", "arr", "obj", "x", "length", "0"}

var genStrings = []string{"", "a", "abc", "A", "1", "10", " 2 ", "0x10", "a b", "é", "ab😀c", "true", "null", "1e3", "-0", "abcabc", "x/y"}

func genJSONValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n < 2:
		return []float64{0, 1, -1, 2, 1.5, 100, -0.5, 1e21, 3, 99}[r.IntN(10)]
	case n < 4:
		return genStrings[r.IntN(len(genStrings))]
	case n < 5:
		return r.IntN(2) == 0
	case n < 6:
		return nil
	case n < 8 && depth > 0:
		arr := make([]any, r.IntN(4))
		for i := range arr {
			arr[i] = genJSONValue(r, depth-1)
		}
		return arr
	case depth > 0:
		return genJSONObject(r, depth-1)
	default:
		return genStrings[r.IntN(len(genStrings))]
	}
}

func genJSONObject(r *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for i := r.IntN(5); i > 0; i-- {
		m[genKeys[r.IntN(len(genKeys))]] = genJSONValue(r, depth)
	}
	return m
}

// rawDocs exercise the lazy JSON reader: duplicate keys, escapes, spacing.
var rawDocs = []string{
	`{"a":1,"a":"x"}`, ` { "s" : "a\u0062\"" , "arr" : [ 1 , {"x":2} ] , "n":-0.5e1} `, `{"\u0061":3,"obj":{"a":{"a":[]}}}`,
	`[1, [2, 3], {"n": null}]`, `{"x":"[{\\","length":2,"0":"zero"}`, `"str"`, `12.5`, `{"b":true,"b":false}`,
}

func genDoc(r *rand.Rand) []byte {
	switch r.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte(rawDocs[r.IntN(len(rawDocs))])
	}
	var v any = genJSONObject(r, 2)
	if r.IntN(6) == 0 {
		v = genJSONValue(r, 2)
	}
	b, _ := json.Marshal(v)
	return b
}

func genEnv(r *rand.Rand) env {
	e := env{
		user:   User{ID: []string{"alice", "bob", "open", ""}[r.IntN(4)], Authenticated: r.IntN(2) == 0},
		data:   genDoc(r),
		now:    int64(r.IntN(3)) * 1000,
		action: []string{"UPDATE", "PATCH", "CREATE"}[r.IntN(3)],
		id:     []string{"alice", "1", "x"}[r.IntN(3)],
		recs:   map[string]string{},
	}
	if r.IntN(3) != 0 {
		e.user.Data = genDoc(r)
	}
	if r.IntN(4) != 0 {
		e.oldData = genDoc(r)
	}
	for _, name := range []string{"users/alice", "users/bob", "a", "1"} {
		if r.IntN(3) != 0 {
			if d := genDoc(r); d != nil {
				e.recs[name] = string(d)
			}
		}
	}
	return e
}

var genLiterals = []string{"0", "1", "2", "1.5", "100", "0.1", "1e21", "''", "'a'", "\"abc\"", "'1'", "' 2 '", "'A'",
	"'x/y'", "'\\u00e9'", "'\\n'", "true", "false", "null", "undefined", "NaN", "Infinity", "/a/", "/^a.c$/i", "/\\d+/g", "/b/g", "[]", "['a', 1]", "[null, [2]]"}

var genVars = []string{"user", "user.id", "user.isAuthenticated", "user.data", "data", "oldData", "now", "action", "$id"}

var genBinOps = []string{"+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "===", "!==", "&&", "||"}

var genMethods = []string{"startsWith", "endsWith", "includes", "indexOf", "match", "toUpperCase", "toLowerCase", "trim"}

func genRule(r *rand.Rand, depth int) string {
	if depth <= 0 {
		if r.IntN(2) == 0 {
			return genLiterals[r.IntN(len(genLiterals))]
		}
		return genAccess(r)
	}
	switch r.IntN(12) {
	case 0:
		return genLiterals[r.IntN(len(genLiterals))]
	case 1, 2:
		return genAccess(r)
	case 3:
		return []string{"!", "-", "+", "typeof "}[r.IntN(4)] + "(" + genRule(r, depth-1) + ")"
	case 4, 5, 6:
		op := genBinOps[r.IntN(len(genBinOps))]
		// goja evaluates chained relational operators wrongly (1 > 2 >= 0 is
		// false in goja, true in V8 and in valve), so a relational
		// expression is always fully parenthesised.
		if strings.ContainsAny(op, "<>") {
			return "((" + genRule(r, depth-1) + ") " + op + " (" + genRule(r, depth-1) + "))"
		}
		if r.IntN(2) == 0 {
			return genRule(r, depth-1) + " " + op + " " + genRule(r, depth-1)
		}
		return "(" + genRule(r, depth-1) + ") " + op + " (" + genRule(r, depth-1) + ")"
	case 7:
		return "(" + genRule(r, depth-1) + ") ? (" + genRule(r, depth-1) + ") : " + genRule(r, depth-1)
	case 8, 9:
		m := genMethods[r.IntN(len(genMethods))]
		var args []string
		switch m {
		case "toUpperCase", "toLowerCase", "trim":
		case "match":
			args = []string{genLiterals[r.IntN(len(genLiterals))]}
		default:
			for i := r.IntN(3); i > 0; i-- {
				args = append(args, genRule(r, depth-2))
			}
		}
		return "(" + genRule(r, depth-1) + ")." + m + "(" + strings.Join(args, ", ") + ")"
	case 10:
		return "_(" + []string{"'users/' + user.id", "'users/' + $id", "'a'", "'1'", "data.s", "'users/' + data.x", "1"}[r.IntN(7)] + ")" + genSuffix(r)
	default:
		return "(" + genRule(r, depth-1) + ")" + genSuffix(r)
	}
}

func genSuffix(r *rand.Rand) string {
	var sb strings.Builder
	for i := r.IntN(3); i > 0; i-- {
		switch r.IntN(3) {
		case 0:
			sb.WriteString("[" + []string{"0", "'a'", "1", "'length'", "$id"}[r.IntN(5)] + "]")
		default:
			sb.WriteString("." + genKeys[r.IntN(len(genKeys)-1)])
		}
	}
	return sb.String()
}

func genAccess(r *rand.Rand) string {
	return genVars[r.IntN(len(genVars))] + genSuffix(r)
}

// TestDifferentialGoja generates random rules and environments and requires
// valve and goja to agree on typeof, String(), truthiness and on whether the
// rule threw. Replay a failure with VALVE_SEED.
func TestDifferentialGoja(t *testing.T) {
	h := newJSHarness(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VALVE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VALVE_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with VALVE_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	deadline := time.Now().Add(3 * time.Second)
	n, fails := 0, 0
	stats := map[string]int{}
	for time.Now().Before(deadline) && fails < 10 {
		rule := genRule(r, 1+r.IntN(4))
		for k := 0; k < 4; k++ {
			e := genEnv(r)
			n++
			got, err := valveEval(rule, e)
			if err != nil {
				t.Errorf("valve rejected generated rule %q: %v", rule, err)
				fails++
				break
			}
			want := h.eval(rule, e)
			if want.err {
				stats["error"]++
			} else {
				stats[want.typ]++
			}
			if !sameOutcome(got, want) {
				fails++
				t.Errorf("rule %s\n  user=%+v data=%s oldData=%s recs=%v id=%q\n  valve: %v\n  goja:  %v",
					rule, e.user, e.data, e.oldData, e.recs, e.id, got, want)
			}
		}
	}
	t.Logf("%d evaluations, outcomes %v", n, stats)
	// Guard against a generator that only produces errors or one type.
	if n > 1000 && (stats["error"] > n*7/10 || stats["boolean"] < n/20 || stats["string"] < n/50 || stats["number"] < n/50) {
		t.Errorf("generator coverage too narrow: %v", stats)
	}
}

var errGojaTimeout = errors.New("goja evaluation timed out")

func sameOutcome(a, b outcome) bool {
	if a.timeout || b.timeout {
		return true
	}
	if a.err || b.err {
		return a.err == b.err
	}
	return a.typ == b.typ && a.str == b.str && a.truthy == b.truthy
}
