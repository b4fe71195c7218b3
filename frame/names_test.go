package frame

import (
	"testing"
)

// dsClientActions is the action table of protocol.md section 2 (client 2.3.4
// constants.js), typed in independently of names.go so that a typo in either
// shows up.
var dsClientActions = []struct {
	code, name string
	want       Action
}{
	{"PI", "PING", ActionPing},
	{"PO", "PONG", ActionPong},
	{"A", "ACK", ActionAck},
	{"RED", "REDIRECT", ActionRedirect},
	{"CH", "CHALLENGE", ActionChallenge},
	{"CHR", "CHALLENGE_RESPONSE", ActionChallengeResponse},
	{"R", "READ", ActionRead},
	{"C", "CREATE", ActionCreate},
	{"U", "UPDATE", ActionUpdate},
	{"P", "PATCH", ActionPatch},
	{"D", "DELETE", ActionDelete},
	{"S", "SUBSCRIBE", ActionSubscribe},
	{"US", "UNSUBSCRIBE", ActionUnsubscribe},
	{"H", "HAS", ActionHas},
	{"HD", "HEAD", ActionHead},
	{"SN", "SNAPSHOT", ActionSnapshot},
	{"I", "INVOKE", ActionInvoke},
	{"SP", "SUBSCRIPTION_FOR_PATTERN_FOUND", ActionSubscriptionForPatternFound},
	{"SR", "SUBSCRIPTION_FOR_PATTERN_REMOVED", ActionSubscriptionForPatternRemoved},
	{"SH", "SUBSCRIPTION_HAS_PROVIDER", ActionSubscriptionHasProvider},
	{"L", "LISTEN", ActionListen},
	{"UL", "UNLISTEN", ActionUnlisten},
	{"LA", "LISTEN_ACCEPT", ActionListenAccept},
	{"LR", "LISTEN_REJECT", ActionListenReject},
	{"PU", "PROVIDER_UPDATE", ActionProviderUpdate},
	{"Q", "QUERY", ActionQuery},
	{"CR", "CREATEORREAD", ActionCreateOrRead},
	{"CU", "CREATEANDUPDATE", ActionCreateAndUpdate},
	{"EVT", "EVENT", ActionEvent},
	{"E", "ERROR", ActionError},
	{"REQ", "REQUEST", ActionRequest},
	{"RES", "RESPONSE", ActionResponse},
	{"REJ", "REJECTION", ActionRejection},
	{"PNJ", "PRESENCE_JOIN", ActionPresenceJoin},
	{"PNL", "PRESENCE_LEAVE", ActionPresenceLeave},
	{"WA", "WRITE_ACKNOWLEDGEMENT", ActionWriteAck},
}

var dsClientTopics = []struct {
	code string
	want Topic
}{
	{"C", TopicConnection},
	{"A", TopicAuth},
	{"X", TopicError},
	{"E", TopicEvent},
	{"R", TopicRecord},
	{"P", TopicRPC},
	{"U", TopicPresence},
}

func TestActionTable(t *testing.T) {
	if len(dsClientActions) != int(numActions)-1 {
		t.Fatalf("names.go has %d actions, protocol.md lists %d", numActions-1, len(dsClientActions))
	}
	seen := map[Action]bool{}
	for _, tc := range dsClientActions {
		if seen[tc.want] {
			t.Errorf("%s: Action %d used twice", tc.code, tc.want)
		}
		seen[tc.want] = true
		if got := LookupAction([]byte(tc.code)); got != tc.want {
			t.Errorf("LookupAction(%q) = %d, want %d", tc.code, got, tc.want)
		}
		if got := tc.want.String(); got != tc.code {
			t.Errorf("Action(%d).String() = %q, want %q", tc.want, got, tc.code)
		}
		if got := tc.want.Name(); got != tc.name {
			t.Errorf("Action(%d).Name() = %q, want %q", tc.want, got, tc.name)
		}
	}
}

func TestLookupActionUnknown(t *testing.T) {
	for _, code := range []string{
		"", "X", "evt", "Evt", "EVT ", " EVT", "EVTX", "EV", "PIN",
		// 3.x server-only and cluster actions: never part of the client set.
		"LSN", "SF", "ST", "RM", "LV", "LRQ", "LRP", "LRL",
		// v4-only and nonsense.
		"NOTIFY", "E\x00", "\x00", "R\x1f",
	} {
		if got := LookupAction([]byte(code)); got != ActionUnknown {
			t.Errorf("LookupAction(%q) = %v, want ActionUnknown", code, got)
		}
	}
	for _, a := range []Action{ActionUnknown, numActions, 200, 255} {
		if a.String() != "" || a.Name() != "" {
			t.Errorf("Action(%d): String %q, Name %q; want both empty", a, a.String(), a.Name())
		}
	}
}

