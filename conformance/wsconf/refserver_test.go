package wsconf

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// refServer is the reference echo server used with -wsconf.ref while swiftlet cannot run: gorilla/websocket
// with the limits of the swiftlet config (read limit -> 1009, UTF-8 -> 1007, close timeout, slow consumer ->
// 1008, liveness pings). It has known gaps (no fragment cap, no 408, pongs dropped under a flood); those
// cases fail or grade NON-STRICT against it.
type refServer struct {
	tg       Target
	ln       net.Listener
	srv      *http.Server
	liveness time.Duration
	wg       sync.WaitGroup
}

func startRef(t *testing.T, liveness time.Duration) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := targetDefaults(ln.Addr().String())
	r := &refServer{tg: tg, ln: ln, liveness: liveness}
	mux := http.NewServeMux()
	mux.HandleFunc(tg.HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "OK")
	})
	mux.HandleFunc(tg.Path, r.serveWS)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		http.NotFound(w, nil)
	})
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: tg.HandshakeTimeout, MaxHeaderBytes: 4096}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = r.srv.Close()
		r.wg.Wait()
	})
	return tg
}

func (r *refServer) serveWS(w http.ResponseWriter, req *http.Request) {
	if !req.ProtoAtLeast(1, 1) {
		w.Header().Set("Connection", "close")
		http.Error(w, "HTTP/1.1 required", http.StatusHTTPVersionNotSupported)
		return
	}
	up := websocket.Upgrader{
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			w.Header().Set("Connection", "close")
			if strings.Contains(reason.Error(), "version") {
				status = http.StatusUpgradeRequired
				w.Header().Set("Sec-WebSocket-Version", "13")
			}
			http.Error(w, reason.Error(), status)
		},
	}
	c, err := up.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	r.wg.Add(1)
	defer r.wg.Done()
	r.echo(c)
}

func (r *refServer) echo(c *websocket.Conn) {
	nc := c.NetConn()
	defer nc.Close()
	c.SetReadLimit(int64(r.tg.MaxMessageSize))
	c.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
	type msg struct {
		op   int
		data []byte
	}
	var (
		mu     sync.Mutex
		queued int
		out    = make(chan msg, 1<<16)
	)
	go func() {
		for m := range out {
			if err := c.WriteMessage(m.op, m.data); err != nil {
				for range out {
				}
				return
			}
			mu.Lock()
			queued -= len(m.data)
			mu.Unlock()
		}
	}()
	defer close(out)
	if r.liveness > 0 {
		stop := make(chan struct{})
		defer close(stop)
		alive := func() { _ = nc.SetReadDeadline(time.Now().Add(2 * r.liveness)) }
		alive()
		c.SetPongHandler(func(string) error { alive(); return nil })
		go func() {
			tk := time.NewTicker(r.liveness)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					_ = c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
				}
			}
		}()
	}
	failWith := func(code int, reason string) {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		// Wait for the peer's close (any bytes) or EOF, at most closeTimeout.
		_ = nc.SetReadDeadline(time.Now().Add(r.tg.CloseTimeout))
		var b [512]byte
		_, _ = nc.Read(b[:])
	}
	for {
		op, rd, err := c.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			var ne net.Error
			switch {
			case errors.As(err, &ce):
			case errors.As(err, &ne) && ne.Timeout():
			default:
				failWith(websocket.CloseProtocolError, "")
			}
			return
		}
		data, err := io.ReadAll(rd)
		if err != nil {
			failWith(websocket.CloseProtocolError, "")
			return
		}
		if r.liveness > 0 {
			_ = nc.SetReadDeadline(time.Now().Add(2 * r.liveness))
		}
		if op == websocket.TextMessage && !utf8.Valid(data) {
			failWith(websocket.CloseInvalidFramePayloadData, "")
			return
		}
		mu.Lock()
		queued += len(data)
		over := queued > r.tg.MaxOutboundBytes
		mu.Unlock()
		if over {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "slow consumer"),
				time.Now().Add(100*time.Millisecond))
			return
		}
		out <- msg{op, data}
	}
}
