package server

import (
	"math/rand/v2"
	"sync"
	"time"

	"swiftlet/frame"
)

// The RPC state machine (protocol.md section 6).
//
// A request belongs to its requester's loop: the rpcCore of that loop creates it, routes it, runs its
// ack and response deadlines, and is the only goroutine that reads or writes it. The provider may be on
// any loop. What a provider sends about a request (ack, response, error, rejection) is looked up in the
// registry's index (provider, correlation id) -> (core, request, generation) on the provider's loop
// and handed to the owning core: called directly when the provider is on the same loop, otherwise
// posted to the core's inbox, which wakes the owner loop once per burst. A provider that disconnects
// is handed over the same way, as a "gone" event per request in flight.
//
// Every route bumps the request's generation, so an event or a deadline that belongs to an earlier
// route (or to an earlier life of a pooled request) is recognised and ignored: a provider message
// that no longer matches gets INVALID_RPC_CORRELATION_ID.
//
// Deadlines: every request of a core has the same two timeouts and the core's clock does not go back,
// so deadlines are pushed in nondecreasing order and two FIFO queues (ack, response) replace a timer
// per request. The core keeps one wake-up armed for the earliest head. Entries of requests that ended
// are dropped when they reach the head; this costs one queue slot per route until its deadline, and
// saves a timer allocation and a heap operation per request.

// rpcEnv is what a core needs from its loop. The Session glue implements it with the loop's timers and
// fanout; tests implement it with a fake clock.
type rpcEnv interface {
	// now is the core's clock; it never goes back.
	now() time.Time
	// afterFunc runs fn on the core's goroutine once d has passed.
	afterFunc(d time.Duration, fn func())
	// execute runs fn on the core's goroutine soon. Safe for concurrent use.
	execute(fn func())
	// send delivers msg, one or more complete messages, to session to (on any loop). msg is copied.
	send(to *Session, msg []byte)
}

// rpcEvent kinds: what a provider said about a request, or that it is gone.
const (
	rpcEvAck uint8 = iota + 1
	rpcEvResponse
	rpcEvError
	rpcEvReject
	rpcEvGone
)

// rpcRequest is one request in flight, owned by its core.
type rpcRequest struct {
	requester *Session // nil once the requester is gone: answers are then discarded
	provider  *Session
	cid       string // correlation id (the key in the requester map and the registry index)
	name      []byte // the RPC name
	msg       []byte // the P|REQ message as received, with its 0x1E, forwarded to each provider
	tried     []*Session
	gen       uint32 // bumped at every route and at the end
	acked     bool
	live      bool
}

// rpcRef is an index entry: the request a provider is asked, and which route of it.
type rpcRef struct {
	core *rpcCore
	req  *rpcRequest
	gen  uint32
}

type rpcDeadline struct {
	at  time.Time
	req *rpcRequest
	gen uint32
}

// deadlineQueue is a FIFO ring of deadlines in nondecreasing order.
type deadlineQueue struct {
	buf        []rpcDeadline
	head, size int
}

