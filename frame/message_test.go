package frame

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unsafe"
)

// dsWire turns protocol.md notation into wire bytes: | is 0x1F, + is 0x1E.
func dsWire(s string) []byte {
	return []byte(strings.NewReplacer("|", "\x1f", "+", "\x1e").Replace(s))
}

// dsMsg is a parsed message copied out of its buffer, for comparisons.
type dsMsg struct {
	raw       string
	topic     Topic
	action    Action
	topicRaw  string
	actionRaw string
	data      []string
	err       error
}

func (m dsMsg) String() string {
	return strings.NewReplacer("\x1f", "|", "\x1e", "+").Replace(m.raw)
}

// dsWithin reports whether s lies inside buf, capacity included.
func dsWithin(buf, s []byte) bool {
	if cap(s) == 0 {
		return true
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= base && p+uintptr(cap(s)) <= base+uintptr(cap(buf))
}

// dsTight reports whether s lies inside buf[:len(buf)] with no spare capacity
// reaching beyond its own length (so appending to s cannot clobber input).
func dsTight(buf, s []byte) bool {
	if len(s) == 0 {
		return cap(s) == 0 || dsWithin(buf, s)
	}
	return cap(s) == len(s) && dsWithin(buf[:len(buf):len(buf)], s)
}

// dsCollect runs Next and Parse over payload, checking on the way that every
// slice they return lies within payload.
func dsCollect(t *testing.T, payload []byte) []dsMsg {
	t.Helper()
	var out []dsMsg
	var m Message
	rest := payload
	for {
		chunk, r, ok := Next(rest)
		if !ok {
			if len(r) != 0 || chunk != nil {
				t.Fatalf("Next returned !ok with chunk %q rest %q", chunk, r)
			}
			break
		}
		if !dsTight(payload, chunk) || !dsWithin(payload, r) {
			t.Fatalf("Next returned slices outside the payload")
		}
		if len(r) >= len(rest) {
			t.Fatalf("Next made no progress")
		}
		rest = r
		err := m.Parse(chunk)
		for _, s := range append([][]byte{m.Raw, m.TopicRaw, m.ActionRaw}, m.Data...) {
			if !dsTight(payload, s) {
				t.Fatalf("Parse(%q) returned a slice outside the payload or with spare capacity", chunk)
			}
		}
		d := dsMsg{
			raw: string(m.Raw), topic: m.Topic, action: m.Action,
			topicRaw: string(m.TopicRaw), actionRaw: string(m.ActionRaw), err: err,
		}
		for _, p := range m.Data {
			d.data = append(d.data, string(p))
		}
		out = append(out, d)
	}
	return out
}

// dsReference parses payload the way the 3.x server's JavaScript does
// (split, skip short chunks by UTF-16 length, split, look up), written
// naively and independently of message.go, with this package's folding of
// parts beyond MaxParts.
func dsReference(payload []byte) []dsMsg {
	actions := map[string]Action{}
	for _, a := range dsClientActions {
		actions[a.code] = a.want
	}
	topics := map[string]Topic{}
	for _, tp := range dsClientTopics {
		topics[tp.code] = tp.want
	}
	var out []dsMsg
	for _, c := range strings.Split(string(payload), "\x1e") {
		if len(utf16.Encode([]rune(c))) < 3 {
			continue
		}
		parts := strings.Split(c, "\x1f")
		if len(parts) > MaxParts {
			parts = append(parts[:MaxParts-1:MaxParts-1], strings.Join(parts[MaxParts-1:], "\x1f"))
		}
		d := dsMsg{raw: c, topicRaw: parts[0], topic: topics[parts[0]]}
		if len(parts) < 2 {
			d.err = ErrTooFewParts
			out = append(out, d)
			continue
		}
		d.actionRaw = parts[1]
		d.action = actions[parts[1]]
		if len(parts) > 2 {
			d.data = parts[2:]
		}
		switch {
		case d.action == ActionUnknown:
			d.err = ErrUnknownAction
		case d.topic == TopicUnknown:
			d.err = ErrUnknownTopic
		}
		out = append(out, d)
	}
	return out
}

func dsEqual(a, b []dsMsg) bool {
	return slices.EqualFunc(a, b, func(x, y dsMsg) bool {
		return x.raw == y.raw && x.topic == y.topic && x.action == y.action &&
			x.topicRaw == y.topicRaw && x.actionRaw == y.actionRaw &&
			slices.Equal(x.data, y.data) && errors.Is(x.err, y.err) && errors.Is(y.err, x.err)
	})
}

// dsShapes is every message shape of protocol.md sections 3 to 7, written as
// there, with the topic, action and data parts it must parse into.
var dsShapes = []struct {
	wire   string
	topic  Topic
	action Action
	data   []string
}{
	// 3.2 handshake, 3.3 auth, 3.4 heartbeat.
	{"C|CH+", TopicConnection, ActionChallenge, nil},
	{"C|CHR|ws://127.0.0.1:6020/deepstream+", TopicConnection, ActionChallengeResponse, []string{"ws://127.0.0.1:6020/deepstream"}},
	{"C|A+", TopicConnection, ActionAck, nil},
	{`A|REQ|{"username":"alice","password":"ok"}+`, TopicAuth, ActionRequest, []string{`{"username":"alice","password":"ok"}`}},
	{`A|A|O{"favouriteColour":"red"}+`, TopicAuth, ActionAck, []string{`O{"favouriteColour":"red"}`}},
	{"A|A|L+", TopicAuth, ActionAck, []string{"L"}},
	{"C|REJ+", TopicConnection, ActionRejection, nil},
	{"C|RED|ws://other:6020/deepstream+", TopicConnection, ActionRedirect, []string{"ws://other:6020/deepstream"}},
	{"C|E|INVALID_MESSAGE|invalid connection message+", TopicConnection, ActionError, []string{"INVALID_MESSAGE", "invalid connection message"}},
	{"C|E|UNKNOWN_ACTION|unknown action X+", TopicConnection, ActionError, []string{"UNKNOWN_ACTION", "unknown action X"}},
	{"A|E|INVALID_AUTH_DATA|U+", TopicAuth, ActionError, []string{"INVALID_AUTH_DATA", "U"}},
	{"A|E|TOO_MANY_AUTH_ATTEMPTS|Stoo many authentication attempts+", TopicAuth, ActionError, []string{"TOO_MANY_AUTH_ATTEMPTS", "Stoo many authentication attempts"}},
	{"A|REQ|notjson+", TopicAuth, ActionRequest, []string{"notjson"}},
	{"A|E|INVALID_AUTH_MSG|invalid authentication message+", TopicAuth, ActionError, []string{"INVALID_AUTH_MSG", "invalid authentication message"}},
	{"C|E|CONNECTION_AUTHENTICATION_TIMEOUT|Sconnection has not authenticated successfully in the expected time+", TopicConnection, ActionError, []string{"CONNECTION_AUTHENTICATION_TIMEOUT", "Sconnection has not authenticated successfully in the expected time"}},
	{"C|PI+", TopicConnection, ActionPing, nil},
	{"C|PO+", TopicConnection, ActionPong, nil},
	// 3.5 generic errors (the well-formed ones; malformed inputs are in TestParseErrors).
	{"X|E|UNKNOWN_TOPIC|B+", TopicError, ActionError, []string{"UNKNOWN_TOPIC", "B"}},
	{"X|E|MESSAGE_PARSE_ERROR|null+", TopicError, ActionError, []string{"MESSAGE_PARSE_ERROR", "null"}},
	{"E|S+", TopicEvent, ActionSubscribe, nil},
	{"E|E|MESSAGE_PERMISSION_ERROR||S+", TopicEvent, ActionError, []string{"MESSAGE_PERMISSION_ERROR", "", "S"}},
	// 4 events and listening.
	{"E|S|news+", TopicEvent, ActionSubscribe, []string{"news"}},
	{"E|A|S|news+", TopicEvent, ActionAck, []string{"S", "news"}},
	{`E|EVT|news|O{"a":1}+`, TopicEvent, ActionEvent, []string{"news", `O{"a":1}`}},
	{"E|EVT|news+", TopicEvent, ActionEvent, []string{"news"}},
	{"E|US|news+", TopicEvent, ActionUnsubscribe, []string{"news"}},
	{"E|A|US|news+", TopicEvent, ActionAck, []string{"US", "news"}},
	{"E|E|MULTIPLE_SUBSCRIPTIONS|news+", TopicEvent, ActionError, []string{"MULTIPLE_SUBSCRIPTIONS", "news"}},
	{"E|E|NOT_SUBSCRIBED|other+", TopicEvent, ActionError, []string{"NOT_SUBSCRIBED", "other"}},
	{"E|L|news/.*+", TopicEvent, ActionListen, []string{"news/.*"}},
	{"E|A|L|news/.*+", TopicEvent, ActionAck, []string{"L", "news/.*"}},
	{"E|SP|news/.*|news/sport+", TopicEvent, ActionSubscriptionForPatternFound, []string{"news/.*", "news/sport"}},
	{"E|LA|news/.*|news/sport+", TopicEvent, ActionListenAccept, []string{"news/.*", "news/sport"}},
	{"E|LR|news/.*|news/sport+", TopicEvent, ActionListenReject, []string{"news/.*", "news/sport"}},
	{"E|SR|news/.*|news/sport+", TopicEvent, ActionSubscriptionForPatternRemoved, []string{"news/.*", "news/sport"}},
	{"E|UL|news/.*+", TopicEvent, ActionUnlisten, []string{"news/.*"}},
	{"E|A|UL|news/.*+", TopicEvent, ActionAck, []string{"UL", "news/.*"}},
	{"E|EVT|news|Sa+", TopicEvent, ActionEvent, []string{"news", "Sa"}},
	// 5 records.
	{"R|CR|user/1+", TopicRecord, ActionCreateOrRead, []string{"user/1"}},
	{"R|A|S|user/1+", TopicRecord, ActionAck, []string{"S", "user/1"}},
	{"R|R|user/1|0|{}+", TopicRecord, ActionRead, []string{"user/1", "0", "{}"}},
	{"R|E|MESSAGE_DENIED|denied/1|C+", TopicRecord, ActionError, []string{"MESSAGE_DENIED", "denied/1", "C"}},
	{"R|E|MESSAGE_DENIED|name|R+", TopicRecord, ActionError, []string{"MESSAGE_DENIED", "name", "R"}},
	{"R|E|CACHE_RETRIEVAL_TIMEOUT|name+", TopicRecord, ActionError, []string{"CACHE_RETRIEVAL_TIMEOUT", "name"}},
	{`R|U|user/1|1|{"name":"Alice","tags":["x"]}+`, TopicRecord, ActionUpdate, []string{"user/1", "1", `{"name":"Alice","tags":["x"]}`}},
	{"R|P|user/1|2|age|N33+", TopicRecord, ActionPatch, []string{"user/1", "2", "age", "N33"}},
	{"R|P|user/1|3|address.city|SB+", TopicRecord, ActionPatch, []string{"user/1", "3", "address.city", "SB"}},
	{"R|P|user/1|4|tags[1]|Sy+", TopicRecord, ActionPatch, []string{"user/1", "4", "tags[1]", "Sy"}},
	{"R|E|INVALID_MESSAGE_DATA|R|U|rec1|1|notjson+", TopicRecord, ActionError, []string{"INVALID_MESSAGE_DATA", "R", "U", "rec1", "1", "notjson"}},
	{"R|E|RECORD_UPDATE_ERROR|1+", TopicRecord, ActionError, []string{"RECORD_UPDATE_ERROR", "1"}},
	{"R|E|INVALID_VERSION|name|v+", TopicRecord, ActionError, []string{"INVALID_VERSION", "name", "v"}},
	{`R|P|user/1|5|age|N34|{"writeSuccess":true}+`, TopicRecord, ActionPatch, []string{"user/1", "5", "age", "N34", `{"writeSuccess":true}`}},
	{"R|WA|user/1|[5]|L+", TopicRecord, ActionWriteAck, []string{"user/1", "[5]", "L"}},
	{"R|WA|happyRecord|[103]|SError writing record to storage+", TopicRecord, ActionWriteAck, []string{"happyRecord", "[103]", "SError writing record to storage"}},
	{`R|CU|other/1|-1|{"x":1}|{"writeSuccess":true}+`, TopicRecord, ActionCreateAndUpdate, []string{"other/1", "-1", `{"x":1}`, `{"writeSuccess":true}`}},
	{"R|CU|other/1|-1|y|N2|{}+", TopicRecord, ActionCreateAndUpdate, []string{"other/1", "-1", "y", "N2", "{}"}},
	{"R|E|VERSION_EXISTS|rec1|0|{}+", TopicRecord, ActionError, []string{"VERSION_EXISTS", "rec1", "0", "{}"}},
	{`R|E|VERSION_EXISTS|user/1|7|{"whole":true,"conflict":"fromA"}+`, TopicRecord, ActionError, []string{"VERSION_EXISTS", "user/1", "7", `{"whole":true,"conflict":"fromA"}`}},
	{"R|H|nope/1+", TopicRecord, ActionHas, []string{"nope/1"}},
	{"R|H|nope/1|F+", TopicRecord, ActionHas, []string{"nope/1", "F"}},
	{"R|SN|other/1+", TopicRecord, ActionSnapshot, []string{"other/1"}},
	{"R|E|SN|nope/1|RECORD_NOT_FOUND+", TopicRecord, ActionError, []string{"SN", "nope/1", "RECORD_NOT_FOUND"}},
	{"R|HD|other/1+", TopicRecord, ActionHead, []string{"other/1"}},
	{"R|HD|other/1|2+", TopicRecord, ActionHead, []string{"other/1", "2"}},
	{"R|US|user/1+", TopicRecord, ActionUnsubscribe, []string{"user/1"}},
	{"R|A|US|user/1+", TopicRecord, ActionAck, []string{"US", "user/1"}},
	{"R|D|user/1+", TopicRecord, ActionDelete, []string{"user/1"}},
	{"R|A|D|user/1+", TopicRecord, ActionAck, []string{"D", "user/1"}},
	{"R|E|RECORD_DELETE_ERROR|cache timeout|storage timeout|err+", TopicRecord, ActionError, []string{"RECORD_DELETE_ERROR", "cache timeout", "storage timeout", "err"}},
	{`R|U|list/1|2|["user/1","user/2"]+`, TopicRecord, ActionUpdate, []string{"list/1", "2", `["user/1","user/2"]`}},
	{"R|L|feed/.*+", TopicRecord, ActionListen, []string{"feed/.*"}},
	{"R|SP|feed/.*|feed/1+", TopicRecord, ActionSubscriptionForPatternFound, []string{"feed/.*", "feed/1"}},
	{"R|SH|feed/1|T+", TopicRecord, ActionSubscriptionHasProvider, []string{"feed/1", "T"}},
	{"R|SR|feed/.*|feed/1+", TopicRecord, ActionSubscriptionForPatternRemoved, []string{"feed/.*", "feed/1"}},
	// 6 RPC.
	{"P|S|add+", TopicRPC, ActionSubscribe, []string{"add"}},
	{"P|A|S|add+", TopicRPC, ActionAck, []string{"S", "add"}},
	{`P|REQ|add|mwrk1|O{"a":1,"b":2}+`, TopicRPC, ActionRequest, []string{"add", "mwrk1", `O{"a":1,"b":2}`}},
	{"P|A|REQ|add|mwrk1+", TopicRPC, ActionAck, []string{"REQ", "add", "mwrk1"}},
	{"P|RES|add|mwrk1|N3+", TopicRPC, ActionResponse, []string{"add", "mwrk1", "N3"}},
	{"P|E|nope|fail|id1+", TopicRPC, ActionError, []string{"nope", "fail", "id1"}},
	{"P|REJ|rej|id1+", TopicRPC, ActionRejection, []string{"rej", "id1"}},
	{"P|E|NO_RPC_PROVIDER|none|id1+", TopicRPC, ActionError, []string{"NO_RPC_PROVIDER", "none", "id1"}},
	{"P|E|ACK_TIMEOUT|slow|cid1+", TopicRPC, ActionError, []string{"ACK_TIMEOUT", "slow", "cid1"}},
	{"P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc slow with action RES+", TopicRPC, ActionError, []string{"INVALID_RPC_CORRELATION_ID", "unexpected state for rpc slow with action RES"}},
	{`P|E|MESSAGE_DENIED|admin/x|REQ|c1|O{"firstname":1}+`, TopicRPC, ActionError, []string{"MESSAGE_DENIED", "admin/x", "REQ", "c1", `O{"firstname":1}`}},
	// 7 presence.
	{"U|PNJ|alice+", TopicPresence, ActionPresenceJoin, []string{"alice"}},
	{"U|PNL|alice+", TopicPresence, ActionPresenceLeave, []string{"alice"}},
	{"U|S|S+", TopicPresence, ActionSubscribe, []string{"S"}},
	{"U|A|S|S+", TopicPresence, ActionAck, []string{"S", "S"}},
	{"U|US|US+", TopicPresence, ActionUnsubscribe, []string{"US"}},
	{"U|Q|Q+", TopicPresence, ActionQuery, []string{"Q"}},
	{"U|Q|bob|carol+", TopicPresence, ActionQuery, []string{"bob", "carol"}},
	{"U|Q+", TopicPresence, ActionQuery, nil},
	{`U|S|1|["carol"]+`, TopicPresence, ActionSubscribe, []string{"1", `["carol"]`}},
	{`U|Q|2|{"bob":true,"carol":false}+`, TopicPresence, ActionQuery, []string{"2", `{"bob":true,"carol":false}`}},
	{"U|E|INVALID_PRESENCE_USERS|users are required to be a json array of usernames+", TopicPresence, ActionError, []string{"INVALID_PRESENCE_USERS", "users are required to be a json array of usernames"}},
}

func TestParseShapes(t *testing.T) {
	for _, tc := range dsShapes {
		payload := dsWire(tc.wire)
		got := dsCollect(t, payload)
		if len(got) != 1 {
			t.Errorf("%s: %d messages, want 1", tc.wire, len(got))
			continue
		}
		m := got[0]
		want := string(payload[:len(payload)-1])
		if m.err != nil || m.topic != tc.topic || m.action != tc.action || m.raw != want ||
			m.topicRaw != tc.topic.String() || m.actionRaw != tc.action.String() ||
			!slices.Equal(m.data, tc.data) {
			t.Errorf("%s: got %v %v/%v %q err=%v; want %v/%v %q", tc.wire, m, m.topic, m.action, m.data, m.err, tc.topic, tc.action, tc.data)
		}
	}
}

// TestParseFrame checks framing: several messages per frame, short chunks,
// missing final separators and trailing garbage.
func TestParseFrame(t *testing.T) {
	type w = dsMsg
	ev := func(raw string, data ...string) w {
		return w{raw: string(dsWire(raw)), topic: TopicEvent, action: ActionEvent, topicRaw: "E", actionRaw: "EVT", data: data}
	}
	for _, tc := range []struct {
		name    string
		payload string
		want    []w
	}{
		{"empty", "", nil},
		{"only separators", "++++", nil},
		{"short chunks", "a+ab+|+||+E|+é+éé+€+😀+", nil},
		{"coalesced broadcast", "E|EVT|news|Sa+E|EVT|news|Sb+E|EVT|news|Sc+",
			[]w{ev("E|EVT|news|Sa", "news", "Sa"), ev("E|EVT|news|Sb", "news", "Sb"), ev("E|EVT|news|Sc", "news", "Sc")}},
		{"short chunks between", "++E|EVT|a+xy+E|EVT|b++",
			[]w{ev("E|EVT|a", "a"), ev("E|EVT|b", "b")}},
		{"no final separator", "E|EVT|a+E|EVT|b",
			[]w{ev("E|EVT|a", "a"), ev("E|EVT|b", "b")}},
		{"short trailing garbage", "E|EVT|a|Sx+zz", []w{ev("E|EVT|a|Sx", "a", "Sx")}},
		{"long trailing garbage", "E|EVT|a+garbage", []w{
			ev("E|EVT|a", "a"),
			{raw: "garbage", topicRaw: "garbage", err: ErrTooFewParts},
		}},
		{"three units parse", "😀a+abc+E|S", []w{
			{raw: "😀a", topicRaw: "😀a", err: ErrTooFewParts},
			{raw: "abc", topicRaw: "abc", err: ErrTooFewParts},
			{raw: string(dsWire("E|S")), topic: TopicEvent, action: ActionSubscribe, topicRaw: "E", actionRaw: "S"},
		}},
		{"errors do not stop the frame", "B|R|x+R|XXX|x+E|S|news+", []w{
			{raw: string(dsWire("B|R|x")), topicRaw: "B", action: ActionRead, actionRaw: "R", data: []string{"x"}, err: ErrUnknownTopic},
			{raw: string(dsWire("R|XXX|x")), topic: TopicRecord, topicRaw: "R", actionRaw: "XXX", data: []string{"x"}, err: ErrUnknownAction},
			{raw: string(dsWire("E|S|news")), topic: TopicEvent, action: ActionSubscribe, topicRaw: "E", actionRaw: "S", data: []string{"news"}},
		}},
		{"empty parts", "E|EVT||+||S|+", []w{
			{raw: string(dsWire("E|EVT||")), topic: TopicEvent, action: ActionEvent, topicRaw: "E", actionRaw: "EVT", data: []string{"", ""}},
			{raw: string(dsWire("||S|")), actionRaw: "", data: []string{"S", ""}, err: ErrUnknownAction},
		}},
	} {
		got := dsCollect(t, dsWire(tc.payload))
		if !dsEqual(got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
		if ref := dsReference(dsWire(tc.payload)); !dsEqual(ref, tc.want) {
			t.Errorf("%s: the reference parser disagrees with the table: %+v", tc.name, ref)
		}
	}
}

// TestParseErrors checks the malformed inputs of protocol.md section 3.5 and
// that the fields the error reply needs are set.
func TestParseErrors(t *testing.T) {
	var m Message
	for _, tc := range []struct {
		in                  string
		err                 error
		topicRaw, actionRaw string
		topic               Topic
	}{
		{"B|R|x", ErrUnknownTopic, "B", "R", TopicUnknown},      // X|E|UNKNOWN_TOPIC|B
		{"R|XXX|x", ErrUnknownAction, "R", "XXX", TopicRecord},  // X|E|MESSAGE_PARSE_ERROR|null
		{"B|XXX|x", ErrUnknownAction, "B", "XXX", TopicUnknown}, // the action is checked first, as on 3.x
		{"garbage", ErrTooFewParts, "garbage", "", TopicUnknown},
		{"E|LSN|x", ErrUnknownAction, "E", "LSN", TopicEvent}, // 3.x internal action
		{"e|evt|x", ErrUnknownAction, "e", "evt", TopicUnknown},
	} {
		err := m.Parse(dsWire(tc.in))
		if err != tc.err {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, err, tc.err)
		}
		if string(m.TopicRaw) != tc.topicRaw || string(m.ActionRaw) != tc.actionRaw || m.Topic != tc.topic ||
			string(m.Raw) != string(dsWire(tc.in)) {
			t.Errorf("Parse(%q): topic %q (%v) action %q raw %q", tc.in, m.TopicRaw, m.Topic, m.ActionRaw, m.Raw)
		}
		if tc.err == ErrTooFewParts && (m.ActionRaw != nil || m.Data != nil || m.Action != ActionUnknown) {
			t.Errorf("Parse(%q): stale action or data after ErrTooFewParts", tc.in)
		}
	}
}

// TestParseFoldsTail checks the MaxParts rule: the last data part keeps the
// whole tail.
func TestParseFoldsTail(t *testing.T) {
	parts := []string{"E", "EVT"}
	for i := range 20 {
		parts = append(parts, "p"+string(rune('a'+i)))
	}
	chunk := []byte(strings.Join(parts, "\x1f"))
	var m Message
	if err := m.Parse(chunk); err != nil {
		t.Fatal(err)
	}
	if len(m.Data) != MaxParts-2 {
		t.Fatalf("%d data parts, want %d", len(m.Data), MaxParts-2)
	}
	for i, p := range m.Data[:len(m.Data)-1] {
		if string(p) != parts[i+2] {
			t.Errorf("data[%d] = %q, want %q", i, p, parts[i+2])
		}
	}
	if got, want := string(m.Data[len(m.Data)-1]), strings.Join(parts[MaxParts-1:], "\x1f"); got != want {
		t.Errorf("folded tail = %q, want %q", got, want)
	}

	// Exactly MaxParts parts: no folding.
	chunk = []byte(strings.Join(parts[:MaxParts], "\x1f"))
	if err := m.Parse(chunk); err != nil || len(m.Data) != MaxParts-2 || string(m.Data[MaxParts-3]) != parts[MaxParts-1] {
		t.Errorf("MaxParts parts: err %v, data %q", err, m.Data)
	}
}

// TestParseReuse checks that a reused Message carries nothing over and that
// its slices cannot write into the input.
func TestParseReuse(t *testing.T) {
	var m Message
	if err := m.Parse(dsWire("R|P|user/1|2|age|N33")); err != nil {
		t.Fatal(err)
	}
	long := m.n
	payload := dsWire("E|S|news+E|EVT|news|Sx+")
	chunk, _, _ := Next(payload)
	if err := m.Parse(chunk); err != nil {
		t.Fatal(err)
	}
	if len(m.Data) != 1 || string(m.Data[0]) != "news" {
		t.Fatalf("data %q", m.Data)
	}
	for i := m.n; i < long; i++ {
		if m.parts[i] != nil {
			t.Errorf("part %d still references the previous message", i)
		}
	}
	m.Data[0] = append(m.Data[0], "XXXX"...)
	m.Raw = append(m.Raw, 'Z')
	if !bytes.Equal(payload, dsWire("E|S|news+E|EVT|news|Sx+")) {
		t.Errorf("appending to parsed slices changed the payload: %q", payload)
	}
}

func TestBuilders(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{AppendHeader(nil, TopicEvent, ActionEvent), "E|EVT"},
		{AppendPart(dsWire("x"), []byte("y")), "x|y"},
		{AppendPartString(nil, "y"), "|y"},
		{EndMessage(dsWire("C|PI")), "C|PI+"},
		{AppendMessage(nil, TopicConnection, ActionPing), "C|PI+"},
		{AppendMessage(nil, TopicEvent, ActionEvent, []byte("news"), []byte(`O{"a":1}`)), `E|EVT|news|O{"a":1}+`},
		{AppendMessage(dsWire("C|CH+"), TopicRecord, ActionRead, []byte("user/1"), []byte("0"), []byte("{}")), "C|CH+R|R|user/1|0|{}+"},
		{AppendError(nil, TopicEvent, EvMessagePermissionError, nil, []byte("S")), "E|E|MESSAGE_PERMISSION_ERROR||S+"},
		{AppendError(nil, TopicError, EvUnknownTopic, []byte("B")), "X|E|UNKNOWN_TOPIC|B+"},
		{AppendError(nil, TopicRecord, EvMessageDenied, []byte("denied/1"), []byte(ActionCreate.String())), "R|E|MESSAGE_DENIED|denied/1|C+"},
		{AppendError(nil, TopicRecord, EvRecordNotFound), "R|E|RECORD_NOT_FOUND+"},
		{AppendErrorString(nil, TopicConnection, EvInvalidMessage, "invalid connection message"), "C|E|INVALID_MESSAGE|invalid connection message+"},
		{AppendErrorString(nil, TopicError, EvMessageParseError, "null"), "X|E|MESSAGE_PARSE_ERROR|null+"},
	} {
		if string(tc.got) != string(dsWire(tc.want)) {
			t.Errorf("got %q, want %q", tc.got, dsWire(tc.want))
		}
	}
}

