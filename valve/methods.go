package valve

import (
	"math"
	"regexp"
	"strings"
	"unicode/utf16"
)

// compileCall compiles recv.method(args...). The receiver decides the
// semantics at run time: strings get the String.prototype method, arrays get
// Array.prototype.includes/indexOf, anything else is a TypeError as in JS.
func compileCall(n *node) evalFn {
	recv := compile(n.x)
	args := make([]evalFn, len(n.args))
	for i, a := range n.args {
		args[i] = compile(a)
	}
	name := n.name
	// A match() against a string literal compiles the regex once.
	var litRe *jsRegex
	var litErr error
	if name == "match" && len(n.args) > 0 && n.args[0].op == nLit && n.args[0].val.k == kString {
		litRe, litErr = compileJSRegex(n.args[0].val.s, "")
	}
	return func(c *ctx) (value, error) {
		r, err := recv(c)
		if err != nil {
			return r, err
		}
		pending := r.k == kPending
		if isNullish(r) {
			return undefinedV, cannotRead(r, name)
		}
		var av [2]value
		for i, a := range args {
			v, err := a(c)
			if err != nil {
				return v, err
			}
			if i < len(av) {
				av[i] = v
			}
			pending = pending || v.k == kPending
		}
		if pending {
			return pendingV, nil
		}
		nargs := len(args)
		if r.k == kString {
			if litRe != nil || litErr != nil {
				if litErr != nil {
					return undefinedV, litErr
				}
				return regexMatch(litRe, r.s), nil
			}
			return stringMethod(name, r.s, av, nargs)
		}
		if isArray(r) && (name == "includes" || name == "indexOf") {
			return arrayMethod(name, r, av, nargs), nil
		}
		return undefinedV, typeErrorf("%s.%s is not a function", describe(r), name)
	}
}

func describe(v value) string {
	switch v.k {
	case kString:
		return "\"" + v.s + "\""
	case kNumber, kBool:
		return toString(v)
	}
	return typeOf(v)
}

// toIntegerOrInfinity implements ToIntegerOrInfinity.
func toIntegerOrInfinity(v value) float64 {
	f := toNumber(v)
	if math.IsNaN(f) {
		return 0
	}
	return math.Trunc(f)
}

func clampPos(f float64, n int) int {
	if f < 0 {
		return 0
	}
	if f > float64(n) {
		return n
	}
	return int(f)
}

// jsStr is a string seen as UTF-16 code units; for ASCII strings the units
// are the bytes and no conversion happens.
type jsStr struct {
	s     string
	ascii bool
	u     []uint16
}

func newJSStr(s string) jsStr {
	if isASCII(s) {
		return jsStr{s: s, ascii: true}
	}
	return jsStr{s: s, u: utf16.Encode([]rune(s))}
}

func (j jsStr) len() int {
	if j.ascii {
		return len(j.s)
	}
	return len(j.u)
}

// indexFrom finds search in j at or after from, in code units.
func (j jsStr) indexFrom(search jsStr, from int) int {
	if j.ascii && search.ascii {
		if from > len(j.s) {
			return -1
		}
		i := strings.Index(j.s[from:], search.s)
		if i < 0 {
			return -1
		}
		return i + from
	}
	hu, su := j.units(), search.units()
	for i := from; i+len(su) <= len(hu); i++ {
		if equalUnits(hu[i:i+len(su)], su) {
			return i
		}
	}
	return -1
}

func (j jsStr) units() []uint16 {
	if !j.ascii {
		return j.u
	}
	u := make([]uint16, len(j.s))
	for i := 0; i < len(j.s); i++ {
		u[i] = uint16(j.s[i])
	}
	return u
}

// hasAt reports whether search occurs in j at code unit offset at.
func (j jsStr) hasAt(search jsStr, at int) bool {
	if at < 0 || at+search.len() > j.len() {
		return false
	}
	if j.ascii && search.ascii {
		return j.s[at:at+len(search.s)] == search.s
	}
	hu, su := j.units(), search.units()
	return equalUnits(hu[at:at+len(su)], su)
}

