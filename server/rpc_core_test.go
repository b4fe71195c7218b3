package server

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"swiftlet/frame"
)

// fakeRPCEnv is a core's loop in a test: a clock moved by hand, timers run by advance, executes queued
// until run, and every message sent recorded per session (with | for 0x1F).
type fakeRPCEnv struct {
	t      time.Time
	timers []fakeTimer
	execs  []func()
	sent   map[*Session][]string
	count  int // messages sent, when record is off
	record bool
}

type fakeTimer struct {
	at time.Time
	fn func()
}

func newFakeRPCEnv() *fakeRPCEnv {
	return &fakeRPCEnv{t: time.Unix(1000, 0), sent: map[*Session][]string{}, record: true}
}

func (e *fakeRPCEnv) now() time.Time { return e.t }

func (e *fakeRPCEnv) afterFunc(d time.Duration, fn func()) {
	e.timers = append(e.timers, fakeTimer{at: e.t.Add(d), fn: fn})
}

func (e *fakeRPCEnv) execute(fn func()) { e.execs = append(e.execs, fn) }

func (e *fakeRPCEnv) send(to *Session, msg []byte) {
	if !e.record {
		e.count++
		return
	}
	for _, m := range strings.Split(string(msg), "\x1e") {
		if m != "" {
			e.sent[to] = append(e.sent[to], strings.ReplaceAll(m, "\x1f", "|"))
		}
	}
}

// advance moves the clock by d, running every timer that falls due, in deadline order.
func (e *fakeRPCEnv) advance(d time.Duration) {
	end := e.t.Add(d)
	for {
		sort.SliceStable(e.timers, func(i, j int) bool { return e.timers[i].at.Before(e.timers[j].at) })
		if len(e.timers) == 0 || e.timers[0].at.After(end) {
			break
		}
		tm := e.timers[0]
		e.timers = e.timers[1:]
		if tm.at.After(e.t) {
			e.t = tm.at
		}
		tm.fn()
	}
	e.t = end
}

func (e *fakeRPCEnv) runExecs() {
	for len(e.execs) > 0 {
		fn := e.execs[0]
		e.execs = e.execs[1:]
		fn()
	}
}

// take returns and forgets what s was sent.
func (e *fakeRPCEnv) take(s *Session) []string {
	m := e.sent[s]
	delete(e.sent, s)
	return m
}

type rpcHarness struct {
	t     *testing.T
	reg   *rpcRegistry
	env   *fakeRPCEnv
	core  *rpcCore
	msg   frame.Message
	scrat []byte
}

func newRPCHarness(t *testing.T, roundRobin bool) *rpcHarness {
	reg := newRPCRegistryWith(time.Second, 10*time.Second, roundRobin)
	env := newFakeRPCEnv()
	core := newRPCCore(reg, env, 1)
	reg.cores = []*rpcCore{core}
	return &rpcHarness{t: t, reg: reg, env: env, core: core}
}

func wire(text string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(text, "|", "\x1f"), "+", "\x1e"))
}

// request sends P|REQ|name|cid|data from s, as handleRPC does after validation.
func (h *rpcHarness) request(s *Session, name, cid, data string) {
	msg := wire("P|REQ|" + name + "|" + cid + "|" + data + "+")
	h.core.request(s, msg, []byte(name), []byte(cid))
}

// provider sends text (without the final +) from provider s on core here, as Session.fromProvider does.
func (h *rpcHarness) provider(here *rpcCore, s *Session, text string) {
	h.t.Helper()
	chunk := wire(text)
	if err := h.msg.Parse(chunk); err != nil {
		h.t.Fatalf("parse %q: %v", text, err)
	}
	var kind uint8
	var cid []byte
	switch h.msg.Action {
	case frame.ActionAck:
		kind, cid = rpcEvAck, h.msg.Data[2]
	case frame.ActionResponse:
		kind, cid = rpcEvResponse, h.msg.Data[1]
	case frame.ActionError:
		kind, cid = rpcEvError, h.msg.Data[2]
	case frame.ActionRejection:
		kind, cid = rpcEvReject, h.msg.Data[1]
	default:
		h.t.Fatalf("not a provider message: %q", text)
	}
	msg := frame.EndMessage(append([]byte(nil), chunk...))
	if !h.reg.providerMessage(here, kind, s, cid, msg) {
		h.scrat = appendUnexpected(h.scrat[:0], &h.msg)
		here.env.send(s, h.scrat)
	}
}

func (h *rpcHarness) provide(s *Session, name string) {
	h.t.Helper()
	if !h.reg.provide(s, []byte(name)) {
		h.t.Fatalf("provide %s twice", name)
	}
}

