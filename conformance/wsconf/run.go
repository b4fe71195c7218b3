package wsconf

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Grade is a case's verdict, as Autobahn reports it.
type Grade string

// Grades. FAILED fails the Go test; the others are recorded so strictness can be tracked over time.
const (
	OK            Grade = "OK"
	NonStrict     Grade = "NON-STRICT"
	Informational Grade = "INFORMATIONAL"
	Failed        Grade = "FAILED"
)

// Target is the server under test.
type Target struct {
	Addr             string        // host:port of the WebSocket server
	Path             string        // upgrade path, e.g. /deepstream
	HealthPath       string        // GET -> 200
	HandshakeTimeout time.Duration // server's handshakeTimeout
	CloseTimeout     time.Duration // server's closeTimeout
	MaxMessageSize   int           // server's maxMessageSize
	MaxFragments     int           // server's maxFragments
	MaxOutboundBytes int           // server's maxOutboundBytes
	// LivenessAddr is a second server with a short heartbeat, for the half-open case ("" skips it).
	LivenessAddr string
	// Liveness is how long LivenessAddr lets a silent client live before closing it.
	Liveness time.Duration
}

// Step is one action of a case: an optional pause, then frames (or raw bytes) written in a mode, then an
// optional wait for the timeline to reach a length.
type Step struct {
	Sleep  time.Duration // wait before the step
	Frames []Frame
	Raw    []byte    // raw bytes written after Frames
	Mode   WriteMode // how Frames are written
	Chop   int       // write size for WriteChopped
	Pause  time.Duration
	Await  int // after writing, wait (up to 2 s) until the timeline holds this many events
	// FailFast marks a step that a strict server never sees because it has already failed the connection:
	// if the server is still open when this step is due, the case grades at best NON-STRICT.
	FailFast bool
}

// Case is one conformance case, written as data.
type Case struct {
	ID    string
	Desc  string
	Steps []Step
	// Expect lists the acceptable sequences of messages and pongs before the close (nil: none at all).
	Expect [][]Event
	// NonStrictExpect lists sequences graded NON-STRICT.
	NonStrictExpect [][]Event
	// Fail says the server must fail the connection: its close frame comes first, with a code in Codes.
	Fail bool
	// Codes are the acceptable close codes from the server (default 1000).
	Codes []int
	// NonStrictCodes are close codes graded NON-STRICT.
	NonStrictCodes []int
	// AllowDrop accepts a TCP close without a close frame when Fail is set.
	AllowDrop bool
	// OwnClose says the steps send the client's close themselves; otherwise the runner sends close 1000
	// after the steps (unless the server has closed).
	OwnClose bool
	// NoCloseEcho stops the client from answering the server's close (close-timeout case).
	NoCloseEcho bool
	// Informational grades the case INFORMATIONAL unless the protocol was broken.
	Informational bool
	// Wait is how long to wait for the close and TCP end after the steps (default 3 s).
	Wait time.Duration
	// Custom replaces the data-driven run for cases that need their own choreography.
	Custom func(Target) (Grade, string)
}

// Result is a graded case.
type Result struct {
	ID       string
	Grade    Grade
	Detail   string
	Timeline []Event
	Took     time.Duration
}

// Run executes c against tg and grades it.
func Run(c Case, tg Target) Result {
	start := time.Now()
	r := Result{ID: c.ID}
	if c.Custom != nil {
		r.Grade, r.Detail = c.Custom(tg)
		r.Took = time.Since(start)
		return r
	}
	conn, err := Dial(tg.Addr, DialOptions{Path: tg.Path, NoCloseEcho: c.NoCloseEcho})
	if err != nil {
		r.Grade, r.Detail = Failed, err.Error()
		return r
	}
	defer conn.Close()
	notStrict := ""
	for i, s := range c.Steps {
		if s.Sleep > 0 {
			pauseFor(s.Sleep)
		}
		if conn.closedByServer() {
			break // a failed connection takes no more input
		}
		if s.FailFast {
			notStrict = fmt.Sprintf("server still open at fail-fast step %d", i+1)
		}
		_ = conn.writeFrames(s.Mode, s.Chop, s.Pause, s.Frames)
		if len(s.Raw) > 0 {
			_ = conn.WriteRaw(s.Raw)
		}
		if s.Await > 0 {
			conn.WaitEvents(s.Await, 2*time.Second)
		}
	}
	wait := c.Wait
	if wait == 0 {
		wait = 3 * time.Second
	}
	if c.Fail {
		conn.WaitClose(wait)
	} else if n := longest(c.Expect); n > 0 && !c.OwnClose {
		// Like Autobahn's delayed close: give the echoes time to arrive before closing.
		conn.WaitEvents(n, wait)
	}
	if !c.OwnClose && !conn.SentClose() && !conn.closedByServer() {
		_ = conn.WriteFrames(WriteAll, 0, Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(1000, ""), MaskKey: [4]byte{1, 2, 3, 4}})
	}
	tcpEnded := conn.WaitDone(wait)
	r.Timeline = conn.Events()
	r.Took = time.Since(start)
	r.Grade, r.Detail = grade(c, r.Timeline, tcpEnded)
	if r.Grade == OK && notStrict != "" {
		r.Grade, r.Detail = NonStrict, notStrict
	}
	if r.Grade == OK && !c.NoCloseEcho {
		if lag, slow := lingered(conn, r.Timeline, tg.CloseTimeout); slow {
			r.Grade, r.Detail = NonStrict, fmt.Sprintf("close handshake complete, but TCP closed only %v later (closeTimeout %v)",
				lag.Round(time.Millisecond), tg.CloseTimeout)
		}
	}
	return r
}

