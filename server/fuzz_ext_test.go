package server_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"swiftlet/server"
)

// FuzzSession modes (bits of the mode argument).
const (
	// fuzzUnauth sends the input right after the challenge instead of after a login.
	fuzzUnauth = 1 << iota
	// fuzzFragments sends the pieces as the fragments of one WebSocket message instead of as
	// messages of their own.
	fuzzFragments
	// fuzzRawBytes sends the input as it is; otherwise invalid UTF-8 is replaced first and cuts
	// fall on character boundaries, so that the frame layer's 1007 close does not hide the session
	// layer from the fuzzer.
	fuzzRawBytes
)

// fuzzMaxInput bounds what one input sends, so an execution stays around a millisecond.
const fuzzMaxInput = 16 << 10

// fuzzProbe is the event name the survival check subscribes to.
const fuzzProbe = "zq-probe"

// The engine is started once per fuzzing process, not per input.
var fuzzServer struct {
	once sync.Once
	ts   *testServer
	err  error
}

func fuzzTarget(t *testing.T) *testServer {
	fuzzServer.once.Do(func() {
		fuzzServer.ts, fuzzServer.err = launch(func(c *server.Config) {
			c.RPCAckTimeout = server.Millis(50e6) // 50 ms: RPCs to providers that never answer end soon
		})
	})
	if fuzzServer.err != nil {
		t.Fatal(fuzzServer.err)
	}
	return fuzzServer.ts
}

// fuzzSeeds are valid messages of every topic and action from protocol.md (sections 3 to 8), some
// alone, some as whole conversations.
var fuzzSeeds = []string{
	// events
	"E|S|news+", `E|EVT|news|O{"a":1}+`, "E|EVT|news+", "E|EVT|news|Shello+", "E|EVT|news|N42+", "E|EVT|news|T+",
	"E|US|news+", "E|L|news/.*+", "E|UL|news/.*+", "E|LA|news/.*|news/sport+", "E|LR|news/.*|news/sport+",
	"E|L|news/.*+E|S|news/sport+E|LA|news/.*|news/sport+E|US|news/sport+E|UL|news/.*+",
	// records
	"R|CR|user/1+", `R|U|user/1|1|{"name":"Alice","tags":["x"]}+`, "R|P|user/1|2|age|N33+",
	"R|P|user/1|3|address.city|SB+", "R|P|user/1|4|tags[1]|Sy+", `R|P|user/1|5|age|N34|{"writeSuccess":true}+`,
	`R|CU|other/1|-1|{"x":1}|{"writeSuccess":true}+`, "R|CU|other/1|-1|y|N2|{}+", "R|H|nope/1+", "R|SN|other/1+",
	"R|HD|other/1+", "R|US|user/1+", "R|D|user/1+", "R|L|feed/.*+", "R|LA|feed/.*|feed/1+", "R|UL|feed/.*+",
	`R|CR|list/1+R|U|list/1|1|["user/1"]+R|U|list/1|2|["user/1","user/2"]+R|SN|list/1+R|US|list/1+`,
	`R|CR|rec1+R|U|rec1|1|{"a":1}+R|P|rec1|2|b.c[0]|O{"d":null}+R|U|rec1|7|{}+R|HD|rec1+R|D|rec1+`,
	// rpc
	"P|S|add+", `P|REQ|add|mwrk1|O{"a":1,"b":2}+`, "P|A|REQ|add|mwrk1+", "P|RES|add|mwrk1|N3+",
	"P|E|nope|fail|id1+", "P|REJ|rej|id2+", "P|US|add+",
	`P|S|add+P|REQ|add|cid1|O{"a":1}+P|A|REQ|add|cid1+P|RES|add|cid1|N3+P|US|add+`,
	// presence
	"U|S|S+", "U|US|US+", "U|Q|Q+", `U|S|1|["carol"]+`, `U|US|3|["carol"]+`, `U|Q|2|["bob","carol"]+`,
	// connection, and what the server must refuse
	"C|PO+", "B|R|x+", "R|XXX|x+", "garbage+", "E|S+",
}

// fuzzUnauthSeeds start from the challenge: handshakes, good and bad.
var fuzzUnauthSeeds = []string{
	`C|CHR|ws://127.0.0.1:6020/deepstream+A|REQ|{"username":"alice","password":"ok"}+E|S|news+`,
	"C|CHR|ws://127.0.0.1:6020/deepstream+", "C|PO+C|CHR|x+C|PO+A|REQ|{}+R|CR|a/1+",
	"C|CHR|x+A|REQ|notjson+", "C|CHR|x+A|REQ|[1]+", "C|CHR|x+A|REQ|{}|{}+", "E|S|x+", "C|XX+", "garbage+",
}

