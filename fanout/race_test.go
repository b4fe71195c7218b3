package fanout

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRaceSubscribePublishDisconnect runs subscribes, unsubscribes, disconnects, publishes (from
// shards and from outside), unicasts, Count and Stats concurrently across shards for a bounded time.
// Run it with -race. Every frame received is decoded and checked (well formed, one topic, no echo);
// at the end the registry must agree with what the test did, and be empty once everyone has left.
func TestRaceSubscribePublishDisconnect(t *testing.T) {
	const nShards, subsPer, nTopics = 3, 8, 6
	d := 1500 * time.Millisecond
	if testing.Short() {
		d = 300 * time.Millisecond
	}
	e, sh := testEngine(t, nShards, 100*time.Microsecond, 32)
	topic := func(i int) string { return fmt.Sprint("topic", i) }

	subs := make([][]*fakeSub, nShards)
	model := make([]map[*fakeSub]map[string]bool, nShards) // shard goroutine i only
	for i := range subs {
		model[i] = map[*fakeSub]map[string]bool{}
		for j := 0; j < subsPer; j++ {
			s := &fakeSub{t: t, name: fmt.Sprintf("s%d.%d", i, j), sh: sh[i]}
			subs[i] = append(subs[i], s)
			model[i][s] = map[string]bool{}
		}
	}

	var stop atomic.Bool
	time.AfterFunc(d, func() { stop.Store(true) })
	var wg sync.WaitGroup

	// One driver per shard: each operation runs on the shard goroutine, as the server would run it.
	for i := range sh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			seq := 0
			for !stop.Load() {
				done := make(chan struct{})
				op, s, tp := rng.IntN(10), subs[i][rng.IntN(subsPer)], topic(rng.IntN(nTopics))
				seq++
				n := seq
				sh[i].Execute(func() {
					defer close(done)
					m := model[i][s]
					switch {
					case op < 3:
						e.Subscribe(tp, s)
						m[tp] = true
					case op < 5:
						e.Unsubscribe(tp, s)
						delete(m, tp)
					case op < 6:
						left := 0
						e.UnsubscribeAll(s, func(topic string, last bool) {
							if !m[topic] {
								t.Errorf("%s left %s, which it had not joined", s.name, topic)
							}
							left++
						})
						if left != len(m) {
							t.Errorf("%s: UnsubscribeAll left %d topics, want %d", s.name, left, len(m))
						}
						clear(m)
					case op < 9:
						e.Publish(tp, evt(tp, s.name, n), s)
					default:
						if e.IsSubscribed(tp, s) != m[tp] {
							t.Errorf("%s: IsSubscribed(%s) disagrees with the model", s.name, tp)
						}
					}
				})
				<-done
			}
		}()
	}
	// Outside publishers and unicast senders.
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 2))
			name := fmt.Sprint("out", k)
			for i := 0; !stop.Load(); i++ {
				tp := topic(rng.IntN(nTopics))
				if i%4 == 0 {
					s := subs[rng.IntN(nShards)][rng.IntN(subsPer)]
					e.Send(s, uni(name, i))
				} else {
					e.PublishBytes([]byte(tp), evt(tp, name, i), nil)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for i := 0; i < nTopics; i++ {
				if n := e.Count(topic(i)); n < 0 || n > nShards*subsPer {
					t.Errorf("Count(%s) = %d", topic(i), n)
				}
			}
			_ = e.Stats()
			time.Sleep(50 * time.Microsecond)
		}
	}()
	wg.Wait()

	// The registry agrees with the model.
	for i := 0; i < nTopics; i++ {
		want := 0
		for j := range sh {
			sh[j].do(func() {
				for _, m := range model[j] {
					if m[topic(i)] {
						want++
					}
				}
			})
		}
		if got := e.Count(topic(i)); got != want {
			t.Errorf("Count(%s) = %d, want %d", topic(i), got, want)
		}
	}
	for j := range sh {
		sh[j].do(func() {
			for _, s := range subs[j] {
				e.UnsubscribeAll(s, nil)
			}
		})
	}
	if st := e.Stats(); st.Topics != 0 {
		t.Errorf("%d topics left after everyone left", st.Topics)
	}
	for i := 0; i < nTopics; i++ {
		if e.Count(topic(i)) != 0 {
			t.Errorf("Count(%s) != 0 after everyone left", topic(i))
		}
	}
	st := e.Stats()
	if st.Delivered == 0 || st.Sends == 0 {
		t.Errorf("nothing was delivered: %+v", st)
	}
	t.Logf("%+v", st)
}
