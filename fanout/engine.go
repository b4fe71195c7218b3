package fanout

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Subscriber is a connection as fanout sees it; the server's session wraps a loop connection. Values
// must be comparable (in practice, pointers): fanout uses them as map keys.
type Subscriber interface {
	// Shard returns the index of the shard (event loop) that owns the subscriber. It is constant for
	// the subscriber's lifetime and may be called from any goroutine.
	Shard() int
	// WriteFrame queues b, one complete encoded WebSocket frame, for the subscriber. fanout calls it
	// only on the owning shard's goroutine, from a drain. b (and every other frame of the same drain)
	// stays valid and unchanged until the drain returns, so an implementation may keep the slice and
	// write it once at the end of the function the Executor ran, but must write or copy it before
	// that. WriteFrame must not call back into the Engine (Subscribe, Unsubscribe, ...); defer such
	// work, such as disconnecting a slow consumer, until after the drain.
	WriteFrame(b []byte)
}

// Executor runs functions on one shard's goroutine. The loop implements it with gnet's
// EventLoop.Execute followed by a flush of every connection written during fn.
type Executor interface {
	// Execute arranges for fn to run soon on the shard's goroutine. Safe for concurrent use, and
	// must not block (fanout calls it from any goroutine, including the shard's own).
	Execute(fn func())
}

// DefaultWindow is the coalescing window the design calls for (design.md, "The path of one
// message", step 5): the server uses it unless configured otherwise.
const DefaultWindow = time.Millisecond

// DefaultRingSize is the ring size used when Options.RingSize is zero.
const DefaultRingSize = 4096

// MaxShards is the largest supported number of shards (the publish path keeps one bit per shard).
const MaxShards = 64

// registryStripes is the number of independently locked parts of the global topic registry (a
// power of two). Publishers take one stripe's read lock for one map lookup; 64 stripes keep
// publishers on different topics, and subscribes on different topics, off each other's cache lines.
const registryStripes = 64

// Options configures an Engine.
type Options struct {
	// Shards is the number of shards (event loops), 1 to MaxShards.
	Shards int
	// Window is how long messages may coalesce on a busy shard before they are delivered (see the
	// package doc for what "busy" means). Zero flushes at once always; the zero value does not
	// mean DefaultWindow, so a caller that wants the design's 1 ms sets it explicitly.
	Window time.Duration
	// RingSize is the capacity in records of each shard's ring, rounded up to a power of two.
	// Zero means DefaultRingSize. A full ring spills into an overflow list, it never drops.
	RingSize int
}

// Stats are the Engine's counters since New, summed over shards.
type Stats struct {
	Records   uint64 // publish records drained (one per Publish per shard with subscribers of the topic)
	Sends     uint64 // unicast records drained (one per Send)
	Delivered uint64 // records handed to subscribers: a batch of k records to n subscribers counts k*n, minus each sender's own
	Frames    uint64 // WriteFrame calls
	Bytes     uint64 // bytes passed to WriteFrame, headers included
	Drains    uint64 // drains run
	Wakes     uint64 // Executor.Execute calls made to start a drain
	Deferred  uint64 // drains postponed by the coalescing window
	RingFull  uint64 // pushes that found a ring full
	Spilled   uint64 // records that went to a shard's overflow list because its ring was full
	Topics    int    // topics with at least one subscriber now
}

// globalTopic is a topic's registry entry, shared by all shards. It exists while count > 0.
type globalTopic struct {
	mask  atomic.Uint64 // bit i set while shard i has local subscribers
	count atomic.Int64  // subscribers over all shards
}

type stripe struct {
	mu sync.RWMutex
	m  map[string]*globalTopic
	_  [cacheLine - 32]byte
}

// Engine is the topic registry and delivery engine. See the package doc.
type Engine struct {
	window  time.Duration
	seed    maphash.Seed
	shards  []*shard
	stripes [registryStripes]stripe
	topics  atomic.Int64
}

// New returns an Engine for o.Shards shards. Each shard must be attached (Attach) before its
// subscribers subscribe or anything is sent to it. New panics if o.Shards is not in 1..MaxShards or a
// value is negative: those are programming errors. Safe to call from any goroutine.
func New(o Options) *Engine {
	if o.Shards < 1 || o.Shards > MaxShards {
		panic(fmt.Sprintf("fanout: Options.Shards = %d, want 1..%d", o.Shards, MaxShards))
	}
	if o.Window < 0 || o.RingSize < 0 {
		panic("fanout: negative Options.Window or Options.RingSize")
	}
	size := o.RingSize
	if size == 0 {
		size = DefaultRingSize
	}
	p := 2
	for p < size {
		p <<= 1
	}
	e := &Engine{window: o.Window, seed: maphash.MakeSeed()}
	for i := range e.stripes {
		e.stripes[i].m = make(map[string]*globalTopic)
	}
	e.shards = make([]*shard, o.Shards)
	for i := range e.shards {
		e.shards[i] = newShard(e, i, p)
	}
	return e
}

