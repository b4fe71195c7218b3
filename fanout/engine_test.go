package fanout

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

const waitLimit = 20 * time.Second // only reached when something is broken

func TestSubscribeFlagsCountAndUnsubscribeAll(t *testing.T) {
	e, sh := testEngine(t, 2, 0, 0)
	a := &fakeSub{t: t, name: "a", sh: sh[0]}
	b := &fakeSub{t: t, name: "b", sh: sh[1]}
	c := &fakeSub{t: t, name: "c", sh: sh[1]}

	var got []bool
	sh[0].do(func() { got = append(got, e.Subscribe("x", a), e.Subscribe("x", a)) })
	sh[1].do(func() { got = append(got, e.Subscribe("x", b), e.Subscribe("x", c), e.Subscribe("y", b)) })
	if want := []bool{true, false, false, false, true}; !slices.Equal(got, want) {
		t.Fatalf("first flags %v, want %v", got, want)
	}
	if e.Count("x") != 3 || e.Count("y") != 1 || e.Count("z") != 0 {
		t.Fatalf("counts x=%d y=%d z=%d", e.Count("x"), e.Count("y"), e.Count("z"))
	}
	if st := e.Stats(); st.Topics != 2 {
		t.Fatalf("Topics = %d, want 2", st.Topics)
	}
	sh[1].do(func() {
		if !e.IsSubscribed("x", b) || !e.IsSubscribed("y", b) || e.IsSubscribed("y", c) || e.IsSubscribed("z", c) {
			t.Error("IsSubscribed wrong on shard 1")
		}
	})

	got = nil
	sh[0].do(func() {
		got = append(got, e.Unsubscribe("y", a)) // not subscribed: no-op
		got = append(got, e.Unsubscribe("x", a)) // b, c remain
		got = append(got, e.Unsubscribe("x", a)) // again: no-op
	})
	sh[1].do(func() {
		got = append(got, e.Unsubscribe("x", c))
	})
	if want := []bool{false, false, false, false}; !slices.Equal(got, want) {
		t.Fatalf("last flags %v, want %v", got, want)
	}
	if e.Count("x") != 1 {
		t.Fatalf("Count(x) = %d, want 1", e.Count("x"))
	}

	// b leaves x and y on disconnect; both were its alone.
	left := map[string]bool{}
	sh[1].do(func() {
		e.Subscribe("z", c)
		e.UnsubscribeAll(b, func(topic string, last bool) { left[topic] = last })
		e.UnsubscribeAll(b, func(topic string, last bool) { t.Errorf("second UnsubscribeAll left %q", topic) })
		if e.IsSubscribed("x", b) || e.IsSubscribed("y", b) {
			t.Error("b still subscribed after UnsubscribeAll")
		}
	})
	if len(left) != 2 || !left["x"] || !left["y"] {
		t.Fatalf("UnsubscribeAll reported %v, want x and y, both last", left)
	}
	if e.Count("x") != 0 || e.Count("y") != 0 || e.Count("z") != 1 {
		t.Fatal("counts wrong after UnsubscribeAll")
	}
	if st := e.Stats(); st.Topics != 1 {
		t.Fatalf("Topics = %d, want 1", st.Topics)
	}
	// A topic that lost every subscriber can be subscribed again, and is first again.
	sh[0].do(func() {
		if !e.Subscribe("x", a) {
			t.Error("resubscribe to an emptied topic not first")
		}
		if !e.Unsubscribe("x", a) {
			t.Error("unsubscribe of the only subscriber not last")
		}
	})
	// Nothing goes to those who left.
	e.Publish("x", evt("x", "p", 0), nil)
	e.Publish("z", evt("z", "p", 0), nil)
	waitFor(t, waitLimit, "c's message", func() bool { return c.count() == 1 })
	sh[0].do(func() {})
	sh[1].do(func() {})
	if a.count()+b.count() != 0 {
		t.Fatalf("unsubscribed subscribers received %v %v", a.received(), b.received())
	}
}

