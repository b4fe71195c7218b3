package valve

import (
	"fmt"
	"strings"
	"sync"
)

// Section is a top-level section of the permission file.
type Section uint8

// The four sections of a permission file.
const (
	SectionRecord Section = iota
	SectionEvent
	SectionRPC
	SectionPresence
	numSections
)

var sectionNames = [numSections]string{"record", "event", "rpc", "presence"}

// String returns the section's name as written in the permission file.
func (s Section) String() string {
	if s < numSections {
		return sectionNames[s]
	}
	return fmt.Sprintf("Section(%d)", uint8(s))
}

// RuleType is a rule type inside a permission entry.
type RuleType uint8

// Rule types. Which ones a section accepts: record: Create Read Write Delete
// Listen; event: Publish Subscribe Listen; rpc: Provide RequestRule; presence:
// Allow.
const (
	Create RuleType = iota
	Read
	Write
	Delete
	Listen
	Publish
	Subscribe
	Provide
	// RequestRule is the rpc "request" rule type (Request names the struct
	// describing one check, hence the suffix).
	RequestRule
	Allow
	numRuleTypes
)

var ruleTypeNames = [numRuleTypes]string{"create", "read", "write", "delete", "listen", "publish", "subscribe", "provide", "request", "allow"}

// String returns the rule type's name as written in the permission file.
func (t RuleType) String() string {
	if t < numRuleTypes {
		return ruleTypeNames[t]
	}
	return fmt.Sprintf("RuleType(%d)", uint8(t))
}

// sectionRules lists the rule types each section accepts.
var sectionRules = [numSections][]RuleType{
	SectionRecord:   {Create, Read, Write, Delete, Listen},
	SectionEvent:    {Publish, Subscribe, Listen},
	SectionRPC:      {Provide, RequestRule},
	SectionPresence: {Allow},
}

// ruleHasData reports whether a rule of type t may reference data, and
// ruleHasOldData whether it may reference oldData (protocol.md 12.3).
func ruleHasData(t RuleType) bool {
	switch t {
	case Create, Read, Delete, Listen, Provide, Allow:
		return false
	}
	return true
}

func ruleHasOldData(t RuleType) bool { return t == Read || t == Write || t == Delete }

// User is the authenticated identity a check runs for.
type User struct {
	ID            string // user.id
	Authenticated bool   // user.isAuthenticated
	Data          []byte // user.data: the serverData JSON; nil = null
}

// Request describes one permission check. Check copies the struct and only
// reads the byte slices during the call; they must not change meanwhile.
type Request struct {
	Section Section
	Type    RuleType
	Name    string
	User    *User  // nil is treated as an unauthenticated user with an empty id
	Data    []byte // JSON of the new data (record after patch, event/RPC payload); nil = undefined
	OldData []byte // JSON of the current record data; nil = undefined
	Action  string // e.g. "UPDATE", "PATCH", "EVENT", "REQUEST", "CREATE", "READ"
	Now     int64  // ms since epoch
}

// Lookup gives the data of a record referenced through _(name). loaded=false
// means "not loaded yet": Check then returns *NeedRecords. found=false with
// loaded=true means the record does not exist (the rule sees null). The
// returned bytes are only read during the call to Check. name is only valid
// during the call; copy it to keep it.
type Lookup func(name string) (data []byte, found bool, loaded bool)

// NeedRecords is returned by Check when a rule referenced records that the
// lookup has not loaded yet. The caller loads them off the event loop and
// calls Check again, at most MaxRuleIterations times in total.
type NeedRecords struct{ Names []string }

// Error implements error.
func (e *NeedRecords) Error() string {
	return "valve: records not loaded: " + strings.Join(e.Names, ", ")
}

// rule is one compiled rule of an entry.
type rule struct {
	constant bool // rule is a literal true/false
	allow    bool // value of a constant rule
	fn       evalFn
	src      string
}

// entry is one path of a section with its compiled rules.
type entry struct {
	path  string
	m     *pathMatcher
	vars  []string
	rules [numRuleTypes]*rule
}

