package server

import (
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"swiftlet/frame"
	"swiftlet/valve"
)

// listenRegistry is the active-provider discovery of protocol.md section 8, one per topic (events,
// records). It is shared by all loops and guarded by mu; it never calls into another registry while
// holding it, and it reaches sessions only through fanout (Send/Publish copy and return at once).
type listenRegistry struct {
	srv   *Server
	topic frame.Topic
	key   byte // fanout topic key prefix of this registry's names

	mu       sync.Mutex
	patterns map[string]*listenPattern    // pattern -> listeners, in listen order
	names    map[string]*listenName       // names with at least one subscriber
	bySess   map[*Session]map[string]bool // the patterns each session listens to
}

type listenPattern struct {
	re        *regexp.Regexp
	listeners []*Session
}

// listenName is the provider state of one subscribed name.
type listenName struct {
	name     string
	provider *Session // the active provider, nil if none
	provPat  string

	queue   []listenCandidate // candidates still to ask in this discovery round
	current *listenCandidate  // the candidate asked now, waiting for LA/LR or the timeout
	timer   *time.Timer
	gen     uint64 // bumps on every ask, so a stale timer does nothing
	tried   map[listenCandidate]bool
}

type listenCandidate struct {
	sess    *Session
	pattern string
}

func newListenRegistry(s *Server, t frame.Topic) *listenRegistry {
	key := byte(eventKey)
	if t == frame.TopicRecord {
		key = recordKey
	}
	return &listenRegistry{
		srv: s, topic: t, key: key,
		patterns: map[string]*listenPattern{},
		names:    map[string]*listenName{},
		bySess:   map[*Session]map[string]bool{},
	}
}

// handleListen dispatches L, UL, LA and LR for topic reg.topic.
func (s *Session) handleListen(reg *listenRegistry, section valve.Section, chunk []byte) {
	m := &s.msg
	t := reg.topic
	switch m.Action {
	case frame.ActionListen, frame.ActionUnlisten:
		if len(m.Data) == 0 {
			s.sendError(t, frame.EvMessagePermissionError, nil, []byte(m.ActionRaw))
			return
		}
		if len(m.Data) > 2 || len(m.Data[0]) == 0 {
			s.invalidData(t, chunk)
			return
		}
		pattern := string(m.Data[0])
		if m.Action == frame.ActionListen {
			if !s.permit(t, section, valve.Listen, m.Data[0], nil, chunk) {
				return
			}
			re, err := compileListenPattern(pattern)
			if err != nil {
				s.sendError(t, frame.EvInvalidMessageData, []byte(err.Error()))
				return
			}
			if !reg.listen(s, pattern, re) {
				s.sendError(t, frame.EvMultipleSubscriptions, m.Data[0])
				return
			}
			s.sendParts(t, frame.ActionAck, []byte(frame.ActionListen.String()), m.Data[0])
			reg.discoverFor(pattern)
			return
		}
		if !reg.unlisten(s, pattern) {
			s.sendError(t, frame.EvNotSubscribed, m.Data[0])
			return
		}
		s.sendParts(t, frame.ActionAck, []byte(frame.ActionUnlisten.String()), m.Data[0])
	case frame.ActionListenAccept, frame.ActionListenReject:
		if len(m.Data) != 2 || len(m.Data[0]) == 0 || len(m.Data[1]) == 0 {
			s.invalidData(t, chunk)
			return
		}
		reg.answer(s, string(m.Data[0]), string(m.Data[1]), m.Action == frame.ActionListenAccept)
	}
}

// compileListenPattern compiles a listen pattern. deepstream uses JavaScript regular expressions;
// Go's RE2 syntax accepts the common subset (no look-around or back-references).
func compileListenPattern(p string) (*regexp.Regexp, error) {
	return regexp.Compile(p)
}

