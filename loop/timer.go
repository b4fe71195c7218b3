package loop

import (
	"container/heap"
	"time"
)

// Timer is a one-shot timer owned by one loop. Its callback runs on that loop's goroutine.
type Timer struct {
	when  time.Time
	fn    func()
	index int     // position in the heap; -1 when not scheduled
	ts    *Timers // the heap it belongs to
}

// Stop cancels the timer. It reports whether the timer was pending. Must be called on the owning loop
// goroutine (the loop the timer was created on).
func (t *Timer) Stop() bool {
	if t == nil || t.index < 0 {
		return false
	}
	heap.Remove(&t.ts.h, t.index)
	return true
}

// Timers is a min-heap of one-shot timers. It is not safe for concurrent use: each loop owns one and
// advances it from its own goroutine; tests advance it by hand with a fake clock.
type Timers struct {
	h timerHeap
}

// Schedule arranges for fn to run at when (or at the first Advance after it). Must be called on the
// owning goroutine.
func (ts *Timers) Schedule(when time.Time, fn func()) *Timer {
	t := &Timer{when: when, fn: fn, ts: ts}
	heap.Push(&ts.h, t)
	return t
}

// Len returns the number of pending timers. Must be called on the owning goroutine.
func (ts *Timers) Len() int { return len(ts.h) }

// Next returns the deadline of the earliest pending timer, and false if none is pending. Must be called on
// the owning goroutine.
func (ts *Timers) Next() (time.Time, bool) {
	if len(ts.h) == 0 {
		return time.Time{}, false
	}
	return ts.h[0].when, true
}

// Advance runs, in deadline order, every timer due at or before now, including timers that callbacks
// schedule for a time not after now. It returns how many ran. Must be called on the owning goroutine.
func (ts *Timers) Advance(now time.Time) int {
	n := 0
	for len(ts.h) > 0 && !ts.h[0].when.After(now) {
		t := heap.Pop(&ts.h).(*Timer)
		t.fn()
		n++
	}
	return n
}

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
