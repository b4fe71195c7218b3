package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"swiftlet/frame"
	"swiftlet/loop"
)

// recBenchServer runs the real engine and server in-process on a free loopback port.
func recBenchServer(tb testing.TB, storage StorageConfig) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	cfg := Defaults()
	cfg.Host, cfg.Port, cfg.Storage, cfg.LogLevel = "127.0.0.1", addr.Port, storage, "ERROR"
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

// recBenchClient is a raw deepstream client: masked frames out, frames counted in.
type recBenchClient struct {
	c  net.Conn
	br *bufio.Reader
}

func recBenchDial(tb testing.TB, addr string) *recBenchClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(c, "GET /deepstream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	rc := &recBenchClient{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	rc.expect(tb, "C|CH")
	rc.send(tb, "C|CHR|x")
	rc.expect(tb, "C|A")
	rc.send(tb, "A|REQ|{}")
	rc.expect(tb, "A|A")
	return rc
}

func (rc *recBenchClient) send(tb testing.TB, msgs ...string) {
	var p []byte
	for _, m := range msgs {
		p = append(p, strings.ReplaceAll(m, "|", "\x1f")...)
		p = append(p, 0x1e)
	}
	if _, err := rc.c.Write(frame.AppendMaskedFrame(nil, frame.OpText, true, p, [4]byte{1, 2, 3, 4})); err != nil {
		tb.Fatal(err)
	}
}

// next returns the next frame's payload.
func (rc *recBenchClient) next() ([]byte, error) {
	var hdr [10]byte
	if _, err := io.ReadFull(rc.br, hdr[:2]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(rc.br, hdr[2:4]); err != nil {
			return nil, err
		}
		n = int(hdr[2])<<8 | int(hdr[3])
	case 127:
		if _, err := io.ReadFull(rc.br, hdr[2:10]); err != nil {
			return nil, err
		}
		n = 0
		for _, b := range hdr[2:10] {
			n = n<<8 | int(b)
		}
	}
	p := make([]byte, n)
	_, err := io.ReadFull(rc.br, p)
	return p, err
}

func (rc *recBenchClient) expect(tb testing.TB, want string) {
	tb.Helper()
	for {
		p, err := rc.next()
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range strings.Split(string(p), "\x1e") {
			m = strings.ReplaceAll(m, "\x1f", "|")
			if m == "" || m == "C|PI" {
				continue
			}
			if !strings.HasPrefix(m, want) {
				tb.Fatalf("got %q, want %q", m, want)
			}
			return
		}
	}
}

// BenchmarkHotRecordPatch: one writer patches one record, pipelined, while 1 000 subscribers receive
// every patch; the records are durable in pebble (group commit, sync on) or in memory. It reports
// patches per second (a patch counts once every subscriber has it) and deliveries per second.
func BenchmarkHotRecordPatch(b *testing.B) {
	for _, storage := range []string{"pebble", "memory"} {
		b.Run("storage="+storage, func(b *testing.B) {
			sc := StorageConfig{Type: storage, Path: b.TempDir(), Sync: true}
			addr := recBenchServer(b, sc)
			const subs = 1000
			name := "hot/1"
			clients := make([]*recBenchClient, subs)
			for i := range clients {
				clients[i] = recBenchDial(b, addr)
				clients[i].send(b, "R|CR|"+name)
				clients[i].expect(b, "R|A|S|"+name)
				clients[i].expect(b, "R|R|"+name)
			}
			writer := recBenchDial(b, addr)
			writer.send(b, "R|CR|"+name)
			writer.expect(b, "R|A|S|"+name)
			writer.expect(b, "R|R|"+name)
			n := b.N
			var received atomic.Int64
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Add(1)
				go func(c *recBenchClient) {
					defer wg.Done()
					got := 0
					for got < n {
						p, err := c.next()
						if err != nil {
							b.Error(err)
							return
						}
						for _, m := range strings.Split(string(p), "\x1e") {
							if strings.HasPrefix(m, "R\x1fP\x1f") {
								got++
							}
						}
					}
					received.Add(int64(got))
				}(c)
			}
			b.ResetTimer()
			start := time.Now()
			const batch = 50
			for v := 1; v <= n; {
				var msgs []string
				for k := 0; k < batch && v <= n; k, v = k+1, v+1 {
					msgs = append(msgs, fmt.Sprintf("R|P|%s|%d|count|N%d", name, v, v))
				}
				writer.send(b, msgs...)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(n)/elapsed.Seconds(), "patches/s")
			b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "deliveries/s")
		})
	}
}