// Attach connects shard to the Executor that runs functions on its goroutine. Call it once per shard,
// before any of the shard's subscribers subscribes and before anything is published or sent to it.
// Safe to call from any goroutine.
func (e *Engine) Attach(shard int, ex Executor) {
	if shard < 0 || shard >= len(e.shards) {
		panic(fmt.Sprintf("fanout: Attach(%d): shard out of range", shard))
	}
	if ex == nil {
		panic("fanout: Attach with a nil Executor")
	}
	sh := e.shards[shard]
	if !sh.ex.CompareAndSwap(nil, &executorBox{ex}) {
		panic(fmt.Sprintf("fanout: shard %d attached twice", shard))
	}
}

func (e *Engine) shardOf(s Subscriber) *shard {
	i := s.Shard()
	if i < 0 || i >= len(e.shards) {
		panic(fmt.Sprintf("fanout: subscriber reports shard %d of %d", i, len(e.shards)))
	}
	return e.shards[i]
}

func (e *Engine) stripeString(topic string) *stripe {
	return &e.stripes[maphash.String(e.seed, topic)&(registryStripes-1)]
}

func (e *Engine) stripeBytes(topic []byte) *stripe {
	return &e.stripes[maphash.Bytes(e.seed, topic)&(registryStripes-1)]
}

// lookup returns the registry entry of topic, or nil if nobody subscribes to it.
func (e *Engine) lookup(topic string) *globalTopic {
	st := e.stripeString(topic)
	st.mu.RLock()
	g := st.m[topic]
	st.mu.RUnlock()
	return g
}

func (e *Engine) lookupBytes(topic []byte) *globalTopic {
	st := e.stripeBytes(topic)
	st.mu.RLock()
	g := st.m[string(topic)] // no allocation: the compiler converts in place for a map index
	st.mu.RUnlock()
	return g
}

// Subscribe adds s to topic's subscribers and reports whether the topic had no subscriber anywhere
// before (first is decided under the registry lock, so of concurrent first subscribers on several
// shards exactly one sees true). Subscribing twice is a no-op that returns false. Must be called on
// the goroutine of s's shard.
func (e *Engine) Subscribe(topic string, s Subscriber) (first bool) {
	sh := e.shardOf(s)
	sh.checkNotDraining("Subscribe")
	lt := sh.topics[topic]
	newLocal := lt == nil
	if newLocal {
		lt = &localTopic{name: strings.Clone(topic), index: make(map[Subscriber]int32, 1)}
	} else if _, ok := lt.index[s]; ok {
		return false
	}
	st := e.stripeString(topic)
	st.mu.Lock()
	g := st.m[topic]
	if g == nil {
		g = new(globalTopic)
		st.m[lt.name] = g
		e.topics.Add(1)
	}
	if newLocal {
		g.mask.Or(1 << uint(sh.idx))
	}
	first = g.count.Add(1) == 1
	st.mu.Unlock()

	if newLocal {
		lt.g = g
		sh.topics[lt.name] = lt
	}
	sh.addMember(lt, s)
	return first
}

// Unsubscribe removes s from topic's subscribers and reports whether the topic now has no
// subscriber anywhere. It is a no-op returning false if s was not subscribed. Must be called on the
// goroutine of s's shard.
func (e *Engine) Unsubscribe(topic string, s Subscriber) (last bool) {
	sh := e.shardOf(s)
	sh.checkNotDraining("Unsubscribe")
	lt := sh.topics[topic]
	if lt == nil {
		return false
	}
	i, ok := lt.index[s]
	if !ok {
		return false
	}
	p := sh.removeMember(lt, i)
	sh.unlinkTopic(s, p)
	return e.leave(sh, lt)
}

// leave updates the registry after a member left lt, and drops lt if it is empty.
func (e *Engine) leave(sh *shard, lt *localTopic) (last bool) {
	emptyLocal := len(lt.members) == 0
	if emptyLocal {
		delete(sh.topics, lt.name)
	}
	st := e.stripeString(lt.name)
	st.mu.Lock()
	g := lt.g
	if emptyLocal {
		g.mask.And(^(uint64(1) << uint(sh.idx)))
	}
	last = g.count.Add(-1) == 0
	if last {
		delete(st.m, lt.name)
		e.topics.Add(-1)
	}
	st.mu.Unlock()
	return last
}