func (c *Conn) closedByServer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return true
	}
	for _, e := range c.events {
		if e.Kind == EvClose {
			return true
		}
	}
	return false
}

func grade(c Case, tl []Event, tcpEnded bool) (Grade, string) {
	var data []Event
	var closeEv *Event
	dropped := false
	for i := range tl {
		e := tl[i]
		switch e.Kind {
		case EvBadFrame:
			return Failed, "server broke the protocol: " + e.Err.Error()
		case EvMessage, EvPong:
			if closeEv != nil {
				return Failed, "server sent " + e.String() + " after its close frame"
			}
			data = append(data, e)
		case EvClose:
			if closeEv == nil {
				closeEv = &tl[i]
			}
		case EvEOF, EvReset:
			if closeEv == nil {
				dropped = true
			}
		}
	}
	if !tcpEnded {
		return Failed, "server did not close TCP in time; timeline " + fmtTimeline(tl)
	}
	g := OK
	switch {
	case matchAny(c.Expect, data):
	case c.NonStrictExpect != nil && matchAny(c.NonStrictExpect, data):
		g = NonStrict
	default:
		if !c.Informational {
			return Failed, fmt.Sprintf("got %s, want %s; timeline %s", fmtTimeline(data), fmtWant(c.Expect), fmtTimeline(tl))
		}
	}
	codes := c.Codes
	if len(codes) == 0 {
		codes = []int{1000}
	}
	switch {
	case dropped && c.Fail && c.AllowDrop:
	case dropped:
		if c.Informational {
			return Informational, "TCP dropped without a close frame"
		}
		return Failed, "TCP dropped without a close frame; timeline " + fmtTimeline(tl)
	case c.Fail && closeEv.ClientClosedFirst:
		return Failed, "server did not fail the connection (client closed first); timeline " + fmtTimeline(tl)
	case slices.Contains(codes, closeEv.Code):
	case slices.Contains(c.NonStrictCodes, closeEv.Code):
		g = NonStrict
	default:
		if c.Informational {
			return Informational, fmt.Sprintf("close code %d", closeEv.Code)
		}
		return Failed, fmt.Sprintf("close code %d, want one of %v", closeEv.Code, codes)
	}
	if c.Informational {
		return Informational, fmtTimeline(tl)
	}
	if g == NonStrict {
		return g, fmtTimeline(tl)
	}
	return OK, ""
}

func matchAny(want [][]Event, got []Event) bool {
	if want == nil {
		return len(got) == 0
	}
	for _, w := range want {
		if matchSeq(w, got) {
			return true
		}
	}
	return false
}

func matchSeq(want, got []Event) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i].Kind != got[i].Kind || !bytes.Equal(want[i].Payload, got[i].Payload) {
			return false
		}
		if want[i].Kind == EvMessage && want[i].Opcode != got[i].Opcode {
			return false
		}
	}
	return true
}

func fmtTimeline(tl []Event) string {
	if len(tl) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range tl {
		if i > 0 {
			b.WriteString(" ")
		}
		if i == 12 && len(tl) > 14 {
			fmt.Fprintf(&b, "... %d more ... ", len(tl)-13)
			e = tl[len(tl)-1]
			b.WriteString(e.String())
			break
		}
		b.WriteString(e.String())
	}
	b.WriteByte(']')
	return b.String()
}

func fmtWant(w [][]Event) string {
	if w == nil {
		return "[]"
	}
	var parts []string
	for _, s := range w {
		parts = append(parts, fmtTimeline(s))
	}
	return strings.Join(parts, " or ")
}

func longest(seqs [][]Event) int {
	n := 0
	for _, s := range seqs {
		n = max(n, len(s))
	}
	return n
}

// lingered reports whether the server kept TCP open for most of its closeTimeout after the close handshake
// was complete (both close frames exchanged): RFC 6455 7.1.1 says the server closes TCP first, at once.
func lingered(c *Conn, tl []Event, closeTimeout time.Duration) (time.Duration, bool) {
	sent, ok := c.SentCloseAt()
	if !ok || closeTimeout <= 0 {
		return 0, false
	}
	var closeAt, endAt time.Duration = -1, -1
	for _, e := range tl {
		switch e.Kind {
		case EvClose:
			if closeAt < 0 {
				closeAt = e.At
			}
		case EvEOF, EvReset:
			endAt = e.At
		}
	}
	if closeAt < 0 || endAt < 0 {
		return 0, false
	}
	lag := endAt - max(sent, closeAt)
	return lag, lag >= closeTimeout*8/10
}
