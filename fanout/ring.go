package fanout

import (
	"sync/atomic"
)

// cacheLine is the padding unit that keeps the producers' tail and the consumer's head on different
// cache lines. 128 rather than 64 bytes because Intel parts prefetch adjacent line pairs.
const cacheLine = 128

type pad [cacheLine]byte

// Record kinds.
const (
	kindPublish uint8 = iota + 1 // topic batch: delivered to every local subscriber of topic but from
	kindSend                     // unicast: delivered to to only
)

// slotRetain is the largest slot buffer kept after its record is consumed. A message larger than this
// allocates a buffer of its own each time it passes through the ring; below it the slots' buffers are
// reused forever, so the steady state does not allocate. It bounds the memory a ring keeps to
// RingSize*slotRetain.
const slotRetain = 4 << 10

// slotMin is the buffer every slot starts with, carved from one block per ring, so that a ring of
// small messages (deepstream events are tens of bytes) never allocates, not even on its first lap.
// It costs RingSize*slotMin bytes per shard (512 KiB at the default size).
const slotMin = 128

// slot is one cell of the ring. seq follows Vyukov's scheme: for the slot serving position p it is p
// while the slot is free for the producer of p, p+1 once that producer has committed, and p+size when
// the consumer has released it for the producer of p+size.
type slot struct {
	seq      atomic.Uint64
	kind     uint8
	topicLen int32 // buf[:topicLen] is the topic, buf[topicLen:] the message(s)
	from     Subscriber
	to       Subscriber
	buf      []byte
	// Padding to a whole cache-line unit: producers filling neighbouring slots (and the consumer
	// releasing them) would otherwise share lines. Measured: BenchmarkRingMPSC 97-140 ns/op
	// unpadded, ~63 ns/op padded, on this 2-vCPU machine.
	_ [cacheLine - 72]byte
}

// topic returns the record's topic bytes. Consumer side only.
func (s *slot) topic() []byte { return s.buf[:s.topicLen] }

// msg returns the record's message bytes. Consumer side only.
func (s *slot) msg() []byte { return s.buf[s.topicLen:] }

// fill copies topic and msg into the slot's buffer, growing it if needed. Producer side, between
// reserve and commit.
func fill[T ~string | ~[]byte](s *slot, kind uint8, topic T, msg []byte, from, to Subscriber) {
	n := len(topic) + len(msg)
	if cap(s.buf) < n {
		c := slotMin
		for c < n {
			c <<= 1
		}
		s.buf = make([]byte, 0, c)
	}
	b := s.buf[:n]
	copy(b, topic)
	copy(b[len(topic):], msg)
	s.buf = b
	s.kind = kind
	s.topicLen = int32(len(topic))
	s.from = from
	s.to = to
}

// ring is a bounded lock-free multi-producer single-consumer queue of records (Dmitry Vyukov's bounded
// MPMC queue reduced to one consumer). Producers claim a position with a CAS on tail, fill the slot,
// and publish it by storing seq = pos+1; the single consumer reads slots in position order and frees
// them by storing seq = pos+size. A producer never waits for another producer except when it finds
// the ring full; the consumer sees a claimed but uncommitted slot as the end of the ring for now.
type ring struct {
	_     pad
	tail  atomic.Uint64 // next position to claim; written by producers
	_     pad
	head  uint64 // next position to consume; the consumer's alone
	_     pad
	mask  uint64
	slots []slot
}

// newRing returns a ring of size slots; size must be a power of two, at least 2.
func newRing(size int) *ring {
	if size < 2 || size&(size-1) != 0 {
		panic("fanout: ring size must be a power of two >= 2")
	}
	r := &ring{mask: uint64(size - 1), slots: make([]slot, size)}
	block := make([]byte, size*slotMin)
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
		r.slots[i].buf = block[i*slotMin : i*slotMin : (i+1)*slotMin]
	}
	return r
}

// size is the ring's capacity in records.
func (r *ring) size() uint64 { return r.mask + 1 }

// reserve claims the next position for a producer and returns its slot, or ok=false if the ring is
// full. The caller fills the slot and then calls commit(s, pos). Safe for concurrent use by any
// number of producers.
func (r *ring) reserve() (s *slot, pos uint64, ok bool) {
	pos = r.tail.Load()
	for {
		s = &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			if r.tail.CompareAndSwap(pos, pos+1) {
				return s, pos, true
			}
			pos = r.tail.Load()
		case dif < 0:
			// The slot still holds the record of pos-size: the ring is full.
			return nil, 0, false
		default:
			// Another producer claimed pos meanwhile.
			pos = r.tail.Load()
		}
	}
}

// commit publishes a slot obtained from reserve to the consumer. Producer side.
func (r *ring) commit(s *slot, pos uint64) { s.seq.Store(pos + 1) }

// at returns the committed slot n places after head, or nil if that position is not committed yet
// (empty, or claimed by a producer still filling it). n must be below size. Consumer side only.
func (r *ring) at(n uint64) *slot {
	pos := r.head + n
	s := &r.slots[pos&r.mask]
	if s.seq.Load() != pos+1 {
		return nil
	}
	return s
}

// release frees the n slots after head, which the consumer has finished with, for reuse by
// producers. Consumer side only.
func (r *ring) release(n uint64) {
	for ; n > 0; n-- {
		pos := r.head
		s := &r.slots[pos&r.mask]
		if invariants && s.seq.Load() != pos+1 {
			panic("fanout: ring release of an uncommitted slot")
		}
		s.from, s.to = nil, nil // do not keep disconnected subscribers alive
		if cap(s.buf) > slotRetain {
			s.buf = nil
		}
		s.seq.Store(pos + r.mask + 1)
		r.head = pos + 1
	}
}

// pending reports whether producers have claimed positions the consumer has not released, counting
// from head+n (the consumer has looked at n records past head). Consumer side only.
func (r *ring) pending(n uint64) bool { return r.tail.Load() != r.head+n }