func FuzzSession(f *testing.F) {
	cuts := []uint64{0, 0x0003_0009_0001_0005, 0x00ff_0017_0002_0040, 0x1234_5678_9abc_def0}
	for i, s := range fuzzSeeds {
		f.Add(uint8(0), cuts[i%len(cuts)], []byte(ds(s)))
		f.Add(uint8(fuzzFragments), cuts[(i+1)%len(cuts)], []byte(ds(s)))
	}
	for i, s := range fuzzUnauthSeeds {
		f.Add(uint8(fuzzUnauth), cuts[i%len(cuts)], []byte(ds(s)))
		f.Add(uint8(fuzzUnauth|fuzzFragments), cuts[(i+2)%len(cuts)], []byte(ds(s)))
	}
	f.Add(uint8(fuzzRawBytes), uint64(0x0004_0004_0004_0004), []byte(ds("E|S|\xe2\x82\xac+E|S|\xff+")))
	f.Fuzz(func(t *testing.T, mode uint8, cuts uint64, data []byte) {
		ts := fuzzTarget(t)
		if len(data) > fuzzMaxInput {
			data = data[:fuzzMaxInput]
		}
		raw := mode&fuzzRawBytes != 0
		if !raw {
			data = bytes.ToValidUTF8(data, []byte("?"))
		}
		pieces := splitInput(data, cuts, !raw)
		messages := pieces
		if mode&fuzzFragments != 0 {
			messages = [][]byte{data}
		}
		unauth := mode&fuzzUnauth != 0
		// The server may close only for what it must: invalid UTF-8 (1007) in any state, and
		// protocol errors or a failed login before the session is open.
		mayClose := unauth
		for _, m := range messages {
			mayClose = mayClose || !utf8.Valid(m)
		}
		// An input that itself mentions the probe could answer in its place.
		strict := !bytes.Contains(bytes.ToLower(data), []byte("probe"))

		c := dialClient(t, ts.addr)
		defer c.close()
		if unauth {
			c.challenged()
		} else {
			c.loggedIn()
		}
		sendErr := sendPieces(c, pieces, mode&fuzzFragments != 0)

		alive := false
		if sendErr == nil {
			if unauth {
				alive = probeUnauth(t, c, strict)
			} else {
				alive = probeOpen(t, c, strict)
			}
		}
		if !alive {
			if !mayClose {
				t.Fatalf("logged-in session closed by valid UTF-8 input (send error %v, read error %v)", sendErr, c.err)
			}
			// The server closed the connection: it must still take new ones.
			fresh := dialClient(t, ts.addr).loggedIn()
			defer fresh.close()
			fresh.sendText("E|S|" + fuzzProbe + "+")
			fresh.expect("E|A|S|" + fuzzProbe)
		}
	})
}

// splitInput cuts data at up to four points taken from cuts (16 bits each); with runes set, a cut
// never falls inside a UTF-8 sequence.
func splitInput(data []byte, cuts uint64, runes bool) [][]byte {
	var at []int
	for i := range 4 {
		p := int(cuts>>(16*i)&0xffff) % (len(data) + 1)
		for runes && p < len(data) && !utf8.RuneStart(data[p]) {
			p++
		}
		at = append(at, p)
	}
	slices.Sort(at)
	var pieces [][]byte
	prev := 0
	for _, p := range at {
		pieces = append(pieces, data[prev:p])
		prev = p
	}
	return append(pieces, data[prev:])
}

// sendPieces sends the pieces as WebSocket messages, or as fragments of one message. It returns
// the first write error (the server may have closed the connection meanwhile).
func sendPieces(c *client, pieces [][]byte, asFragments bool) error {
	for i, p := range pieces {
		var err error
		if asFragments {
			op := byte(0)
			if i == 0 {
				op = websocket.TextMessage
			}
			_, err = c.raw.Write(appendClientFrame(nil, i == len(pieces)-1, op, p))
		} else {
			err = c.ws.WriteMessage(websocket.TextMessage, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// probeOpen subscribes to the probe event on a logged-in session and waits for the ack, skipping
// the replies to the input. It returns false if the connection ended first, and fails the test if
// the server went silent.
func probeOpen(t *testing.T, c *client, strict bool) bool {
	t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(ds("E|S|"+fuzzProbe+"+"))); err != nil {
		return false
	}
	for {
		m, err := c.read()
		if err != nil {
			return endedOrFail(t, err)
		}
		if m == "E|A|S|"+fuzzProbe || !strict && m == "E|E|MULTIPLE_SUBSCRIPTIONS|"+fuzzProbe {
			return true
		}
	}
}

// probeUnauth finds out which state an unauthenticated session ended in, without guessing: a
// session still waiting for the challenge response answers C|XPROBE with UNKNOWN_ACTION and must then
// log in; one that logged in (the input held a login) must take a subscription; one waiting for A|REQ
// closes on the probe.
func probeUnauth(t *testing.T, c *client, strict bool) bool {
	t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(ds("C|XPROBE+"))); err != nil {
		return false
	}
	for {
		m, err := c.read()
		if err != nil {
			return endedOrFail(t, err)
		}
		switch {
		case m == "C|E|UNKNOWN_ACTION|unknown action XPROBE":
			if err := c.ws.WriteMessage(websocket.TextMessage, []byte(ds("C|CHR|u+A|REQ|{}+E|S|"+fuzzProbe+"+"))); err != nil {
				return false
			}
			if strict {
				c.expect("C|A", "A|A", "E|A|S|"+fuzzProbe)
				return true
			}
			return probeOpen(t, c, strict)
		case m == "A|A" || strings.HasPrefix(m, "A|A|") || strings.HasPrefix(m, "X|"):
			// Open (only an open session sends X errors): the probe event must be taken.
			return probeOpen(t, c, strict)
		}
	}
}

// endedOrFail returns false for a connection that ended and fails the test for a server that went
// silent (no reply, no close, within replyTimeout).
func endedOrFail(t *testing.T, err error) bool {
	t.Helper()
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server went silent: %v", err)
	}
	return false
}
