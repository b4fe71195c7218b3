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
