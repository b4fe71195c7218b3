package fanout

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// pushRetries is how many times a producer that finds a ring full yields and retries before it
// spills the record into the overflow list. Yielding gives a consumer running on another core the
// chance to free slots (which keeps the steady state allocation-free); it is bounded because the
// producer may be the consumer itself, or a shard the consumer is waiting on.
const pushRetries = 2

// deferRecords and deferFrames say when a drain counts as busy: it delivered at least deferRecords
// publish records, or wrote at least deferFrames frames. After a busy drain that took less than
// Window, the next drain comes Window after the loop has written this one's frames (see the package
// doc). Frames
// are what a drain costs the loop (one write per connection); a drain of one message to hundreds of
// subscribers is expensive however few records it holds, so the messages that follow it are worth
// coalescing.
const (
	deferRecords = 64
	deferFrames  = 256
)

// A shard keeps coalescing for a while after its last busy drain: traffic that comes in bursts a few
// milliseconds apart (a fan-out channel under steady load, the benchmark's back-to-back rounds) is
// still load, and the first message of the next burst would otherwise be drained alone, costing
// every subscriber a write of its own. How long: lingerWindows windows, or as long as the busy
// drain's writes took if that is longer, since a message that comes in that time waits at most a
// window, little next to the writes a lone drain of it would cost. A shard quiet for longer is idle
// again and drains at once.
const lingerWindows = 4

// lingerFor is how long a shard keeps coalescing after a busy drain whose writes took writes.
func lingerFor(window, writes time.Duration) time.Duration {
	return max(lingerWindows*window, writes)
}

// arenaRetain and spillRetain bound the buffers a shard keeps between drains: below them a drain
// reuses its buffers, above them they are dropped for the garbage collector. Bytes; a spill list's
// record table counts 64 bytes per record.
const (
	arenaRetain = 8 << 20
	spillRetain = 8 << 20
)

// executorBox lets Attach publish the Executor with one atomic pointer store.
type executorBox struct{ ex Executor }

// member is one local subscriber of a topic.
type member struct {
	s      Subscriber
	mark   uint64 // == topic's epoch while s sent a message of the batch being built
	subPos int32  // position of the topic in the subscriber's subState.topics
}

// msgRef is one record of a topic batch: bytes still in the ring (or overflow list) and the position
// in members of its sender, -1 if the sender does not subscribe locally.
type msgRef struct {
	b      []byte
	sender int32
}

// localTopic is a topic on one shard: its local subscribers and the batch being built in a drain.
// Touched only on the shard's goroutine.
type localTopic struct {
	name    string
	g       *globalTopic
	members []member
	index   map[Subscriber]int32 // position in members

	// batch state, valid during a drain while pending
	pending  bool
	epoch    uint64
	nsenders int
	total    int
	msgs     []msgRef
}

// subState is what a shard knows about one local subscriber: the topics it subscribes to.
type subState struct {
	topics []*localTopic
}

// spillRec is a record in the overflow list: data[off:off+topicLen] is the topic, then msgLen bytes.
type spillRec struct {
	kind             uint8
	off, topicLen, n int
	from, to         Subscriber
}

type spillList struct {
	data []byte
	recs []spillRec
}

// shard is one event loop's side of the engine: its ring (filled by any goroutine), its overflow list,
// and its subscriber tables and drain state (its goroutine's alone).
type shard struct {
	ring *ring

	_     pad
	sched atomic.Uint32 // 1 while a drain is queued, running or deferred; producers wake only on 0->1
	spill atomic.Bool   // the overflow list is in use: producers append there to keep their order
	_     pad

	spillMu  sync.Mutex
	spillCur spillList // guarded by spillMu

	// producer-side counters, touched once per wake or per full ring, not per message
	wakes, ringFull, spilled atomic.Uint64
	_                        pad

	// consumer-side counters, added once per drain
	records, sends, delivered, frames, bytes, drains, deferred atomic.Uint64

	e       *Engine
	idx     int
	ex      atomic.Pointer[executorBox]
	drainFn func()
	armFn   func() // sh.arm, allocated once
	timer   *time.Timer

	// the shard goroutine's alone
	topics      map[string]*localTopic
	subs        map[Subscriber]*subState
	draining    bool
	busyStart   time.Time // when the last busy drain started
	armBusy     bool      // the queued armFn follows a busy drain: it sets lingerUntil
	lingerUntil time.Time // keep coalescing until then (see lingerFor)
	arena       []byte
	batches     []*localTopic
	spillSpare  spillList
	cnt         drainCounts
}

type drainCounts struct {
	records, sends, delivered, frames, bytes uint64
}

