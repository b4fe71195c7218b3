package fanout

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sysSub models a loop connection's cost: whatever it receives in one function run by the Executor
// is written with one system call when the function returns (a getppid here, which costs what a
// null system call costs on this machine; a real write costs more and grows with the bytes).
type sysSub struct {
	sh      *fakeShard
	dirty   bool
	msgLen  int  // every message of the benchmark has this length
	pending int  // messages received in the current function
	written *int // the shard's count of messages written (shard goroutine)
}

func (s *sysSub) Shard() int { return s.sh.idx }

func (s *sysSub) WriteFrame(b []byte) {
	n := len(b) - 2
	if n > 125 {
		n -= 2
		if n > 0xFFFF {
			n -= 6
		}
	}
	s.pending += n / s.msgLen
	if !s.dirty {
		s.dirty = true
		s.sh.dirty = append(s.sh.dirty, flusher(s))
	}
}

func (s *sysSub) flush() {
	s.dirty = false
	syscall.Getppid()
	*s.written += s.pending
	s.pending = 0
}

// BenchmarkRound replays benchmark.md's rounds without sockets but with one system call per
// connection per Executor function: S subscribers and P separate publishers on one topic over two
// shards; a round is every publisher publishing once, each from its own function on its shard (as
// each publisher's message arrives in its own OnTraffic), until all S*P deliveries are done. It
// compares the flush policy's window against none. ns/op is the round time.
func BenchmarkRound(b *testing.B) {
	for _, row := range []struct{ s, p int }{{10, 1}, {100, 10}, {1000, 100}, {10000, 1000}} {
		for _, w := range []time.Duration{0, DefaultWindow} {
			b.Run(fmt.Sprintf("%dx%d/window=%v", row.s, row.p, w), func(b *testing.B) {
				e, sh := testEngine(b, 2, w, 0)
				msg := []byte("E\x1fEVT\x1feventName\x1e")
				// The round ends when the last message has been "written", which the shard
				// that writes it reports through done.
				var total, target atomic.Int64
				done := make(chan struct{}, 1)
				for _, f := range sh {
					written := new(int)
					f.do(func() {
						for i := f.idx; i < row.s; i += 2 {
							e.Subscribe("t", &sysSub{sh: f, msgLen: len(msg), written: written})
						}
						f.after = func() {
							if *written == 0 {
								return
							}
							n := total.Add(int64(*written))
							*written = 0
							if t := target.Load(); n >= t && target.CompareAndSwap(t, 0) {
								done <- struct{}{}
							}
						}
					})
				}
				pubs := make([]func(), row.p)
				for j := range pubs {
					from := &sysSub{sh: sh[j%2], msgLen: len(msg), written: new(int)}
					pubs[j] = func() { e.Publish("t", msg, from) }
				}
				b.ResetTimer()
				for i := 1; i <= b.N; i++ {
					target.Store(int64(i * row.s * row.p))
					for j, fn := range pubs {
						sh[j%2].Execute(fn)
					}
					<-done
				}
				b.StopTimer()
				st := e.Stats()
				b.ReportMetric(float64(st.Drains)/float64(b.N), "drains/round")
				b.ReportMetric(float64(st.Deferred)/float64(b.N), "deferred/round")
				b.ReportMetric(float64(st.Wakes)/float64(b.N), "wakes/round")
				b.ReportMetric(float64(st.Frames)/float64(b.N*row.s), "frames/subscriber/round")
			})
		}
	}
}
