package valve

import (
	"hash/maphash"
	"regexp"
	"strings"
	"sync"
)

// pathMatcher matches a record/event/RPC name against one permission path.
// Paths made only of literal text, "*" and "$var" (nearly all of them) use a
// hand-written segment matcher; any other regex metacharacter in the path
// (deepstream builds a RegExp from the path text) falls back to regexp.
type pathMatcher struct {
	segs []pathSeg
	re   *regexp.Regexp
}

type segKind uint8

const (
	segLit  segKind = iota
	segStar         // .*
	segVar          // ([^/]+)
)

type pathSeg struct {
	kind segKind
	lit  string
}

// varNameAt returns the length of a "$name" token at s[0] ('$' included), or 0.
func varNameAt(s string) int {
	if s == "" || s[0] != '$' {
		return 0
	}
	i := 1
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == 1 {
		return 0
	}
	return i
}

// compilePath compiles a permission path and returns its variable names in
// capture order.
func compilePath(path string) (*pathMatcher, []string, error) {
	var vars []string
	var segs []pathSeg
	var reSrc strings.Builder
	simple := true
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, pathSeg{kind: segLit, lit: lit.String()})
			lit.Reset()
		}
	}
	reSrc.WriteString("^")
	for i := 0; i < len(path); {
		if n := varNameAt(path[i:]); n > 0 {
			flush()
			vars = append(vars, path[i:i+n])
			segs = append(segs, pathSeg{kind: segVar})
			reSrc.WriteString("([^/]+)")
			i += n
			continue
		}
		c := path[i]
		if c == '*' {
			flush()
			segs = append(segs, pathSeg{kind: segStar})
			reSrc.WriteString(".*")
			i++
			continue
		}
		if strings.IndexByte(`\.+?()[]{}|^$`, c) >= 0 {
			simple = false
		}
		lit.WriteByte(c)
		reSrc.WriteByte(c)
		i++
	}
	flush()
	reSrc.WriteString("$")
	m := &pathMatcher{segs: segs}
	if !simple {
		re, err := compileJSRegex(reSrc.String()[1:len(reSrc.String())-1], "")
		if err != nil {
			return nil, nil, err
		}
		re.re, err = regexp.Compile(`^(?:` + re.re.String() + `)\z`)
		if err != nil {
			return nil, nil, err
		}
		m.re = re.re
	}
	return m, vars, nil
}

// match reports whether name matches and stores the variable captures in
// vars (which must have room for every variable).
func (m *pathMatcher) match(name string, vars []string) bool {
	if m.re != nil {
		idx := m.re.FindStringSubmatchIndex(name)
		if idx == nil {
			return false
		}
		for i := range vars {
			if 2*i+3 < len(idx) && idx[2*i+2] >= 0 {
				vars[i] = name[idx[2*i+2]:idx[2*i+3]]
			}
		}
		return true
	}
	return matchSegs(m.segs, name, vars)
}

// matchSegs is a backtracking matcher with the semantics of the greedy
// regex the path stands for.
func matchSegs(segs []pathSeg, s string, vars []string) bool {
	for len(segs) > 0 {
		sg := segs[0]
		switch sg.kind {
		case segLit:
			if !strings.HasPrefix(s, sg.lit) {
				return false
			}
			s = s[len(sg.lit):]
			segs = segs[1:]
		case segStar:
			limit := lineTerminator(s)
			if len(segs) == 1 {
				return limit == len(s)
			}
			// Greedy: try the longest prefix first, as the regex would.
			for k := limit; k >= 0; k-- {
				if matchSegs(segs[1:], s[k:], vars) {
					return true
				}
			}
			return false
		case segVar:
			limit := strings.IndexByte(s, '/')
			if limit < 0 {
				limit = len(s)
			}
			if limit == 0 {
				return false
			}
			v := vars[0]
			for k := limit; k >= 1; k-- {
				vars[0] = s[:k]
				if matchSegs(segs[1:], s[k:], vars[1:]) {
					return true
				}
			}
			vars[0] = v
			return false
		}
	}
	return s == ""
}

// lineTerminator returns the index of the first JavaScript line terminator
// (\n \r U+2028 U+2029, which "." does not match) in s, or len(s).
func lineTerminator(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r':
			return i
		case 0xe2: // U+2028 and U+2029 are e2 80 a8 and e2 80 a9
			if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) {
				return i
			}
		}
	}
	return len(s)
}

// choiceCache remembers, per (section, rule type, name), which entry wins.
// It is sharded so that concurrent checks do not contend on one lock, and
// each shard is bounded: a full shard is cleared (cheap, and a re-match is
// only a few hundred nanoseconds).
type choiceCache struct {
	seed     maphash.Seed
	shards   [cacheShards]cacheShard
	perShard int
}

const cacheShards = 64

type cacheKey struct {
	st   uint16 // section<<8 | rule type
	name string
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[cacheKey]int32
	_  [40]byte // keep shards on separate cache lines
}

func newChoiceCache(size int) *choiceCache {
	c := &choiceCache{seed: maphash.MakeSeed(), perShard: size / cacheShards}
	if c.perShard < 1 {
		c.perShard = 1
	}
	return c
}

func (c *choiceCache) shard(name string) *cacheShard {
	return &c.shards[maphash.String(c.seed, name)%cacheShards]
}

func (c *choiceCache) get(st uint16, name string) (int32, bool) {
	sh := c.shard(name)
	sh.mu.RLock()
	v, ok := sh.m[cacheKey{st, name}]
	sh.mu.RUnlock()
	return v, ok
}

func (c *choiceCache) put(st uint16, name string, v int32) {
	sh := c.shard(name)
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= c.perShard {
		sh.m = make(map[cacheKey]int32, c.perShard/4+1)
	}
	sh.m[cacheKey{st, strings.Clone(name)}] = v
	sh.mu.Unlock()
}
