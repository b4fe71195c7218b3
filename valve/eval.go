package valve

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unsafe"
)

// evalFn evaluates a compiled sub-expression. A non-nil error is a rule
// error (what JavaScript would throw).
type evalFn func(c *ctx) (value, error)

// lazyDoc is a JSON document decoded on first use.
type lazyDoc struct {
	parsed bool
	v      value
	err    error
}

func (d *lazyDoc) get(raw []byte, what string) (value, error) {
	if !d.parsed {
		d.parsed = true
		if raw == nil {
			d.v = undefinedV
		} else if v, err := decodeDocument(raw); err != nil {
			d.err = fmt.Errorf("invalid %s JSON", what)
		} else {
			d.v = v
		}
	}
	return d.v, d.err
}

// crossRef is one record fetched through _() during a check.
type crossRef struct {
	name string
	v    value
}

// ctx is the per-check evaluation state, pooled by Permissions.Check.
type ctx struct {
	req      *Request // points at reqV
	reqV     Request
	user     *User // points at userV
	userV    User
	lookup   Lookup
	vars     []string // path variable captures
	varsBuf  [4]string
	data     lazyDoc
	oldData  lazyDoc
	userData lazyDoc
	refs     []*crossRef
	nrefs    int
	need     []string
	// arena holds the strings built by concatenation during one check, so
	// that "users/" + user.id does not allocate. Strings aliasing it never
	// outlive the check (names kept beyond it are cloned).
	arena []byte
	objs  []objIndex // capacity maxIndexedObjects, reused across checks
}

// maxPooledArena bounds the concatenation arena kept in the pool.
const maxPooledArena = 16 << 10

// concat returns a + b, built in the arena.
func (c *ctx) concat(a, b string) string {
	if len(a)+len(b) == 0 {
		return ""
	}
	start := len(c.arena)
	c.arena = append(c.arena, a...)
	c.arena = append(c.arena, b...)
	return unsafe.String(&c.arena[start], len(a)+len(b))
}

func (c *ctx) reset() {
	c.req, c.user, c.lookup = nil, nil, nil
	c.reqV, c.userV = Request{}, User{}
	c.vars = nil
	c.varsBuf = [4]string{}
	c.data.parsed, c.data.err, c.data.v = false, nil, value{}
	c.oldData.parsed, c.oldData.err, c.oldData.v = false, nil, value{}
	c.userData.parsed, c.userData.err, c.userData.v = false, nil, value{}
	for i := 0; i < c.nrefs; i++ {
		c.refs[i].name, c.refs[i].v = "", value{}
	}
	c.nrefs = 0
	c.need = c.need[:0]
	if cap(c.arena) > maxPooledArena {
		c.arena = nil
	}
	c.arena = c.arena[:0]
	for i := range c.objs {
		c.objs[i].raw = ""
		clear(c.objs[i].fields)
	}
	c.objs = c.objs[:0]
}

func typeErrorf(format string, args ...any) error {
	return fmt.Errorf("TypeError: "+format, args...)
}

func cannotRead(obj value, key string) error {
	return typeErrorf("Cannot read properties of %s (reading '%s')", toString(obj), key)
}