// TestUnsubscribeKeepsOtherTopics exercises the swap-removal bookkeeping: a subscriber in many topics
// leaves them in an order different from the one it joined in.
func TestUnsubscribeKeepsOtherTopics(t *testing.T) {
	e, sh := testEngine(t, 1, 0, 0)
	subs := make([]*fakeSub, 5)
	for i := range subs {
		subs[i] = &fakeSub{t: t, name: fmt.Sprint("s", i), sh: sh[0]}
	}
	const topics = 20
	sh[0].do(func() {
		for _, s := range subs {
			for i := 0; i < topics; i++ {
				e.Subscribe(fmt.Sprint("t", i), s)
			}
		}
		// subs[k] leaves topics i with i%5 == k, in reverse order
		for k, s := range subs {
			for i := topics - 1; i >= 0; i-- {
				if i%5 == k {
					e.Unsubscribe(fmt.Sprint("t", i), s)
				}
			}
		}
		for k, s := range subs {
			for i := 0; i < topics; i++ {
				if got := e.IsSubscribed(fmt.Sprint("t", i), s); got != (i%5 != k) {
					t.Errorf("s%d t%d: IsSubscribed = %v", k, i, got)
				}
			}
		}
	})
	for i := 0; i < topics; i++ {
		if n := e.Count(fmt.Sprint("t", i)); n != 4 {
			t.Fatalf("Count(t%d) = %d, want 4", i, n)
		}
	}
	var left []string
	sh[0].do(func() {
		e.UnsubscribeAll(subs[2], func(topic string, last bool) {
			if last {
				t.Errorf("%s: last with 3 others subscribed", topic)
			}
			left = append(left, topic)
		})
	})
	if len(left) != topics-topics/5 {
		t.Fatalf("UnsubscribeAll left %d topics, want %d", len(left), topics-topics/5)
	}
}

