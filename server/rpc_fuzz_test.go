package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzRPCCore drives two cores (loops) with a random sequence of provides, unprovides, requests,
// provider answers (ack, response, error, rejection, for live or made-up correlation ids), provider and
// requester disconnects, clock moves and inbox drains. Invariants: nothing panics; every request
// accepted from a requester that stays connected gets exactly one final answer (response, error,
// NO_RPC_PROVIDER or a timeout), none before it was made and none twice; a disconnected requester is
// sent nothing afterwards; once the deadlines have passed nothing is left in flight.
func FuzzRPCCore(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 3, 0, 0, 4, 0, 0})
	f.Add([]byte{1, 0, 0, 1, 1, 0, 0, 0, 0, 6, 0, 0, 6, 1, 0, 10})
	f.Add([]byte{1, 0, 1, 0, 1, 1, 7, 0, 0, 10, 9, 200, 4, 1, 1})
	f.Add([]byte{0, 2, 1, 1, 2, 1, 0, 2, 1, 8, 2, 0, 4, 2, 1, 9, 255})
	f.Add([]byte{1, 1, 0, 0, 0, 0, 3, 1, 0, 3, 1, 0, 5, 1, 0, 2, 1, 0, 0, 1, 0})
	f.Fuzz(runRPCFuzzOnce)
}

func runRPCFuzzOnce(t *testing.T, ops []byte) {
	{
		reg := newRPCRegistryWith(time.Second, 3*time.Second, len(ops)%2 == 0)
		envs := []*fakeRPCEnv{newFakeRPCEnv(), newFakeRPCEnv()}
		for i, e := range envs {
			reg.cores = append(reg.cores, newRPCCore(reg, e, uint64(i)+1))
		}
		h := &rpcHarness{t: t, reg: reg, env: envs[0], core: reg.cores[0]}
		requesters := []*Session{{}, {}, {}}
		providers := []*Session{{}, {}, {}}
		gone := map[*Session]bool{}
		type key struct {
			s   *Session
			cid string
		}
		accepted := map[key]int{}
		final := map[key]int{}
		names := []string{"a", "b"}
		cids := []string{"c0", "c1", "c2", "c3"}
		// Slot k of the requesters lives on core k%2, slot k of the providers on core (k+1)%2.
		coreOf := func(slot int) *rpcCore { return reg.cores[slot%2] }
		envOf := func(i int) *fakeRPCEnv { return envs[i%2] }
		// collect reads what the requesters were sent and counts final answers.
		collect := func() {
			for _, e := range envs {
				for s, msgs := range e.sent {
					for _, m := range msgs {
						if gone[s] {
							t.Fatalf("sent %q to a disconnected requester", m)
						}
						parts := strings.Split(m, "|")
						isReq := false
						for _, r := range requesters {
							isReq = isReq || r == s
						}
						if !isReq || parts[1] == "REQ" || parts[1] == "A" {
							continue
						}
						var cid string
						switch {
						case parts[1] == "RES":
							cid = parts[3]
						case parts[1] == "E" && parts[2] == "INVALID_MESSAGE_DATA":
							accepted[key{s, parts[6]}]-- // duplicate correlation id: refused
							continue
						case parts[1] == "E" && len(parts) == 5:
							cid = parts[4]
						default:
							continue
						}
						k := key{s, cid}
						final[k]++
						if final[k] > accepted[k] {
							t.Fatalf("%q: more final answers than requests for %v", m, cid)
						}
					}
				}
				clear(e.sent)
			}
		}
		for len(ops) >= 3 {
			op, x, y := ops[0]%11, int(ops[1]), int(ops[2])
			ops = ops[3:]
			p := providers[x%3]
			cid := cids[y%4]
			name := names[y%2]
			switch op {
			case 0: // request
				r := requesters[x%3]
				accepted[key{r, cid}]++
				msg := wire("P|REQ|" + name + "|" + cid + "|U+")
				coreOf(x%3).request(r, msg, []byte(name), []byte(cid))
			case 1:
				reg.provide(p, []byte(name))
			case 2:
				reg.unprovide(p, []byte(name))
			case 3:
				h.provider(coreOf(x%3+1), p, "P|A|REQ|"+name+"|"+cid)
			case 4:
				h.provider(coreOf(x%3+1), p, "P|RES|"+name+"|"+cid+"|N1")
			case 5:
				h.provider(coreOf(x%3+1), p, "P|E|oops|"+name+"|"+cid)
			case 6:
				h.provider(coreOf(x%3+1), p, "P|REJ|"+name+"|"+cid)
			case 7: // provider disconnects; a new connection takes its place
				h.disconnect(coreOf(x%3+1), p)
				providers[x%3] = &Session{}
			case 8: // requester disconnects; a new connection takes its place
				r := requesters[x%3]
				collect()
				h.disconnect(coreOf(x%3), r)
				gone[r] = true
				requesters[x%3] = &Session{}
			case 9:
				for _, e := range envs {
					e.advance(time.Duration(y) * 10 * time.Millisecond)
				}
			case 10:
				envOf(x).runExecs()
			}
			collect()
		}
		for range 3 {
			for _, e := range envs {
				e.runExecs()
				e.advance(time.Minute)
			}
		}
		collect()
		h.idle()
		for k, n := range accepted {
			if !gone[k.s] && final[k] != n {
				t.Fatalf("%s: %d requests, %d final answers", k.cid, n, final[k])
			}
		}
	}
}

// FuzzPresenceUsers: presenceUsers accepts exactly the JSON arrays of non-empty strings without the
// protocol's separators, and returns them in order.
func FuzzPresenceUsers(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `[]`, ` ["bob"] `, `notjson`, `[1]`, `["a",`, `{"a":1}`,
		`["\u00fc\u2713"]`, `[""]`, `["a\u001eb"]`, `null`, `["a",null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := presenceUsers(b)
		var ref []any
		refOK := json.Unmarshal(b, &ref) == nil && ref != nil
		var want []string
		for _, v := range ref {
			s, isStr := v.(string)
			if !isStr || s == "" || strings.ContainsAny(s, "\x1e\x1f") {
				refOK = false
				break
			}
			want = append(want, s)
		}
		if ok != refOK {
			t.Fatalf("presenceUsers(%q) ok=%v, reference %v", b, ok, refOK)
		}
		if ok && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("presenceUsers(%q) = %q, want %q", b, got, want)
		}
	})
}
