package fanout

import (
	"testing"
	"time"
)

// TestZeroAllocsPerDelivery asserts the steady state of the whole path, publish (string and []byte
// topic, with and without a sender to exclude), unicast, wake and drain on two shards, allocates
// nothing.
func TestZeroAllocsPerDelivery(t *testing.T) {
	for _, window := range []time.Duration{0, time.Millisecond} {
		m := []*manualShard{{}, {}}
		e := New(Options{Shards: 2, Window: window})
		e.Attach(0, m[0])
		e.Attach(1, m[1])
		subs := make([]*countSub, 100)
		for i := range subs {
			subs[i] = &countSub{shard: i % 2}
			e.Subscribe("t", subs[i]) // this goroutine plays both shards' goroutines
			if i%10 == 0 {
				e.Subscribe("u", subs[i])
			}
		}
		msg := evt("t", "p", 1)
		topic := []byte("u")
		round := func() {
			e.Publish("t", msg, nil)
			e.PublishBytes(topic, msg, subs[0])
			e.Publish("t", msg, subs[3])
			e.Publish("nobody", msg, nil)
			e.Send(subs[1], msg)
			runAll(m...)
		}
		for i := 0; i < 20; i++ {
			round()
		}
		before := e.Stats()
		allocs := testing.AllocsPerRun(500, round)
		after := e.Stats()
		if allocs != 0 {
			t.Errorf("window %v: %v allocations per round, want 0", window, allocs)
		}
		// 100 + 10-1 + 100-1 publish deliveries and one unicast per round.
		per := (after.Delivered - before.Delivered) / 501
		if per != 209 {
			t.Errorf("window %v: %d deliveries per round, want 209", window, per)
		}
		if subs[3].frames == 0 || subs[1].bytes == 0 {
			t.Error("subscribers received nothing")
		}
	}
}

// runSome runs at most max rounds of queued functions and reports how many ran.
func runSome(m *manualShard, max int) int {
	ran := 0
	for i := 0; i < max; i++ {
		m.mu.Lock()
		m.q, m.b = m.b[:0], m.q
		m.mu.Unlock()
		if len(m.b) == 0 {
			break
		}
		for j, fn := range m.b {
			fn()
			m.b[j] = nil
			ran++
		}
	}
	return ran
}

// TestNoDrainSpinOnUncommittedSlot: a producer preempted between claiming a slot and committing it
// must not make the shard re-run empty drains; its own wake after the commit resumes delivery, and
// the records behind it wait for it, in order.
func TestNoDrainSpinOnUncommittedSlot(t *testing.T) {
	m := &manualShard{}
	e := New(Options{Shards: 1})
	e.Attach(0, m)
	s := &fakeSub{t: t, name: "s", sh: &fakeShard{}}
	e.Subscribe("t", s)
	sh := e.shards[0]

	slot, pos, ok := sh.ring.reserve() // the preempted producer
	if !ok {
		t.Fatal("reserve failed")
	}
	e.Publish("t", evt("t", "q", 0), nil) // a second producer, behind it
	if ran := runSome(m, 100); ran != 1 {
		t.Fatalf("%d functions ran, want exactly one drain", ran)
	}
	if n := len(s.pending); n != 0 {
		t.Fatalf("%d frames delivered past an uncommitted slot", n)
	}
	// The first producer resumes: commit, then wake, as push does.
	fill(slot, kindPublish, "t", evt("t", "p", 0), nil, nil)
	sh.ring.commit(slot, pos)
	sh.wake()
	if ran := runSome(m, 100); ran != 1 {
		t.Fatalf("%d functions ran after the commit, want one drain", ran)
	}
	s.flush()
	got := s.received()
	if len(got) != 2 || got[0] != string(evt("t", "p", 0)[:len(evt("t", "p", 0))-1]) {
		t.Fatalf("received %q, want p:0 then q:0", got)
	}
	if st := e.Stats(); st.Drains != 2 {
		t.Fatalf("%d drains, want 2", st.Drains)
	}
}