// compile turns an AST into a tree of closures.
func compile(n *node) evalFn {
	switch n.op {
	case nLit:
		v := n.val
		return func(*ctx) (value, error) { return v, nil }
	case nRegex:
		re := n.re
		return func(*ctx) (value, error) { return value{k: kRegex, re: re}, nil }
	case nUser:
		return func(*ctx) (value, error) { return value{k: kUser}, nil }
	case nData:
		return func(c *ctx) (value, error) { return c.data.get(c.req.Data, "data") }
	case nOldData:
		return func(c *ctx) (value, error) { return c.oldData.get(c.req.OldData, "oldData") }
	case nNow:
		return func(c *ctx) (value, error) { return numV(float64(c.req.Now)), nil }
	case nAction:
		return func(c *ctx) (value, error) { return strV(c.req.Action), nil }
	case nPathVar:
		i := n.idx
		return func(c *ctx) (value, error) {
			if i < len(c.vars) {
				return strV(c.vars[i]), nil
			}
			return undefinedV, nil
		}
	case nMember:
		// Fused forms for the most common shapes: user.x, data.x, oldData.x.
		name := n.name
		switch n.x.op {
		case nUser:
			return func(c *ctx) (value, error) { return c.member(value{k: kUser}, name) }
		case nData:
			return func(c *ctx) (value, error) {
				o, err := c.data.get(c.req.Data, "data")
				if err != nil {
					return o, err
				}
				return c.member(o, name)
			}
		case nOldData:
			return func(c *ctx) (value, error) {
				o, err := c.oldData.get(c.req.OldData, "oldData")
				if err != nil {
					return o, err
				}
				return c.member(o, name)
			}
		}
		x := compile(n.x)
		return func(c *ctx) (value, error) {
			o, err := x(c)
			if err != nil || o.k == kPending {
				return o, err
			}
			return c.member(o, name)
		}
	case nIndex:
		x, y := compile(n.x), compile(n.y)
		return func(c *ctx) (value, error) {
			o, err := x(c)
			if err != nil {
				return o, err
			}
			k, err := y(c)
			if err != nil {
				return k, err
			}
			if o.k == kPending || k.k == kPending {
				return pendingV, nil
			}
			if isNullish(o) {
				return undefinedV, cannotRead(o, toString(k))
			}
			if k.k == kNumber && k.n >= 0 && k.n == math.Trunc(k.n) && k.n < 1<<32-1 {
				return c.index(o, int(k.n), "")
			}
			return c.member(o, toString(k))
		}
	case nCall:
		return compileCall(n)
	case nArray:
		return compileArray(n)
	case nLookup:
		x := compile(n.x)
		return func(c *ctx) (value, error) {
			a, err := x(c)
			if err != nil || a.k == kPending {
				return a, err
			}
			return c.crossReference(a)
		}
	case nNot:
		x := compile(n.x)
		return func(c *ctx) (value, error) {
			v, err := x(c)
			if v.k == kPending {
				return v, err
			}
			return boolV(!truthy(v)), err
		}
	case nNeg:
		x := compile(n.x)
		return func(c *ctx) (value, error) {
			v, err := x(c)
			if v.k == kPending {
				return v, err
			}
			return numV(-toNumber(v)), err
		}
	case nPos:
		x := compile(n.x)
		return func(c *ctx) (value, error) {
			v, err := x(c)
			if v.k == kPending {
				return v, err
			}
			return numV(toNumber(v)), err
		}
	case nTypeof:
		x := compile(n.x)
		return func(c *ctx) (value, error) {
			v, err := x(c)
			if v.k == kPending {
				return v, err
			}
			return strV(typeOf(v)), err
		}
	case nAnd, nOr:
		x, y := compile(n.x), compile(n.y)
		and := n.op == nAnd
		return func(c *ctx) (value, error) {
			v, err := x(c)
			if v.k == kPending {
				// Evaluate the other operand only to discover more records.
				_, _ = y(c)
				return v, nil
			}
			if err != nil || truthy(v) != and {
				return v, err
			}
			return y(c)
		}
	case nCond:
		x, y, z := compile(n.x), compile(n.y), compile(n.z)
		return func(c *ctx) (value, error) {
			v, err := x(c)
			if err != nil {
				return v, err
			}
			if v.k == kPending {
				_, _ = y(c)
				_, _ = z(c)
				return v, nil
			}
			if truthy(v) {
				return y(c)
			}
			return z(c)
		}
	}
	return compileBinary(n)
}

// compileArray compiles an array literal. A literal of constants is built
// once: no rule evaluates the same literal twice, so sharing it cannot make
// two JavaScript arrays compare equal.
func compileArray(n *node) evalFn {
	constant := true
	for _, a := range n.args {
		constant = constant && a.op == nLit
	}
	if constant {
		vals := make([]value, len(n.args))
		for i, a := range n.args {
			vals[i] = a.val
		}
		v := arrV(vals)
		return func(*ctx) (value, error) { return v, nil }
	}
	elems := make([]evalFn, len(n.args))
	for i, a := range n.args {
		elems[i] = compile(a)
	}
	return func(c *ctx) (value, error) {
		vals := make([]value, len(elems))
		for i, e := range elems {
			v, err := e(c)
			if err != nil {
				return v, err
			}
			if v.k == kPending {
				return v, nil
			}
			vals[i] = v
		}
		return arrV(vals), nil
	}
}

func compileBinary(n *node) evalFn {
	x, y := compile(n.x), compile(n.y)
	var f func(a, b value) value
	switch n.op {
	case nAdd:
		return func(c *ctx) (value, error) {
			a, err := x(c)
			if err != nil {
				return a, err
			}
			b, err := y(c)
			if err != nil {
				return b, err
			}
			if a.k == kPending || b.k == kPending {
				return pendingV, nil
			}
			if a.k == kNumber && b.k == kNumber {
				return numV(a.n + b.n), nil
			}
			pa, pb := toPrimitive(a), toPrimitive(b)
			if pa.k == kString || pb.k == kString {
				return strV(c.concat(toString(pa), toString(pb))), nil
			}
			return numV(toNumber(pa) + toNumber(pb)), nil
		}
	case nSub:
		f = func(a, b value) value { return numV(toNumber(a) - toNumber(b)) }
	case nMul:
		f = func(a, b value) value { return numV(toNumber(a) * toNumber(b)) }
	case nDiv:
		f = func(a, b value) value { return numV(toNumber(a) / toNumber(b)) }
	case nMod:
		f = func(a, b value) value { return numV(math.Mod(toNumber(a), toNumber(b))) }
	case nLT:
		f = func(a, b value) value { lt, _ := lessThan(a, b); return boolV(lt) }
	case nGT:
		f = func(a, b value) value { lt, _ := lessThan(b, a); return boolV(lt) }
	case nLE:
		f = func(a, b value) value { lt, ok := lessThan(b, a); return boolV(ok && !lt) }
	case nGE:
		f = func(a, b value) value { lt, ok := lessThan(a, b); return boolV(ok && !lt) }
	case nEq:
		f = func(a, b value) value { return boolV(looseEquals(a, b)) }
	case nNe:
		f = func(a, b value) value { return boolV(!looseEquals(a, b)) }
	case nSEq:
		f = func(a, b value) value { return boolV(strictEquals(a, b)) }
	case nSNe:
		f = func(a, b value) value { return boolV(!strictEquals(a, b)) }
	default:
		panic(fmt.Sprintf("valve: unknown node op %d", n.op))
	}
	if n.y.op == nLit {
		// Comparison with a constant (data.price < 100): one call less.
		lit := n.y.val
		return func(c *ctx) (value, error) {
			a, err := x(c)
			if err != nil || a.k == kPending {
				return a, err
			}
			return f(a, lit), nil
		}
	}
	return func(c *ctx) (value, error) {
		a, err := x(c)
		if err != nil {
			return a, err
		}
		b, err := y(c)
		if err != nil {
			return b, err
		}
		if a.k == kPending || b.k == kPending {
			return pendingV, nil
		}
		return f(a, b), nil
	}
}

