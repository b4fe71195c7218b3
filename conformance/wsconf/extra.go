package wsconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// handshakeCase is a raw HTTP request and the statuses it may get.
type handshakeCase struct {
	id, desc string
	req      func(tg Target) string
	status   []int
	header   [2]string // a header the response must carry
}

func upgradeReq(tg Target, method, path, proto string, drop string, extra ...string) string {
	h := []string{
		"Host: " + tg.Addr,
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Version: 13",
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", method, path, proto)
	for _, l := range h {
		if drop != "" && strings.HasPrefix(l, drop+":") {
			continue
		}
		b.WriteString(l + "\r\n")
	}
	for _, l := range extra {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func handshakeCases() []handshakeCase {
	std := func(method, proto, drop string, extra ...string) func(Target) string {
		return func(tg Target) string { return upgradeReq(tg, method, tg.Path, proto, drop, extra...) }
	}
	return []handshakeCase{
		{"H.1", "valid upgrade: 101", std("GET", "HTTP/1.1", ""), []int{101}, [2]string{"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
		{"H.2", "POST: 405", std("POST", "HTTP/1.1", ""), []int{405}, [2]string{}},
		{"H.3", "missing Sec-WebSocket-Key: 400", std("GET", "HTTP/1.1", "Sec-WebSocket-Key"), []int{400}, [2]string{}},
		{"H.4", "Sec-WebSocket-Key not 16 bytes of base64: 400",
			std("GET", "HTTP/1.1", "Sec-WebSocket-Key", "Sec-WebSocket-Key: c2hvcnQ="), []int{400}, [2]string{}},
		{"H.5", "Sec-WebSocket-Key not base64: 400",
			std("GET", "HTTP/1.1", "Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!not-base64!!!!!!!!=="), []int{400}, [2]string{}},
		{"H.6", "Sec-WebSocket-Version 8: 426 naming version 13",
			std("GET", "HTTP/1.1", "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), []int{426}, [2]string{"Sec-WebSocket-Version", "13"}},
		{"H.7", "missing Upgrade: 400", std("GET", "HTTP/1.1", "Upgrade"), []int{400}, [2]string{}},
		{"H.8", "missing Connection: 400", std("GET", "HTTP/1.1", "Connection"), []int{400}, [2]string{}},
		{"H.9", "Connection without the upgrade token: 400",
			std("GET", "HTTP/1.1", "Connection", "Connection: keep-alive"), []int{400}, [2]string{}},
		{"H.10", "HTTP/1.0: 505 or 400", std("GET", "HTTP/1.0", ""), []int{505, 400}, [2]string{}},
		{"H.11", "header block over 8 KiB: 431",
			std("GET", "HTTP/1.1", "", "X-Padding: "+strings.Repeat("p", 9000)), []int{431}, [2]string{}},
		{"H.12", "unknown path: 404", func(tg Target) string { return upgradeReq(tg, "GET", "/nowhere", "HTTP/1.1", "") }, []int{404}, [2]string{}},
		{"H.13", "Connection token list and mixed case are accepted: 101",
			std("GET", "HTTP/1.1", "Connection", "Connection: keep-alive, UPGRADE"), []int{101}, [2]string{}},
		{"H.14", "health check: 200", func(tg Target) string {
			return "GET " + tg.HealthPath + " HTTP/1.1\r\nHost: " + tg.Addr + "\r\nConnection: close\r\n\r\n"
		}, []int{200}, [2]string{}},
	}
}

// runHandshake sends hc's request and checks the status, the header and (for errors) that the server then
// closes TCP.
func runHandshake(hc handshakeCase, tg Target) (Grade, string) {
	nc, err := net.DialTimeout("tcp", tg.Addr, 2*time.Second)
	if err != nil {
		return Failed, err.Error()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(nc, hc.req(tg)); err != nil {
		return Failed, "write: " + err.Error()
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return Failed, "reading response: " + err.Error()
	}
	if !containsInt(hc.status, resp.StatusCode) {
		return Failed, fmt.Sprintf("status %d, want %v", resp.StatusCode, hc.status)
	}
	if hc.header[0] != "" && !headerHasToken(resp.Header, hc.header[0], hc.header[1]) {
		return Failed, fmt.Sprintf("header %s: %q, want %q", hc.header[0], resp.Header.Get(hc.header[0]), hc.header[1])
	}
	if resp.StatusCode == 101 || resp.StatusCode == 200 {
		return OK, ""
	}
	// An error response must be followed by the server closing TCP.
	_, _ = io.Copy(io.Discard, resp.Body)
	if _, err := io.Copy(io.Discard, br); err != nil && !isClosedErr(err) {
		return Failed, "server did not close TCP after " + resp.Status + ": " + err.Error()
	}
	return OK, ""
}

// isClosedErr reports whether err means the peer ended TCP (a reset) rather than a timeout.
func isClosedErr(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// ExtraCases returns the cases that need their own choreography: the handshake errors, slowloris, the ping
// flood and the half-open client.
func ExtraCases() []Case {
	var cs []Case
	for _, hc := range handshakeCases() {
		cs = append(cs, Case{ID: hc.id, Desc: hc.desc, Custom: func(tg Target) (Grade, string) { return runHandshake(hc, tg) }})
	}
	cs = append(cs,
		Case{ID: "X.8.1", Desc: "slowloris: headers dribbled slower than handshakeTimeout get 408 or a close", Custom: slowloris},
		Case{ID: "X.8.2", Desc: "handshake never sent: the connection is closed after handshakeTimeout", Custom: silentHandshake},
		Case{ID: "X.9.1", Desc: "ping flood: 10 000 pings without reading are answered or closed with 1008", Custom: pingFlood},
		Case{ID: "X.10.1", Desc: "half-open client (no reads answered, no pongs): closed by the server's liveness check", Custom: halfOpen},
	)
	return cs
}

func slowloris(tg Target) (Grade, string) {
	nc, err := net.DialTimeout("tcp", tg.Addr, 2*time.Second)
	if err != nil {
		return Failed, err.Error()
	}
	defer nc.Close()
	req := upgradeReq(tg, "GET", tg.Path, "HTTP/1.1", "")
	start := time.Now()
	closed := make(chan string, 1)
	go func() {
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			closed <- "closed: " + err.Error()
			return
		}
		closed <- fmt.Sprintf("status %d", resp.StatusCode)
	}()
	step := tg.HandshakeTimeout / 5
	for i := 0; i < len(req); i++ {
		select {
		case what := <-closed:
			took := time.Since(start)
			if what == "status 101" {
				return Failed, "upgraded a handshake dribbled over " + time.Since(start).String()
			}
			if took < tg.HandshakeTimeout/2 || took > tg.HandshakeTimeout+2*time.Second {
				return Failed, fmt.Sprintf("%s after %v, handshakeTimeout %v", what, took, tg.HandshakeTimeout)
			}
			if what == "status 408" {
				return OK, ""
			}
			return NonStrict, what + " (not 408)"
		case <-time.After(step):
		}
		if _, err := nc.Write([]byte{req[i]}); err != nil {
			break
		}
	}
	select {
	case what := <-closed:
		if what == "status 408" {
			return OK, ""
		}
		return NonStrict, what
	case <-time.After(3 * time.Second):
		return Failed, "server accepted a handshake dribbled over " + time.Since(start).String()
	}
}

func silentHandshake(tg Target) (Grade, string) {
	nc, err := net.DialTimeout("tcp", tg.Addr, 2*time.Second)
	if err != nil {
		return Failed, err.Error()
	}
	defer nc.Close()
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(tg.HandshakeTimeout + 3*time.Second))
	b, err := io.ReadAll(nc)
	took := time.Since(start)
	if err != nil && !isClosedErr(err) {
		return Failed, fmt.Sprintf("not closed within %v", took)
	}
	if took < tg.HandshakeTimeout/2 {
		return Failed, fmt.Sprintf("closed after %v, before handshakeTimeout %v", took, tg.HandshakeTimeout)
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
		return Failed, fmt.Sprintf("unexpected response %q", firstLine(b))
	}
	return OK, ""
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

func pingFlood(tg Target) (Grade, string) {
	c, err := Dial(tg.Addr, DialOptions{Path: tg.Path, NoRead: true, RcvBuf: 4096})
	if err != nil {
		return Failed, err.Error()
	}
	defer c.Close()
	const n = 10000
	p := payload(125)
	var all []byte
	for range n {
		all = AppendFrame(all, ping(p))
	}
	wrote := make(chan error, 1)
	go func() {
		_ = c.NC.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := c.NC.Write(all)
		wrote <- err
	}()
	// Do not read until the writes are done or stuck: the server must cope with a peer that does not read.
	var werr error
	writeDone := false
	select {
	case werr = <-wrote:
		writeDone = true
	case <-time.After(2 * time.Second):
	}
	c.StartReader()
	c.waitFor(10*time.Second, func() bool { return c.done || c.closes > 0 || c.pongs >= n })
	if !writeDone {
		select {
		case werr = <-wrote:
		case <-time.After(10 * time.Second):
			return Failed, "writes still blocked after the client drained its input"
		}
	}
	ev := c.Events()
	got := 0
	for _, e := range ev {
		switch e.Kind {
		case EvPong:
			if string(e.Payload) != string(p) {
				return Failed, "pong with a wrong payload"
			}
			got++
		case EvBadFrame:
			return Failed, e.Err.Error()
		case EvClose:
			if e.Code == 1008 {
				return OK, fmt.Sprintf("closed with 1008 after %d pongs", got)
			}
			return Failed, fmt.Sprintf("closed with %d after %d pongs", e.Code, got)
		case EvEOF, EvReset:
			return Failed, fmt.Sprintf("TCP ended without a close frame after %d pongs", got)
		}
	}
	if werr != nil {
		return Failed, "writing pings: " + werr.Error()
	}
	if got == n {
		// Still alive: it must also still echo.
		_ = c.WriteFrames(WriteAll, 0, text("after the flood"))
		if !c.WaitEvents(len(ev)+1, 3*time.Second) {
			return Failed, "no echo after the flood"
		}
		return OK, fmt.Sprintf("all %d pongs", n)
	}
	return NonStrict, fmt.Sprintf("%d of %d pings answered, connection kept open", got, n)
}

func halfOpen(tg Target) (Grade, string) {
	if tg.LivenessAddr == "" {
		return Informational, "no liveness server configured"
	}
	c, err := Dial(tg.LivenessAddr, DialOptions{Path: tg.Path})
	if err != nil {
		return Failed, err.Error()
	}
	defer c.Close()
	start := time.Now()
	bound := 2*tg.Liveness + tg.CloseTimeout + 2*time.Second
	if !c.WaitDone(bound) {
		return Failed, fmt.Sprintf("a silent client is still connected after %v", bound)
	}
	took := time.Since(start)
	if took < tg.Liveness/2 {
		return Failed, fmt.Sprintf("closed after %v, sooner than the liveness timeout %v", took, tg.Liveness)
	}
	pings := 0
	for _, e := range c.Events() {
		switch e.Kind {
		case EvPing:
			pings++
		case EvBadFrame:
			return Failed, e.Err.Error()
		}
	}
	return OK, fmt.Sprintf("closed after %v (%d pings unanswered)", took.Round(time.Millisecond), pings)
}