// TestBuildParseRoundTrip builds every topic/action pair with several data
// shapes into one frame and parses it back.
func TestBuildParseRoundTrip(t *testing.T) {
	datas := [][][]byte{
		nil,
		{[]byte("news")},
		{[]byte(""), []byte("S")},
		{[]byte("user/1"), []byte("2"), []byte("age"), []byte("N33"), []byte(`{"writeSuccess":true}`)},
	}
	var frame []byte
	var want []dsMsg
	for _, tp := range dsClientTopics {
		for _, a := range dsClientActions {
			for _, d := range datas {
				frame = AppendMessage(frame, tp.want, a.want, d...)
				m := dsMsg{topic: tp.want, action: a.want, topicRaw: tp.code, actionRaw: a.code}
				m.raw = tp.code + "\x1f" + a.code
				for _, p := range d {
					m.data = append(m.data, string(p))
					m.raw += "\x1f" + string(p)
				}
				want = append(want, m)
			}
		}
	}
	if got := dsCollect(t, frame); !dsEqual(got, want) {
		t.Fatalf("round trip: %d messages, want %d", len(got), len(want))
	}
}

func TestMessageZeroAlloc(t *testing.T) {
	frame := dsTenMessages()
	buf := make([]byte, 0, 256)
	name, data := []byte("news"), []byte(`O{"a":1}`)
	var m Message
	var n int
	allocs := testing.AllocsPerRun(100, func() {
		for p := frame; ; {
			chunk, rest, ok := Next(p)
			if !ok {
				break
			}
			p = rest
			if m.Parse(chunk) == nil {
				n += len(m.Data)
			}
		}
		buf = AppendMessage(buf[:0], TopicEvent, ActionEvent, name, data)
		buf = AppendHeader(buf, TopicRPC, ActionResponse)
		buf = AppendPartString(buf, "add")
		buf = AppendPart(buf, name)
		buf = EndMessage(buf)
		buf = AppendError(buf, TopicEvent, EvMessagePermissionError, nil, []byte("S"))
		buf = AppendErrorString(buf, TopicConnection, EvInvalidMessage, "invalid connection message")
	})
	if allocs != 0 {
		t.Fatalf("Next/Parse/builders: %v allocs per run, want 0", allocs)
	}
	if n == 0 {
		t.Fatal("nothing parsed")
	}
}

