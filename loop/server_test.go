package loop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"swiftlet/frame"
)

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startEcho runs an engine with the echo handler and returns it with its address.
func startEcho(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Addr = freeAddr(t)
	cfg.Loops = 2
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(cfg, EchoHandler{})
	errc := make(chan error, 1)
	go func() { errc <- s.Run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitBooted(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		select {
		case <-errc:
		case <-time.After(5 * time.Second):
			t.Error("engine did not stop")
		}
	})
	return s, cfg.Addr
}

func dialWS(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/deepstream", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEchoAndHealthCheck(t *testing.T) {
	_, addr := startEcho(t, Config{})
	res, err := http.Get("http://" + addr + "/health-check")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("health check: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Get("http://" + addr + "/elsewhere")
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("unknown path: %v %v", res, err)
	}
	res.Body.Close()
	c := dialWS(t, addr)
	defer c.Close()
	for _, msg := range []string{"hello", "", strings.Repeat("x", 70000)} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		op, got, err := c.ReadMessage()
		if err != nil || op != websocket.TextMessage || string(got) != msg {
			t.Fatalf("echo of %d bytes: op %d, %d bytes, %v", len(msg), op, len(got), err)
		}
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if op, got, err := c.ReadMessage(); err != nil || op != websocket.BinaryMessage || len(got) != 3 {
		t.Fatalf("binary echo: %d %v %v", op, got, err)
	}
	// a clean close: our 1000 is echoed
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("close echo: %v", err)
	}
}

// Shutdown sends every client a 1001 close frame before the engine stops.
func TestShutdownClosesClientsWith1001(t *testing.T) {
	s, addr := startEcho(t, Config{})
	conns := []*websocket.Conn{dialWS(t, addr), dialWS(t, addr), dialWS(t, addr)}
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats().Open != 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("conn %d: want close 1001, got %v", i, err)
		}
		c.Close()
	}
}

// The handshake must complete within HandshakeTimeout (slowloris): 408, then the socket closes.
func TestHandshakeTimeout(t *testing.T) {
	_, addr := startEcho(t, Config{HandshakeTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET /deepstream HTTP/1.1\r\nHost: x\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Fatalf("want 408, got %q %v", line, err)
	}
}

// A client that stops reading is cut off with 1008 once its unsent output passes MaxOutboundBytes,
// and counted; another client keeps being served meanwhile.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	s, addr := startEcho(t, Config{MaxOutboundBytes: 256 << 10})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(raw, "GET /deepstream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(raw)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("upgrade: %q", line)
	}
	good := dialWS(t, addr)
	defer good.Close()

	// Write 64 KiB messages that the server echoes, and never read the echoes.
	payload := make([]byte, 64<<10)
	msg := frame.AppendMaskedFrame(nil, frame.OpText, true, payload, [4]byte{1, 2, 3, 4})
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 400; i++ {
			_ = raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := raw.Write(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().SlowConsumers == 0 {
		if time.Now().After(deadline) {
			select {
			case err := <-done:
				t.Logf("writer finished: %v", err)
			default:
				t.Logf("writer still writing")
			}
			t.Fatalf("the stalled client was never disconnected: %+v", s.Stats())
		}
		// the good client is served all along
		if err := good.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		_ = good.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, got, err := good.ReadMessage(); err != nil || string(got) != "ping" {
			t.Fatalf("good client: %q %v", got, err)
		}
	}
	<-done
	if got := s.Stats().SlowConsumers; got != 1 {
		t.Fatalf("slow consumers %d, want 1", got)
	}
}