func TestTopicTable(t *testing.T) {
	for _, tc := range dsClientTopics {
		if got := LookupTopic([]byte(tc.code)); got != tc.want {
			t.Errorf("LookupTopic(%q) = %d, want %d", tc.code, got, tc.want)
		}
		if got := tc.want.String(); got != tc.code {
			t.Errorf("Topic(%d).String() = %q, want %q", tc.want, got, tc.code)
		}
	}
	known := map[byte]bool{}
	for _, tc := range dsClientTopics {
		known[tc.code[0]] = true
	}
	for b := range 256 {
		if known[byte(b)] {
			continue
		}
		if got := LookupTopic([]byte{byte(b)}); got != TopicUnknown {
			t.Errorf("LookupTopic(%q) = %v, want TopicUnknown", byte(b), got)
		}
		if s := Topic(b).String(); s != "" {
			t.Errorf("Topic(%d).String() = %q, want empty", b, s)
		}
	}
	// Cluster-internal topics and near misses.
	for _, code := range []string{"", "CL", "PRIVATE/", "LI", "PS", "LIP", "SUB", "EE", "e", "r"} {
		if got := LookupTopic([]byte(code)); got != TopicUnknown {
			t.Errorf("LookupTopic(%q) = %v, want TopicUnknown", code, got)
		}
	}
}

// TestEventNames checks the wire spelling of every event name against the
// list in protocol.md section 2.
func TestEventNames(t *testing.T) {
	for got, want := range map[string]string{
		EvInvalidAuthMsg:                  "INVALID_AUTH_MSG",
		EvInvalidAuthData:                 "INVALID_AUTH_DATA",
		EvTooManyAuthAttempts:             "TOO_MANY_AUTH_ATTEMPTS",
		EvConnectionAuthenticationTimeout: "CONNECTION_AUTHENTICATION_TIMEOUT",
		EvInvalidMessage:                  "INVALID_MESSAGE",
		EvUnknownAction:                   "UNKNOWN_ACTION",
		EvUnknownTopic:                    "UNKNOWN_TOPIC",
		EvMessageParseError:               "MESSAGE_PARSE_ERROR",
		EvMessagePermissionError:          "MESSAGE_PERMISSION_ERROR",
		EvMessageDenied:                   "MESSAGE_DENIED",
		EvInvalidMessageData:              "INVALID_MESSAGE_DATA",
		EvMultipleSubscriptions:           "MULTIPLE_SUBSCRIPTIONS",
		EvNotSubscribed:                   "NOT_SUBSCRIBED",
		EvAckTimeout:                      "ACK_TIMEOUT",
		EvResponseTimeout:                 "RESPONSE_TIMEOUT",
		EvMultipleAck:                     "MULTIPLE_ACK",
		EvNoRPCProvider:                   "NO_RPC_PROVIDER",
		EvInvalidRPCCorrelationID:         "INVALID_RPC_CORRELATION_ID",
		EvRecordLoadError:                 "RECORD_LOAD_ERROR",
		EvRecordCreateError:               "RECORD_CREATE_ERROR",
		EvRecordUpdateError:               "RECORD_UPDATE_ERROR",
		EvRecordDeleteError:               "RECORD_DELETE_ERROR",
		EvRecordNotFound:                  "RECORD_NOT_FOUND",
		EvCacheRetrievalTimeout:           "CACHE_RETRIEVAL_TIMEOUT",
		EvStorageRetrievalTimeout:         "STORAGE_RETRIEVAL_TIMEOUT",
		EvVersionExists:                   "VERSION_EXISTS",
		EvInvalidVersion:                  "INVALID_VERSION",
		EvInvalidPresenceUsers:            "INVALID_PRESENCE_USERS",
	} {
		if got != want {
			t.Errorf("event name %q, want %q", got, want)
		}
	}
}

func TestLookupZeroAlloc(t *testing.T) {
	codes := make([][]byte, 0, len(dsClientActions)+1)
	for _, tc := range dsClientActions {
		codes = append(codes, []byte(tc.code))
	}
	codes = append(codes, []byte("NOPE"))
	var sink Action
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range codes {
			sink += LookupAction(c)
			sink += Action(LookupTopic(c))
			_ = sink.String()
			_ = sink.Name()
		}
	})
	if allocs != 0 {
		t.Fatalf("LookupAction/LookupTopic/String/Name: %v allocs per run, want 0", allocs)
	}
}

func BenchmarkLookupAction(b *testing.B) {
	codes := make([][]byte, 0, len(dsClientActions))
	for _, tc := range dsClientActions {
		codes = append(codes, []byte(tc.code))
	}
	b.ReportAllocs()
	var sink Action
	i := 0
	for b.Loop() {
		sink ^= LookupAction(codes[i])
		i++
		if i == len(codes) {
			i = 0
		}
	}
	_ = sink
}
