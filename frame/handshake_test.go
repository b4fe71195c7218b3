package frame

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Request heads of real clients.
const (
	chromeRequest = "GET /deepstream HTTP/1.1\r\n" +
		"Host: localhost:6020\r\n" +
		"Connection: Upgrade\r\n" +
		"Pragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\n" +
		"Origin: http://localhost:8080\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
		"\r\n"
	// Captured from ws 8.23.1 (scripts/socketio/node_modules/ws) on Node 20.
	nodeWSRequest = "GET /deepstream?x=1 HTTP/1.1\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: s5GpEQakNysTN007DdyUNQ==\r\n" +
		"Connection: Upgrade\r\n" +
		"Upgrade: websocket\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
		"Origin: http://example.com\r\n" +
		"Host: 127.0.0.1:38981\r\n" +
		"\r\n"
	firefoxRequest = "GET /ws HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n" +
		"Accept: */*\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Origin: https://example.com\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate\r\n" +
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" +
		"Connection: keep-alive, Upgrade\r\n" +
		"Upgrade: websocket\r\n" +
		"\r\n"
	// The shape gorilla/websocket v1.5.3's Dialer writes (a live gorilla
	// client is also exercised in TestGorillaInterop).
	gorillaRequest = "GET /ws HTTP/1.1\r\n" +
		"Host: 127.0.0.1:6020\r\n" +
		"User-Agent: Go-http-client/1.1\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Upgrade: websocket\r\n" +
		"\r\n"
)

func TestParseRequestRealClients(t *testing.T) {
	cases := []struct {
		name, in                          string
		path, query, host, key, origin, p string
	}{
		{"chrome", chromeRequest, "/deepstream", "", "localhost:6020", "dGhlIHNhbXBsZSBub25jZQ==", "http://localhost:8080", ""},
		{"node ws", nodeWSRequest, "/deepstream", "x=1", "127.0.0.1:38981", "s5GpEQakNysTN007DdyUNQ==", "http://example.com", ""},
		{"firefox", firefoxRequest, "/ws", "", "example.com", "x3JJHMbDL1EzLkh9GBhXDw==", "https://example.com", "chat, superchat"},
		{"gorilla", gorillaRequest, "/ws", "", "127.0.0.1:6020", "AQIDBAUGBwgJCgsMDQ4PEA==", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := []byte(c.in + "trailing frame bytes")
			req, n, err := ParseRequest(buf, DefaultMaxRequestSize)
			if err != nil || n != len(c.in) {
				t.Fatalf("n=%d err=%v", n, err)
			}
			if string(req.Method) != "GET" || string(req.Path) != c.path || string(req.Query) != c.query ||
				string(req.Host) != c.host || string(req.Key) != c.key || string(req.Origin) != c.origin ||
				string(req.Protocol) != c.p || string(req.Version) != "13" || !req.HTTP11 {
				t.Fatalf("parsed %+v", req)
			}
			if !bytes.EqualFold(req.Upgrade, []byte("websocket")) {
				t.Fatalf("Upgrade %q", req.Upgrade)
			}
			if err := req.CheckUpgrade(); err != nil {
				t.Fatalf("CheckUpgrade: %v", err)
			}
			// Split at every byte: nothing until the head is complete.
			for i := 0; i < len(c.in); i++ {
				if _, n, err := ParseRequest(buf[:i], DefaultMaxRequestSize); n != 0 || err != nil {
					t.Fatalf("prefix %d: n=%d err=%v", i, n, err)
				}
			}
			// Too small a limit.
			if _, n, err := ParseRequest(buf, len(c.in)-1); n != 0 || status(err) != 431 {
				t.Fatalf("over limit: n=%d err=%v", n, err)
			}
		})
	}
}

