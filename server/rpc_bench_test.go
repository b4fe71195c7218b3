package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gorilla/websocket"

	"swiftlet/loop"
)

// rpcBenchServer runs the real engine and server in-process on a free loopback port, with in-memory
// storage.
func rpcBenchServer(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	cfg := Defaults()
	cfg.Host, cfg.Port, cfg.LogLevel = "127.0.0.1", addr.Port, "ERROR"
	cfg.Storage = StorageConfig{Type: "memory"}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg, logger)
	if err != nil {
		tb.Fatal(err)
	}
	eng := loop.New(LoopConfig(cfg, logger), srv)
	srv.Attach(eng)
	go func() { _ = eng.Run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.WaitBooted(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
		_ = srv.Close()
	})
	return addr.String()
}

// rpcBenchConn is a raw-protocol client over gorilla/websocket.
type rpcBenchConn struct {
	ws *websocket.Conn
}

func rpcBenchDial(tb testing.TB, addr string) *rpcBenchConn {
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/deepstream", nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &rpcBenchConn{ws: ws}
	c.expect(tb, "C\x1fCH")
	c.send(tb, []byte("C\x1fCHR\x1fx\x1e"))
	c.expect(tb, "C\x1fA")
	c.send(tb, []byte("A\x1fREQ\x1f{}\x1e"))
	c.expect(tb, "A\x1fA")
	return c
}

func (c *rpcBenchConn) send(tb testing.TB, p []byte) {
	if err := c.ws.WriteMessage(websocket.TextMessage, p); err != nil {
		tb.Error(err)
	}
}

// expect reads until a message that starts with prefix (heartbeats aside).
func (c *rpcBenchConn) expect(tb testing.TB, prefix string) {
	tb.Helper()
	for {
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range bytes.Split(p, []byte{0x1e}) {
			if bytes.HasPrefix(m, []byte(prefix)) {
				return
			}
		}
	}
}

// BenchmarkRPCRoundTrip: 100 requester connections each make requests one after another (closed
// loop), routed at random among 10 provider connections that ack and answer each request in one
// frame. One op is one round trip (P|REQ out, P|A and P|RES back); rt/s is the throughput over all
// requesters and p50/p99 the latency of one round trip. The clients run in the same process on the
// same CPUs, so B/op and allocs/op include the gorilla/websocket clients' own.
func BenchmarkRPCRoundTrip(b *testing.B) {
	addr := rpcBenchServer(b)
	const requesters, providers = 100, 10
	var provs []*rpcBenchConn
	for range providers {
		p := rpcBenchDial(b, addr)
		p.send(b, []byte("P\x1fS\x1fbench\x1e"))
		p.expect(b, "P\x1fA\x1fS\x1fbench")
		provs = append(provs, p)
	}
	var provWG sync.WaitGroup
	for _, p := range provs {
		provWG.Add(1)
		go func() {
			defer provWG.Done()
			var out []byte
			for {
				_, msg, err := p.ws.ReadMessage()
				if err != nil {
					return
				}
				out = out[:0]
				for _, m := range bytes.Split(msg, []byte{0x1e}) {
					// P|REQ|bench|cid|data -> P|A|REQ|bench|cid and P|RES|bench|cid|data
					rest, ok := bytes.CutPrefix(m, []byte("P\x1fREQ\x1f"))
					if !ok {
						continue
					}
					i := bytes.LastIndexByte(rest, 0x1f)
					out = append(append(append(out, "P\x1fA\x1fREQ\x1f"...), rest[:i]...), 0x1e)
					out = append(append(append(out, "P\x1fRES\x1f"...), rest...), 0x1e)
				}
				if len(out) > 0 {
					if err := p.ws.WriteMessage(websocket.TextMessage, out); err != nil {
						return
					}
				}
			}
		}()
	}
	var reqs []*rpcBenchConn
	for range requesters {
		reqs = append(reqs, rpcBenchDial(b, addr))
	}
	per := (b.N + requesters - 1) / requesters
	hists := make([]*hdrhistogram.Histogram, requesters)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for k, rc := range reqs {
		h := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
		hists[k] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			prefix := "P\x1fREQ\x1fbench\x1fr" + strconv.Itoa(k) + "-"
			var req, want []byte
			for i := range per {
				req = append(strconv.AppendInt(append(req[:0], prefix...), int64(i), 10), "\x1fN1\x1e"...)
				// the response P|RES|bench|cid|N1, recognised by its cid
				want = append(append(want[:0], "P\x1fRES"...), req[len("P\x1fREQ"):len(req)-1]...)
				t0 := time.Now()
				if err := rc.ws.WriteMessage(websocket.TextMessage, req); err != nil {
					b.Error(err)
					return
				}
			read:
				for {
					_, msg, err := rc.ws.ReadMessage()
					if err != nil {
						b.Error(err)
						return
					}
					for _, m := range bytes.Split(msg, []byte{0x1e}) {
						if bytes.Equal(m, want) {
							break read
						}
						if bytes.HasPrefix(m, []byte("P\x1fE")) {
							b.Errorf("error reply %q", m)
							return
						}
					}
				}
				_ = h.RecordValue(time.Since(t0).Microseconds())
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	for _, h := range hists {
		all.Merge(h)
	}
	b.ReportMetric(float64(per*requesters)/elapsed.Seconds(), "rt/s")
	b.ReportMetric(float64(all.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(all.ValueAtQuantile(99)), "p99-µs")
	for _, c := range append(reqs, provs...) {
		c.ws.Close()
	}
	provWG.Wait()
}
