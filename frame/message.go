package frame

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// Separators and limits of the deepstream text protocol (protocol.md section 2).
const (
	// PartSeparator (ASCII unit separator) sits between the parts of a message.
	PartSeparator = 0x1F
	// MessageSeparator (ASCII record separator) ends each message of a frame.
	MessageSeparator = 0x1E
	// MaxParts is the number of parts (topic and action included) Parse keeps
	// apart; see Message.Parse for what happens to the rest.
	MaxParts = 16
)

// Parse errors. The server answers all three with X|E|MESSAGE_PARSE_ERROR or,
// for ErrUnknownTopic, X|E|UNKNOWN_TOPIC|<topic> (protocol.md section 3.5).
var (
	ErrTooFewParts   = errors.New("frame: message has fewer than 2 parts")
	ErrUnknownAction = errors.New("frame: unknown action")
	ErrUnknownTopic  = errors.New("frame: unknown topic")
)

// Message is one parsed message. All slices alias the chunk given to Parse
// (nothing is copied), so a Message is valid only as long as that chunk is;
// each slice's capacity ends where the slice ends, so appending to one never
// overwrites the input. A Message is owned by one goroutine (the connection's
// loop); it is meant to be reused for every message, which costs nothing.
type Message struct {
	Raw       []byte   // the whole message without its trailing 0x1E
	Topic     Topic    // TopicUnknown when TopicRaw is not a known topic
	Action    Action   // ActionUnknown when ActionRaw is not a known action
	TopicRaw  []byte   // part 0, verbatim
	ActionRaw []byte   // part 1, verbatim (nil when the message has one part)
	Data      [][]byte // parts 2 and up; backed by parts, so no allocation

	parts [MaxParts][]byte
	n     int // parts in use, so Parse can drop stale references
}

// Next returns the next message chunk of payload (without its 0x1E) and the
// rest of payload after it. Chunks shorter than 3 characters are skipped, as
// both the 3.x server and the 2.3.4 client do; "characters" are JavaScript
// string units (UTF-16), so a lone "é" or "€" is skipped although it is 2 or 3
// bytes long. A last chunk without a trailing 0x1E is still returned, as the
// server's split would. ok is false when no chunk is left. chunk and rest
// alias payload. It does not allocate. Safe for concurrent use.
func Next(payload []byte) (chunk, rest []byte, ok bool) {
	for len(payload) > 0 {
		if i := bytes.IndexByte(payload, MessageSeparator); i >= 0 {
			chunk, payload = payload[:i:i], payload[i+1:]
		} else {
			chunk, payload = payload[:len(payload):len(payload)], nil
		}
		if !jsShorterThan3(chunk) {
			return chunk, payload, true
		}
	}
	return nil, nil, false
}

// jsShorterThan3 reports whether JavaScript's s.length for the UTF-8 text c
// would be below 3. Only 3 to 6 bytes need a closer look: below that the
// length is certainly < 3, above it certainly >= 3 (one UTF-16 unit takes at
// most 3 bytes; a 4-byte rune counts as two units).
func jsShorterThan3(c []byte) bool {
	if len(c) < 3 {
		return true
	}
	if len(c) > 6 {
		return false
	}
	units := 0
	for i := 0; i < len(c); {
		if c[i] < utf8.RuneSelf {
			units++
			i++
			continue
		}
		r, size := utf8.DecodeRune(c[i:])
		if r > 0xFFFF {
			units += 2
		} else {
			units++ // includes utf8.RuneError: one replacement character
		}
		i += size
	}
	return units < 3
}

