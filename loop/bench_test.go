package loop

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"swiftlet/frame"
)

// rawClient is a minimal client for benchmarks: raw TCP, masked frames, no allocation per message.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	hdr [10]byte // kept here so reading a header does not allocate (io.ReadFull takes an interface)
}

func dialRaw(tb testing.TB, addr string) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(c, "GET /deepstream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
		if strings.HasPrefix(line, "HTTP/") && !strings.HasPrefix(line, "HTTP/1.1 101") {
			tb.Fatalf("upgrade refused: %q", line)
		}
	}
	return &rawClient{c: c, br: br}
}

// readFrame reads one server frame and returns its payload length.
func (r *rawClient) readFrame() (int, error) {
	hdr := r.hdr[:]
	if _, err := io.ReadFull(r.br, hdr[:2]); err != nil {
		return 0, err
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r.br, hdr[2:4]); err != nil {
			return 0, err
		}
		n = int(hdr[2])<<8 | int(hdr[3])
	case 127:
		if _, err := io.ReadFull(r.br, hdr[2:10]); err != nil {
			return 0, err
		}
		n = 0
		for _, b := range hdr[2:10] {
			n = n<<8 | int(b)
		}
	}
	_, err := r.br.Discard(n)
	return n, err
}

// BenchmarkEchoThroughput: many connections each keep a window of 16-byte text messages in flight
// through the echo handler. It reports echoed messages per second for the whole engine (2 loops;
// clients and server share the machine's cores). allocs/op counts the server and the clients
// together; neither allocates per message.
func BenchmarkEchoThroughput(b *testing.B) {
	for _, conns := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			_, addr := startEcho(b, Config{})
			clients := make([]*rawClient, conns)
			for i := range clients {
				clients[i] = dialRaw(b, addr)
			}
			defer func() {
				for _, c := range clients {
					c.c.Close()
				}
			}()
			const window = 8
			msg := frame.AppendMaskedFrame(nil, frame.OpText, true, []byte("E\x1fEVT\x1fbench\x1fSx\x1e"), [4]byte{9, 8, 7, 6})
			burst := make([]byte, 0, window*len(msg))
			for i := 0; i < window; i++ {
				burst = append(burst, msg...)
			}
			per := b.N/conns + 1
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Add(1)
				go func(c *rawClient) {
					defer wg.Done()
					for sent := 0; sent < per; sent += window {
						if _, err := c.c.Write(burst); err != nil {
							b.Error(err)
							return
						}
						for i := 0; i < window; i++ {
							if _, err := c.readFrame(); err != nil {
								b.Error(err)
								return
							}
						}
					}
				}(c)
			}
			wg.Wait()
			elapsed := time.Since(start)
			total := float64(conns * ((per + window - 1) / window) * window)
			b.ReportMetric(total/elapsed.Seconds(), "msgs/s")
		})
	}
}
