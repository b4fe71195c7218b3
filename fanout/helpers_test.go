package fanout

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeShard is an event loop stand-in: a goroutine running queued functions in order. Like the
// loop, after each function it "writes" every subscriber that got frames during it, which is when
// the frames are decoded: so a frame fanout overwrote before its drain returned is caught.
type fakeShard struct {
	idx  int
	mu   sync.Mutex
	q    []func()
	sig  chan struct{}
	done chan struct{}
	exit chan struct{}

	dirty []flusher // shard goroutine only
	after func()    // if set, run after each function and its flush (set it on the shard goroutine)
}

// flusher is a subscriber that wants to hear when the function that wrote to it has returned, as a
// loop connection is flushed then.
type flusher interface{ flush() }

func newFakeShard(idx int) *fakeShard {
	f := &fakeShard{idx: idx, sig: make(chan struct{}, 1), done: make(chan struct{}), exit: make(chan struct{})}
	go f.run()
	return f
}

// Execute implements Executor.
func (f *fakeShard) Execute(fn func()) {
	f.mu.Lock()
	f.q = append(f.q, fn)
	f.mu.Unlock()
	select {
	case f.sig <- struct{}{}:
	default:
	}
}

func (f *fakeShard) run() {
	defer close(f.exit)
	var q []func()
	for {
		select {
		case <-f.sig:
		case <-f.done:
			return
		}
		for {
			f.mu.Lock()
			q, f.q = f.q, q[:0]
			f.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for i, fn := range q {
				fn()
				q[i] = nil
				f.flush()
				if f.after != nil {
					f.after()
				}
			}
		}
	}
}

func (f *fakeShard) flush() {
	for _, s := range f.dirty {
		s.flush()
	}
	clear(f.dirty)
	f.dirty = f.dirty[:0]
}

// do runs fn on the shard goroutine and waits for it.
func (f *fakeShard) do(fn func()) {
	ch := make(chan struct{})
	f.Execute(func() { fn(); close(ch) })
	<-ch
}

func (f *fakeShard) stop() { close(f.done); <-f.exit }

// fakeSub records what it receives, decoding each frame the way a client would.
type fakeSub struct {
	t      testing.TB
	name   string
	sh     *fakeShard
	strict bool // no unicasts expected: at most one frame per topic per drain

	pending [][]byte // frames of the current drain, not copied (shard goroutine)

	mu     sync.Mutex
	msgs   []string
	frames int
}

func (s *fakeSub) Shard() int { return s.sh.idx }

func (s *fakeSub) WriteFrame(b []byte) {
	if len(s.pending) == 0 {
		s.sh.dirty = append(s.sh.dirty, flusher(s))
	}
	s.pending = append(s.pending, b)
}

func (s *fakeSub) flush() {
	seen := map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.pending {
		payload, err := decodeTextFrame(b)
		if err != nil {
			s.t.Errorf("%s: %v", s.name, err)
			continue
		}
		msgs, err := splitMessages(payload)
		if err != nil {
			s.t.Errorf("%s: %v", s.name, err)
			continue
		}
		for _, m := range msgs {
			if p, _ := msgID(m); p == s.name {
				s.t.Errorf("%s: received its own message %q", s.name, m)
			}
		}
		topic := msgTopic(msgs[0])
		for _, m := range msgs[1:] {
			if msgTopic(m) != topic {
				s.t.Errorf("%s: frame mixes topics %q and %q", s.name, topic, msgTopic(m))
			}
		}
		if s.strict {
			if seen[topic] {
				s.t.Errorf("%s: two frames for topic %q in one drain", s.name, topic)
			}
			seen[topic] = true
		}
		s.msgs = append(s.msgs, msgs...)
		s.frames++
	}
	clear(s.pending)
	s.pending = s.pending[:0]
}