func TestParseRequestFirefoxProtocols(t *testing.T) {
	req, _, err := ParseRequest([]byte(firefoxRequest), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !req.HasProtocol("chat") || !req.HasProtocol("superchat") || req.HasProtocol("Chat") || req.HasProtocol("") {
		t.Fatal("HasProtocol")
	}
}

func status(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

const goodHead = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// withHeader returns goodHead with the header line starting with name
// replaced by line ("" removes it).
func withHeader(name, line string) string {
	lines := strings.Split(goodHead, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, name+":") {
			if line == "" {
				return strings.Join(append(lines[:i:i], lines[i+1:]...), "\r\n")
			}
			lines[i] = line
			return strings.Join(lines, "\r\n")
		}
	}
	panic("no header " + name)
}

func TestParseRequestRejections(t *testing.T) {
	cases := []struct {
		name, in string
		status   int
	}{
		{"bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
		{"bare LF header", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n", 400},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n", 400},
		{"empty line first", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"only blank line", "\r\n\r\n", 400},
		{"no target", "GET HTTP/1.1\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
		{"trailing space", "GET / HTTP/1.1 \r\n\r\n", 400},
		{"method not a token", "G(T / HTTP/1.1\r\n\r\n", 400},
		{"lower-case http", "GET / http/1.1\r\n\r\n", 400},
		{"version garbage", "GET / HTTP/1.x\r\n\r\n", 400},
		{"version too long", "GET / HTTP/1.11\r\n\r\n", 400},
		{"HTTP/0.9 style", "GET /\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
		{"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505},
		{"absolute form", "GET http://h/ws HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400},
		{"obs-fold space", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"obs-fold tab", "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\n: h\r\n\r\n", 400},
		{"name not a token", "GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", 400},
		{"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
		{"TLS client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, n, err := ParseRequest([]byte(c.in), 0)
			if n != 0 || status(err) != c.status {
				t.Fatalf("n=%d err=%v, want %d", n, err, c.status)
			}
		})
	}
}

func TestParseRequestOversize(t *testing.T) {
	big := "GET / HTTP/1.1\r\nX-Pad: " + strings.Repeat("p", 9000) + "\r\n\r\n"
	// Incomplete but already beyond the limit.
	if _, n, err := ParseRequest([]byte(big[:8193]), 0); n != 0 || status(err) != 431 {
		t.Fatalf("incomplete oversize: n=%d err=%v", n, err)
	}
	if _, n, err := ParseRequest([]byte(big[:8192]), 0); n != 0 || err != nil {
		t.Fatalf("incomplete at the limit: n=%d err=%v", n, err)
	}
	// Complete but beyond the limit.
	if _, n, err := ParseRequest([]byte(big), 0); n != 0 || status(err) != 431 {
		t.Fatalf("complete oversize: n=%d err=%v", n, err)
	}
	if _, n, err := ParseRequest([]byte(big), len(big)); n != len(big) || err != nil {
		t.Fatalf("complete within a larger limit: n=%d err=%v", n, err)
	}
}

func TestParseRequestDetails(t *testing.T) {
	in := "POST /health?a=b?c HTTP/1.0\r\nHOST:   h:1  \r\nx-other: v\r\nORIGIN:\r\n" +
		"sec-websocket-key: k1\r\nSec-WebSocket-Key: k2\r\nUpgrade:\twebsocket\t\r\n\r\n"
	req, n, err := ParseRequest([]byte(in), 0)
	if err != nil || n != len(in) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if string(req.Method) != "POST" || string(req.Path) != "/health" || string(req.Query) != "a=b?c" || req.HTTP11 {
		t.Fatalf("request line %+v", req)
	}
	if string(req.Host) != "h:1" || string(req.Key) != "k1" || string(req.Upgrade) != "websocket" {
		t.Fatalf("headers %+v", req)
	}
	if req.Origin == nil || len(req.Origin) != 0 || req.Connection != nil || req.Protocol != nil {
		t.Fatalf("present-but-empty vs absent: %+v", req)
	}
	if status(req.CheckUpgrade()) != 405 {
		t.Fatal("POST must give 405")
	}
}

func TestCheckUpgrade(t *testing.T) {
	cases := []struct {
		name, in string
		status   int
		header   string
	}{
		{"good", goodHead, 0, ""},
		{"lower-case tokens", withHeader("Connection", "connection: keep-alive,  UPGRADE "), 0, ""},
		{"Upgrade list", withHeader("Upgrade", "Upgrade: h2c, WebSocket"), 0, ""},
		{"POST", strings.Replace(goodHead, "GET", "POST", 1), 405, "Allow: GET\r\n"},
		{"lower-case get", strings.Replace(goodHead, "GET", "get", 1), 405, "Allow: GET\r\n"},
		{"HTTP/1.0", strings.Replace(goodHead, "HTTP/1.1", "HTTP/1.0", 1), 505, ""},
		{"no Host", withHeader("Host", ""), 400, ""},
		{"no Upgrade", withHeader("Upgrade", ""), 400, ""},
		{"Upgrade h2c", withHeader("Upgrade", "Upgrade: h2c"), 400, ""},
		{"Upgrade websocket/13", withHeader("Upgrade", "Upgrade: websocket/13"), 400, ""},
		{"Upgrade substring", withHeader("Upgrade", "Upgrade: websockets"), 400, ""},
		{"no Connection", withHeader("Connection", ""), 400, ""},
		{"Connection keep-alive", withHeader("Connection", "Connection: keep-alive"), 400, ""},
		{"Connection substring", withHeader("Connection", "Connection: upgraded"), 400, ""},
		{"no version", withHeader("Sec-WebSocket-Version", ""), 426, "Sec-WebSocket-Version: 13\r\n"},
		{"version 8", withHeader("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), 426, "Sec-WebSocket-Version: 13\r\n"},
		{"version 13, 8", withHeader("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), 426, "Sec-WebSocket-Version: 13\r\n"},
		{"no key", withHeader("Sec-WebSocket-Key", ""), 400, ""},
		{"empty key", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key:"), 400, ""},
		{"key 15 bytes", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(make([]byte, 15))), 400, ""},
		{"key 17 bytes", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(make([]byte, 17))), 400, ""},
		{"key unpadded", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"), 400, ""},
		{"key URL alphabet", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j_Q=="), 400, ""},
		{"key non-canonical last char", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="), 400, ""},
		{"key not base64", withHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: not a base64 key at all!"), 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, n, err := ParseRequest([]byte(c.in), 0)
			if err != nil || n != len(c.in) {
				t.Fatalf("ParseRequest: n=%d err=%v", n, err)
			}
			err = req.CheckUpgrade()
			if status(err) != c.status {
				t.Fatalf("got %v, want %d", err, c.status)
			}
			if err != nil && err.(*HTTPError).Header != c.header {
				t.Fatalf("header %q, want %q", err.(*HTTPError).Header, c.header)
			}
		})
	}
}

// TestValidKeyExhaustive checks validKey against a strict base64 decoder for
// every choice of the two significant last characters.
func TestValidKeyExhaustive(t *testing.T) {
	strict := base64.StdEncoding.Strict()
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=. "
	for _, a := range alphabet {
		for _, b := range alphabet {
			key := []byte("dGhlIHNhbXBsZSBub25j" + string(a) + string(b) + "==")
			dec, err := strict.DecodeString(string(key))
			want := err == nil && len(dec) == 16
			if got := validKey(key); got != want {
				t.Fatalf("%s: validKey %v, strict decode %v", key, got, want)
			}
		}
	}
}

// TestAppendAccept uses the example of RFC 6455 section 1.3. The accept
// value for the key "dGhlIHNhbXBsZSBub25jZQ==" is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
// (as printed in the RFC, and as computed by openssl sha1 | base64).
func TestAppendAccept(t *testing.T) {
	got := string(AppendAccept([]byte("prefix"), []byte("dGhlIHNhbXBsZSBub25jZQ==")))
	want := "prefixHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
	got = string(AppendAcceptProtocol(nil, []byte("dGhlIHNhbXBsZSBub25jZQ=="), "chat"))
	if !strings.HasSuffix(got, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n") {
		t.Fatalf("with protocol: %q", got)
	}
	// A key too long for the stack buffer takes the streaming path.
	long := bytes.Repeat([]byte("k"), 200)
	sum := sha1.Sum(append(long, websocketGUID...))
	if got := string(AppendAccept(nil, long)); !strings.Contains(got, base64.StdEncoding.EncodeToString(sum[:])) {
		t.Fatalf("long key: %q", got)
	}
}

func TestAppendHTTPResponse(t *testing.T) {
	got := string(AppendHTTPResponse(nil, 200, "Content-Type: text/plain\r\n", "ok", true))
	if got != "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok" {
		t.Fatalf("%q", got)
	}
	e := errWSVersion
	got = string(AppendHTTPResponse(nil, e.Status, e.Header, e.Reason, false))
	want := "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 29\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\nunsupported WebSocket version"
	if got != want {
		t.Fatalf("%q", got)
	}
	got = string(errMethod.AppendResponse([]byte("x")))
	want = "xHTTP/1.1 405 Method Not Allowed\r\nContent-Length: 18\r\nConnection: close\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nAllow: GET\r\n\r\nmethod not allowed"
	if got != want {
		t.Fatalf("AppendResponse: %q", got)
	}
	if StatusText(431) != "Request Header Fields Too Large" || StatusText(299) != "Status" {
		t.Fatal("StatusText")
	}
	if e.Error() != "frame: http 426: unsupported WebSocket version" {
		t.Fatal(e.Error())
	}
}

func TestHandshakeNoAllocs(t *testing.T) {
	buf := []byte(chromeRequest)
	bad := []byte("GET / HTTP/1.1\r\nHost : x\r\n\r\n")
	out := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		req, n, err := ParseRequest(buf, 0)
		if err != nil || n != len(buf) || req.CheckUpgrade() != nil {
			t.Fatal(n, err)
		}
		out = AppendAccept(out[:0], req.Key)
		out = AppendHTTPResponse(out, 200, "", "ok", true)
		out = errWSVersion.AppendResponse(out)
		if _, _, err := ParseRequest(buf[:len(buf)-1], 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ParseRequest(bad, 0); err == nil {
			t.Fatal("accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per handshake", allocs)
	}
}

// echoHandler answers a connection the way the loop will: echo messages,
// answer pings, echo the close.
type echoHandler struct{ out []byte }

func (h *echoHandler) OnMessage(op Opcode, p []byte) { h.out = AppendFrame(h.out, op, p) }
func (h *echoHandler) OnPing(p []byte)               { h.out = AppendFrame(h.out, OpPong, p) }
func (h *echoHandler) OnPong([]byte)                 {}
func (h *echoHandler) OnClose(code CloseCode, _ []byte) {
	h.out = AppendClose(h.out, code, "")
}

// serveOne accepts one connection on ln and runs the handshake and an echo
// session over it with ParseRequest, AppendAccept and Decoder, reading in
// small chunks so frames arrive split.
func serveOne(t *testing.T, ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var pending []byte
	chunk := make([]byte, 7)
	read := func() bool {
		m, err := c.Read(chunk)
		pending = append(pending, chunk[:m]...)
		return err == nil
	}
	for {
		req, n, err := ParseRequest(pending, 0)
		if err != nil {
			t.Errorf("ParseRequest: %v", err)
			return
		}
		if n > 0 {
			if err := req.CheckUpgrade(); err != nil {
				t.Errorf("CheckUpgrade: %v", err)
				return
			}
			c.Write(AppendAccept(nil, req.Key))
			pending = pending[n:]
			break
		}
		if !read() {
			t.Error("EOF during handshake")
			return
		}
	}
	var d Decoder
	h := &echoHandler{}
	for !d.Closed() {
		n, err := d.Decode(pending, h)
		pending = append(pending[:0], pending[n:]...)
		if err != nil {
			t.Errorf("Decode: %v", err)
			return
		}
		if len(h.out) > 0 {
			c.Write(h.out)
			h.out = h.out[:0]
		}
		if !d.Closed() && !read() {
			t.Error("EOF before close")
			return
		}
	}
}

// TestGorillaInterop runs a real gorilla/websocket client against the
// handshake and frame code over loopback.
func TestGorillaInterop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() { defer close(done); serveOne(t, ln) }()

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/deepstream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 5, 125, 126, 65535, 65536, 200000} {
		for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			msg := bytes.Repeat([]byte("κ"), n/2)
			if typ == websocket.BinaryMessage {
				msg = make([]byte, n)
				for i := range msg {
					msg[i] = byte(r.Uint32())
				}
			}
			if err := ws.WriteMessage(typ, msg); err != nil {
				t.Fatal(err)
			}
			gt, got, err := ws.ReadMessage()
			if err != nil || gt != typ || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes type %d: type %d, %d bytes, %v", n, typ, gt, len(got), err)
			}
		}
	}
	// A fragmented message via NextWriter with small writes.
	w, _ := ws.NextWriter(websocket.TextMessage)
	for range 10 {
		w.Write([]byte("fragment "))
	}
	w.Close()
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != strings.Repeat("fragment ", 10) {
		t.Fatalf("fragmented echo %q %v", got, err)
	}
	pong := make(chan string, 1)
	ws.SetPongHandler(func(s string) error { pong <- s; return nil })
	ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
	ws.WriteMessage(websocket.TextMessage, []byte("after ping"))
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != "after ping" {
		t.Fatalf("after ping %q %v", got, err)
	}
	if p := <-pong; p != "are you there" {
		t.Fatalf("pong %q", p)
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("close: %v", err)
	}
	<-done
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{chromeRequest, nodeWSRequest, firefoxRequest, gorillaRequest, goodHead,
		"GET /health HTTP/1.0\r\n\r\n", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", "\x16\x03\x01"} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		req, n, err := ParseRequest(in, 1024)
		if n < 0 || n > len(in) || (err != nil && n != 0) {
			t.Fatalf("n=%d err=%v for %d bytes", n, err, len(in))
		}
		if err != nil {
			if s := status(err); s != 400 && s != 431 && s != 505 {
				t.Fatalf("status %d", s)
			}
			return
		}
		if n == 0 {
			return
		}
		req.CheckUpgrade() // must not panic
		// A request that parsed parses the same from every prefix: nothing
		// before it is complete (or an error no later than the full parse
		// would give), then the same result.
		r := rand.New(rand.NewPCG(seed, 1))
		for range 8 {
			i := r.IntN(n)
			if _, pn, perr := ParseRequest(in[:i], 1024); pn != 0 || perr != nil {
				t.Fatalf("prefix %d of a valid head: n=%d err=%v", i, pn, perr)
			}
		}
		req2, n2, err2 := ParseRequest(append(in[:n:n], "extra"...), 1024)
		if err2 != nil || n2 != n || string(req2.Path) != string(req.Path) || string(req2.Key) != string(req.Key) ||
			string(req2.Host) != string(req.Host) || req2.HTTP11 != req.HTTP11 {
			t.Fatalf("reparse differs: %v %d", err2, n2)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	buf := []byte(chromeRequest)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		req, n, err := ParseRequest(buf, 0)
		if err != nil || n != len(buf) || req.CheckUpgrade() != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkAppendAccept(b *testing.B) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out = AppendAccept(out[:0], key)
	}
}