func equalUnits(a, b []uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func stringMethod(name, s string, av [2]value, nargs int) (value, error) {
	switch name {
	case "toUpperCase":
		return strV(strings.ToUpper(s)), nil
	case "toLowerCase":
		return strV(strings.ToLower(s)), nil
	case "trim":
		return strV(jsTrim(s)), nil
	case "match":
		var re *jsRegex
		switch {
		case nargs == 0 || av[0].k == kUndefined:
			re = emptyRegex
		case av[0].k == kRegex:
			re = av[0].re
		default:
			var err error
			re, err = compileJSRegex(toString(av[0]), "")
			if err != nil {
				return undefinedV, err
			}
		}
		return regexMatch(re, s), nil
	}
	// startsWith, endsWith, includes, indexOf.
	if name != "indexOf" && av[0].k == kRegex {
		return undefinedV, typeErrorf("First argument to String.prototype.%s must not be a regular expression", name)
	}
	str := newJSStr(s)
	search := newJSStr(toString(av[0]))
	n := str.len()
	switch name {
	case "startsWith":
		pos := 0
		if nargs > 1 {
			pos = clampPos(toIntegerOrInfinity(av[1]), n)
		}
		return boolV(str.hasAt(search, pos)), nil
	case "endsWith":
		end := n
		if nargs > 1 && av[1].k != kUndefined {
			end = clampPos(toIntegerOrInfinity(av[1]), n)
		}
		return boolV(str.hasAt(search, end-search.len())), nil
	case "includes":
		pos := 0
		if nargs > 1 {
			pos = clampPos(toIntegerOrInfinity(av[1]), n)
		}
		return boolV(str.indexFrom(search, pos) >= 0), nil
	default: // indexOf
		pos := 0
		if nargs > 1 {
			pos = clampPos(toIntegerOrInfinity(av[1]), n)
		}
		return numV(float64(str.indexFrom(search, pos))), nil
	}
}

var emptyRegex = &jsRegex{source: "(?:)", re: regexp.MustCompile("")}

// regexMatch implements String.prototype.match for a translated regex.
func regexMatch(re *jsRegex, s string) value {
	if re.global {
		all := re.re.FindAllString(s, -1)
		if all == nil {
			return nullV
		}
		out := make([]value, len(all))
		for i, m := range all {
			out[i] = strV(m)
		}
		return arrV(out)
	}
	idx := re.re.FindStringSubmatchIndex(s)
	if idx == nil {
		return nullV
	}
	out := make([]value, len(idx)/2)
	for i := range out {
		if idx[2*i] < 0 {
			out[i] = undefinedV
		} else {
			out[i] = strV(s[idx[2*i]:idx[2*i+1]])
		}
	}
	return arrV(out)
}

// arrayMethod implements Array.prototype.includes and indexOf.
func arrayMethod(name string, arr value, av [2]value, nargs int) value {
	var n int
	var at func(i int) value
	if arr.k == kArray {
		n = len(*arr.a)
		at = func(i int) value { return (*arr.a)[i] }
	} else {
		// Rare path (includes/indexOf on a JSON array): collect the raw elements.
		var elems []string
		_ = jsonArrayEach(arr.s, func(_ int, e string) bool { elems = append(elems, e); return true })
		n = len(elems)
		at = func(i int) value { v, _ := decodeJSON(elems[i]); return v }
	}
	start := 0
	if nargs > 1 {
		f := toIntegerOrInfinity(av[1])
		if f < 0 {
			f += float64(n)
			if f < 0 {
				f = 0
			}
		}
		if f >= float64(n) {
			start = n
		} else {
			start = int(f)
		}
	}
	needle := av[0]
	for i := start; i < n; i++ {
		e := at(i)
		if name == "includes" {
			if strictEquals(e, needle) || (e.k == kNumber && needle.k == kNumber && e.n != e.n && needle.n != needle.n) {
				return trueV
			}
		} else if strictEquals(e, needle) {
			return numV(float64(i))
		}
	}
	if name == "includes" {
		return falseV
	}
	return numV(-1)
}