// disconnect does what Session.rpcClosed does for s on core here.
func (h *rpcHarness) disconnect(here *rpcCore, s *Session) {
	here.requesterGone(s)
	for _, ref := range h.reg.removeProvider(s) {
		h.reg.dispatch(here, rpcEvGone, s, ref, nil)
	}
}

// idle asserts that no request is left in flight anywhere.
func (h *rpcHarness) idle() {
	h.t.Helper()
	for _, c := range h.reg.cores {
		for s, reqs := range c.byRq {
			if len(reqs) != 0 {
				h.t.Fatalf("requests of %p left in flight: %v", s, reqs)
			}
		}
	}
	h.reg.mu.Lock()
	defer h.reg.mu.Unlock()
	for p, idx := range h.reg.inflight {
		if len(idx) != 0 {
			h.t.Fatalf("index left for provider %p: %v", p, idx)
		}
	}
}

func expectMsgs(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s got %q, want %q", who, got, want)
	}
}

func TestRPCAckAndResponseForwarded(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "add")
	h.request(a, "add", "c1", `O{"a":1,"b":2}`)
	expectMsgs(t, "provider", h.env.take(b), `P|REQ|add|c1|O{"a":1,"b":2}`)
	h.provider(h.core, b, "P|A|REQ|add|c1")
	expectMsgs(t, "requester", h.env.take(a), "P|A|REQ|add|c1")
	h.provider(h.core, b, "P|RES|add|c1|N3")
	expectMsgs(t, "requester", h.env.take(a), "P|RES|add|c1|N3")
	h.idle()
	// The request is over: no timeout fires later, and a late response is unexpected.
	h.env.advance(time.Minute)
	expectMsgs(t, "requester", h.env.take(a))
	h.provider(h.core, b, "P|RES|add|c1|N3")
	expectMsgs(t, "provider", h.env.take(b), "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc add with action RES")
}

func TestRPCProviderError(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "fail")
	h.request(a, "fail", "c1", "U")
	h.env.take(b)
	h.provider(h.core, b, "P|E|nope|fail|c1")
	expectMsgs(t, "requester", h.env.take(a), "P|E|nope|fail|c1")
	h.idle()
}

func TestRPCNoProvider(t *testing.T) {
	h := newRPCHarness(t, false)
	a := &Session{}
	h.request(a, "none", "c1", "U")
	expectMsgs(t, "requester", h.env.take(a), "P|E|NO_RPC_PROVIDER|none|c1")
	h.idle()
	if len(h.env.timers) != 0 {
		t.Fatalf("a failed request armed %d timers", len(h.env.timers))
	}
}

func TestRPCRoundRobin(t *testing.T) {
	h := newRPCHarness(t, true)
	a := &Session{}
	ps := []*Session{{}, {}, {}}
	for _, p := range ps {
		h.provide(p, "rr")
	}
	for i := range 9 {
		cid := string(rune('a' + i))
		h.request(a, "rr", cid, "U")
		p := ps[i%3]
		expectMsgs(t, "provider", h.env.take(p), "P|REQ|rr|"+cid+"|U")
		for _, q := range ps {
			if q != p && len(h.env.sent[q]) != 0 {
				t.Fatalf("request %d also reached another provider", i)
			}
		}
		h.provider(h.core, p, "P|RES|rr|"+cid+"|U")
	}
	h.idle()
}

func TestRPCRandomRouting(t *testing.T) {
	h := newRPCHarness(t, false)
	a := &Session{}
	ps := []*Session{{}, {}, {}}
	for _, p := range ps {
		h.provide(p, "r")
	}
	const n = 600
	hits := map[*Session]int{}
	for i := range n {
		cid := "c" + string(rune('0'+i%10)) + string(rune('a'+i/10%26)) + string(rune('A'+i/260))
		h.request(a, "r", cid, "U")
		got := 0
		for _, p := range ps {
			if m := h.env.take(p); len(m) > 0 {
				got += len(m)
				hits[p]++
				h.provider(h.core, p, "P|RES|r|"+cid+"|U")
			}
		}
		if got != 1 {
			t.Fatalf("request %d reached %d providers", i, got)
		}
	}
	for i, p := range ps {
		// Uniform would be 200 each; 120 is more than 8 standard deviations away.
		if hits[p] < 120 {
			t.Fatalf("provider %d got %d of %d requests: %v", i, hits[p], n, hits)
		}
	}
	h.idle()
}