// canonicalIndex parses an array index ("0", "17"; no sign, no leading zero).
func canonicalIndex(s string) (int, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n < 1<<32-1
}

// index reads element i of an array or string; key is the property name
// used for other receivers ("" means format i).
func (c *ctx) index(o value, i int, key string) (value, error) {
	switch o.k {
	case kString:
		if isASCII(o.s) {
			if i < len(o.s) {
				return strV(o.s[i : i+1]), nil
			}
			return undefinedV, nil
		}
		u := utf16.Encode([]rune(o.s))
		if i < len(u) {
			return strV(string(utf16.Decode(u[i : i+1]))), nil
		}
		return undefinedV, nil
	case kJSON:
		if o.s[0] == '[' {
			e, err := jsonArrayIndex(o.s, i)
			if err != nil || e == "" {
				return undefinedV, jsonErr(err)
			}
			return decodeJSON(e)
		}
	case kArray:
		if i < len(*o.a) {
			return (*o.a)[i], nil
		}
		return undefinedV, nil
	}
	if key == "" {
		key = strconv.Itoa(i)
	}
	return c.member(o, key)
}

// member implements property access o[key] for every kind of value.
func (c *ctx) member(o value, key string) (value, error) {
	switch o.k {
	case kUndefined, kNull:
		return undefinedV, cannotRead(o, key)
	case kString:
		if key == "length" {
			return numV(float64(utf16Len(o.s))), nil
		}
		if i, ok := canonicalIndex(key); ok {
			return c.index(o, i, key)
		}
		return undefinedV, nil
	case kJSON:
		if o.s[0] == '{' {
			e, err := c.objectGet(o.s, key)
			if err != nil || e == "" {
				return undefinedV, jsonErr(err)
			}
			return decodeJSON(e)
		}
		if key == "length" {
			n, err := jsonArrayLen(o.s)
			return numV(float64(n)), jsonErr(err)
		}
		if i, ok := canonicalIndex(key); ok {
			return c.index(o, i, key)
		}
		return undefinedV, nil
	case kArray:
		if key == "length" {
			return numV(float64(len(*o.a))), nil
		}
		if i, ok := canonicalIndex(key); ok {
			return c.index(o, i, key)
		}
		return undefinedV, nil
	case kUser:
		switch key {
		case "id":
			return strV(c.user.ID), nil
		case "isAuthenticated":
			return boolV(c.user.Authenticated), nil
		case "data":
			if c.user.Data == nil {
				return nullV, nil
			}
			return c.userData.get(c.user.Data, "user data")
		}
		return undefinedV, nil
	}
	return undefinedV, nil
}

// jsonErr turns a scanning error into a rule error.
func jsonErr(err error) error {
	if err != nil {
		return fmt.Errorf("malformed JSON document: %w", err)
	}
	return nil
}

// crossReference implements _(name) (deepstream rule-application.js).
func (c *ctx) crossReference(a value) (value, error) {
	switch a.k {
	case kUndefined:
		return undefinedV, nil
	case kString:
	default:
		return undefinedV, fmt.Errorf("crossreference got unsupported type %s", typeOf(a))
	}
	name := a.s
	if strings.Contains(name, "undefined") {
		return undefinedV, nil
	}
	for i := 0; i < c.nrefs; i++ {
		if c.refs[i].name == name {
			return c.refs[i].v, nil
		}
	}
	for _, n := range c.need {
		if n == name {
			return pendingV, nil
		}
	}
	var raw []byte
	found, loaded := false, false
	if c.lookup != nil {
		raw, found, loaded = c.lookup(name)
	}
	if !loaded {
		c.need = append(c.need, strings.Clone(name))
		return pendingV, nil
	}
	if c.nrefs == len(c.refs) {
		c.refs = append(c.refs, &crossRef{})
	}
	r := c.refs[c.nrefs]
	c.nrefs++
	r.name = name
	if !found || raw == nil {
		r.v = nullV
		return nullV, nil
	}
	v, err := decodeDocument(raw)
	if err != nil {
		r.v = nullV
		return undefinedV, fmt.Errorf("invalid JSON in record %q", name)
	}
	r.v = v
	return v, nil
}
