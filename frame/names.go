package frame

// This file is the one table of every topic, action and error/event name that
// swiftlet puts on or reads from the wire (protocol.md section 2). The action
// set is exactly the constants table of deepstream.io-client-js 2.3.4: the
// 3.x server's internal and cluster actions (LSN, SF, ST, RM, LV, LRQ, LRP,
// LRL) are deliberately absent, so a message carrying one of them is a parse
// error and the server can never build one for a client.

// Topic is the first part of a message. Its value is the topic's one-byte wire
// code, so Topic('E') == TopicEvent; TopicUnknown (0) stands for anything else.
type Topic uint8

// The client 2.3.4 topics. The server's cluster-internal topics never reach
// clients and are not listed.
const (
	TopicUnknown    Topic = 0
	TopicConnection Topic = 'C'
	TopicAuth       Topic = 'A'
	TopicError      Topic = 'X'
	TopicEvent      Topic = 'E'
	TopicRecord     Topic = 'R'
	TopicRPC        Topic = 'P'
	TopicPresence   Topic = 'U'
)

// topicCodes maps a Topic to its wire code; entries for other bytes are empty.
var topicCodes = [256]string{
	TopicConnection: "C",
	TopicAuth:       "A",
	TopicError:      "X",
	TopicEvent:      "E",
	TopicRecord:     "R",
	TopicRPC:        "P",
	TopicPresence:   "U",
}

// String returns the topic's wire code, e.g. "E", or "" for TopicUnknown and
// any value that is not a known topic. It does not allocate. Safe for
// concurrent use.
func (t Topic) String() string { return topicCodes[t] }

// LookupTopic returns the Topic whose wire code is b, or TopicUnknown. It does
// not allocate. Safe for concurrent use.
func LookupTopic(b []byte) Topic {
	if len(b) != 1 {
		return TopicUnknown
	}
	switch t := Topic(b[0]); t {
	case TopicConnection, TopicAuth, TopicError, TopicEvent, TopicRecord, TopicRPC, TopicPresence:
		return t
	}
	return TopicUnknown
}

// Action is the second part of a message. Values are small dense integers
// (not wire bytes: most codes are longer than one byte); ActionUnknown (0)
// stands for any code outside the client 2.3.4 table.
type Action uint8

// The complete client 2.3.4 action set, in the order of protocol.md section 2.
const (
	ActionUnknown                       Action = iota
	ActionPing                                 // PI
	ActionPong                                 // PO
	ActionAck                                  // A
	ActionRedirect                             // RED (the 2.x/3.x servers never send it)
	ActionChallenge                            // CH
	ActionChallengeResponse                    // CHR
	ActionRead                                 // R
	ActionCreate                               // C (permission checks and denials only)
	ActionUpdate                               // U
	ActionPatch                                // P
	ActionDelete                               // D
	ActionSubscribe                            // S (also "provide" for RPC)
	ActionUnsubscribe                          // US
	ActionHas                                  // H
	ActionHead                                 // HD
	ActionSnapshot                             // SN
	ActionInvoke                               // I (unused)
	ActionSubscriptionForPatternFound          // SP
	ActionSubscriptionForPatternRemoved        // SR
	ActionSubscriptionHasProvider              // SH
	ActionListen                               // L
	ActionUnlisten                             // UL
	ActionListenAccept                         // LA
	ActionListenReject                         // LR
	ActionProviderUpdate                       // PU (unused)
	ActionQuery                                // Q
	ActionCreateOrRead                         // CR
	ActionCreateAndUpdate                      // CU
	ActionEvent                                // EVT
	ActionError                                // E
	ActionRequest                              // REQ
	ActionResponse                             // RES
	ActionRejection                            // REJ
	ActionPresenceJoin                         // PNJ
	ActionPresenceLeave                        // PNL
	ActionWriteAck                             // WA

	numActions // one past the last action; not an action
)

