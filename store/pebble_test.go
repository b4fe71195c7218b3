package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestPebbleReopen(t *testing.T) {
	dir := t.TempDir()
	p := openTestPebble(t, dir)
	for i := range 100 {
		if i == 99 {
			p.Write(Write{Name: name(3), Delete: true}, func(error) {})
			continue
		}
		p.Write(set(name(i), int64(i), fmt.Sprintf(`{"i":%d}`, i)), func(error) {})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = openTestPebble(t, dir)
	defer p.Close()
	for i := range 99 {
		r, ok := mustGet(t, p, name(i))
		if i == 3 {
			if ok {
				t.Fatalf("deleted record survived reopen: %+v", r)
			}
			continue
		}
		if !ok || r.Version != int64(i) || string(r.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("record %d after reopen: %+v %v", i, r, ok)
		}
	}
}

// TestPebbleCrash writes from several goroutines on a crashable in-memory FS
// and takes crash clones (all synced data plus a random share of unsynced
// data) at random moments. Every write whose done(nil) ran before the clone
// must be in the reopened clone with its version (or a later one), and every
// record must decode to a value some writer actually wrote.
func TestPebbleCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	p, err := OpenPebble(PebbleOptions{Dir: "db", Sync: true, FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	const writers, names = 4, 16
	var (
		mu    sync.Mutex
		acked = map[string]int64{} // highest version acknowledged per name
		acks  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Rounds of 8 writes in flight per writer, so batches mix names
			// and writers; versions grow per name.
			for v := int64(1); !stop.Load(); v += 8 {
				var inflight sync.WaitGroup
				for k := int64(0); k < 8; k++ {
					vv := v + k
					nn := fmt.Sprintf("rec/%d/%d", g, int(vv)%names)
					dd := fmt.Sprintf(`{"name":%q,"v":%d,"pad":%q}`, nn, vv, strings.Repeat("x", int(vv%300)))
					inflight.Add(1)
					p.Write(set(nn, vv, dd), func(err error) {
						defer inflight.Done()
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if vv > acked[nn] {
							acked[nn] = vv
						}
						mu.Unlock()
						acks.Add(1)
					})
				}
				inflight.Wait()
			}
		}()
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 6 {
		target := acks.Load() + int64(50+rng.IntN(400))
		for acks.Load() < target {
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		want := make(map[string]int64, len(acked))
		for k, v := range acked {
			want[k] = v
		}
		mu.Unlock()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
		checkCrashClone(t, round, clone, want)
	}
	stop.Store(true)
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func checkCrashClone(t *testing.T, round int, fs vfs.FS, want map[string]int64) {
	t.Helper()
	q, err := OpenPebble(PebbleOptions{Dir: "db", Sync: true, FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("round %d: reopen after crash: %v", round, err)
	}
	defer q.Close()
	for n, v := range want {
		r, ok, err := q.Get(n)
		if err != nil || !ok {
			t.Fatalf("round %d: acknowledged %s v%d lost: %v %v", round, n, v, ok, err)
		}
		if r.Version < v {
			t.Fatalf("round %d: %s at v%d, acknowledged v%d", round, n, r.Version, v)
		}
		wantData := fmt.Sprintf(`{"name":%q,"v":%d,"pad":%q}`, n, r.Version, strings.Repeat("x", int(r.Version%300)))
		if string(r.Data) != wantData {
			t.Fatalf("round %d: %s v%d holds %q", round, n, r.Version, r.Data)
		}
	}
	t.Logf("round %d: %d acknowledged records intact", round, len(want))
}

// TestPebbleCorruptionSurfaces zeroes bytes inside synced WAL data: with the
// newest format OpenPebble must fail with a corruption error, not replay a
// truncated log silently.
func TestPebbleCorruptionSurfaces(t *testing.T) {
	fs := vfs.NewMem()
	p, err := OpenPebble(PebbleOptions{Dir: "db", Sync: true, FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte{'a'}, 4096)
	for i := range 32 {
		if err := writeWait(t, p, Write{Name: fmt.Sprintf("key-%d", i), Record: Record{Version: 1, Data: value}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := fs.List("db")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(s string) bool { return filepath.Ext(s) != ".log" })
	if len(files) == 0 {
		t.Fatal("no WAL file")
	}
	slices.Sort(files)
	f, err := fs.OpenReadWrite(fs.PathJoin("db", files[len(files)-1]), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 0}, 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = OpenPebble(PebbleOptions{Dir: "db", Sync: true, FS: fs, Logger: quietLogger()})
	if !IsCorruption(err) {
		t.Fatalf("open of a corrupt WAL: %v, want a corruption error", err)
	}
}

// TestPebbleWriteNoAllocs measures Write alone: the committer is held inside
// the first write's done (deliberately breaking "done must not block"), so
// the measured writes only append to the pending batch.
func TestPebbleWriteNoAllocs(t *testing.T) {
	p := openTestPebble(t, t.TempDir())
	release := make(chan struct{})
	entered := make(chan struct{})
	p.Write(set("first", 1, `{}`), func(error) { close(entered); <-release })
	<-entered
	w := set("user/1", 1, `{"name":"Alice","age":33,"tags":["x","y"]}`)
	done := func(error) {}
	allocs := testing.AllocsPerRun(2000, func() {
		w.Record.Version++
		p.Write(w, done)
	})
	close(release)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Pebble.Write allocates %v times per call", allocs)
	}
}

func benchmarkWrites(b *testing.B, s Store, parallelism int) {
	data := bytes.Repeat([]byte{'x'}, 200)
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if parallelism == 0 {
		ch := make(chan error, 1)
		done := func(err error) { ch <- err }
		i := 0
		for b.Loop() {
			i++
			s.Write(Write{Name: fmt.Sprintf("bench/%d", i%1000), Record: Record{Version: int64(i), Data: data}}, done)
			if err := <-ch; err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			ch := make(chan error, 1)
			done := func(err error) { ch <- err }
			id := seq.Add(1)
			name := fmt.Sprintf("bench/%d", id)
			for v := int64(0); pb.Next(); v++ {
				s.Write(Write{Name: name, Record: Record{Version: v, Data: data}}, done)
				if err := <-ch; err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

// BenchmarkPebbleGroupCommit: 16 goroutines per CPU, each writing its own
// record and waiting for durability before the next write.
func BenchmarkPebbleGroupCommit(b *testing.B) {
	p := openTestPebble(b, b.TempDir())
	defer p.Close()
	benchmarkWrites(b, p, 16)
}

// BenchmarkPebbleSyncEach: one writer at a time, so every write is its own
// synced commit.
func BenchmarkPebbleSyncEach(b *testing.B) {
	p := openTestPebble(b, b.TempDir())
	defer p.Close()
	benchmarkWrites(b, p, 0)
}

func BenchmarkMemory(b *testing.B) {
	m := NewMemory()
	defer m.Close()
	benchmarkWrites(b, m, 16)
}
