// Package durability proves the record invariant of design.md: every write that was acknowledged (WA)
// survives a crash (SIGKILL) and a restart on the same pebble data directory, at its acknowledged
// version, and nothing is corrupt.
package durability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"swiftlet/conformance/internal/testbin"
)

func start(t *testing.T, bin, dataDir string, port int) *exec.Cmd {
	cfg := filepath.Join(t.TempDir(), "config.yml")
	text := fmt.Sprintf("host: 127.0.0.1\nport: %d\nlogLevel: WARN\nstorage: {type: pebble, path: %q, sync: true}\n", port, dataDir)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "start", "--config", cfg)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health-check", port))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("server did not become healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a raw deepstream client over gorilla/websocket.
type client struct {
	ws *websocket.Conn
}

func dial(t *testing.T, port int) *client {
	ws, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%d/deepstream", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{ws: ws}
	c.expect(t, "C|CH")
	c.send(t, "C|CHR|x")
	c.expect(t, "C|A")
	c.send(t, `A|REQ|{}`)
	c.expect(t, "A|A")
	return c
}

func (c *client) send(t *testing.T, msgs ...string) {
	t.Helper()
	if err := c.write(msgs...); err != nil {
		t.Fatal(err)
	}
}

func (c *client) write(msgs ...string) error {
	var b bytes.Buffer
	for _, m := range msgs {
		b.WriteString(strings.ReplaceAll(m, "|", "\x1f"))
		b.WriteByte(0x1e)
	}
	return c.ws.WriteMessage(websocket.TextMessage, b.Bytes())
}

// read returns the next messages (| for the part separator); nil once the connection is gone.
func (c *client) read() []string {
	_, p, err := c.ws.ReadMessage()
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range strings.Split(string(p), "\x1e") {
		if m != "" && m != "C\x1fPI" {
			out = append(out, strings.ReplaceAll(m, "\x1f", "|"))
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}

func (c *client) expect(t *testing.T, want string) {
	t.Helper()
	for {
		ms := c.read()
		if ms == nil {
			t.Fatalf("connection closed waiting for %q", want)
		}
		for _, m := range ms {
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
			return
		}
	}
}

func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	bin := testbin.Binary(t)
	dataDir := t.TempDir()
	port := testbin.FreePort(t)
	srv := start(t, bin, dataDir, port)

	const clients, recordsPerClient = 4, 5
	var mu sync.Mutex
	acked := map[string]int64{} // record -> highest acknowledged version
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for ci := 0; ci < clients; ci++ {
		c := dial(t, port)
		names := make([]string, recordsPerClient)
		for ri := range names {
			names[ri] = fmt.Sprintf("durable/%d-%d", ci, ri)
			c.send(t, "R|CR|"+names[ri])
		}
		wg.Add(2)
		versions := make([]int64, recordsPerClient)
		// reader: collect acknowledgements until the connection dies
		go func() {
			defer wg.Done()
			for {
				ms := c.read()
				if ms == nil {
					return
				}
				for _, m := range ms {
					p := strings.Split(m, "|")
					if len(p) == 5 && p[0] == "R" && p[1] == "WA" && p[4] == "L" {
						var vs []int64
						if err := json.Unmarshal([]byte(p[3]), &vs); err != nil {
							t.Errorf("bad WA %q", m)
							continue
						}
						mu.Lock()
						for _, v := range vs {
							if v > acked[p[2]] {
								acked[p[2]] = v
							}
						}
						mu.Unlock()
					}
				}
			}
		}()
		// writer: pipelined writes to its own records, never waiting for acks
		go func() {
			defer wg.Done()
			time.Sleep(50 * time.Millisecond) // let the creations land first
			for {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]string, 0, recordsPerClient)
				for ri, name := range names {
					versions[ri]++
					v := versions[ri]
					batch = append(batch, fmt.Sprintf(`R|U|%s|%d|{"v":%d,"pad":%q}|{"writeSuccess":true}`, name, v, v, strings.Repeat("x", 100)))
				}
				if c.write(batch...) != nil {
					return // the server was killed
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	// let writes and acknowledgements stream, then crash the server mid-stream
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		n := 0
		for _, v := range acked {
			n += int(v)
		}
		mu.Unlock()
		if n >= 2000 || time.Now().After(deadline) {
			break
		}
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	close(stop)
	wg.Wait()
	mu.Lock()
	final := map[string]int64{}
	total := int64(0)
	for k, v := range acked {
		final[k] = v
		total += v
	}
	mu.Unlock()
	if len(final) != clients*recordsPerClient || total < 100 {
		t.Fatalf("too few acknowledged writes before the crash to prove anything: %d records, %d writes", len(final), total)
	}
	t.Logf("%d acknowledged writes over %d records before SIGKILL", total, len(final))

	// restart on the same data and read every record back
	srv = start(t, bin, dataDir, port)
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	c := dial(t, port)
	for name := range final {
		c.send(t, "R|SN|"+name)
	}
	got := map[string]bool{}
	for len(got) < len(final) {
		ms := c.read()
		if ms == nil {
			t.Fatal("connection closed")
		}
		for _, m := range ms {
			p := strings.SplitN(m, "|", 5)
			if len(p) != 5 || p[1] != "R" {
				t.Fatalf("unexpected reply %q", m)
			}
			name := p[2]
			v, err := strconv.ParseInt(p[3], 10, 64)
			if err != nil {
				t.Fatalf("bad version in %q", m)
			}
			var doc struct {
				V int64 `json:"v"`
			}
			if err := json.Unmarshal([]byte(p[4]), &doc); err != nil || doc.V != v {
				t.Fatalf("%s: data %s does not belong to version %d (corrupt)", name, p[4], v)
			}
			if v < final[name] {
				t.Errorf("%s: acknowledged version %d lost, found %d", name, final[name], v)
			}
			got[name] = true
		}
	}
}