func (s *fakeSub) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func (s *fakeSub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// decodeTextFrame checks b is exactly one final, unmasked, non-empty text frame and returns its
// payload.
func decodeTextFrame(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("short frame %q", b)
	}
	if b[0] != 0x81 {
		return nil, fmt.Errorf("first byte %#x, want 0x81", b[0])
	}
	if b[1]&0x80 != 0 {
		return nil, fmt.Errorf("masked server frame")
	}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return nil, fmt.Errorf("short 16-bit header")
		}
		n, h = uint64(b[2])<<8|uint64(b[3]), 4
		if n < 126 {
			return nil, fmt.Errorf("non-minimal 16-bit length %d", n)
		}
	case 127:
		if len(b) < 10 {
			return nil, fmt.Errorf("short 64-bit header")
		}
		n, h = 0, 10
		for _, c := range b[2:10] {
			n = n<<8 | uint64(c)
		}
		if n <= 0xFFFF {
			return nil, fmt.Errorf("non-minimal 64-bit length %d", n)
		}
	}
	if uint64(len(b)-h) != n {
		return nil, fmt.Errorf("frame length %d, header says %d", len(b)-h, n)
	}
	if n == 0 {
		return nil, fmt.Errorf("empty frame")
	}
	return b[h:], nil
}

// splitMessages splits a payload into its deepstream messages, each of which must end in 0x1E.
func splitMessages(p []byte) ([]string, error) {
	if p[len(p)-1] != 0x1E {
		return nil, fmt.Errorf("payload does not end with a message separator: %q", p)
	}
	var out []string
	for len(p) > 0 {
		i := bytes.IndexByte(p, 0x1E)
		out = append(out, string(p[:i]))
		p = p[i+1:]
	}
	return out, nil
}

// Messages in these tests are "E|EVT|topic|producer:seq+" (| = 0x1F, + = 0x1E) or, for unicasts,
// "U|producer:seq+".
func evt(topic, producer string, seq int) []byte {
	return fmt.Appendf(nil, "E\x1fEVT\x1f%s\x1f%s:%d\x1e", topic, producer, seq)
}

func uni(producer string, seq int) []byte {
	return fmt.Appendf(nil, "U\x1f%s:%d\x1e", producer, seq)
}

func msgTopic(m string) string {
	parts := bytes.Split([]byte(m), []byte{0x1F})
	if parts[0][0] == 'U' {
		return "\x00unicast"
	}
	return string(parts[2])
}

// msgID returns the producer and sequence of a test message.
func msgID(m string) (producer string, seq int) {
	parts := bytes.Split([]byte(m), []byte{0x1F})
	id := parts[len(parts)-1]
	i := bytes.LastIndexByte(id, ':')
	fmt.Sscanf(string(id[i+1:]), "%d", &seq)
	return string(id[:i]), seq
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// testEngine starts n fake shards attached to a new Engine.
func testEngine(t testing.TB, n int, window time.Duration, ringSize int) (*Engine, []*fakeShard) {
	e := New(Options{Shards: n, Window: window, RingSize: ringSize})
	shards := make([]*fakeShard, n)
	for i := range shards {
		shards[i] = newFakeShard(i)
		e.Attach(i, shards[i])
	}
	t.Cleanup(func() {
		for _, f := range shards {
			f.stop()
		}
	})
	return e, shards
}

// manualShard is an Executor whose queue the test runs by hand on its own goroutine, which then acts
// as every shard's goroutine: deterministic and free of scheduler noise, for allocation tests.
type manualShard struct {
	mu sync.Mutex
	q  []func()
	b  []func()
}

func (m *manualShard) Execute(fn func()) {
	m.mu.Lock()
	m.q = append(m.q, fn)
	m.mu.Unlock()
}

// runAll runs queued functions until none is left.
func runAll(ms ...*manualShard) {
	for more := true; more; {
		more = false
		for _, m := range ms {
			m.mu.Lock()
			m.q, m.b = m.b[:0], m.q
			m.mu.Unlock()
			for i, fn := range m.b {
				fn()
				m.b[i] = nil
				more = true
			}
		}
	}
}

// countSub counts frames and bytes only (the benchmarks' subscriber). Shard goroutine only.
type countSub struct {
	shard  int
	frames int
	bytes  int
}

func (c *countSub) Shard() int          { return c.shard }
func (c *countSub) WriteFrame(b []byte) { c.frames++; c.bytes += len(b) }