// listen adds s as a listener of pattern; false if it already listens to it.
func (r *listenRegistry) listen(s *Session, pattern string, re *regexp.Regexp) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	pats := r.bySess[s]
	if pats[pattern] {
		return false
	}
	if pats == nil {
		pats = map[string]bool{}
		r.bySess[s] = pats
	}
	pats[pattern] = true
	lp := r.patterns[pattern]
	if lp == nil {
		lp = &listenPattern{re: re}
		r.patterns[pattern] = lp
	}
	lp.listeners = append(lp.listeners, s)
	return true
}

// discoverFor starts or extends discovery for every subscribed name the pattern matches.
func (r *listenRegistry) discoverFor(pattern string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lp := r.patterns[pattern]
	if lp == nil {
		return
	}
	for _, ln := range r.names {
		if ln.provider != nil || !lp.re.MatchString(ln.name) {
			continue
		}
		if ln.current != nil {
			// A round is running: the new listeners join its queue.
			for _, l := range lp.listeners {
				c := listenCandidate{l, pattern}
				if !ln.tried[c] && !r.queued(ln, c) {
					ln.queue = append(ln.queue, c)
				}
			}
			continue
		}
		r.startLocked(ln)
	}
}

func (r *listenRegistry) queued(ln *listenName, c listenCandidate) bool {
	if ln.current != nil && *ln.current == c {
		return true
	}
	for _, q := range ln.queue {
		if q == c {
			return true
		}
	}
	return false
}

// unlisten removes s as a listener of pattern; false if it was not listening.
func (r *listenRegistry) unlisten(s *Session, pattern string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.bySess[s][pattern] {
		return false
	}
	r.dropLocked(s, pattern)
	return true
}

// removeSession forgets everything a closed session listened to or provided.
func (r *listenRegistry) removeSession(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pattern := range r.bySess[s] {
		r.dropLocked(s, pattern)
	}
	delete(r.bySess, s)
}

// dropLocked removes listener (s, pattern): from the pattern, from pending discovery, and as a provider
// (subscribers of records are told SH|F and discovery restarts).
func (r *listenRegistry) dropLocked(s *Session, pattern string) {
	delete(r.bySess[s], pattern)
	if lp := r.patterns[pattern]; lp != nil {
		for i, l := range lp.listeners {
			if l == s {
				lp.listeners = append(lp.listeners[:i], lp.listeners[i+1:]...)
				break
			}
		}
		if len(lp.listeners) == 0 {
			delete(r.patterns, pattern)
		}
	}
	gone := listenCandidate{s, pattern}
	for _, ln := range r.names {
		for i := 0; i < len(ln.queue); i++ {
			if ln.queue[i] == gone {
				ln.queue = append(ln.queue[:i], ln.queue[i+1:]...)
				i--
			}
		}
		if ln.current != nil && *ln.current == gone {
			r.askNextLocked(ln)
		}
		if ln.provider == s && ln.provPat == pattern {
			ln.provider = nil
			ln.provPat = ""
			r.hasProviderLocked(ln.name, false)
			r.startLocked(ln)
		}
	}
}

// subscribed is called when name gets its first subscriber anywhere.
func (r *listenRegistry) subscribed(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv.fan.Count(string(r.key)+name) == 0 {
		return // already gone again (the last unsubscribe overtook us)
	}
	ln := r.names[name]
	if ln == nil {
		ln = &listenName{name: name}
		r.names[name] = ln
	}
	if ln.provider == nil && ln.current == nil {
		r.startLocked(ln)
	}
}

// unsubscribed is called when name lost its last subscriber: the provider is told SR.
func (r *listenRegistry) unsubscribed(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv.fan.Count(string(r.key)+name) > 0 {
		return // resubscribed meanwhile
	}
	ln := r.names[name]
	if ln == nil {
		return
	}
	delete(r.names, name)
	ln.gen++
	if ln.timer != nil {
		ln.timer.Stop()
	}
	if ln.provider != nil {
		r.sendLocked(ln.provider, frame.ActionSubscriptionForPatternRemoved, ln.provPat, name)
	}
}