// actionNames holds, per Action, its wire code and its symbolic name (the
// client's constants key, which Valve exposes as the rule variable `action`).
var actionNames = [numActions]struct{ code, name string }{
	ActionUnknown:                       {"", ""},
	ActionPing:                          {"PI", "PING"},
	ActionPong:                          {"PO", "PONG"},
	ActionAck:                           {"A", "ACK"},
	ActionRedirect:                      {"RED", "REDIRECT"},
	ActionChallenge:                     {"CH", "CHALLENGE"},
	ActionChallengeResponse:             {"CHR", "CHALLENGE_RESPONSE"},
	ActionRead:                          {"R", "READ"},
	ActionCreate:                        {"C", "CREATE"},
	ActionUpdate:                        {"U", "UPDATE"},
	ActionPatch:                         {"P", "PATCH"},
	ActionDelete:                        {"D", "DELETE"},
	ActionSubscribe:                     {"S", "SUBSCRIBE"},
	ActionUnsubscribe:                   {"US", "UNSUBSCRIBE"},
	ActionHas:                           {"H", "HAS"},
	ActionHead:                          {"HD", "HEAD"},
	ActionSnapshot:                      {"SN", "SNAPSHOT"},
	ActionInvoke:                        {"I", "INVOKE"},
	ActionSubscriptionForPatternFound:   {"SP", "SUBSCRIPTION_FOR_PATTERN_FOUND"},
	ActionSubscriptionForPatternRemoved: {"SR", "SUBSCRIPTION_FOR_PATTERN_REMOVED"},
	ActionSubscriptionHasProvider:       {"SH", "SUBSCRIPTION_HAS_PROVIDER"},
	ActionListen:                        {"L", "LISTEN"},
	ActionUnlisten:                      {"UL", "UNLISTEN"},
	ActionListenAccept:                  {"LA", "LISTEN_ACCEPT"},
	ActionListenReject:                  {"LR", "LISTEN_REJECT"},
	ActionProviderUpdate:                {"PU", "PROVIDER_UPDATE"},
	ActionQuery:                         {"Q", "QUERY"},
	ActionCreateOrRead:                  {"CR", "CREATEORREAD"},
	ActionCreateAndUpdate:               {"CU", "CREATEANDUPDATE"},
	ActionEvent:                         {"EVT", "EVENT"},
	ActionError:                         {"E", "ERROR"},
	ActionRequest:                       {"REQ", "REQUEST"},
	ActionResponse:                      {"RES", "RESPONSE"},
	ActionRejection:                     {"REJ", "REJECTION"},
	ActionPresenceJoin:                  {"PNJ", "PRESENCE_JOIN"},
	ActionPresenceLeave:                 {"PNL", "PRESENCE_LEAVE"},
	ActionWriteAck:                      {"WA", "WRITE_ACKNOWLEDGEMENT"},
}

// String returns the action's wire code, e.g. "EVT", or "" for ActionUnknown
// and out-of-range values. It does not allocate. Safe for concurrent use.
func (a Action) String() string {
	if a >= numActions {
		return ""
	}
	return actionNames[a].code
}

// Name returns the action's symbolic name as the client's constants table
// spells it, e.g. "EVENT", "UPDATE", "PATCH", "CREATE", "READ", "REQUEST"
// (the value of Valve's `action` variable), or "" for ActionUnknown and
// out-of-range values. It does not allocate. Safe for concurrent use.
func (a Action) Name() string {
	if a >= numActions {
		return ""
	}
	return actionNames[a].name
}

