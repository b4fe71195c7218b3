package server_test

// Robustness of the deepstream session layer seen from the wire: the real engine runs in-process and
// raw deepstream text is sent with gorilla/websocket (and, for fragments, with hand-built frames on
// the same TCP connection). Messages are written in protocol.md's notation: '|' stands for 0x1F and
// '+' for 0x1E.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"swiftlet/loop"
	"swiftlet/server"
)

// replyTimeout bounds every wait for a reply. It is generous because the machine is shared and
// noisy; a healthy server answers in well under a millisecond.
const replyTimeout = 5 * time.Second

// ds converts protocol.md notation to wire bytes: '|' becomes 0x1F and '+' 0x1E.
func ds(s string) string {
	return strings.NewReplacer("|", "\x1f", "+", "\x1e").Replace(s)
}

// notation converts one wire message (without its 0x1E) back to notation.
func notation(b []byte) string { return strings.ReplaceAll(string(b), "\x1f", "|") }

// testServer is an in-process swiftlet: the deepstream server on a loop engine.
type testServer struct {
	srv  *server.Server
	eng  *loop.Server
	addr string
	errc chan error
}

// freePort asks the kernel for a port nobody listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts a server with test settings (two loops, memory storage, quiet logs) changed by mod.
func launch(mod func(*server.Config)) (*testServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := server.Defaults()
	cfg.Host = "127.0.0.1"
	cfg.Port = port
	cfg.Loops = 2 // sessions on different loops, so cross-loop delivery is exercised
	cfg.Storage.Type = "memory"
	cfg.LogLevel = "ERROR"
	cfg.UnauthenticatedClientTimeout = server.Millis(30 * time.Second)
	cfg.ListenResponseTimeout = server.Millis(100 * time.Millisecond)
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	eng := loop.New(server.LoopConfig(cfg, logger), srv)
	srv.Attach(eng)
	ts := &testServer{srv: srv, eng: eng, addr: fmt.Sprintf("127.0.0.1:%d", port), errc: make(chan error, 1)}
	go func() { ts.errc <- eng.Run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.WaitBooted(ctx); err != nil {
		return nil, err
	}
	return ts, nil
}

// stop shuts the engine down and closes the server.
func (ts *testServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.eng.Shutdown(ctx); err != nil {
		return err
	}
	select {
	case err := <-ts.errc:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return errors.New("engine did not stop")
	}
	return ts.srv.Close()
}

// startServer launches a server for the test and stops it when the test ends.
func startServer(t *testing.T, mod func(*server.Config)) *testServer {
	t.Helper()
	ts, err := launch(mod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return ts
}

// client is one raw deepstream connection. Its helpers fail the test on any surprise, so they must
// run on the test's goroutine.
type client struct {
	t       testing.TB
	ws      *websocket.Conn
	raw     net.Conn // the TCP connection under ws, for hand-built frames
	pending []string // messages of a frame already read but not yet returned
	err     error    // the read error that ended the connection, once seen
}

// dialClient opens a WebSocket to ts; nothing is read yet.
func dialClient(t testing.TB, addr string) *client {
	t.Helper()
	c, err := tryDial(addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.t = t
	return c
}

func tryDial(addr string) (*client, error) {
	c := &client{}
	d := websocket.Dialer{
		HandshakeTimeout: replyTimeout,
		NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var nd net.Dialer
			conn, err := nd.DialContext(ctx, network, a)
			c.raw = conn
			return conn, err
		},
	}
	ws, _, err := d.Dial("ws://"+addr+"/deepstream", nil)
	if err != nil {
		return nil, err
	}
	c.ws = ws
	return c, nil
}

func (c *client) close() { c.ws.Close() }

// sendText sends one text message, given in notation.
func (c *client) sendText(msg string) {
	c.t.Helper()
	c.sendBytes(websocket.TextMessage, []byte(ds(msg)))
}

func (c *client) sendBytes(op int, payload []byte) {
	c.t.Helper()
	c.ws.SetWriteDeadline(time.Now().Add(replyTimeout))
	if err := c.ws.WriteMessage(op, payload); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// writeFrame writes one hand-built, masked (with a zero key, so the payload stays as it is) client
// frame straight to the TCP connection. fin false leaves a fragmented message open.
func (c *client) writeFrame(fin bool, opcode byte, payload []byte) {
	c.t.Helper()
	c.raw.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.raw.Write(appendClientFrame(nil, fin, opcode, payload)); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

func appendClientFrame(dst []byte, fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	dst = append(dst, b0)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	dst = append(dst, 0, 0, 0, 0) // mask key
	return append(dst, payload...)
}

// read returns the next deepstream message in notation, skipping heartbeats; an error once the
// connection has ended (a *websocket.CloseError for a clean close) or nothing came in time.
func (c *client) read() (string, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return "", c.err
		}
		c.ws.SetReadDeadline(time.Now().Add(replyTimeout))
		op, payload, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return "", err
		}
		if op != websocket.TextMessage {
			return "", fmt.Errorf("server sent a frame of type %d", op)
		}
		for _, m := range strings.Split(string(payload), "\x1e") {
			if m != "" && m != "C\x1fPI" {
				c.pending = append(c.pending, notation([]byte(m)))
			}
		}
	}
	m := c.pending[0]
	c.pending = c.pending[1:]
	return m, nil
}

// expect requires the next messages to be exactly want, in order.
func (c *client) expect(want ...string) {
	c.t.Helper()
	for i, w := range want {
		got, err := c.read()
		if err != nil {
			c.t.Fatalf("reply %d: want %s, got error %v", i, short(w), err)
		}
		if got != w {
			c.t.Fatalf("reply %d: want %s, got %s", i, short(w), short(got))
		}
	}
}

// expectClose requires the server to close the connection with code and send nothing before.
func (c *client) expectClose(code int) {
	c.t.Helper()
	got, err := c.read()
	if err == nil {
		c.t.Fatalf("want close %d, got message %s", code, short(got))
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		c.t.Fatalf("want close %d, got %v", code, err)
	}
	if ce.Code != code {
		c.t.Fatalf("want close %d, got close %d %q", code, ce.Code, ce.Text)
	}
}

// short keeps failure messages readable when a reply is huge.
func short(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%q...(%d bytes)", s[:200], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// challenged reads the greeting: the session is waiting for C|CHR.
func (c *client) challenged() *client {
	c.t.Helper()
	c.expect("C|CH")
	return c
}

// awaitingAuth completes the handshake: the session is waiting for A|REQ.
func (c *client) awaitingAuth() *client {
	c.t.Helper()
	c.challenged()
	c.sendText("C|CHR|ws://127.0.0.1/deepstream+")
	c.expect("C|A")
	return c
}

// loggedIn completes handshake and login: the session is open.
func (c *client) loggedIn() *client {
	c.t.Helper()
	c.awaitingAuth()
	c.sendText(`A|REQ|{"username":"tester"}+`)
	c.expect("A|A")
	return c
}

// session states a table case starts in
const (
	inChallenge = iota
	inAuth
	inOpen
)

var stateNames = [...]string{"challenge", "auth", "open"}

// wsFrame is one frame a case sends. op 0 with fin false/true is a continuation.
type wsFrame struct {
	fin     bool
	op      byte
	payload string // wire bytes, not notation
}

func text(msg string) []wsFrame { return []wsFrame{{true, websocket.TextMessage, ds(msg)}} }

// texts sends each message as a WebSocket message of its own.
func texts(msgs ...string) []wsFrame {
	var fs []wsFrame
	for _, m := range msgs {
		fs = append(fs, text(m)...)
	}
	return fs
}

// fragments sends one text message split into the given fragments.
func fragments(parts ...string) []wsFrame {
	fs := make([]wsFrame, len(parts))
	for i, p := range parts {
		fs[i] = wsFrame{fin: i == len(parts)-1, payload: ds(p)}
	}
	fs[0].op = websocket.TextMessage
	return fs
}

// probe proves that a session in the given state still works and sent nothing unexpected before:
// the probe's reply must be the very next message.
func (c *client) probe(state int) {
	c.t.Helper()
	switch state {
	case inChallenge:
		c.sendText("C|XPROBE+")
		c.expect("C|E|UNKNOWN_ACTION|unknown action XPROBE")
		c.sendText("C|CHR|url+")
		c.expect("C|A")
		fallthrough
	case inAuth:
		c.sendText("A|REQ|{}+")
		c.expect("A|A")
		fallthrough
	case inOpen:
		c.sendText("E|S|zz-probe+")
		c.expect("E|A|S|zz-probe")
	}
}

type sessCase struct {
	name  string
	state int
	in    []wsFrame
	want  []string // replies, in order
	close int      // 0: the session stays open (and is probed); otherwise the expected close code
	after int      // with close 0: the state the session is in afterwards, if not state
}

func regexpError(p string) string {
	_, err := regexp.Compile(p)
	return err.Error()
}

func sessionCases() []sessCase {
	long := strings.Repeat("n", 200<<10) // a 200 KiB name, well under maxMessageSize
	var many strings.Builder
	var manyAcks []string
	for i := range 2000 {
		fmt.Fprintf(&many, "E|S|m%d+", i)
		manyAcks = append(manyAcks, fmt.Sprintf("E|A|S|m%d", i))
	}
	const parseErr = "X|E|MESSAGE_PARSE_ERROR|null"
	const badAuth = "A|E|INVALID_AUTH_MSG|invalid authentication message"
	const badConn = "C|E|INVALID_MESSAGE|invalid connection message"
	const closeNormal, closeProtocol, closeUnsupported, closeBadData, closeTooBig = 1000, 1002, 1003, 1007, 1009
	return []sessCase{
		// Before C|CHR (protocol.md 3.2).
		{name: "event", state: inChallenge, in: text("E|S|x+"), want: []string{badConn}},
		{name: "record", state: inChallenge, in: text("R|CR|x+"), want: []string{badConn}},
		{name: "auth before challenge response", state: inChallenge, in: text("A|REQ|{}+"), want: []string{badConn}},
		{name: "unknown topic, known action", state: inChallenge, in: text("B|R|x+"), want: []string{badConn}},
		{name: "unknown topic and action", state: inChallenge, in: text("B|XXX|x+"), want: []string{badConn}},
		{name: "unknown C action", state: inChallenge, in: text("C|XX|y+"), want: []string{"C|E|UNKNOWN_ACTION|unknown action XX"}},
		{name: "known action not for C", state: inChallenge, in: text("C|A+"), want: []string{"C|E|UNKNOWN_ACTION|unknown action A"}},
		{name: "C|CH from the client", state: inChallenge, in: text("C|CH+"), want: []string{"C|E|UNKNOWN_ACTION|unknown action CH"}},
		{name: "pong ignored", state: inChallenge, in: text("C|PO+")},
		{name: "unparsable closes", state: inChallenge, in: text("garbage+"), want: []string{"C|E|MESSAGE_PARSE_ERROR|garbage"}, close: closeNormal},
		{name: "unparsable without terminator closes", state: inChallenge, in: text("xyz"), want: []string{"C|E|MESSAGE_PARSE_ERROR|xyz"}, close: closeNormal},
		{name: "replies in order then close", state: inChallenge, in: text("E|S|a+C|XX+junk+C|CHR|u+"),
			want: []string{badConn, "C|E|UNKNOWN_ACTION|unknown action XX", "C|E|MESSAGE_PARSE_ERROR|junk"}, close: closeNormal},
		{name: "challenge response twice", state: inChallenge, in: text("C|CHR|u+C|CHR|u+"), want: []string{"C|A", badAuth}, close: closeNormal},
		{name: "challenge response in fragments", state: inChallenge, in: fragments("C|C", "HR|ws:/", "/x+"), want: []string{"C|A"}, after: inAuth},
		{name: "challenge response split over messages", state: inChallenge, in: texts("C|CH", "R|url+"),
			want: []string{"C|E|UNKNOWN_ACTION|unknown action CH", badConn}},
		{name: "whole login in one frame", state: inChallenge, in: text("C|CHR|u+A|REQ|{}+E|S|one+"), want: []string{"C|A", "A|A", "E|A|S|one"}, after: inOpen},
		{name: "empty frame", state: inChallenge, in: text("")},
		{name: "separators only", state: inChallenge, in: text("++++")},
		{name: "unit separators only", state: inChallenge, in: text("|||+"), want: []string{badConn}},
		{name: "two unit separators are too short", state: inChallenge, in: text("||+")},
		{name: "binary frame", state: inChallenge, in: []wsFrame{{true, websocket.BinaryMessage, ds("C|CHR|u+")}}, close: closeUnsupported},
		{name: "invalid UTF-8", state: inChallenge, in: []wsFrame{{true, websocket.TextMessage, "C\x1fCHR\x1f\xff\x1e"}}, close: closeBadData},

		// Awaiting A|REQ (protocol.md 3.3).
		{name: "auth not JSON", state: inAuth, in: text("A|REQ|notjson+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth JSON array", state: inAuth, in: text("A|REQ|[1,2]+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth JSON null", state: inAuth, in: text("A|REQ|null+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth JSON string", state: inAuth, in: text(`A|REQ|"x"+`), want: []string{badAuth}, close: closeNormal},
		{name: "auth truncated JSON", state: inAuth, in: text(`A|REQ|{"username":"a"+`), want: []string{badAuth}, close: closeNormal},
		{name: "auth two parts", state: inAuth, in: text("A|REQ|{}|{}+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth no part", state: inAuth, in: text("A|REQ+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth wrong topic", state: inAuth, in: text("E|REQ|{}+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth wrong action", state: inAuth, in: text("A|A|{}+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth unknown action", state: inAuth, in: text("A|XX|{}+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth garbage", state: inAuth, in: text("garbage+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth nothing after the error", state: inAuth, in: text("A|REQ|x+E|S|a+A|REQ|{}+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth pong ignored", state: inAuth, in: text("C|PO+")},
		{name: "auth short chunks ignored", state: inAuth, in: text("ab+é+€+")},
		{name: "auth in fragments", state: inAuth, in: fragments("A|RE", `Q|{"user`, `name":"f"}+`), want: []string{"A|A"}, after: inOpen},
		{name: "auth split over messages", state: inAuth, in: texts("A|REQ|{", "}+"), want: []string{badAuth}, close: closeNormal},
		{name: "auth binary frame", state: inAuth, in: []wsFrame{{true, websocket.BinaryMessage, ds("A|REQ|{}+")}}, close: closeUnsupported},

		// Logged in (protocol.md 3.5, 4, 5, 8).
		{name: "unknown topic", state: inOpen, in: text("B|R|x+"), want: []string{"X|E|UNKNOWN_TOPIC|B"}},
		{name: "unknown topic and action", state: inOpen, in: text("B|XXX|x+"), want: []string{parseErr}},
		{name: "unknown action", state: inOpen, in: text("R|XXX|x+"), want: []string{parseErr}},
		{name: "garbage", state: inOpen, in: text("garbage+"), want: []string{parseErr}},
		{name: "unit separators only", state: inOpen, in: text("|||+"), want: []string{parseErr}},
		{name: "leading unit separators", state: inOpen, in: text("||E|S|y+"), want: []string{parseErr}},
		{name: "action of another topic", state: inOpen, in: text("E|CR|x+"), want: []string{parseErr}},
		{name: "record action of events", state: inOpen, in: text("R|EVT|x+"), want: []string{parseErr}},
		{name: "second login ignored", state: inOpen, in: text("A|REQ|{}+C|CHR|u+C|PO+")},
		{name: "subscribe without name", state: inOpen, in: text("E|S+"), want: []string{"E|E|MESSAGE_PERMISSION_ERROR||S"}},
		{name: "subscribe without name, 3 bytes", state: inOpen, in: text("E|S"), want: []string{"E|E|MESSAGE_PERMISSION_ERROR||S"}},
		{name: "unsubscribe without name", state: inOpen, in: text("E|US+"), want: []string{"E|E|MESSAGE_PERMISSION_ERROR||US"}},
		{name: "emit without name", state: inOpen, in: text("E|EVT+"), want: []string{"E|E|MESSAGE_PERMISSION_ERROR||EVT"}},
		{name: "read without name", state: inOpen, in: text("R|CR+"), want: []string{"R|E|MESSAGE_PERMISSION_ERROR||CR"}},
		{name: "update without name", state: inOpen, in: text("R|U+"), want: []string{"R|E|MESSAGE_PERMISSION_ERROR||U"}},
		{name: "listen without pattern", state: inOpen, in: text("E|L+"), want: []string{"E|E|MESSAGE_PERMISSION_ERROR||L"}},
		{name: "subscribe two names", state: inOpen, in: text("E|S|a|b+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|S|a|b"}},
		{name: "subscribe empty name", state: inOpen, in: text("E|S|+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|S|"}},
		{name: "subscribe trailing unit separator", state: inOpen, in: text("E|S|x|+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|S|x|"}},
		{name: "emit three parts", state: inOpen, in: text("E|EVT|n|Sa|Sb+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT|n|Sa|Sb"}},
		{name: "emit empty name", state: inOpen, in: text("E|EVT||Sa+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT||Sa"}},
		{name: "emit unknown type", state: inOpen, in: text("E|EVT|n|Xa+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT|n|Xa"}},
		{name: "emit empty typed value", state: inOpen, in: text("E|EVT|n|+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT|n|"}},
		{name: "emit bad number", state: inOpen, in: text("E|EVT|n|N12abc+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT|n|N12abc"}},
		{name: "emit bad object", state: inOpen, in: text("E|EVT|n|O{bad+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT|n|O{bad"}},
		{name: "emit true with trailing bytes", state: inOpen, in: text("E|EVT|n|Tx+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|EVT|n|Tx"}},
		{name: "emit valid values", state: inOpen, in: text("E|EVT|n|Sa+E|EVT|n|N-1.5e3+E|EVT|n|O[1]+E|EVT|n|T+E|EVT|n|L+E|EVT|n|U+E|EVT|n+")},
		{name: "unsubscribe unknown", state: inOpen, in: text("E|US|nosub+"), want: []string{"E|E|NOT_SUBSCRIBED|nosub"}},
		{name: "subscribe twice", state: inOpen, in: text("E|S|dup+E|S|dup+E|US|dup+E|US|dup+"),
			want: []string{"E|A|S|dup", "E|E|MULTIPLE_SUBSCRIPTIONS|dup", "E|A|US|dup", "E|E|NOT_SUBSCRIBED|dup"}},
		{name: "record update two parts", state: inOpen, in: text("R|U|rec|1+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|U|rec|1"}},
		{name: "record update five parts", state: inOpen, in: text("R|U|rec|1|{}|{}|{}+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|U|rec|1|{}|{}|{}"}},
		{name: "record update empty name", state: inOpen, in: text("R|U||1|{}+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|U||1|{}"}},
		{name: "record update not JSON", state: inOpen, in: text("R|U|rec1|1|notjson+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|U|rec1|1|notjson"}},
		{name: "record update JSON string", state: inOpen, in: text(`R|U|rec1|1|"s"+`), want: []string{`R|E|INVALID_MESSAGE_DATA|R|U|rec1|1|"s"`}},
		{name: "record update truncated JSON", state: inOpen, in: text(`R|U|rec1|1|{"a":+`), want: []string{`R|E|INVALID_MESSAGE_DATA|R|U|rec1|1|{"a":`}},
		{name: "record patch bad typed", state: inOpen, in: text("R|P|rec1|1|a|Xz+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|P|rec1|1|a|Xz"}},
		{name: "record patch empty path", state: inOpen, in: text("R|P|rec1|1||N1+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|P|rec1|1||N1"}},
		{name: "record patch three parts", state: inOpen, in: text("R|P|rec1|1|a+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|P|rec1|1|a"}},
		{name: "record CU three parts", state: inOpen, in: text("R|CU|rec1|-1|{}+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|CU|rec1|-1|{}"}},
		{name: "version not a number", state: inOpen, in: text("R|U|rec1|x|{}+"), want: []string{"R|E|INVALID_VERSION|rec1|x"}},
		{name: "version below -1", state: inOpen, in: text("R|P|rec1|-2|a|N1+"), want: []string{"R|E|INVALID_VERSION|rec1|-2"}},
		{name: "version overflow", state: inOpen, in: text("R|U|rec1|99999999999999999999|{}+"), want: []string{"R|E|INVALID_VERSION|rec1|99999999999999999999"}},
		{name: "update of a missing record", state: inOpen, in: text("R|U|ghost/1|1|{}+"), want: []string{"R|E|RECORD_UPDATE_ERROR|1"}},
		{name: "patch of a missing record", state: inOpen, in: text("R|P|ghost/2|3|a|N1+"), want: []string{"R|E|RECORD_UPDATE_ERROR|3"}},
		{name: "version exists", state: inOpen, in: text(`R|CR|ve/1+R|U|ve/1|5|{"a":1}+`),
			want: []string{"R|A|S|ve/1", "R|R|ve/1|0|{}", "R|E|VERSION_EXISTS|ve/1|0|{}"}},
		{name: "version exists with config", state: inOpen, in: text(`R|CR|ve/2+R|P|ve/2|0|a|N1|{"writeSuccess":true}+`),
			want: []string{"R|A|S|ve/2", "R|R|ve/2|0|{}", `R|E|VERSION_EXISTS|ve/2|0|{}|{"writeSuccess":true}`}},
		{name: "write acknowledged", state: inOpen, in: text(`R|CR|wa/1+R|U|wa/1|1|{"a":1}|{"writeSuccess":true}+`),
			want: []string{"R|A|S|wa/1", "R|R|wa/1|0|{}", "R|WA|wa/1|[1]|L"}},
		{name: "create and update acknowledged", state: inOpen, in: text(`R|CU|cu/1|-1|{"x":1}|{"writeSuccess":true}+`), want: []string{"R|WA|cu/1|[-1]|L"}},
		{name: "read twice", state: inOpen, in: text("R|CR|twice+R|CR|twice+"),
			want: []string{"R|A|S|twice", "R|E|MULTIPLE_SUBSCRIPTIONS|twice", "R|R|twice|0|{}", "R|R|twice|0|{}"}},
		{name: "discard unknown", state: inOpen, in: text("R|US|nosub+"), want: []string{"R|E|NOT_SUBSCRIBED|nosub"}},
		{name: "has, snapshot, head of a missing record", state: inOpen, in: text("R|H|nope/1+R|SN|nope/1+R|HD|nope/1+"),
			want: []string{"R|H|nope/1|F", "R|E|SN|nope/1|RECORD_NOT_FOUND", "R|E|HD|nope/1|RECORD_NOT_FOUND"}},
		{name: "has two names", state: inOpen, in: text("R|H|a|b+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|H|a|b"}},
		{name: "delete missing record", state: inOpen, in: text("R|D|nope/2+"), want: []string{"R|A|D|nope/2"}},
		{name: "invalid listen regex", state: inOpen, in: text("E|L|(+"), want: []string{"E|E|INVALID_MESSAGE_DATA|" + regexpError("(")}},
		{name: "invalid record listen regex", state: inOpen, in: text("R|L|a[+"), want: []string{"R|E|INVALID_MESSAGE_DATA|" + regexpError("a[")}},
		{name: "listen three parts", state: inOpen, in: text("E|L|a|b|c+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|L|a|b|c"}},
		{name: "listen twice", state: inOpen, in: text("E|L|lt/.*+E|L|lt/.*+E|UL|lt/.*+E|UL|lt/.*+"),
			want: []string{"E|A|L|lt/.*", "E|E|MULTIPLE_SUBSCRIPTIONS|lt/.*", "E|A|UL|lt/.*", "E|E|NOT_SUBSCRIBED|lt/.*"}},
		{name: "unlisten without listen", state: inOpen, in: text("R|UL|none/.*+"), want: []string{"R|E|NOT_SUBSCRIBED|none/.*"}},
		{name: "accept without listen", state: inOpen, in: text("E|LA|p/.*|p/1+"), want: []string{"E|SR|p/.*|p/1"}},
		{name: "reject without listen", state: inOpen, in: text("E|LR|p/.*|p/1+R|LR|p/.*|p/1+")},
		{name: "record accept without listen", state: inOpen, in: text("R|LA|p/.*|p/1+"), want: []string{"R|SR|p/.*|p/1"}},
		{name: "accept one part", state: inOpen, in: text("E|LA|p/.*+"), want: []string{"E|E|INVALID_MESSAGE_DATA|E|LA|p/.*"}},
		{name: "accept empty name", state: inOpen, in: text("R|LR|p/.*|+"), want: []string{"R|E|INVALID_MESSAGE_DATA|R|LR|p/.*|"}},

		// Framing edge cases once open.
		{name: "empty frame", state: inOpen, in: text("")},
		{name: "separators only", state: inOpen, in: text("+++")},
		{name: "short chunks skipped", state: inOpen, in: text("ab+E|+é+€+😀+")},
		{name: "leading record separator", state: inOpen, in: text("+E|S|lead+"), want: []string{"E|A|S|lead"}},
		{name: "no trailing record separator", state: inOpen, in: text("E|S|tail"), want: []string{"E|A|S|tail"}},
		{name: "three multibyte characters", state: inOpen, in: text("€€€+"), want: []string{parseErr}},
		{name: "very long name", state: inOpen, in: text("E|S|" + long + "+E|US|" + long + "+"), want: []string{"E|A|S|" + long, "E|A|US|" + long}},
		{name: "very long record name", state: inOpen, in: text("R|CR|" + long + "+"), want: []string{"R|A|S|" + long, "R|R|" + long + "|0|{}"}},
		{name: "message above maxMessageSize", state: inOpen, in: text("E|S|" + strings.Repeat("x", 1<<20) + "+"), close: closeTooBig},
		{name: "many messages in one frame", state: inOpen, in: text(many.String()), want: manyAcks},
		{name: "errors in between", state: inOpen, in: text("E|S|a+garbage+E|S+B|R|x+E|US|a+"),
			want: []string{"E|A|S|a", parseErr, "E|E|MESSAGE_PERMISSION_ERROR||S", "X|E|UNKNOWN_TOPIC|B", "E|A|US|a"}},
		{name: "split across fragments", state: inOpen, in: fragments("E|S|fr", "ag+E|", "S|frag2+"), want: []string{"E|A|S|frag", "E|A|S|frag2"}},
		{name: "single-byte fragments", state: inOpen, in: fragments(strings.Split(ds("E|S|bytes+"), "")...), want: []string{"E|A|S|bytes"}},
		{name: "empty fragments", state: inOpen, in: fragments("", "E|S|ef+", "", ""), want: []string{"E|A|S|ef"}},
		{name: "ping between fragments", state: inOpen,
			in:   []wsFrame{{false, websocket.TextMessage, ds("E|S|pi")}, {true, websocket.PingMessage, "hi"}, {true, 0, ds("ng+")}},
			want: []string{"E|A|S|ping"}},
		{name: "multibyte character split across fragments", state: inOpen, in: fragments("E|S|\xe2\x82", "\xac+"), want: []string{"E|A|S|€"}},
		{name: "split across messages", state: inOpen, in: texts("E|S|sp", "lit+"), want: []string{"E|A|S|sp", parseErr}},
		{name: "continuation without start", state: inOpen, in: []wsFrame{{true, 0, ds("E|S|c+")}}, close: closeProtocol},
		{name: "new message inside a fragmented one", state: inOpen,
			in: []wsFrame{{false, websocket.TextMessage, ds("E|S|a")}, {true, websocket.TextMessage, ds("E|S|b+")}}, close: closeProtocol},
		{name: "binary frame", state: inOpen, in: []wsFrame{{true, websocket.BinaryMessage, ds("E|S|bin+")}}, close: closeUnsupported},
		{name: "binary fragments", state: inOpen, in: []wsFrame{{false, websocket.BinaryMessage, "E"}, {true, 0, ds("|S|b+")}}, close: closeUnsupported},
		{name: "invalid UTF-8", state: inOpen, in: []wsFrame{{true, websocket.TextMessage, ds("E|S|") + "\xc3\x28\x1e"}}, close: closeBadData},
	}
}

// TestSessionMalformedInput sends malformed input in every state of the session and checks the exact
// replies, whether the session survives it (then a probe must be answered next), and that a bystander
// session on the same server is still served afterwards.
func TestSessionMalformedInput(t *testing.T) {
	ts := startServer(t, nil)
	bystander := dialClient(t, ts.addr).loggedIn()
	defer bystander.close()
	for i, tc := range sessionCases() {
		t.Run(stateNames[tc.state]+"/"+tc.name, func(t *testing.T) {
			c := dialClient(t, ts.addr)
			defer c.close()
			switch tc.state {
			case inChallenge:
				c.challenged()
			case inAuth:
				c.awaitingAuth()
			case inOpen:
				c.loggedIn()
			}
			for _, f := range tc.in {
				if f.op == websocket.TextMessage && f.fin {
					c.sendBytes(websocket.TextMessage, []byte(f.payload))
				} else {
					c.writeFrame(f.fin, f.op, []byte(f.payload))
				}
			}
			c.expect(tc.want...)
			if tc.close != 0 {
				c.expectClose(tc.close)
			} else {
				after := tc.state
				if tc.after != 0 {
					after = tc.after
				}
				c.probe(after)
			}
			bystander.t = t
			bystander.sendText(fmt.Sprintf("E|S|by/%d+", i))
			bystander.expect(fmt.Sprintf("E|A|S|by/%d", i))
		})
	}
}

// TestAuthenticationTimeout: a session that does not log in within unauthenticatedClientTimeout is
// told so and closed, whether it answered the challenge or not; a logged-in one is left alone.
func TestAuthenticationTimeout(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.UnauthenticatedClientTimeout = server.Millis(300 * time.Millisecond)
	})
	const timedOut = "C|E|CONNECTION_AUTHENTICATION_TIMEOUT|Sconnection has not authenticated successfully in the expected time"

	in := dialClient(t, ts.addr).loggedIn()
	defer in.close()
	silent := dialClient(t, ts.addr).challenged()
	defer silent.close()
	halfway := dialClient(t, ts.addr).awaitingAuth()
	defer halfway.close()

	silent.expect(timedOut)
	silent.expectClose(1000)
	halfway.expect(timedOut)
	halfway.expectClose(1000)

	// The logged-in session outlived the timeout (the others were closed after it fired).
	in.probe(inOpen)
}

// TestEventsReachOtherLoops: after malformed traffic, events still flow between sessions (which the
// two-loop server places on different loops) and never echo to the sender.
func TestEventsReachOtherLoops(t *testing.T) {
	ts := startServer(t, nil)
	var subs []*client
	for range 4 {
		c := dialClient(t, ts.addr).loggedIn()
		defer c.close()
		c.sendText("garbage+E|S|news+")
		c.expect("X|E|MESSAGE_PARSE_ERROR|null", "E|A|S|news")
		subs = append(subs, c)
	}
	subs[0].sendText(`E|EVT|news|O{"a":1}+`)
	for _, c := range subs[1:] {
		c.expect(`E|EVT|news|O{"a":1}`)
	}
	subs[0].probe(inOpen) // the sender got nothing before the probe's ack
	if n := ts.srv.Fanout().Count("Enews"); n != 4 {
		t.Fatalf("Count(Enews) = %d, want 4", n)
	}
	for _, c := range subs {
		c.close()
	}
	waitCount(t, ts, 0, "Enews")
}

// TestRecordDeleteUnsubscribesEveryone: a delete reaches every subscriber on every loop with R|A|D,
// and leaves nobody subscribed; the name can be created afresh.
func TestRecordDeleteUnsubscribesEveryone(t *testing.T) {
	ts := startServer(t, nil)
	var cs []*client
	for range 3 {
		c := dialClient(t, ts.addr).loggedIn()
		defer c.close()
		c.sendText("R|CR|del/1+")
		c.expect("R|A|S|del/1")
		got, err := c.read()
		if err != nil || !strings.HasPrefix(got, "R|R|del/1|") {
			t.Fatalf("read: %s %v", short(got), err)
		}
		cs = append(cs, c)
	}
	cs[0].sendText(`R|U|del/1|1|{"a":1}+`)
	for _, c := range cs[1:] {
		c.expect(`R|U|del/1|1|{"a":1}`)
	}
	cs[1].sendText("R|D|del/1+")
	for _, c := range cs {
		c.expect("R|A|D|del/1")
	}
	waitCount(t, ts, 0, "Rdel/1")
	cs[0].sendText("R|US|del/1+")
	cs[0].expect("R|E|NOT_SUBSCRIBED|del/1")
	// H is answered by the record's owner, after the loop's own R|A|S of a CR in the same frame: one
	// at a time.
	cs[2].sendText("R|H|del/1+")
	cs[2].expect("R|H|del/1|F")
	cs[2].sendText("R|CR|del/1+")
	cs[2].expect("R|A|S|del/1", "R|R|del/1|0|{}")
}

// TestSlowConsumerSession: a subscriber that stops reading is dropped on its own; a subscriber that
// reads gets every event in order, and the publisher is still served. The publisher keeps at most
// two batches ahead of the reader, so only the subscriber that does not read can pass the limit.
func TestSlowConsumerSession(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxOutboundBytes = 1 << 20 })
	slow := dialClient(t, ts.addr).loggedIn()
	defer slow.close()
	slow.raw.(*net.TCPConn).SetReadBuffer(4096)
	slow.sendText("E|S|flood+")
	slow.expect("E|A|S|flood")
	good := dialClient(t, ts.addr).loggedIn()
	defer good.close()
	good.sendText("E|S|flood+")
	good.expect("E|A|S|flood")
	pub := dialClient(t, ts.addr).loggedIn()
	defer pub.close()

	const batches, perBatch = 200, 100 // 20 MB of events in all
	payload := strings.Repeat("x", 1000)
	progress := make(chan struct{}, batches)
	done := make(chan error, 1)
	go func() {
		for i := range batches * perBatch {
			want := fmt.Sprintf("E|EVT|flood|S%d/%s", i, payload)
			got, err := good.read()
			if err != nil {
				done <- fmt.Errorf("event %d: %v", i, err)
				return
			}
			if got != want {
				done <- fmt.Errorf("event %d: got %s", i, short(got))
				return
			}
			if i%perBatch == perBatch-1 {
				progress <- struct{}{}
			}
		}
		done <- nil
	}()
	var batch strings.Builder
	for b := range batches {
		if b >= 2 {
			select {
			case <-progress:
			case err := <-done:
				t.Fatalf("before batch %d: %v", b, err)
			}
		}
		batch.Reset()
		for i := b * perBatch; i < (b+1)*perBatch; i++ {
			fmt.Fprintf(&batch, "E|EVT|flood|S%d/%s+", i, payload)
		}
		pub.sendText(batch.String())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ts.eng.Stats().SlowConsumers == 0 {
		t.Fatal("the subscriber that did not read was not dropped")
	}
	waitCount(t, ts, 1, "Eflood") // only the reader is left
	pub.probe(inOpen)
	good.probe(inOpen)
}

// waitCount waits until every topic key has want subscribers (closing is asynchronous).
func waitCount(t *testing.T, ts *testServer, want int, keys ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range keys {
		for ts.srv.Fanout().Count(k) != want {
			if time.Now().After(deadline) {
				t.Fatalf("Count(%q) = %d, want %d", k, ts.srv.Fanout().Count(k), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestRaceSessions runs 20 clients doing random subscribe, unsubscribe, emit, record reads, writes,
// discards, deletes, listens, presence subscriptions and reconnects at once (run it with -race); afterwards the server still serves a
// fresh client and no subscription is left behind.
func TestRaceSessions(t *testing.T) {
	ts := startServer(t, nil)
	const workers = 20
	duration := 3 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	var events, records []string
	keys := []string{"U"} // presence subscribers of everyone
	for i := range 4 {
		events = append(events, fmt.Sprintf("race/e%d", i))
		records = append(records, fmt.Sprintf("race/r%d", i))
		keys = append(keys, "Erace/e"+fmt.Sprint(i), "Rrace/r"+fmt.Sprint(i))
	}
	stop := time.Now().Add(duration)
	var st raceStats
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := raceWorker(ts.addr, uint64(w), stop, events, records, &st); err != nil {
				errc <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d connections, %d messages sent, %d received, %d listen requests answered",
		st.conns.Load(), st.sent.Load(), st.received.Load(), st.answered.Load())
	if st.answered.Load() == 0 || st.conns.Load() <= workers {
		t.Errorf("the storm missed listening or reconnects")
	}
	waitCount(t, ts, 0, keys...)

	// A fresh pair of clients: subscribe, emit, read a record that was written during the storm.
	a := dialClient(t, ts.addr).loggedIn()
	defer a.close()
	b := dialClient(t, ts.addr).loggedIn()
	defer b.close()
	a.sendText("E|S|race/e0+")
	a.expect("E|A|S|race/e0")
	b.sendText("E|EVT|race/e0|Safter+")
	a.expect("E|EVT|race/e0|Safter")
	b.sendText("R|CR|race/r0+")
	b.expect("R|A|S|race/r0")
	got, err := b.read()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^R\|R\|race/r0\|[1-9][0-9]*\|\{"w":[0-9]+,"n":[0-9]+\}$`).MatchString(got) {
		t.Fatalf("read after the storm: %s", short(got))
	}
	if n := ts.srv.Fanout().Count("Erace/e0"); n != 1 {
		t.Fatalf("Count(Erace/e0) = %d, want 1", n)
	}
	a.close()
	b.close()
	waitCount(t, ts, 0, keys...)
	deadline := time.Now().Add(10 * time.Second)
	for ts.eng.Stats().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", ts.eng.Stats().Open)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// raceWorker is one client of TestRaceSessions. It returns an error for anything a valid client
// should never see: a parse error, an unknown topic, a closed connection it did not close.
func raceWorker(addr string, seed uint64, stop time.Time, events, records []string, st *raceStats) error {
	rnd := newRand(seed)
	for conn := 0; time.Now().Before(stop); conn++ {
		c, err := tryDial(addr)
		if err != nil {
			return err
		}
		st.conns.Add(1)
		err = raceSession(c, rnd, seed, stop, events, records, st)
		if err != nil {
			return fmt.Errorf("connection %d: %w", conn, err)
		}
	}
	return nil
}

// raceStats counts what the storm did, so the test can tell it did something.
type raceStats struct {
	conns, sent, received, answered atomic.Int64
}

func raceSession(c *client, rnd *xorshift, seed uint64, stop time.Time, events, records []string, st *raceStats) error {
	var wmu sync.Mutex
	write := func(msg string) error {
		wmu.Lock()
		defer wmu.Unlock()
		st.sent.Add(int64(strings.Count(msg, "+")))
		c.ws.SetWriteDeadline(time.Now().Add(replyTimeout))
		return c.ws.WriteMessage(websocket.TextMessage, []byte(ds(msg)))
	}
	if err := write("C|CHR|u+A|REQ|{}+"); err != nil {
		return err
	}
	// The reader drains everything (so the session never becomes a slow consumer) and answers
	// listen requests, accepting or rejecting at random.
	readErr := make(chan error, 1)
	leaving := make(chan struct{})
	go func() {
		rr := newRand(seed ^ 0x9e3779b97f4a7c15)
		for {
			c.ws.SetReadDeadline(time.Now().Add(3 * replyTimeout))
			_, payload, err := c.ws.ReadMessage()
			if err != nil {
				select {
				case <-leaving:
					readErr <- nil
				default:
					readErr <- fmt.Errorf("read: %w", err)
				}
				return
			}
			for _, m := range strings.Split(string(payload), "\x1e") {
				if m != "" {
					st.received.Add(1)
				}
				parts := strings.Split(m, "\x1f")
				switch {
				case len(parts) < 2:
				case parts[0] == "X" || parts[1] == "E" && len(parts) > 2 &&
					(parts[2] == "INVALID_MESSAGE_DATA" || parts[2] == "MESSAGE_PARSE_ERROR" || parts[2] == "INVALID_MESSAGE"):
					readErr <- fmt.Errorf("unexpected reply %s", short(notation([]byte(m))))
					return
				case parts[1] == "SP" && len(parts) == 4:
					answer := "LA"
					if rr.next()%2 == 0 {
						answer = "LR"
					}
					st.answered.Add(1)
					if err := write(parts[0] + "|" + answer + "|" + parts[2] + "|" + parts[3] + "+"); err != nil {
						readErr <- nil // the writer is closing the connection
						return
					}
				}
			}
		}
	}()
	var err error
	n := 0
	for err == nil && time.Now().Before(stop) {
		n++
		ev := events[rnd.next()%uint64(len(events))]
		rec := records[rnd.next()%uint64(len(records))]
		switch op := rnd.next() % 100; {
		case op < 15:
			err = write("E|S|" + ev + "+")
		case op < 27:
			err = write("E|US|" + ev + "+")
		case op < 45:
			err = write(fmt.Sprintf("E|EVT|%s|N%d+", ev, n))
		case op < 57:
			err = write("R|CR|" + rec + "+")
		case op < 72:
			cfg := "{}"
			if n%2 == 0 {
				cfg = `{"writeSuccess":true}` // acks that may reach a session already gone
			}
			err = write(fmt.Sprintf(`R|CU|%s|-1|{"w":%d,"n":%d}|%s+`, rec, seed, n, cfg))
		case op < 82:
			err = write("R|US|" + rec + "+")
		case op < 86:
			err = write("E|L|race/e.*+")
		case op < 89:
			err = write("E|UL|race/e.*+")
		case op < 91:
			err = write("R|L|race/r[02]+")
		case op < 92:
			err = write("R|H|" + rec + "+R|HD|" + rec + "+R|SN|" + rec + "+")
		case op < 93:
			// Deletes only touch the last record, so the first one keeps its writes for the check.
			err = write("R|D|" + records[len(records)-1] + "+")
		case op < 94:
			err = write("U|S|S+")
		case op < 95:
			err = write("U|US|US+")
		case op < 97:
			time.Sleep(time.Duration(rnd.next()%3) * time.Millisecond)
		default:
			// Disconnect: sometimes with a close handshake, sometimes by dropping TCP.
			close(leaving)
			if rnd.next()%2 == 0 {
				wmu.Lock()
				c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second))
				wmu.Unlock()
				// Wait for the server's close frame, or give up after the reply timeout.
				select {
				case rerr := <-readErr:
					c.raw.Close()
					return rerr
				case <-time.After(replyTimeout):
				}
			}
			c.raw.Close()
			return <-readErr
		}
	}
	close(leaving)
	c.raw.Close()
	if rerr := <-readErr; rerr != nil {
		return rerr
	}
	return err
}

// xorshift is a tiny deterministic generator, one per goroutine.
type xorshift struct{ s uint64 }

func newRand(seed uint64) *xorshift { return &xorshift{s: seed*0x9e3779b97f4a7c15 | 1} }

func (x *xorshift) next() uint64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return x.s
}