func (q *deadlineQueue) push(d rpcDeadline) {
	if q.size == len(q.buf) {
		n := make([]rpcDeadline, max(16, 2*len(q.buf)))
		for i := 0; i < q.size; i++ {
			n[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = n, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = d
	q.size++
}

func (q *deadlineQueue) peek() (rpcDeadline, bool) {
	if q.size == 0 {
		return rpcDeadline{}, false
	}
	return q.buf[q.head], true
}

func (q *deadlineQueue) pop() {
	q.buf[q.head] = rpcDeadline{}
	q.head = (q.head + 1) % len(q.buf)
	q.size--
}

// rpcCore is the RPC state machine of one loop. All methods but post run on the loop's goroutine.
type rpcCore struct {
	reg  *rpcRegistry
	env  rpcEnv
	rnd  *rand.Rand
	byRq map[*Session]map[string]*rpcRequest // requester -> correlation id -> request
	free []*rpcRequest

	ackQ, resQ deadlineQueue
	wakeAt     time.Time // the earliest wake-up armed; zero when none
	expireFn   func()
	drainFn    func()
	out        []byte // message building
	parse      frame.Message

	inbox struct {
		mu     sync.Mutex
		evs    []rpcInboxEvent
		buf    []byte
		queued bool
	}
	evs []rpcInboxEvent // the batch being processed (swapped with inbox.evs)
	buf []byte
}

type rpcInboxEvent struct {
	kind     uint8
	from     *Session
	ref      rpcRef
	off, end int // the provider's message in buf
}

func newRPCCore(reg *rpcRegistry, env rpcEnv, seed uint64) *rpcCore {
	c := &rpcCore{reg: reg, env: env, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byRq: map[*Session]map[string]*rpcRequest{}}
	c.expireFn = c.expire
	c.drainFn = c.drain
	return c
}

// request starts the RPC of msg (P|REQ|name|cid|data with its 0x1E) from requester. name and cid are
// parts of msg, already validated.
func (c *rpcCore) request(requester *Session, msg, name, cid []byte) {
	reqs := c.byRq[requester]
	if reqs[string(cid)] != nil {
		// The client never reuses a correlation id in flight; a second one could not be told apart.
		c.out = frame.AppendError(c.out[:0], frame.TopicRPC, frame.EvInvalidMessageData, msg[:len(msg)-1])
		c.env.send(requester, c.out)
		return
	}
	if reqs == nil {
		reqs = map[string]*rpcRequest{}
		c.byRq[requester] = reqs
	}
	r := c.alloc()
	r.requester = requester
	r.msg = append(r.msg[:0], msg...)
	r.name = append(r.name[:0], name...)
	r.cid = string(cid) // the one allocation per request: the key of two maps
	r.live = true
	reqs[r.cid] = r
	c.route(r)
}

func (c *rpcCore) alloc() *rpcRequest {
	if n := len(c.free); n > 0 {
		r := c.free[n-1]
		c.free = c.free[:n-1]
		return r
	}
	return &rpcRequest{}
}

// route sends r to a provider of its name not tried yet, or ends it with NO_RPC_PROVIDER.
func (c *rpcCore) route(r *rpcRequest) {
	old := r.provider
	r.gen++
	r.acked = false
	p := c.reg.pick(c, r, old)
	if p == nil {
		r.provider = nil
		c.fail(r, frame.EvNoRPCProvider)
		return
	}
	r.provider = p
	r.tried = append(r.tried, p)
	c.env.send(p, r.msg)
	now := c.env.now()
	c.schedule(&c.ackQ, rpcDeadline{at: now.Add(c.reg.ackTimeout), req: r, gen: r.gen})
	c.schedule(&c.resQ, rpcDeadline{at: now.Add(c.reg.timeout), req: r, gen: r.gen})
}

func (c *rpcCore) schedule(q *deadlineQueue, d rpcDeadline) {
	q.push(d)
	if c.wakeAt.IsZero() || d.at.Before(c.wakeAt) {
		c.wakeAt = d.at
		c.env.afterFunc(d.at.Sub(c.env.now()), c.expireFn)
	}
}

// fail tells the requester <event>|name|cid and ends r.
func (c *rpcCore) fail(r *rpcRequest, event string) {
	if r.requester != nil {
		c.out = frame.AppendError(c.out[:0], frame.TopicRPC, event, r.name, []byte(r.cid))
		c.env.send(r.requester, c.out)
	}
	c.finish(r)
}

// finish forgets r: out of the requester map and the index, back to the pool.
func (c *rpcCore) finish(r *rpcRequest) {
	if !r.live {
		return
	}
	if r.provider != nil {
		c.reg.unindex(r.provider, r.cid, r, r.gen)
	}
	if r.requester != nil {
		// The requester's map stays (empty) until the requester is gone, so that its next request
		// does not allocate a new one.
		delete(c.byRq[r.requester], r.cid)
	}
	r.gen++
	r.live = false
	r.requester, r.provider, r.acked = nil, nil, false
	clear(r.tried)
	r.tried = r.tried[:0]
	r.cid = ""
	c.free = append(c.free, r)
}

// expire runs the deadlines that have passed and arms the next wake-up.
func (c *rpcCore) expire() {
	now := c.env.now()
	c.wakeAt = time.Time{}
	for {
		d, ok := c.ackQ.peek()
		if !ok || d.at.After(now) {
			break
		}
		c.ackQ.pop()
		if d.req.gen == d.gen && d.req.live && !d.req.acked {
			c.fail(d.req, frame.EvAckTimeout)
		}
	}
	for {
		d, ok := c.resQ.peek()
		if !ok || d.at.After(now) {
			break
		}
		c.resQ.pop()
		if d.req.gen == d.gen && d.req.live {
			c.fail(d.req, frame.EvResponseTimeout)
		}
	}
	next := time.Time{}
	if d, ok := c.ackQ.peek(); ok {
		next = d.at
	}
	if d, ok := c.resQ.peek(); ok && (next.IsZero() || d.at.Before(next)) {
		next = d.at
	}
	if !next.IsZero() {
		c.wakeAt = next
		c.env.afterFunc(next.Sub(now), c.expireFn)
	}
}

// providerEvent handles what provider from said about ref (msg is its message with the 0x1E; empty for
// rpcEvGone). It runs on the owning core's goroutine.
func (c *rpcCore) providerEvent(kind uint8, from *Session, ref rpcRef, msg []byte) {
	r := ref.req
	if !r.live || r.gen != ref.gen || r.provider != from {
		if kind != rpcEvGone {
			c.unexpected(from, msg)
		}
		return
	}
	switch kind {
	case rpcEvAck:
		if r.acked {
			c.out = frame.AppendError(c.out[:0], frame.TopicRPC, frame.EvMultipleAck, r.name, []byte(r.cid))
			c.env.send(from, c.out)
			return
		}
		r.acked = true
		if r.requester != nil {
			c.env.send(r.requester, msg)
		}
	case rpcEvResponse, rpcEvError:
		if r.requester != nil {
			c.env.send(r.requester, msg)
		}
		c.finish(r)
	case rpcEvReject, rpcEvGone:
		if r.requester == nil {
			c.finish(r)
			return
		}
		c.route(r)
	}
}

// unexpected answers a provider message that matches no request in flight, with 3.x's text.
func (c *rpcCore) unexpected(to *Session, msg []byte) {
	if c.parse.Parse(msg[:len(msg)-1]) != nil {
		return
	}
	c.out = appendUnexpected(c.out[:0], &c.parse)
	c.env.send(to, c.out)
}

// appendUnexpected builds P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc <name> with action
// <action> for the provider message m.
func appendUnexpected(dst []byte, m *frame.Message) []byte {
	var name []byte
	i := 0
	if m.Action == frame.ActionAck || m.Action == frame.ActionError {
		i = 1
	}
	if i < len(m.Data) {
		name = m.Data[i]
	}
	dst = frame.AppendHeader(dst, frame.TopicRPC, frame.ActionError)
	dst = frame.AppendPartString(dst, frame.EvInvalidRPCCorrelationID)
	dst = frame.AppendPartString(dst, "unexpected state for rpc ")
	dst = append(dst, name...)
	dst = append(dst, " with action "...)
	dst = append(dst, m.ActionRaw...)
	return frame.EndMessage(dst)
}

// requesterGone orphans the requests of a requester whose connection is gone: they stay until their
// provider answers or their deadline passes, and whatever the provider says is discarded silently.
func (c *rpcCore) requesterGone(s *Session) {
	for _, r := range c.byRq[s] {
		r.requester = nil
	}
	delete(c.byRq, s)
}

// post hands a provider event to the core from another loop. Safe for concurrent use.
func (c *rpcCore) post(kind uint8, from *Session, ref rpcRef, msg []byte) {
	in := &c.inbox
	in.mu.Lock()
	off := len(in.buf)
	in.buf = append(in.buf, msg...)
	in.evs = append(in.evs, rpcInboxEvent{kind: kind, from: from, ref: ref, off: off, end: len(in.buf)})
	wake := !in.queued
	in.queued = true
	in.mu.Unlock()
	if wake {
		c.env.execute(c.drainFn)
	}
}

// drain processes the events posted since the last drain, in order.
func (c *rpcCore) drain() {
	in := &c.inbox
	in.mu.Lock()
	c.evs, in.evs = in.evs, c.evs[:0]
	c.buf, in.buf = in.buf, c.buf[:0]
	in.queued = false
	in.mu.Unlock()
	for i := range c.evs {
		e := &c.evs[i]
		c.providerEvent(e.kind, e.from, e.ref, c.buf[e.off:e.end])
		*e = rpcInboxEvent{}
	}
	c.evs = c.evs[:0]
}

// rpcProviders are the providers of one name, in provide order.
type rpcProviders struct {
	list []*Session
	next int // round-robin position
}

// pick chooses the provider for r's next route among those not tried yet and indexes (provider, cid)
// -> r, replacing old's entry. It returns nil when none is left. Called on c's goroutine.
func (reg *rpcRegistry) pick(c *rpcCore, r *rpcRequest, old *Session) *Session {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if old != nil {
		reg.unindexLocked(old, r.cid, r)
	}
	ps := reg.providers[string(r.name)]
	if ps == nil {
		return nil
	}
	for {
		n := 0
		for _, p := range ps.list {
			if !tried(r, p) {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		var p *Session
		if reg.roundRobin {
			for k := range ps.list {
				i := (ps.next + k) % len(ps.list)
				if !tried(r, ps.list[i]) {
					p = ps.list[i]
					ps.next = i + 1
					break
				}
			}
		} else {
			k := c.rnd.IntN(n)
			for _, q := range ps.list {
				if tried(r, q) {
					continue
				}
				if k == 0 {
					p = q
					break
				}
				k--
			}
		}
		idx := reg.inflight[p]
		if idx == nil {
			idx = map[string]rpcRef{}
			reg.inflight[p] = idx
		}
		if _, taken := idx[r.cid]; taken {
			// Another requester's request with the same correlation id is in flight at p: p could not
			// tell the two apart, so it is not asked.
			r.tried = append(r.tried, p)
			continue
		}
		idx[r.cid] = rpcRef{core: c, req: r, gen: r.gen}
		return p
	}
}

func tried(r *rpcRequest, p *Session) bool {
	for _, t := range r.tried {
		if t == p {
			return true
		}
	}
	return false
}

// unindex removes (provider, cid) if it still refers to r at gen. Safe for concurrent use.
func (reg *rpcRegistry) unindex(provider *Session, cid string, r *rpcRequest, gen uint32) {
	reg.mu.Lock()
	if ref, ok := reg.inflight[provider][cid]; ok && ref.req == r && ref.gen == gen {
		reg.unindexLocked(provider, cid, r)
	}
	reg.mu.Unlock()
}

func (reg *rpcRegistry) unindexLocked(provider *Session, cid string, r *rpcRequest) {
	idx := reg.inflight[provider]
	if ref, ok := idx[cid]; ok && ref.req == r {
		delete(idx, cid)
	}
}

// lookup finds the request provider was asked with cid. Safe for concurrent use.
func (reg *rpcRegistry) lookup(provider *Session, cid []byte) (rpcRef, bool) {
	reg.mu.Lock()
	ref, ok := reg.inflight[provider][string(cid)]
	reg.mu.Unlock()
	return ref, ok
}

// provide adds s as a provider of name; false if it already provides it. Safe for concurrent use.
func (reg *rpcRegistry) provide(s *Session, name []byte) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	ps := reg.providers[string(name)]
	if ps == nil {
		ps = &rpcProviders{}
		reg.providers[string(name)] = ps
	}
	for _, p := range ps.list {
		if p == s {
			return false
		}
	}
	ps.list = append(ps.list, s)
	reg.byProv[s] = append(reg.byProv[s], string(name))
	return true
}

// unprovide removes s as a provider of name; false if it did not provide it. Requests already sent to
// s stay with it. Safe for concurrent use.
func (reg *rpcRegistry) unprovide(s *Session, name []byte) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.unprovideLocked(s, string(name))
}

func (reg *rpcRegistry) unprovideLocked(s *Session, name string) bool {
	ps := reg.providers[name]
	if ps == nil {
		return false
	}
	names := reg.byProv[s]
	for i, n := range names {
		if n == name {
			reg.byProv[s] = append(names[:i], names[i+1:]...)
			break
		}
	}
	for i, p := range ps.list {
		if p == s {
			ps.list = append(ps.list[:i], ps.list[i+1:]...)
			if len(ps.list) == 0 {
				delete(reg.providers, name)
			} else if ps.next > i {
				ps.next--
			}
			return true
		}
	}
	return false
}

// removeProvider forgets s as a provider of every name and returns the requests in flight at s, which
// the caller hands to their cores as rpcEvGone. Safe for concurrent use.
func (reg *rpcRegistry) removeProvider(s *Session) []rpcRef {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	names := reg.byProv[s]
	delete(reg.byProv, s)
	for _, name := range names {
		reg.unprovideLocked(s, name)
	}
	idx := reg.inflight[s]
	delete(reg.inflight, s)
	if len(idx) == 0 {
		return nil
	}
	refs := make([]rpcRef, 0, len(idx))
	for _, ref := range idx {
		refs = append(refs, ref)
	}
	return refs
}

// providerMessage hands msg, provider from's message of the given kind about cid, to the core of the
// request; false when from has no request with that correlation id (the caller then answers
// INVALID_RPC_CORRELATION_ID). Called on here's goroutine.
func (reg *rpcRegistry) providerMessage(here *rpcCore, kind uint8, from *Session, cid, msg []byte) bool {
	ref, ok := reg.lookup(from, cid)
	if !ok {
		return false
	}
	reg.dispatch(here, kind, from, ref, msg)
	return true
}

// dispatch hands a provider event to the core that owns ref: directly when that is the caller's core
// (here), else through the owner's inbox. Called on here's goroutine.
func (reg *rpcRegistry) dispatch(here *rpcCore, kind uint8, from *Session, ref rpcRef, msg []byte) {
	if ref.core == here {
		here.providerEvent(kind, from, ref, msg)
		return
	}
	ref.core.post(kind, from, ref, msg)
}
