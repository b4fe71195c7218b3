package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// writeWait writes w and waits for its done.
func writeWait(t testing.TB, s Store, w Write) error {
	t.Helper()
	ch := make(chan error, 1)
	s.Write(w, func(err error) { ch <- err })
	return <-ch
}

func set(name string, v int64, data string) Write {
	return Write{Name: name, Record: Record{Version: v, Data: []byte(data)}}
}

func mustGet(t *testing.T, s Store, name string) (Record, bool) {
	t.Helper()
	r, ok, err := s.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return r, ok
}

// name spreads test names over two prefixes, so that the Exclude wrapper
// (excluding "mem/") exercises both of its sides.
func name(i int) string {
	if i%2 == 0 {
		return fmt.Sprintf("mem/%d", i)
	}
	return fmt.Sprintf("user/%d", i)
}

// runContract checks the Store contract on stores made by open, which must
// return an empty store; the suite closes it.
func runContract(t *testing.T, open func(t *testing.T) Store) {
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		for i := range 2 {
			if r, ok := mustGet(t, s, name(i)); ok {
				t.Fatalf("missing record found: %+v", r)
			}
		}
	})

	t.Run("SetGetOverwriteDelete", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		for i := range 2 {
			n := name(i)
			buf := []byte(`{"a":1}`)
			if err := writeWait(t, s, Write{Name: n, Record: Record{Version: 0, Data: buf}}); err != nil {
				t.Fatal(err)
			}
			copy(buf, `XXXXXXX`) // the store must have copied
			r, ok := mustGet(t, s, n)
			if !ok || r.Version != 0 || string(r.Data) != `{"a":1}` {
				t.Fatalf("after set: %+v %v", r, ok)
			}
			r.Data[0] = 'Z' // the caller owns what Get returns
			if err := writeWait(t, s, set(n, 7, `[1,2]`)); err != nil {
				t.Fatal(err)
			}
			if r, ok := mustGet(t, s, n); !ok || r.Version != 7 || string(r.Data) != `[1,2]` {
				t.Fatalf("after overwrite: %+v %v", r, ok)
			}
			if err := writeWait(t, s, set(n, -1, ``)); err != nil { // odd but legal values round-trip
				t.Fatal(err)
			}
			if r, ok := mustGet(t, s, n); !ok || r.Version != -1 || len(r.Data) != 0 {
				t.Fatalf("after negative version: %+v %v", r, ok)
			}
			if err := writeWait(t, s, Write{Name: n, Delete: true}); err != nil {
				t.Fatal(err)
			}
			if r, ok := mustGet(t, s, n); ok {
				t.Fatalf("after delete: %+v", r)
			}
			if err := writeWait(t, s, Write{Name: n + "/never", Delete: true}); err != nil {
				t.Fatalf("delete of a missing record: %v", err)
			}
		}
	})

	t.Run("OrderPerName", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		const n = 2000
		var wg sync.WaitGroup
		wg.Add(2 * n)
		for v := 1; v <= n; v++ {
			for i := range 2 {
				w := set(name(i), int64(v), fmt.Sprintf(`{"v":%d}`, v))
				if v == n/2 {
					w = Write{Name: name(i), Delete: true}
				}
				s.Write(w, func(err error) {
					if err != nil {
						t.Error(err)
					}
					wg.Done()
				})
			}
		}
		wg.Wait()
		for i := range 2 {
			r, ok := mustGet(t, s, name(i))
			if !ok || r.Version != n || string(r.Data) != fmt.Sprintf(`{"v":%d}`, n) {
				t.Fatalf("last write did not win: %+v %v", r, ok)
			}
		}
	})

	t.Run("ConcurrentWritersDoneOnce", func(t *testing.T) {
		s := open(t)
		const writers, per = 8, 150
		calls := make([]atomic.Int32, writers*per)
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range per {
					k := g*per + j
					s.Write(set(name(k), int64(j), fmt.Sprintf(`{"k":%d}`, k)), func(err error) {
						if err != nil {
							t.Error(err)
						}
						calls[k].Add(1)
					})
					// Shared names too: many goroutines on one record.
					s.Write(set("shared/"+name(j%2), int64(k), `{}`), func(err error) {
						if err != nil {
							t.Error(err)
						}
					})
				}
			}()
		}
		wg.Wait()
		if err := s.Close(); err != nil { // flushes every queued write
			t.Fatal(err)
		}
		for k := range calls {
			if c := calls[k].Load(); c != 1 {
				t.Fatalf("done of write %d called %d times", k, c)
			}
		}
	})

	t.Run("ConcurrentReadback", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		const writers, per = 4, 100
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range per {
					k := g*per + j
					if err := writeWait(t, s, set(name(k), int64(k), fmt.Sprintf(`{"k":%d}`, k))); err != nil {
						t.Error(err)
						return
					}
					r, ok, err := s.Get(name(k))
					if err != nil || !ok || r.Version != int64(k) {
						t.Errorf("read back %d: %+v %v %v", k, r, ok, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})

	t.Run("Close", func(t *testing.T) {
		s := open(t)
		const n = 500
		var ok atomic.Int32
		for i := range n {
			s.Write(set(name(i), 1, `{}`), func(err error) {
				if err == nil {
					ok.Add(1)
				}
			})
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := ok.Load(); got != n {
			t.Fatalf("Close returned with %d of %d writes done", got, n)
		}
		for i := range 2 {
			if err := writeWait(t, s, set(name(i), 2, `{}`)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Write after Close: %v", err)
			}
			if _, _, err := s.Get(name(i)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Get after Close: %v", err)
			}
		}
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T) Store { return NewMemory() })
}

func openTestPebble(t testing.TB, dir string) *Pebble {
	t.Helper()
	opts := DefaultPebbleOptions()
	opts.Dir = dir
	opts.Logger = quietLogger()
	p, err := OpenPebble(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPebbleContract(t *testing.T) {
	runContract(t, func(t *testing.T) Store { return openTestPebble(t, t.TempDir()) })
}

func TestExcludeContract(t *testing.T) {
	runContract(t, func(t *testing.T) Store {
		return Exclude(openTestPebble(t, t.TempDir()), []string{"mem/"})
	})
}

func TestExcludeRouting(t *testing.T) {
	dir := t.TempDir()
	s := Exclude(openTestPebble(t, dir), []string{"mem/", "tmp-"})
	for _, n := range []string{"mem/1", "tmp-x", "user/1"} {
		if err := writeWait(t, s, set(n, 3, `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p := openTestPebble(t, dir)
	defer p.Close()
	for n, want := range map[string]bool{"mem/1": false, "tmp-x": false, "user/1": true} {
		if _, ok := mustGet(t, p, n); ok != want {
			t.Errorf("%s durable = %v, want %v", n, ok, want)
		}
	}
	if Exclude(p, nil) != Store(p) {
		t.Error("Exclude with no prefixes should return the store itself")
	}
}