// TestFirstLastAcrossShardsConcurrently: shards race to be first and last on the same topics;
// exactly one first and one last per topic per cycle.
func TestFirstLastAcrossShardsConcurrently(t *testing.T) {
	const n = 4
	e, sh := testEngine(t, n, 0, 0)
	subs := make([]*fakeSub, n)
	for i := range subs {
		subs[i] = &fakeSub{t: t, sh: sh[i]}
	}
	for cycle := 0; cycle < 200; cycle++ {
		var mu sync.Mutex
		firsts, lasts := 0, 0
		var wg sync.WaitGroup
		for i := range sh {
			wg.Add(1)
			sh[i].Execute(func() {
				defer wg.Done()
				if e.Subscribe("race", subs[i]) {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for i := range sh {
			wg.Add(1)
			sh[i].Execute(func() {
				defer wg.Done()
				if e.Unsubscribe("race", subs[i]) {
					mu.Lock()
					lasts++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if firsts != 1 || lasts != 1 {
			t.Fatalf("cycle %d: %d firsts, %d lasts", cycle, firsts, lasts)
		}
	}
}

type delivery struct {
	shards, subsPer, producers, perProducer int
	window                                  time.Duration
	ringSize                                int
}

// TestDeliveryExactlyOnceInOrder publishes from subscribers on their own shard goroutines (which
// then publish into their own rings) and from outside goroutines, on two topics, and checks that
// every subscriber got every message of its topics exactly once except its own, each producer's in
// order, with one frame per topic per drain and no frame mixing topics.
func TestDeliveryExactlyOnceInOrder(t *testing.T) {
	for _, c := range []delivery{
		{shards: 2, subsPer: 6, producers: 4, perProducer: 500, ringSize: 4096},
		{shards: 2, subsPer: 6, producers: 4, perProducer: 500, ringSize: 4096, window: time.Millisecond},
		{shards: 3, subsPer: 4, producers: 6, perProducer: 300, ringSize: 2}, // mostly overflow
		{shards: 2, subsPer: 3, producers: 8, perProducer: 400, ringSize: 16, window: 200 * time.Microsecond},
	} {
		t.Run(fmt.Sprintf("shards%d_ring%d_window%v", c.shards, c.ringSize, c.window), func(t *testing.T) {
			testDelivery(t, c)
		})
	}
}

func testDelivery(t *testing.T, c delivery) {
	e, sh := testEngine(t, c.shards, c.window, c.ringSize)
	topics := []string{"news", "sport"}
	var subs []*fakeSub
	subTopics := map[*fakeSub][]string{}
	for i := range sh {
		for j := 0; j < c.subsPer; j++ {
			s := &fakeSub{t: t, name: fmt.Sprintf("s%d.%d", i, j), sh: sh[i], strict: true}
			var ts []string
			switch j % 3 {
			case 0:
				ts = topics
			case 1:
				ts = topics[:1]
			case 2:
				ts = topics[1:]
			}
			sh[i].do(func() {
				for _, tp := range ts {
					e.Subscribe(tp, s)
				}
			})
			subs = append(subs, s)
			subTopics[s] = ts
		}
	}

	// Producers: even ones are subscribers publishing on their shard goroutine (from = themselves),
	// odd ones are outside goroutines (from = nil). Producer k publishes message i on topics[(i+k)%2].
	type producer struct {
		name string
		sub  *fakeSub
	}
	var prods []producer
	for k := 0; k < c.producers; k++ {
		p := producer{name: fmt.Sprint("p", k)}
		if k%2 == 0 {
			p.sub = subs[(k*7)%len(subs)]
			p.name = p.sub.name
		}
		prods = append(prods, p)
	}
	var wg sync.WaitGroup
	for k, p := range prods {
		wg.Add(1)
		run := func() {
			defer wg.Done()
			for i := 0; i < c.perProducer; i++ {
				tp := topics[(i+k)%2]
				if p.sub != nil {
					e.Publish(tp, evt(tp, p.name, i), p.sub)
				} else {
					e.PublishBytes([]byte(tp), evt(tp, p.name, i), nil)
				}
			}
		}
		if p.sub != nil {
			p.sub.sh.Execute(run) // one long callback: the shard cannot drain meanwhile
		} else {
			go run()
		}
	}
	wg.Wait()

	// What each subscriber must get, per producer, in order.
	want := map[*fakeSub]map[string][]int{}
	total := 0
	for _, s := range subs {
		w := map[string][]int{}
		for k, p := range prods {
			if p.sub == s {
				continue
			}
			for i := 0; i < c.perProducer; i++ {
				if tp := topics[(i+k)%2]; slices.Contains(subTopics[s], tp) {
					w[p.name+"@"+tp] = append(w[p.name+"@"+tp], i)
					total++
				}
			}
		}
		want[s] = w
	}
	waitFor(t, waitLimit, "all deliveries", func() bool {
		n := 0
		for _, s := range subs {
			n += s.count()
		}
		return n >= total
	})
	for _, f := range sh {
		f.do(func() {}) // let any drain in flight finish
	}
	for _, s := range subs {
		got := map[string][]int{}
		for _, m := range s.received() {
			p, i := msgID(m)
			key := p + "@" + msgTopic(m)
			got[key] = append(got[key], i)
		}
		// Per producer and topic: publishes on different topics are not ordered with each other.
		for p, w := range want[s] {
			if !slices.Equal(got[p], w) {
				t.Errorf("%s from %s: got %d messages, want %d (in order: %v)", s.name, p, len(got[p]), len(w), sort.IntsAreSorted(got[p]))
			}
		}
		for p := range got {
			if _, ok := want[s][p]; !ok {
				t.Errorf("%s got messages from %s, which it must not (own messages echoed?)", s.name, p)
			}
		}
	}
	st := e.Stats()
	if st.Delivered != uint64(total) {
		t.Errorf("Stats.Delivered = %d, want %d", st.Delivered, total)
	}
	if c.ringSize <= 2 && st.Spilled == 0 {
		t.Errorf("a 2-slot ring never overflowed: the overflow path went untested")
	}
	t.Logf("%+v", st)
}

// TestExclusionCutsOwnMessages checks the frames themselves: a sender gets the batch without its
// messages, others get it whole, a sender whose batch is all its own gets nothing.
func TestExclusionCutsOwnMessages(t *testing.T) {
	e, sh := testEngine(t, 1, 0, 0)
	a := &fakeSub{t: t, name: "a", sh: sh[0]}
	b := &fakeSub{t: t, name: "b", sh: sh[0]}
	c := &fakeSub{t: t, name: "c", sh: sh[0]}
	sh[0].do(func() {
		for _, s := range []*fakeSub{a, b, c} {
			e.Subscribe("t", s)
		}
	})
	// All published within one callback, so one drain sees them all.
	sh[0].do(func() {
		e.Publish("t", evt("t", "a", 0), a)
		e.Publish("t", evt("t", "b", 0), b)
		e.Publish("t", evt("t", "a", 1), a)
	})
	sh[0].do(func() {})
	frames := func(s *fakeSub) int { s.mu.Lock(); defer s.mu.Unlock(); return s.frames }
	if got := a.received(); !slices.Equal(got, []string{string(evt("t", "b", 0)[:len(evt("t", "b", 0))-1])}) {
		t.Errorf("a got %q", got)
	}
	if got := b.received(); len(got) != 2 || frames(b) != 1 {
		t.Errorf("b got %q in %d frames", got, frames(b))
	}
	if got := c.received(); len(got) != 3 || frames(c) != 1 {
		t.Errorf("c got %q in %d frames", got, frames(c))
	}
	sh[0].do(func() { e.Publish("t", evt("t", "a", 2), a) })
	sh[0].do(func() {})
	if len(a.received()) != 1 || frames(a) != 1 {
		t.Errorf("a sent a batch all its own and got a frame: %q", a.received())
	}
	if len(c.received()) != 4 {
		t.Errorf("c got %d messages, want 4", len(c.received()))
	}
}

// TestSendOrder: unicasts interleaved with publishes from several producers reach the subscriber in
// each producer's order.
func TestSendOrder(t *testing.T) {
	for _, ring := range []int{4096, 2} {
		t.Run(fmt.Sprint("ring", ring), func(t *testing.T) {
			e, sh := testEngine(t, 2, 0, ring)
			x := &fakeSub{t: t, name: "x", sh: sh[1]}
			y := &fakeSub{t: t, name: "y", sh: sh[1]}
			sh[1].do(func() { e.Subscribe("t", x); e.Subscribe("t", y) })
			const producers, per = 4, 1000
			var wg sync.WaitGroup
			for k := 0; k < producers; k++ {
				wg.Add(1)
				run := func() {
					defer wg.Done()
					name := fmt.Sprint("p", k)
					for i := 0; i < per; i++ {
						if i%3 == 1 {
							e.Send(x, uni(name, i))
						} else {
							e.Publish("t", evt("t", name, i), nil)
						}
					}
				}
				if k == 0 {
					sh[1].Execute(run) // the subscriber's own shard sends to itself
				} else if k == 1 {
					sh[0].Execute(run)
				} else {
					go run()
				}
			}
			wg.Wait()
			waitFor(t, waitLimit, "x's messages", func() bool { return x.count() >= producers*per })
			sh[1].do(func() {})
			next := map[string]int{}
			for _, m := range x.received() {
				p, i := msgID(m)
				if i < next[p] {
					t.Fatalf("x: %s:%d after %s:%d", p, i, p, next[p]-1)
				}
				next[p] = i + 1
			}
			if n := x.count(); n != producers*per {
				t.Fatalf("x got %d messages, want %d", n, producers*per)
			}
			if n := y.count(); n != producers*(per-per/3) {
				t.Fatalf("y got %d messages, want %d (unicasts leaked?)", n, producers*(per-per/3))
			}
		})
	}
}

// TestLoneMessageIsNotWindowed: with a window of an hour, a message on an idle shard is delivered
// at once (the test would time out otherwise).
func TestLoneMessageIsNotWindowed(t *testing.T) {
	e, sh := testEngine(t, 2, time.Hour, 0)
	s := &fakeSub{t: t, name: "s", sh: sh[1]}
	sh[1].do(func() { e.Subscribe("t", s) })
	for i := 0; i < 3; i++ {
		e.Publish("t", evt("t", "p", i), nil)
		waitFor(t, waitLimit, "a lone message", func() bool { return s.count() == i+1 })
	}
}

// TestWindowDefersBusyShard: after a drain of at least deferRecords records that was quick, the
// shard stays scheduled and the next message waits for the window timer; it keeps coalescing while
// it lingers after its last busy drain, and then drains at once again.
func TestWindowDefersBusyShard(t *testing.T) {
	e, sh := testEngine(t, 1, time.Hour, 0)
	s := &fakeSub{t: t, name: "s", sh: sh[0]}
	sh[0].do(func() { e.Subscribe("t", s) })
	sh[0].do(func() {
		for i := 0; i < deferRecords; i++ {
			e.Publish("t", evt("t", "p", i), nil)
		}
	})
	waitFor(t, waitLimit, "the busy batch", func() bool { return s.count() == deferRecords })
	sh[0].do(func() {}) // the drain has returned and the timer is armed
	if st := e.Stats(); st.Deferred != 1 || st.Drains != 1 {
		t.Fatalf("after a busy drain: %+v", st)
	}
	// fire ends the window: the timer's drain runs, and has returned when fire does.
	fire := func() {
		before := e.Stats().Drains
		e.shards[0].timer.Reset(0)
		waitFor(t, waitLimit, "the window's drain", func() bool { return e.Stats().Drains == before+1 })
		sh[0].do(func() {})
	}
	n := deferRecords
	for range 2 { // held, also while lingering after the busy drain
		e.Publish("t", evt("t", "p", n), nil)
		sh[0].do(func() {}) // anything an immediate wake queued has run by now
		if s.count() != n {
			t.Fatalf("message %d after a busy drain was not held for the window", n)
		}
		fire()
		if s.count() != n+1 {
			t.Fatalf("message %d not delivered when the window ended", n)
		}
		n++
	}
	// Lingering: with a window of an hour the shard would coalesce for hours; end the linger.
	sh[0].do(func() {
		if !e.shards[0].lingerUntil.After(time.Now().Add(time.Hour)) {
			t.Errorf("lingering until %v, want at least lingerWindows windows", e.shards[0].lingerUntil)
		}
		e.shards[0].lingerUntil = time.Time{}
	})
	fire()
	if e.shards[0].sched.Load() != 0 {
		t.Fatal("a quiet window after the linger did not leave the shard idle")
	}
	// Idle again: the next message goes at once.
	e.Publish("t", evt("t", "p", n), nil)
	waitFor(t, waitLimit, "an immediate message", func() bool { return s.count() == n+1 })
}

// TestLingerFor: a shard lingers lingerWindows windows, or as long as the busy drain's writes took.
func TestLingerFor(t *testing.T) {
	for _, c := range []struct{ window, writes, want time.Duration }{
		{time.Millisecond, 0, 4 * time.Millisecond},
		{time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond},
		{time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond},
		{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond},
	} {
		if got := lingerFor(c.window, c.writes); got != c.want {
			t.Errorf("lingerFor(%v, %v) = %v, want %v", c.window, c.writes, got, c.want)
		}
	}
}

// TestWindowDefersExpensiveDrain: a drain of a single record counts as busy when it wrote at least
// deferFrames frames (one message to many subscribers), so the messages after it coalesce.
func TestWindowDefersExpensiveDrain(t *testing.T) {
	e, sh := testEngine(t, 1, time.Hour, 0)
	subs := make([]*fakeSub, deferFrames)
	sh[0].do(func() {
		for i := range subs {
			subs[i] = &fakeSub{t: t, name: fmt.Sprint("s", i), sh: sh[0]}
			e.Subscribe("t", subs[i])
		}
	})
	e.Publish("t", evt("t", "p", 0), nil)
	waitFor(t, waitLimit, "the first message", func() bool { return subs[len(subs)-1].count() == 1 })
	sh[0].do(func() {})
	if st := e.Stats(); st.Deferred != 1 || st.Frames != deferFrames {
		t.Fatalf("after one message to %d subscribers: %+v", deferFrames, st)
	}
	for i := 1; i <= 3; i++ {
		e.Publish("t", evt("t", "p", i), nil)
	}
	sh[0].do(func() {})
	if subs[0].count() != 1 {
		t.Fatal("messages after an expensive drain were not held for the window")
	}
	e.shards[0].timer.Reset(0)
	waitFor(t, waitLimit, "the held messages", func() bool { return subs[len(subs)-1].count() == 4 })
	sh[0].do(func() {})
	if st := e.Stats(); st.Frames != 2*deferFrames {
		t.Fatalf("three held messages took %d frames per subscriber, want 1: %+v", st.Frames/deferFrames-1, st)
	}
}

// TestLargeMessages crosses the 16- and 64-bit frame length boundaries and the slot retention limit.
func TestLargeMessages(t *testing.T) {
	e, sh := testEngine(t, 2, 0, 4)
	s := &fakeSub{t: t, name: "s", sh: sh[1]}
	sh[1].do(func() { e.Subscribe("big", s) })
	sizes := []int{100, 70000, 10, slotRetain * 3, 65535}
	for i, n := range sizes {
		m := evt("big", "p", i)
		pad := make([]byte, n)
		for j := range pad {
			pad[j] = 'a' + byte(j%26)
		}
		m = append(m[:len(m)-1], pad...)
		m = append(m, 0x1E)
		e.Publish("big", m, nil)
	}
	waitFor(t, waitLimit, "large messages", func() bool { return s.count() == len(sizes) })
	for i, m := range s.received() {
		if p, _ := msgID(m[:len("E\x1fEVT\x1fbig\x1fp:0")]); p != "p" || len(m) < sizes[i] {
			t.Fatalf("message %d mangled (len %d)", i, len(m))
		}
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for _, o := range []Options{{Shards: 0}, {Shards: MaxShards + 1}, {Shards: 1, Window: -1}, {Shards: 1, RingSize: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", o)
				}
			}()
			New(o)
		}()
	}
	e := New(Options{Shards: 1, RingSize: 5})
	if e.shards[0].ring.size() != 8 {
		t.Errorf("RingSize 5 gave %d slots, want 8", e.shards[0].ring.size())
	}
}

func TestEmptyMessagesAreIgnored(t *testing.T) {
	e, sh := testEngine(t, 1, 0, 0)
	s := &fakeSub{t: t, name: "s", sh: sh[0]}
	sh[0].do(func() { e.Subscribe("t", s) })
	e.Publish("t", nil, nil)
	e.PublishBytes([]byte("t"), []byte{}, nil)
	e.Send(s, nil)
	e.Publish("t", evt("t", "p", 0), nil) // the fake decoder rejects empty frames
	waitFor(t, waitLimit, "the message", func() bool { return s.count() == 1 })
	if st := e.Stats(); st.Records != 1 || st.Sends != 0 || st.Frames != 1 {
		t.Fatalf("empty messages reached the rings: %+v", st)
	}
}