func dsTenMessages() []byte {
	var b []byte
	for i := range 10 {
		b = append(b, dsWire(`E|EVT|news|O{"a":`)...)
		b = append(b, byte('0'+i), '}', MessageSeparator)
	}
	return b
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name    string
		payload []byte
	}{
		{"event", dsWire(`E|EVT|news|O{"a":1}+`)},
		{"frame10", dsTenMessages()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var m Message
			b.SetBytes(int64(len(bc.payload)))
			b.ReportAllocs()
			for b.Loop() {
				for p := bc.payload; ; {
					chunk, rest, ok := Next(p)
					if !ok {
						break
					}
					p = rest
					if err := m.Parse(chunk); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	buf := make([]byte, 0, 64)
	name, data := []byte("news"), []byte(`O{"a":1}`)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], TopicEvent, ActionEvent, name, data)
	}
}

// FuzzMessage feeds payloads (valid multi-message frames in the seeds, then
// anything) to Next and Parse. It checks that they never panic, that every
// slice they return lies within the buffer they were given, that they agree
// with the naive reference parser, and that splitting a payload into
// separately parsed buffers at random points never panics, while splitting it
// at message boundaries yields exactly the messages of the whole payload.
func FuzzMessage(f *testing.F) {
	for i, tc := range dsShapes {
		f.Add(dsWire(tc.wire), uint64(i))
	}
	var all []byte
	for _, tc := range dsShapes {
		all = append(all, dsWire(tc.wire)...)
	}
	f.Add(all, uint64(1))
	f.Add(dsTenMessages(), uint64(2))
	f.Add(dsWire("B|R|x+R|XXX|x+garbage+E|S+xy+😀a+E|EVT|a"), uint64(3))
	f.Add(dsWire(strings.Repeat("E|EVT|x|", 10)+"y+"), uint64(4))
	f.Fuzz(func(t *testing.T, payload []byte, seed uint64) {
		whole := dsCollect(t, payload)
		if ref := dsReference(payload); !dsEqual(whole, ref) {
			t.Fatalf("payload %q:\n got %+v\nwant %+v", payload, whole, ref)
		}

		r := rand.New(rand.NewPCG(seed, seed>>32))
		cuts := []int{0}
		for range r.IntN(6) {
			cuts = append(cuts, r.IntN(len(payload)+1))
		}
		cuts = append(cuts, len(payload))
		slices.Sort(cuts)

		// Arbitrary cuts: each piece in its own buffer must parse safely.
		for i := 1; i < len(cuts); i++ {
			dsCollect(t, bytes.Clone(payload[cuts[i-1]:cuts[i]]))
		}

		// Cuts moved to the next message boundary: same messages.
		aligned := []int{0}
		for _, c := range cuts[1:] {
			if j := bytes.IndexByte(payload[c:], MessageSeparator); j >= 0 {
				c += j + 1
			} else {
				c = len(payload)
			}
			if c > aligned[len(aligned)-1] {
				aligned = append(aligned, c)
			}
		}
		var joined []dsMsg
		for i := 1; i < len(aligned); i++ {
			joined = append(joined, dsCollect(t, bytes.Clone(payload[aligned[i-1]:aligned[i]]))...)
		}
		if !dsEqual(joined, whole) {
			t.Fatalf("payload %q cut at %v: got %+v\nwant %+v", payload, aligned, joined, whole)
		}
	})
}