func TestRPCRejectionTriesEveryProviderOnce(t *testing.T) {
	for _, rr := range []bool{false, true} {
		h := newRPCHarness(t, rr)
		a := &Session{}
		ps := []*Session{{}, {}, {}}
		for _, p := range ps {
			h.provide(p, "rej")
		}
		h.request(a, "rej", "c1", "Sx")
		asked := map[*Session]bool{}
		for range ps {
			var cur *Session
			for _, p := range ps {
				if m := h.env.take(p); len(m) > 0 {
					expectMsgs(t, "provider", m, "P|REQ|rej|c1|Sx")
					if cur != nil || asked[p] {
						t.Fatalf("roundRobin=%v: asked twice or two at once", rr)
					}
					cur = p
				}
			}
			if cur == nil {
				t.Fatalf("roundRobin=%v: nobody asked", rr)
			}
			asked[cur] = true
			expectMsgs(t, "requester", h.env.take(a))
			h.provider(h.core, cur, "P|REJ|rej|c1")
		}
		expectMsgs(t, "requester", h.env.take(a), "P|E|NO_RPC_PROVIDER|rej|c1")
		h.idle()
	}
}

func TestRPCRejectionAfterAckReroutes(t *testing.T) {
	h := newRPCHarness(t, true)
	a, b, c := &Session{}, &Session{}, &Session{}
	h.provide(b, "x")
	h.provide(c, "x")
	h.request(a, "x", "c1", "U")
	h.env.take(b)
	h.provider(h.core, b, "P|A|REQ|x|c1")
	h.provider(h.core, b, "P|REJ|x|c1")
	expectMsgs(t, "c", h.env.take(c), "P|REQ|x|c1|U")
	// c's ack is its first: no MULTIPLE_ACK, the requester sees a second ack (as with 3.x).
	h.provider(h.core, c, "P|A|REQ|x|c1")
	expectMsgs(t, "c", h.env.take(c))
	// b is no longer the provider of c1.
	h.provider(h.core, b, "P|RES|x|c1|U")
	expectMsgs(t, "b", h.env.take(b), "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc x with action RES")
	h.provider(h.core, c, "P|RES|x|c1|N1")
	expectMsgs(t, "requester", h.env.take(a), "P|A|REQ|x|c1", "P|A|REQ|x|c1", "P|RES|x|c1|N1")
	h.idle()
}

func TestRPCAckTimeout(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "slow")
	h.request(a, "slow", "c1", "U")
	h.env.advance(999 * time.Millisecond)
	expectMsgs(t, "requester", h.env.take(a))
	h.env.advance(time.Millisecond)
	expectMsgs(t, "requester", h.env.take(a), "P|E|ACK_TIMEOUT|slow|c1")
	h.idle()
	h.env.advance(time.Minute)
	expectMsgs(t, "requester", h.env.take(a)) // no RESPONSE_TIMEOUT after the ack timeout
	h.env.take(b)
	h.provider(h.core, b, "P|A|REQ|slow|c1")
	expectMsgs(t, "provider", h.env.take(b), "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc slow with action A")
}

func TestRPCResponseTimeout(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "late")
	h.request(a, "late", "c1", "U")
	h.env.advance(500 * time.Millisecond)
	h.provider(h.core, b, "P|A|REQ|late|c1")
	expectMsgs(t, "requester", h.env.take(a), "P|A|REQ|late|c1")
	h.env.advance(9499 * time.Millisecond)
	expectMsgs(t, "requester", h.env.take(a))
	h.env.advance(time.Millisecond)
	expectMsgs(t, "requester", h.env.take(a), "P|E|RESPONSE_TIMEOUT|late|c1")
	h.idle()
}

func TestRPCDeadlinesRestartOnReroute(t *testing.T) {
	h := newRPCHarness(t, true)
	a, b, c := &Session{}, &Session{}, &Session{}
	h.provide(b, "x")
	h.provide(c, "x")
	h.request(a, "x", "c1", "U")
	h.env.advance(900 * time.Millisecond)
	h.provider(h.core, b, "P|REJ|x|c1")
	h.env.advance(200 * time.Millisecond) // b's ack deadline passed; c's has not
	expectMsgs(t, "requester", h.env.take(a))
	h.env.advance(700 * time.Millisecond)
	expectMsgs(t, "requester", h.env.take(a))
	h.env.advance(100 * time.Millisecond)
	expectMsgs(t, "requester", h.env.take(a), "P|E|ACK_TIMEOUT|x|c1")
	h.idle()
}