func newShard(e *Engine, idx, ringSize int) *shard {
	sh := &shard{
		ring:   newRing(ringSize),
		e:      e,
		idx:    idx,
		topics: make(map[string]*localTopic),
		subs:   make(map[Subscriber]*subState),
	}
	sh.drainFn = sh.drain
	sh.armFn = sh.arm
	sh.timer = time.AfterFunc(time.Hour, func() { sh.executor().Execute(sh.drainFn) })
	sh.timer.Stop()
	return sh
}

func (sh *shard) executor() Executor {
	b := sh.ex.Load()
	if b == nil {
		panic(fmt.Sprintf("fanout: shard %d used before Attach", sh.idx))
	}
	return b.ex
}

func (sh *shard) checkNotDraining(op string) {
	if sh.draining {
		panic("fanout: " + op + " called during a drain (from WriteFrame?)")
	}
}

// push queues one record for the shard: into the ring, or, when the ring is full, into the overflow
// list, then wakes the shard. Safe for concurrent use.
func push[T ~string | ~[]byte](sh *shard, kind uint8, topic T, msg []byte, from, to Subscriber) {
	if !sh.spill.Load() {
		for try := 0; ; try++ {
			if s, pos, ok := sh.ring.reserve(); ok {
				fill(s, kind, topic, msg, from, to)
				sh.ring.commit(s, pos)
				sh.wake()
				return
			}
			if try == 0 {
				sh.ringFull.Add(1)
			}
			if try == pushRetries {
				break
			}
			runtime.Gosched()
		}
	}
	// Overflow: allocation is accepted here, it is the exception that keeps a full ring from
	// dropping or deadlocking. Once anything is in the list every producer appends there, and the
	// consumer takes the list only when it has consumed the ring up to its tail, so each producer's
	// records stay in order.
	sh.spillMu.Lock()
	l := &sh.spillCur
	off := len(l.data)
	l.data = append(l.data, topic...)
	l.data = append(l.data, msg...)
	l.recs = append(l.recs, spillRec{kind: kind, off: off, topicLen: len(topic), n: len(msg), from: from, to: to})
	sh.spill.Store(true)
	sh.spillMu.Unlock()
	sh.spilled.Add(1)
	sh.wake()
}

// wake schedules a drain unless one is already queued, running or deferred. Safe for concurrent use.
func (sh *shard) wake() {
	if sh.sched.Load() != 0 || !sh.sched.CompareAndSwap(0, 1) {
		return
	}
	sh.wakes.Add(1)
	sh.executor().Execute(sh.drainFn)
}

// addMember adds s to lt. lt must not hold s. Shard goroutine only.
func (sh *shard) addMember(lt *localTopic, s Subscriber) {
	sub := sh.subs[s]
	if sub == nil {
		sub = &subState{}
		sh.subs[s] = sub
	}
	lt.index[s] = int32(len(lt.members))
	lt.members = append(lt.members, member{s: s, subPos: int32(len(sub.topics))})
	sub.topics = append(sub.topics, lt)
}

// removeMember removes members[i] from lt, moving the last member into its place, and returns the
// removed member's position in its subscriber's topic list. Shard goroutine only.
func (sh *shard) removeMember(lt *localTopic, i int32) (subPos int32) {
	m := lt.members[i]
	last := int32(len(lt.members) - 1)
	if i != last {
		lt.members[i] = lt.members[last]
		lt.index[lt.members[i].s] = i
	}
	lt.members[last] = member{}
	lt.members = lt.members[:last]
	delete(lt.index, m.s)
	return m.subPos
}

// unlinkTopic removes the topic at position p from s's topic list, moving the last one into its
// place, and forgets s when it has no topic left. Shard goroutine only.
func (sh *shard) unlinkTopic(s Subscriber, p int32) {
	sub := sh.subs[s]
	last := int32(len(sub.topics) - 1)
	if p != last {
		moved := sub.topics[last]
		sub.topics[p] = moved
		moved.members[moved.index[s]].subPos = p
	}
	sub.topics[last] = nil
	sub.topics = sub.topics[:last]
	if last == 0 {
		delete(sh.subs, s)
	}
}

// arm starts the window after a held drain. It is queued behind the drain, so it runs once the loop
// has written the drain's frames; after a busy drain it also sets how long the shard lingers, from
// the time those writes took. Shard goroutine only.
func (sh *shard) arm() {
	if sh.armBusy {
		sh.armBusy = false
		now := time.Now()
		sh.lingerUntil = now.Add(lingerFor(sh.e.window, now.Sub(sh.busyStart)))
	}
	sh.timer.Reset(sh.e.window)
}