// IsSubscribed reports whether s subscribes to topic. Must be called on the goroutine of s's shard.
func (e *Engine) IsSubscribed(topic string, s Subscriber) bool {
	lt := e.shardOf(s).topics[topic]
	if lt == nil {
		return false
	}
	_, ok := lt.index[s]
	return ok
}

// UnsubscribeAll removes s from every topic it subscribes to, as on disconnect, and calls fn (if not
// nil) once per topic it left, with last as Unsubscribe would return it. fn must not subscribe s
// again. Must be called on the goroutine of s's shard.
func (e *Engine) UnsubscribeAll(s Subscriber, fn func(topic string, last bool)) {
	sh := e.shardOf(s)
	sh.checkNotDraining("UnsubscribeAll")
	sub := sh.subs[s]
	if sub == nil {
		return
	}
	delete(sh.subs, s)
	topics := sub.topics
	sub.topics = nil
	for _, lt := range topics {
		i := lt.index[s]
		sh.removeMember(lt, i)
		last := e.leave(sh, lt)
		if fn != nil {
			fn(lt.name, last)
		}
	}
}

// Publish delivers msg, one or more complete deepstream messages each ending in 0x1E, to every
// subscriber of topic except from (nil excludes nobody). msg is copied before Publish returns; an
// empty msg is ignored. A
// producer's messages on one topic reach each subscriber in the order they were published. from is
// only asked for its Shard and compared with subscribers, never written to, so any goroutine may pass
// any subscriber. Safe for concurrent use; it does not allocate in steady state (a full ring is the
// exception, see the package doc).
func (e *Engine) Publish(topic string, msg []byte, from Subscriber) {
	if len(msg) == 0 {
		return // nothing to deliver; an empty frame would only cost writes
	}
	g := e.lookup(topic)
	if g == nil {
		return
	}
	publish(e, g, topic, msg, from)
}

// PublishBytes is Publish with the topic as bytes, which saves the caller a string conversion.
// Safe for concurrent use.
func (e *Engine) PublishBytes(topic []byte, msg []byte, from Subscriber) {
	if len(msg) == 0 {
		return
	}
	g := e.lookupBytes(topic)
	if g == nil {
		return
	}
	publish(e, g, topic, msg, from)
}

func publish[T ~string | ~[]byte](e *Engine, g *globalTopic, topic T, msg []byte, from Subscriber) {
	mask := g.mask.Load()
	if mask == 0 {
		return
	}
	fromShard := -1
	if from != nil {
		fromShard = from.Shard()
	}
	for mask != 0 {
		i := bits.TrailingZeros64(mask)
		mask &= mask - 1
		if i >= len(e.shards) {
			break
		}
		var f Subscriber
		if i == fromShard {
			f = from // exclusion only matters where from itself subscribes: its own shard
		}
		push(e.shards[i], kindPublish, topic, msg, f, nil)
	}
}

// Send delivers msg, one or more complete deepstream messages, to the single subscriber to, on its
// shard, in FIFO order with everything else the calling goroutine sent or published to that shard
// earlier. msg is copied; an empty msg is ignored. Safe for concurrent use; it does not allocate in
// steady state.
func (e *Engine) Send(to Subscriber, msg []byte) {
	if len(msg) == 0 {
		return
	}
	sh := e.shardOf(to)
	push(sh, kindSend, "", msg, nil, to)
}

// Count returns the number of subscribers of topic over all shards. Safe for concurrent use.
func (e *Engine) Count(topic string) int {
	g := e.lookup(topic)
	if g == nil {
		return 0
	}
	return int(g.count.Load())
}

// Stats returns the Engine's counters. The counters are read one by one, so under load they are a
// little apart in time. Safe for concurrent use.
func (e *Engine) Stats() Stats {
	var s Stats
	for _, sh := range e.shards {
		s.Sends += sh.sends.Load()
		s.Records += sh.records.Load()
		s.Delivered += sh.delivered.Load()
		s.Frames += sh.frames.Load()
		s.Bytes += sh.bytes.Load()
		s.Drains += sh.drains.Load()
		s.Wakes += sh.wakes.Load()
		s.Deferred += sh.deferred.Load()
		s.RingFull += sh.ringFull.Load()
		s.Spilled += sh.spilled.Load()
	}
	s.Topics = int(e.topics.Load())
	return s
}
