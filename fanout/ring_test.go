package fanout

import (
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

func ringPush(r *ring, v uint64) bool {
	s, pos, ok := r.reserve()
	if !ok {
		return false
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	fill(s, kindPublish, "t", b[:], nil, nil)
	r.commit(s, pos)
	return true
}

// ringPop takes the record at head, if any.
func ringPop(r *ring) (uint64, bool) {
	s := r.at(0)
	if s == nil {
		return 0, false
	}
	if string(s.topic()) != "t" {
		panic("bad topic")
	}
	v := binary.LittleEndian.Uint64(s.msg())
	r.release(1)
	return v, true
}

func TestRingEmptyFullWraparound(t *testing.T) {
	r := newRing(4)
	if _, ok := ringPop(r); ok {
		t.Fatal("pop from an empty ring succeeded")
	}
	if r.pending(0) {
		t.Fatal("empty ring reports pending records")
	}
	next := uint64(0) // next value to push
	want := uint64(0) // next value to pop
	for round := 0; round < 10; round++ {
		for i := 0; i < 4; i++ {
			if !ringPush(r, next) {
				t.Fatalf("round %d: push %d into a ring with room failed", round, i)
			}
			next++
		}
		if ringPush(r, 999) {
			t.Fatalf("round %d: push into a full ring succeeded", round)
		}
		if !r.pending(0) {
			t.Fatal("full ring reports nothing pending")
		}
		// Pop part of it so that the next round wraps at a different offset.
		k := 1 + round%4
		for i := 0; i < k; i++ {
			v, ok := ringPop(r)
			if !ok || v != want {
				t.Fatalf("round %d: pop = %d, %v; want %d", round, v, ok, want)
			}
			want++
		}
		for i := 0; i < k; i++ {
			if !ringPush(r, next) {
				t.Fatalf("round %d: refill %d failed", round, i)
			}
			next++
		}
		if ringPush(r, 999) {
			t.Fatalf("round %d: push into a refilled full ring succeeded", round)
		}
		for i := 0; i < 4; i++ {
			v, ok := ringPop(r)
			if !ok || v != want {
				t.Fatalf("round %d: drain pop = %d, %v; want %d", round, v, ok, want)
			}
			want++
		}
		if _, ok := ringPop(r); ok || r.pending(0) {
			t.Fatalf("round %d: ring not empty after draining", round)
		}
	}
	if r.head != next || r.tail.Load() != next {
		t.Fatalf("head %d tail %d, want both %d", r.head, r.tail.Load(), next)
	}
}

// TestRingPeekBeforeRelease checks that the consumer can read several records in place before
// releasing them, and that producers cannot reuse those slots meanwhile.
func TestRingPeekBeforeRelease(t *testing.T) {
	r := newRing(4)
	for i := uint64(0); i < 4; i++ {
		ringPush(r, i)
	}
	for n := uint64(0); n < 4; n++ {
		s := r.at(n)
		if s == nil || binary.LittleEndian.Uint64(s.msg()) != n {
			t.Fatalf("at(%d) wrong", n)
		}
	}
	if ringPush(r, 9) {
		t.Fatal("push succeeded into slots the consumer still holds")
	}
	r.release(2)
	if !ringPush(r, 4) || !ringPush(r, 5) || ringPush(r, 9) {
		t.Fatal("release(2) did not free exactly two slots")
	}
	for want := uint64(2); want < 6; want++ {
		if v, ok := ringPop(r); !ok || v != want {
			t.Fatalf("pop = %d, %v; want %d", v, ok, want)
		}
	}
}

func TestRingSlotBufferReuse(t *testing.T) {
	r := newRing(2)
	big := make([]byte, slotRetain+1)
	s, pos, _ := r.reserve()
	fill(s, kindPublish, "t", big, nil, nil)
	r.commit(s, pos)
	r.release(1)
	if r.slots[0].buf != nil {
		t.Fatal("an oversized slot buffer was retained")
	}
	ringPush(r, 1)
	ringPop(r)
	buf := r.slots[1].buf
	ringPush(r, 2) // slot 0
	ringPop(r)
	ringPush(r, 3) // slot 1 again
	if &r.slots[1].buf[0] != &buf[0] {
		t.Fatal("a small slot buffer was not reused")
	}
	ringPop(r)
}

func TestNewRingRejectsBadSizes(t *testing.T) {
	for _, n := range []int{0, 1, 3, 6} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("newRing(%d) did not panic", n)
				}
			}()
			newRing(n)
		}()
	}
}

// TestRingMPSC has many producers push disjoint sequences through a small ring while one consumer
// pops: the consumer must see exactly the multiset pushed, and each producer's values in order.
func TestRingMPSC(t *testing.T) {
	const producers = 8
	const per = 20000
	r := newRing(64)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				for !ringPush(r, uint64(p)<<32|uint64(i)) {
					// full: let the consumer run
					runtime.Gosched()
				}
			}
		}(p)
	}
	next := make([]int, producers)
	for got := 0; got < producers*per; {
		v, ok := ringPop(r)
		if !ok {
			runtime.Gosched()
			continue
		}
		p, i := int(v>>32), int(uint32(v))
		if p >= producers || i != next[p] {
			t.Fatalf("got producer %d value %d, want value %d", p, i, next[p])
		}
		next[p]++
		got++
	}
	wg.Wait()
	if _, ok := ringPop(r); ok {
		t.Fatal("extra record after all were received")
	}
	for p, n := range next {
		if n != per {
			t.Fatalf("producer %d: %d values, want %d", p, n, per)
		}
	}
}

func TestSlotIsOnePaddingUnit(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n != cacheLine {
		t.Fatalf("slot is %d bytes, want %d: fix its padding", n, cacheLine)
	}
}