func TestRPCMultipleAck(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "m")
	h.request(a, "m", "c1", "U")
	h.env.take(b)
	h.provider(h.core, b, "P|A|REQ|m|c1")
	h.provider(h.core, b, "P|A|REQ|m|c1")
	expectMsgs(t, "provider", h.env.take(b), "P|E|MULTIPLE_ACK|m|c1")
	expectMsgs(t, "requester", h.env.take(a), "P|A|REQ|m|c1")
	h.provider(h.core, b, "P|RES|m|c1|T")
	expectMsgs(t, "requester", h.env.take(a), "P|RES|m|c1|T")
	h.idle()
}

func TestRPCUnknownCorrelationID(t *testing.T) {
	h := newRPCHarness(t, false)
	b := &Session{}
	h.provide(b, "n")
	for _, tc := range []struct{ in, want string }{
		{"P|RES|n|nope|U", "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc n with action RES"},
		{"P|A|REQ|n|nope", "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc n with action A"},
		{"P|E|err|n|nope", "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc n with action E"},
		{"P|REJ|n|nope", "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc n with action REJ"},
	} {
		h.provider(h.core, b, tc.in)
		expectMsgs(t, tc.in, h.env.take(b), tc.want)
	}
	// Another session cannot answer a request it was not asked.
	a, c := &Session{}, &Session{}
	h.request(a, "n", "c1", "U")
	h.provider(h.core, c, "P|RES|n|c1|U")
	expectMsgs(t, "stranger", h.env.take(c), "P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc n with action RES")
	expectMsgs(t, "requester", h.env.take(a))
}

func TestRPCProviderDisconnectReroutes(t *testing.T) {
	h := newRPCHarness(t, true)
	a, b, c := &Session{}, &Session{}, &Session{}
	h.provide(b, "x")
	h.provide(c, "x")
	h.request(a, "x", "c1", "U") // b (round robin)
	h.request(a, "x", "c2", "U") // c
	h.request(a, "x", "c3", "U") // b
	expectMsgs(t, "b", h.env.take(b), "P|REQ|x|c1|U", "P|REQ|x|c3|U")
	expectMsgs(t, "c", h.env.take(c), "P|REQ|x|c2|U")
	h.provider(h.core, b, "P|A|REQ|x|c1")
	h.disconnect(h.core, b)
	got := h.env.take(c)
	sort.Strings(got)
	expectMsgs(t, "c", got, "P|REQ|x|c1|U", "P|REQ|x|c3|U")
	// c disconnects too: nobody is left, every request fails at once.
	h.disconnect(h.core, c)
	got = h.env.take(a)
	sort.Strings(got)
	expectMsgs(t, "requester", got, "P|A|REQ|x|c1",
		"P|E|NO_RPC_PROVIDER|x|c1", "P|E|NO_RPC_PROVIDER|x|c2", "P|E|NO_RPC_PROVIDER|x|c3")
	h.idle()
	h.env.advance(time.Minute)
	expectMsgs(t, "requester", h.env.take(a))
	h.request(a, "x", "c4", "U")
	expectMsgs(t, "requester", h.env.take(a), "P|E|NO_RPC_PROVIDER|x|c4")
}

func TestRPCRequesterDisconnect(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "x")
	h.request(a, "x", "c1", "U")
	h.request(a, "x", "c2", "U")
	h.request(a, "x", "c3", "U")
	h.env.take(b)
	h.provider(h.core, b, "P|A|REQ|x|c1")
	h.env.take(a)
	h.disconnect(h.core, a)
	// Whatever the provider says now is dropped silently: no error to the provider, nothing to a.
	h.provider(h.core, b, "P|RES|x|c1|U")
	h.provider(h.core, b, "P|REJ|x|c2")
	expectMsgs(t, "provider", h.env.take(b))
	expectMsgs(t, "requester", h.env.take(a))
	// c3 is never answered: its deadline ends it, silently.
	h.env.advance(time.Minute)
	expectMsgs(t, "requester", h.env.take(a))
	expectMsgs(t, "provider", h.env.take(b))
	h.idle()
}

func TestRPCRequesterIsItsOwnProvider(t *testing.T) {
	h := newRPCHarness(t, false)
	a := &Session{}
	h.provide(a, "self")
	h.request(a, "self", "c1", "Shi")
	expectMsgs(t, "a", h.env.take(a), "P|REQ|self|c1|Shi")
	h.provider(h.core, a, "P|A|REQ|self|c1")
	h.provider(h.core, a, "P|RES|self|c1|Sho")
	expectMsgs(t, "a", h.env.take(a), "P|A|REQ|self|c1", "P|RES|self|c1|Sho")
	h.idle()
	// Disconnecting with its own request in flight at itself ends it without a word.
	h.request(a, "self", "c2", "U")
	h.env.take(a)
	h.disconnect(h.core, a)
	expectMsgs(t, "a", h.env.take(a))
	h.idle()
}

