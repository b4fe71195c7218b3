package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchSetup starts 2 fake shards and subscribes n counting subscribers, alternating shards, to
// topic "t".
func benchSetup(b *testing.B, n int) (*Engine, []*fakeShard) {
	e, sh := testEngine(b, 2, DefaultWindow, 0)
	for _, f := range sh {
		f.do(func() {
			for i := f.idx; i < n; i += 2 {
				e.Subscribe("t", &countSub{shard: f.idx})
			}
		})
	}
	return e, sh
}

// waitDelivered waits until the engine has delivered at least n records.
func waitDelivered(e *Engine, n uint64) {
	for e.Stats().Delivered < n {
		time.Sleep(20 * time.Microsecond)
	}
}

// roundWaiter returns a function that blocks until the engine has delivered at least n records,
// told by the shard whose drain got there (no polling, so small rounds are measured, not the
// poll interval).
func roundWaiter(e *Engine, sh []*fakeShard) func(n uint64) {
	var target atomic.Uint64
	done := make(chan struct{}, 1)
	for _, f := range sh {
		f.do(func() {
			f.after = func() {
				if t := target.Load(); t != 0 && e.Stats().Delivered >= t && target.CompareAndSwap(t, 0) {
					done <- struct{}{}
				}
			}
		})
	}
	return func(n uint64) {
		target.Store(n)
		if e.Stats().Delivered >= n && target.CompareAndSwap(n, 0) {
			return
		}
		<-done
	}
}

func reportDeliveries(b *testing.B, e *Engine, start time.Time, m0 *runtime.MemStats, deliveries uint64) {
	el := time.Since(start)
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(deliveries)/el.Seconds(), "deliveries/s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(deliveries), "allocs/delivery")
	st := e.Stats()
	b.ReportMetric(float64(st.Records)/float64(st.Drains), "records/drain")
}

// BenchmarkFanout1x10000: a round is one publish to 10 000 subscribers (5 000 per shard) and waiting
// until all have it: the cost of a lone message to a big channel.
func BenchmarkFanout1x10000(b *testing.B) {
	const subs = 10000
	e, sh := benchSetup(b, subs)
	wait := roundWaiter(e, sh)
	msg := []byte("E\x1fEVT\x1feventName\x1e")
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		e.Publish("t", msg, nil)
		wait(uint64(i) * subs)
	}
	b.StopTimer()
	reportDeliveries(b, e, start, &m0, uint64(b.N)*subs)
}

// BenchmarkFanout1000x10000: a round is 1 000 publishers (500 per shard, not subscribed, each
// publishing from its shard's goroutine as a loop would) sending one message each to 10 000
// subscribers, and waiting until all 10 M deliveries are done (benchmark.md's 10000x1000 row without
// the sockets).
func BenchmarkFanout1000x10000(b *testing.B) {
	const subs, pubs = 10000, 1000
	e, sh := benchSetup(b, subs)
	wait := roundWaiter(e, sh)
	publishers := make([]*countSub, pubs)
	for i := range publishers {
		publishers[i] = &countSub{shard: i % 2}
	}
	msg := []byte("E\x1fEVT\x1feventName\x1e")
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		for _, f := range sh {
			f.Execute(func() {
				for j := f.idx; j < pubs; j += 2 {
					e.Publish("t", msg, publishers[j])
				}
			})
		}
		wait(uint64(i) * subs * pubs)
	}
	b.StopTimer()
	reportDeliveries(b, e, start, &m0, uint64(b.N)*subs*pubs)
}

// latSub notes when its frame arrived.
type latSub struct {
	shard int
	at    atomic.Int64
	ch    chan struct{}
}

func (l *latSub) Shard() int { return l.shard }
func (l *latSub) WriteFrame(b []byte) {
	l.at.Store(time.Now().UnixNano())
	l.ch <- struct{}{}
}

// BenchmarkLoneMessageLatency: an idle channel, one subscriber on shard 1, a publish from shard 0's
// goroutine; reports the time from Publish to WriteFrame. It includes the fake shard's wake-up (a
// goroutine parked on a channel), as the real one includes gnet's eventfd wake.
func BenchmarkLoneMessageLatency(b *testing.B) {
	e, sh := testEngine(b, 2, DefaultWindow, 0)
	s := &latSub{shard: 1, ch: make(chan struct{}, 1)}
	sh[1].do(func() { e.Subscribe("t", s) })
	msg := []byte("E\x1fEVT\x1feventName\x1e")
	var total time.Duration
	var t0 int64
	pub := func() {
		t0 = time.Now().UnixNano()
		e.Publish("t", msg, nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh[0].Execute(pub)
		<-s.ch
		total += time.Duration(s.at.Load() - t0)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns-publish-to-WriteFrame")
	if st := e.Stats(); st.Deferred != 0 {
		b.Fatalf("a lone message was windowed: %+v", st)
	}
}

// BenchmarkRingMPSC: producers (RunParallel) push 16-byte records into one ring that a consumer
// goroutine drains in batches, as a shard does. ns/op is per record.
func BenchmarkRingMPSC(b *testing.B) {
	r := newRing(4096)
	msg := make([]byte, 16)
	var stop atomic.Bool
	var popped atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var n uint64
			for n < r.size() && r.at(n) != nil {
				n++
			}
			if n == 0 {
				if stop.Load() && !r.pending(0) {
					return
				}
				runtime.Gosched()
				continue
			}
			r.release(n)
			popped.Add(n)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for {
				if s, pos, ok := r.reserve(); ok {
					fill(s, kindPublish, "topic", msg, nil, nil)
					r.commit(s, pos)
					break
				}
				runtime.Gosched()
			}
		}
	})
	stop.Store(true)
	wg.Wait()
	b.StopTimer()
}

// BenchmarkChanMPSC is the baseline for BenchmarkRingMPSC: a buffered channel of the same capacity
// carrying the same 16 bytes plus a topic, by value.
func BenchmarkChanMPSC(b *testing.B) {
	type rec struct {
		topic string
		msg   [16]byte
	}
	ch := make(chan rec, 4096)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range ch {
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var r rec
		r.topic = "topic"
		for pb.Next() {
			ch <- r
		}
	})
	close(ch)
	wg.Wait()
}

// BenchmarkPublishEnqueue: the producer side alone, one topic on two shards, the shards draining
// concurrently (what a publishing loop pays per Publish).
func BenchmarkPublishEnqueue(b *testing.B) {
	e, _ := benchSetup(b, 2)
	msg := []byte("E\x1fEVT\x1feventName\x1e")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Publish("t", msg, nil)
	}
	b.StopTimer()
	waitDelivered(e, uint64(b.N)*2)
	st := e.Stats()
	b.ReportMetric(float64(st.Spilled)/float64(2*b.N), "spilled/record")
	b.ReportMetric(float64(st.Records)/float64(st.Drains), "records/drain")
}

// BenchmarkRingPushPop: the ring's own cost without contention or scheduling: one goroutine pushes
// 64 records of 16 bytes, then consumes and releases them as a drain does. ns/op is per record.
func BenchmarkRingPushPop(b *testing.B) {
	r := newRing(4096)
	msg := make([]byte, 16)
	b.ReportAllocs()
	for i := 0; i < b.N; i += 64 {
		for j := 0; j < 64; j++ {
			s, pos, _ := r.reserve()
			fill(s, kindPublish, "topic", msg, nil, nil)
			r.commit(s, pos)
		}
		var n uint64
		for r.at(n) != nil {
			n++
		}
		r.release(n)
	}
}