// Parse splits chunk (one message as returned by Next) into its parts,
// reusing m; nothing is copied and nothing is allocated. Afterwards m.Raw,
// m.TopicRaw, m.ActionRaw and m.Data are set as far as the input allows, even
// when an error is returned, so the caller can build the error reply.
//
// Errors, checked in the 3.x server's order: ErrTooFewParts when chunk has no
// 0x1F; ErrUnknownAction when part 1 is not in the client 2.3.4 action table;
// ErrUnknownTopic when part 0 is not a client topic (so `B|XXX|x` is a parse
// error and `B|R|x` an unknown topic, as on the 3.x server).
//
// A message with more than MaxParts parts is not an error: the last data part,
// m.Data[MaxParts-3], then holds the whole tail verbatim, 0x1F separators
// included. No client 2.3.4 message has more than 7 parts, so any count check
// a handler makes still fails for such a message, while a raw forward (events,
// RPC) keeps every byte and a client reading a long list (U|Q|names...) can
// split the tail itself.
//
// Must be called by the goroutine that owns m.
func (m *Message) Parse(chunk []byte) error {
	chunk = chunk[:len(chunk):len(chunk)]
	m.Raw = chunk
	n := 0
	rest := chunk
	for n < MaxParts-1 {
		i := bytes.IndexByte(rest, PartSeparator)
		if i < 0 {
			break
		}
		m.parts[n] = rest[:i:i]
		rest = rest[i+1:]
		n++
	}
	m.parts[n] = rest
	n++
	clear(m.parts[n:max(n, m.n)])
	m.n = n

	m.TopicRaw = m.parts[0]
	m.Topic = LookupTopic(m.TopicRaw)
	if n < 2 {
		m.Action, m.ActionRaw, m.Data = ActionUnknown, nil, nil
		return ErrTooFewParts
	}
	m.ActionRaw = m.parts[1]
	m.Action = LookupAction(m.ActionRaw)
	m.Data = m.parts[2:n:n]
	if m.Action == ActionUnknown {
		return ErrUnknownAction
	}
	if m.Topic == TopicUnknown {
		return ErrUnknownTopic
	}
	return nil
}

// The builders below append to dst and return the extended slice, like
// strconv.Append*: they allocate only when dst lacks capacity. They do not
// check their input: the protocol has no escaping, so a part containing 0x1E
// or 0x1F would split differently on the other side; names and values taken
// from parsed messages can never contain them. All builders are safe for
// concurrent use (they touch nothing but dst).

// AppendHeader appends the topic and action codes, e.g. "E" 0x1F "EVT", with
// no separator before or after. Safe for concurrent use.
func AppendHeader(dst []byte, t Topic, a Action) []byte {
	dst = append(dst, t.String()...)
	dst = append(dst, PartSeparator)
	return append(dst, a.String()...)
}

// AppendPart appends 0x1F and p. Safe for concurrent use.
func AppendPart(dst []byte, p []byte) []byte {
	dst = append(dst, PartSeparator)
	return append(dst, p...)
}

// AppendPartString appends 0x1F and p. Safe for concurrent use.
func AppendPartString(dst []byte, p string) []byte {
	dst = append(dst, PartSeparator)
	return append(dst, p...)
}

// EndMessage appends the 0x1E that ends a message. Safe for concurrent use.
func EndMessage(dst []byte) []byte {
	return append(dst, MessageSeparator)
}

// AppendMessage appends a whole message, header, data parts and the final
// 0x1E. The variadic data does not escape, so a call with literal arguments
// builds its slice on the stack and does not allocate. Safe for concurrent use.
func AppendMessage(dst []byte, t Topic, a Action, data ...[]byte) []byte {
	dst = AppendHeader(dst, t, a)
	for _, p := range data {
		dst = AppendPart(dst, p)
	}
	return EndMessage(dst)
}

// AppendError appends the server error message `<t>|E|<event>|<parts...>+`
// (protocol.md section 2), e.g. AppendError(dst, TopicEvent,
// EvMessagePermissionError, nil, []byte("S")) gives
// "E|E|MESSAGE_PERMISSION_ERROR||S+". event is normally one of the Ev
// constants. Safe for concurrent use.
func AppendError(dst []byte, t Topic, event string, parts ...[]byte) []byte {
	dst = AppendHeader(dst, t, ActionError)
	dst = AppendPartString(dst, event)
	for _, p := range parts {
		dst = AppendPart(dst, p)
	}
	return EndMessage(dst)
}

// AppendErrorString appends `<t>|E|<event>|<msg>+`, the common one-text
// error such as "C|E|INVALID_MESSAGE|invalid connection message+". Safe for
// concurrent use.
func AppendErrorString(dst []byte, t Topic, event, msg string) []byte {
	dst = AppendHeader(dst, t, ActionError)
	dst = AppendPartString(dst, event)
	dst = AppendPartString(dst, msg)
	return EndMessage(dst)
}