// provider reports whether name has an active provider (records: SH|T for a new subscriber).
func (r *listenRegistry) hasProvider(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ln := r.names[name]
	return ln != nil && ln.provider != nil
}

// startLocked begins a discovery round for ln: every listener whose pattern matches, shuffled if
// configured, asked one at a time.
func (r *listenRegistry) startLocked(ln *listenName) {
	ln.queue = ln.queue[:0]
	ln.tried = map[listenCandidate]bool{}
	for pattern, lp := range r.patterns {
		if !lp.re.MatchString(ln.name) {
			continue
		}
		for _, l := range lp.listeners {
			ln.queue = append(ln.queue, listenCandidate{l, pattern})
		}
	}
	if r.srv.cfg.ShuffleListenProviders {
		rand.Shuffle(len(ln.queue), func(i, j int) { ln.queue[i], ln.queue[j] = ln.queue[j], ln.queue[i] })
	}
	r.askNextLocked(ln)
}

// askNextLocked asks the next candidate with SP and arms the response timeout; with no candidate
// left the round ends (a new listener starts another).
func (r *listenRegistry) askNextLocked(ln *listenName) {
	if ln.timer != nil {
		ln.timer.Stop()
		ln.timer = nil
	}
	ln.current = nil
	ln.gen++
	if len(ln.queue) == 0 {
		return
	}
	c := ln.queue[0]
	ln.queue = ln.queue[1:]
	ln.current = &c
	ln.tried[c] = true
	r.sendLocked(c.sess, frame.ActionSubscriptionForPatternFound, c.pattern, ln.name)
	gen := ln.gen
	ln.timer = time.AfterFunc(r.srv.cfg.ListenResponseTimeout.D(), func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if ln.gen == gen && r.names[ln.name] == ln {
			r.askNextLocked(ln)
		}
	})
}

// answer handles LA (accept) or LR (reject) from s for (pattern, name).
func (r *listenRegistry) answer(s *Session, pattern, name string, accept bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ln := r.names[name]
	c := listenCandidate{s, pattern}
	if ln == nil {
		if accept {
			// Nobody is subscribed any more: the provider is released at once.
			r.sendLocked(s, frame.ActionSubscriptionForPatternRemoved, pattern, name)
		}
		return
	}
	isCurrent := ln.current != nil && *ln.current == c
	if !accept {
		if isCurrent {
			r.askNextLocked(ln)
		}
		return
	}
	if ln.provider != nil {
		if ln.provider != s || ln.provPat != pattern {
			// A late accept after someone else took the name.
			r.sendLocked(s, frame.ActionSubscriptionForPatternRemoved, pattern, name)
		}
		return
	}
	if !isCurrent && !ln.tried[c] {
		return // never asked: ignore
	}
	if ln.timer != nil {
		ln.timer.Stop()
		ln.timer = nil
	}
	ln.gen++
	ln.current = nil
	ln.queue = ln.queue[:0]
	ln.provider = s
	ln.provPat = pattern
	r.hasProviderLocked(name, true)
}

// hasProviderLocked tells a record's subscribers SH|T or SH|F. Events have no such message.
func (r *listenRegistry) hasProviderLocked(name string, has bool) {
	if r.topic != frame.TopicRecord {
		return
	}
	flag := "F"
	if has {
		flag = "T"
	}
	msg := frame.AppendHeader(nil, r.topic, frame.ActionSubscriptionHasProvider)
	msg = frame.AppendPartString(msg, name)
	msg = frame.EndMessage(frame.AppendPartString(msg, flag))
	r.srv.fan.Publish(string(r.key)+name, msg, nil)
}

func (r *listenRegistry) sendLocked(s *Session, a frame.Action, pattern, name string) {
	msg := frame.AppendHeader(nil, r.topic, a)
	msg = frame.AppendPartString(msg, pattern)
	msg = frame.EndMessage(frame.AppendPartString(msg, name))
	r.srv.fan.Send(s, msg)
}
