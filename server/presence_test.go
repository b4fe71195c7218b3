package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

type presenceEvent struct {
	user   string
	joined bool
}

func newTestPresence() (*presenceRegistry, *[]presenceEvent) {
	r := &presenceRegistry{users: map[string]int{}}
	var evs []presenceEvent
	r.announce = func(user string, joined bool) { evs = append(evs, presenceEvent{user, joined}) }
	return r, &evs
}

func TestPresenceJoinLeaveCountsConnections(t *testing.T) {
	r, evs := newTestPresence()
	if !r.join("bob") || r.join("bob") || r.join("bob") {
		t.Fatal("only bob's first connection joins")
	}
	if !r.join("open") {
		t.Fatal("anonymous users join as open")
	}
	if r.leave("bob") || r.leave("bob") {
		t.Fatal("bob still has a connection")
	}
	if got := r.online(""); !slices.Equal(got, []string{"bob", "open"}) {
		t.Fatalf("online = %q", got)
	}
	if !r.leave("bob") {
		t.Fatal("bob's last connection leaves")
	}
	if r.leave("bob") {
		t.Fatal("a leave without a join is ignored")
	}
	if !r.join("bob") {
		t.Fatal("bob joins again after leaving")
	}
	want := []presenceEvent{{"bob", true}, {"open", true}, {"bob", false}, {"bob", true}}
	if !slices.Equal(*evs, want) {
		t.Fatalf("announcements %v, want %v", *evs, want)
	}
}

func TestPresenceQueries(t *testing.T) {
	r, _ := newTestPresence()
	for _, u := range []string{"carol", "bob", "alice", "bob"} {
		r.join(u)
	}
	if got := r.online("alice"); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("online except alice = %q", got)
	}
	r.leave("alice")
	r.leave("carol")
	if got := r.online("bob"); len(got) != 0 {
		t.Fatalf("online except bob = %q", got)
	}
	users := []string{"bob", "carol", "dave"}
	got := string(presenceResult(users, r.isOnline(users)))
	if got != `{"bob":true,"carol":false,"dave":false}` {
		t.Fatalf("result %s", got)
	}
}

// TestPresenceConcurrentConnections: connections of one user log in and out on many goroutines; the
// announcements alternate join, leave, join, ... and end with a leave, as a subscriber must see them.
func TestPresenceConcurrentConnections(t *testing.T) {
	r, evs := newTestPresence()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				u := fmt.Sprint("u", (g+i)%3)
				r.join(u)
				r.leave(u)
			}
		}()
	}
	wg.Wait()
	state := map[string]bool{}
	for _, e := range *evs {
		if state[e.user] == e.joined {
			t.Fatalf("%s announced %v twice in a row", e.user, e.joined)
		}
		state[e.user] = e.joined
	}
	for u, on := range state {
		if on {
			t.Fatalf("%s still announced online", u)
		}
	}
	if len(r.users) != 0 {
		t.Fatalf("counts left: %v", r.users)
	}
}

func TestPresenceUsersParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`["a","b"]`, []string{"a", "b"}, true},
		{` [] `, []string{}, true},
		{`notjson`, nil, false},
		{`{"a":1}`, nil, false},
		{`[1,2]`, nil, false},
		{`["a",`, nil, false},
		{`[""]`, nil, false},
		{`["a\u001fb"]`, nil, false},
		{`"a"`, nil, false},
	} {
		got, ok := presenceUsers([]byte(tc.in))
		if ok != tc.ok || (ok && !slices.Equal(got, tc.want)) {
			t.Errorf("presenceUsers(%s) = %q, %v", tc.in, got, ok)
		}
	}
	if got := dedupe([]string{"a", "b", "a"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("dedupe = %q", got)
	}
}