// LookupAction returns the Action whose wire code is b, or ActionUnknown. The
// match is exact and case-sensitive. It does not allocate: the compiler turns
// a switch on string(b) into length-and-bytes comparisons without converting.
// Safe for concurrent use.
func LookupAction(b []byte) Action {
	switch string(b) {
	case "PI":
		return ActionPing
	case "PO":
		return ActionPong
	case "A":
		return ActionAck
	case "RED":
		return ActionRedirect
	case "CH":
		return ActionChallenge
	case "CHR":
		return ActionChallengeResponse
	case "R":
		return ActionRead
	case "C":
		return ActionCreate
	case "U":
		return ActionUpdate
	case "P":
		return ActionPatch
	case "D":
		return ActionDelete
	case "S":
		return ActionSubscribe
	case "US":
		return ActionUnsubscribe
	case "H":
		return ActionHas
	case "HD":
		return ActionHead
	case "SN":
		return ActionSnapshot
	case "I":
		return ActionInvoke
	case "SP":
		return ActionSubscriptionForPatternFound
	case "SR":
		return ActionSubscriptionForPatternRemoved
	case "SH":
		return ActionSubscriptionHasProvider
	case "L":
		return ActionListen
	case "UL":
		return ActionUnlisten
	case "LA":
		return ActionListenAccept
	case "LR":
		return ActionListenReject
	case "PU":
		return ActionProviderUpdate
	case "Q":
		return ActionQuery
	case "CR":
		return ActionCreateOrRead
	case "CU":
		return ActionCreateAndUpdate
	case "EVT":
		return ActionEvent
	case "E":
		return ActionError
	case "REQ":
		return ActionRequest
	case "RES":
		return ActionResponse
	case "REJ":
		return ActionRejection
	case "PNJ":
		return ActionPresenceJoin
	case "PNL":
		return ActionPresenceLeave
	case "WA":
		return ActionWriteAck
	}
	return ActionUnknown
}

// Event names: the error and event strings that follow an ERROR action on the
// wire (`<T>|E|<event>|...`), spelled exactly as the deepstream 3.x server
// sends them (protocol.md section 2). They are wire text, not Go errors, hence
// the Ev prefix (Go error values in this package are named Err...). Names the
// client only raises locally (connectionError, IS_CLOSED, ...) are absent: the
// server must never send them.
const (
	// Auth and connection.
	EvInvalidAuthMsg                  = "INVALID_AUTH_MSG"
	EvInvalidAuthData                 = "INVALID_AUTH_DATA"
	EvTooManyAuthAttempts             = "TOO_MANY_AUTH_ATTEMPTS"
	EvConnectionAuthenticationTimeout = "CONNECTION_AUTHENTICATION_TIMEOUT"
	EvInvalidMessage                  = "INVALID_MESSAGE"
	EvUnknownAction                   = "UNKNOWN_ACTION"
	EvUnknownTopic                    = "UNKNOWN_TOPIC"
	EvMessageParseError               = "MESSAGE_PARSE_ERROR"

	// Permissions and subscriptions.
	EvMessagePermissionError = "MESSAGE_PERMISSION_ERROR"
	EvMessageDenied          = "MESSAGE_DENIED"
	EvInvalidMessageData     = "INVALID_MESSAGE_DATA"
	EvMultipleSubscriptions  = "MULTIPLE_SUBSCRIPTIONS"
	EvNotSubscribed          = "NOT_SUBSCRIBED"

	// RPC.
	EvAckTimeout              = "ACK_TIMEOUT"
	EvResponseTimeout         = "RESPONSE_TIMEOUT"
	EvMultipleAck             = "MULTIPLE_ACK"
	EvNoRPCProvider           = "NO_RPC_PROVIDER"
	EvInvalidRPCCorrelationID = "INVALID_RPC_CORRELATION_ID"

	// Records and storage.
	EvRecordLoadError         = "RECORD_LOAD_ERROR"
	EvRecordCreateError       = "RECORD_CREATE_ERROR"
	EvRecordUpdateError       = "RECORD_UPDATE_ERROR"
	EvRecordDeleteError       = "RECORD_DELETE_ERROR"
	EvRecordNotFound          = "RECORD_NOT_FOUND"
	EvCacheRetrievalTimeout   = "CACHE_RETRIEVAL_TIMEOUT"
	EvStorageRetrievalTimeout = "STORAGE_RETRIEVAL_TIMEOUT"
	EvVersionExists           = "VERSION_EXISTS"
	EvInvalidVersion          = "INVALID_VERSION"

	// Presence (3.1+).
	EvInvalidPresenceUsers = "INVALID_PRESENCE_USERS"
)
