package valve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const allowReads = "record:\n  \"*\":\n    read: true\n" + validTail
const denyReads = "record:\n  \"*\":\n    read: false\n" + validTail

func readAllowed(t *testing.T, h *Holder) bool {
	t.Helper()
	ok, err := h.Load().Check(&Request{Section: SectionRecord, Type: Read, Name: "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestHolderReloadKeepsOldRulesOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "permissions.yml")
	writeFile(t, path, allowReads)
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(p, Options{})
	if !readAllowed(t, h) {
		t.Fatal("initial rules deny")
	}
	writeFile(t, path, "record:\n  \"*\":\n    read: \"data.x ==\"\n"+validTail)
	err = h.ReloadFile(path)
	if err == nil || !strings.Contains(err.Error(), "permissions.yml:3:") {
		t.Fatalf("bad file: err = %v", err)
	}
	if h.Load() != p || !readAllowed(t, h) {
		t.Fatal("a bad file replaced the rules")
	}
	writeFile(t, path, denyReads)
	if err := h.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	if readAllowed(t, h) {
		t.Fatal("reload did not install the new rules")
	}
	if old := h.Swap(p); old == p || !readAllowed(t, h) {
		t.Fatal("Swap")
	}
}

func TestHolderWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "permissions.yml")
	writeFile(t, path, allowReads)
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(p, Options{})
	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Watch(ctx, path, 5*time.Millisecond, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
		close(done)
	}()
	// Change content and size; the watcher must pick it up. The file is
	// rewritten (growing) until then, since the watcher goroutine may take
	// its first stat after an earlier write.
	pad := ""
	waitFor(t, func() bool {
		pad += "#"
		writeFile(t, path, denyReads+pad+"\n")
		return !readAllowed(t, h)
	})
	// A broken file is reported and the rules stay.
	pad = ""
	waitFor(t, func() bool {
		pad += "#"
		writeFile(t, path, "record: [\n"+pad)
		mu.Lock()
		defer mu.Unlock()
		return len(errs) > 0
	})
	if readAllowed(t, h) {
		t.Fatal("broken file changed the rules")
	}
	cancel()
	<-done
}

// waitFor polls cond; the deadline is generous because the machine is shared.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestConcurrentChecks(t *testing.T) {
	p := benchPerms(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				owner := "alice"
				if (i+g)%2 == 0 {
					owner = "bob"
				}
				req := &Request{Section: SectionRecord, Type: Write, Name: "cross/" + owner, User: benchUser,
					Data: []byte(`{"owner":"` + owner + `","price":1}`)}
				ok, err := p.Check(req, benchLookup)
				if err != nil || ok != (owner == "alice") {
					t.Errorf("owner %s: %v %v", owner, ok, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestChoiceCacheBounded(t *testing.T) {
	c := newChoiceCache(128)
	for i := 0; i < 10000; i++ {
		c.put(1, "name/"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), int32(i%3))
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].m)
	}
	if total > 128 {
		t.Fatalf("cache holds %d entries, bound 128", total)
	}
	c.put(2, "k", 5)
	if v, ok := c.get(2, "k"); !ok || v != 5 {
		t.Fatal("get after put")
	}
	if _, ok := c.get(3, "k"); ok {
		t.Fatal("key includes section/type")
	}
}

func TestCachedSectionChoice(t *testing.T) {
	// More than uncachedEntries paths plus a regex path: the cache is used
	// and must agree with the matcher, including "no match".
	var sb strings.Builder
	sb.WriteString("  \"*\":\n    write: true\n  \"x.y/*\":\n    read: true\n")
	for i := 0; i < 12; i++ {
		sb.WriteString("  \"p" + string(rune('a'+i)) + "/$id\":\n    read: \"$id == 'ok'\"\n")
	}
	p := testPerms(t, sb.String())
	if !p.cached[SectionRecord] {
		t.Fatal("cache not enabled")
	}
	for round := 0; round < 2; round++ {
		for _, tc := range []struct {
			name string
			want bool
		}{{"pa/ok", true}, {"pl/ok", true}, {"pa/no", false}, {"xzy/1", true}, {"zz", false}} {
			ok, err := p.Check(&Request{Section: SectionRecord, Type: Read, Name: tc.name}, nil)
			if err != nil || ok != tc.want {
				t.Fatalf("round %d %s: %v %v", round, tc.name, ok, err)
			}
		}
	}
}