// Permissions is a loaded, compiled permission file. It is immutable and
// safe for concurrent use.
type Permissions struct {
	sections [numSections][]*entry // sorted by path length, longest first
	// cached reports per section whether the choice cache is used: a few
	// segment-matched paths are cheaper to match than a cache lookup.
	cached  [numSections]bool
	maxIter int
	cache   *choiceCache
	pool    sync.Pool
}

// MaxRuleIterations returns how often a rule may be re-run after loading
// cross-referenced records (option maxRuleIterations, default 3). Safe for
// concurrent use.
func (p *Permissions) MaxRuleIterations() int { return p.maxIter }

// noEntry marks a cached "nothing matches".
const noEntry = -1

// choose returns the winning entry index for (section, type, name).
func (p *Permissions) choose(s Section, t RuleType, name string) int {
	st := uint16(s)<<8 | uint16(t)
	if p.cached[s] {
		if i, ok := p.cache.get(st, name); ok {
			return int(i)
		}
	}
	var scratch [8]string
	best := noEntry
	for i, e := range p.sections[s] {
		if e.rules[t] == nil {
			continue
		}
		vars := scratch[:0]
		if len(e.vars) <= len(scratch) {
			vars = scratch[:len(e.vars)]
		} else {
			vars = make([]string, len(e.vars))
		}
		if e.m.match(name, vars) {
			best = i
			break
		}
	}
	if p.cached[s] {
		p.cache.put(st, name, int32(best))
	}
	return best
}

// Check reports whether req is allowed. err != nil (other than *NeedRecords)
// means the rule threw (a JavaScript TypeError and the like): the server
// answers MESSAGE_PERMISSION_ERROR. A request whose name matches no entry
// defining req.Type is denied. A missing record gives null, a name
// containing "undefined" gives undefined. Safe for concurrent use.
func (p *Permissions) Check(req *Request, lookup Lookup) (allowed bool, err error) {
	if req.Section >= numSections || req.Type >= numRuleTypes {
		return false, fmt.Errorf("valve: invalid section %d or rule type %d", req.Section, req.Type)
	}
	i := p.choose(req.Section, req.Type, req.Name)
	if i == noEntry {
		return false, nil
	}
	e := p.sections[req.Section][i]
	r := e.rules[req.Type]
	if r.constant {
		return r.allow, nil
	}
	c, _ := p.pool.Get().(*ctx)
	if c == nil {
		c = &ctx{}
	}
	c.setup(req, lookup, e)
	v, err := r.fn(c)
	if len(c.need) > 0 {
		// As in deepstream, errors while records are still loading are not
		// reported: the rule is re-run once they are available.
		ne := &NeedRecords{Names: append([]string(nil), c.need...)}
		c.reset()
		p.pool.Put(c)
		return false, ne
	}
	allowed = err == nil && truthy(v)
	c.reset()
	p.pool.Put(c)
	if err != nil {
		return false, &RuleError{Section: req.Section, Type: req.Type, Path: e.path, Err: err}
	}
	return allowed, nil
}

var anonymous = User{}

// setup prepares c for evaluating a rule of e for req.
func (c *ctx) setup(req *Request, lookup Lookup, e *entry) {
	// Copy the request and user so that the caller's values do not escape.
	c.reqV, c.lookup = *req, lookup
	c.req = &c.reqV
	c.userV = anonymous
	if req.User != nil {
		c.userV = *req.User
	}
	c.user = &c.userV
	if len(e.vars) > 0 {
		if len(e.vars) <= len(c.varsBuf) {
			c.vars = c.varsBuf[:len(e.vars)]
		} else {
			c.vars = make([]string, len(e.vars))
		}
		e.m.match(req.Name, c.vars)
	}
}

// RuleError is a rule that threw during evaluation.
type RuleError struct {
	Section Section  // section of the rule
	Type    RuleType // rule type that was evaluated
	Path    string   // path of the winning entry, as written in the file
	Err     error    // what the rule threw, e.g. "TypeError: Cannot read properties of null (reading 'role')"
}

// Error implements error.
func (e *RuleError) Error() string {
	return fmt.Sprintf("valve: %s %q %s: %v", e.Section, e.Path, e.Type, e.Err)
}

// Unwrap returns the underlying evaluation error.
func (e *RuleError) Unwrap() error { return e.Err }