func TestRPCDuplicateCorrelationID(t *testing.T) {
	h := newRPCHarness(t, false)
	a, a2, b := &Session{}, &Session{}, &Session{}
	h.provide(b, "x")
	h.request(a, "x", "c1", "U")
	h.request(a, "x", "c1", "U")
	expectMsgs(t, "requester", h.env.take(a), "P|E|INVALID_MESSAGE_DATA|P|REQ|x|c1|U")
	// Another requester's c1 cannot go to b, which could not tell the two apart.
	h.request(a2, "x", "c1", "U")
	expectMsgs(t, "other requester", h.env.take(a2), "P|E|NO_RPC_PROVIDER|x|c1")
	expectMsgs(t, "provider", h.env.take(b), "P|REQ|x|c1|U")
}

func TestRPCUnprovideKeepsRequestsInFlight(t *testing.T) {
	h := newRPCHarness(t, false)
	a, b := &Session{}, &Session{}
	h.provide(b, "x")
	h.request(a, "x", "c1", "U")
	if !h.reg.unprovide(b, []byte("x")) || h.reg.unprovide(b, []byte("x")) {
		t.Fatal("unprovide should succeed once")
	}
	h.provider(h.core, b, "P|RES|x|c1|U")
	expectMsgs(t, "requester", h.env.take(a), "P|RES|x|c1|U")
	h.request(a, "x", "c2", "U")
	expectMsgs(t, "requester", h.env.take(a), "P|E|NO_RPC_PROVIDER|x|c2")
	h.idle()
}

// TestRPCAcrossCores runs requester and provider on two cores: the provider's messages go through the
// owner's inbox, batched into one wake-up.
func TestRPCAcrossCores(t *testing.T) {
	h := newRPCHarness(t, false)
	env2 := newFakeRPCEnv()
	core2 := newRPCCore(h.reg, env2, 2)
	h.reg.cores = append(h.reg.cores, core2)
	a, b := &Session{}, &Session{}
	h.provide(b, "x")
	h.request(a, "x", "c1", "U")
	h.request(a, "x", "c2", "U")
	expectMsgs(t, "provider", h.env.take(b), "P|REQ|x|c1|U", "P|REQ|x|c2|U")
	h.provider(core2, b, "P|A|REQ|x|c1")
	h.provider(core2, b, "P|RES|x|c1|N1")
	h.provider(core2, b, "P|REJ|x|c2")
	expectMsgs(t, "requester", h.env.take(a))
	if len(h.env.execs) != 1 {
		t.Fatalf("%d wake-ups of the owner for one burst, want 1", len(h.env.execs))
	}
	h.env.runExecs()
	expectMsgs(t, "requester", h.env.take(a), "P|A|REQ|x|c1", "P|RES|x|c1|N1", "P|E|NO_RPC_PROVIDER|x|c2")
	h.idle()
	// A provider on core2 disconnecting hands its request back to core 1.
	h.request(a, "x", "c3", "U")
	h.disconnect(core2, b)
	h.env.runExecs()
	expectMsgs(t, "requester", h.env.take(a), "P|E|NO_RPC_PROVIDER|x|c3")
	h.idle()
}

// TestRPCRoundTripAllocs: a request, its ack and its response cost one allocation on the core (the
// correlation id string, the key of the requester map and the index).
func TestRPCRoundTripAllocs(t *testing.T) {
	h := newRPCHarness(t, false)
	h.env.record = false
	a, b := &Session{}, &Session{}
	h.provide(b, "add")
	req := wire(`P|REQ|add|cid01|O{"a":1}+`)
	ack := wire("P|A|REQ|add|cid01+")
	res := wire("P|RES|add|cid01|N3+")
	name, cid := []byte("add"), []byte("cid01")
	round := func() {
		h.core.request(a, req, name, cid)
		h.reg.providerMessage(h.core, rpcEvAck, b, cid, ack)
		h.reg.providerMessage(h.core, rpcEvResponse, b, cid, res)
	}
	for range 100 {
		round()
		h.env.t = h.env.t.Add(time.Millisecond)
	}
	h.env.advance(time.Minute) // drain the stale deadlines, so the queues have their size
	h.env.timers = h.env.timers[:0]
	allocs := testing.AllocsPerRun(1000, func() {
		round()
		h.env.t = h.env.t.Add(20 * time.Millisecond)
		h.core.expire()
		h.env.timers = h.env.timers[:0]
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per round trip, want at most 1", allocs)
	}
	if h.env.count == 0 {
		t.Fatal("nothing was sent")
	}
	h.idle()
}
