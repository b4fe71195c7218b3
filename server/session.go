package server

import (
	"bytes"
	"encoding/json"

	"swiftlet/frame"
	"swiftlet/loop"
	"swiftlet/server/auth"
	"swiftlet/valve"
)

// session states (protocol.md section 3)
const (
	stateChallenge      uint8 = iota // C|CH sent, waiting for C|CHR
	stateAuth                        // C|A sent, waiting for A|REQ
	stateAuthenticating              // A|REQ being checked off the loop
	stateOpen                        // authenticated
	stateGone                        // connection closed or closing
)

// Session is one client's deepstream session. It belongs to its connection's loop: every method runs
// there. It is the fanout.Subscriber for everything the client subscribes to.
type Session struct {
	srv   *Server
	conn  *loop.Conn
	ls    *loopState
	state uint8

	authAttempts int
	authTimer    *loop.Timer
	user         User

	msg frame.Message // reused parse target

	// Permission checks waiting for records (permission.go): while blocked, messages are held in order.
	vuser        *valve.User
	blocked      bool
	held         [][]byte
	preloaded    map[string]lookedUp
	lookupRounds int
}

// User is who a session authenticated as.
type User struct {
	ID         string // username; "open" for anonymous
	ServerData []byte // JSON, or nil: becomes user.data in permission rules
}

func newSession(s *Server, c *loop.Conn, ls *loopState) *Session {
	return &Session{srv: s, conn: c, ls: ls}
}

// Shard implements fanout.Subscriber: the index of the session's loop.
func (s *Session) Shard() int { return s.ls.l.Index() }

// WriteFrame implements fanout.Subscriber. Called on the session's loop by fanout's drain.
func (s *Session) WriteFrame(b []byte) { s.conn.WriteFrame(b) }

// start greets a new connection with the challenge (3.x handshake) and arms the auth timeout.
func (s *Session) start() {
	s.send(frame.TopicConnection, frame.ActionChallenge)
	s.authTimer = s.ls.l.AfterFunc(s.srv.cfg.UnauthenticatedClientTimeout.D(), s.authTimedOut)
}

func (s *Session) authTimedOut() {
	s.authTimer = nil
	if s.state >= stateOpen {
		return
	}
	s.sendStrings(frame.TopicConnection, frame.ActionError, frame.EvConnectionAuthenticationTimeout,
		"Sconnection has not authenticated successfully in the expected time")
	s.close("authentication timeout")
}

// close ends the session from the server side.
func (s *Session) close(reason string) {
	s.conn.Close(frame.CloseNormal, reason)
}

// handle processes one WebSocket text payload: one or more deepstream messages.
func (s *Session) handle(payload []byte) {
	for {
		chunk, rest, ok := frame.Next(payload)
		if !ok {
			return
		}
		payload = rest
		if s.state == stateGone || !s.conn.IsOpen() {
			return
		}
		if s.blocked {
			// A permission check is waiting for records: keep this message's place in line.
			s.held = append(s.held, append([]byte(nil), chunk...))
			continue
		}
		s.dispatch(chunk)
	}
}

// dispatch parses and handles one message according to the session's state.
func (s *Session) dispatch(chunk []byte) {
	s.srv.stats.messages.Add(1)
	err := s.msg.Parse(chunk)
	switch s.state {
	case stateChallenge:
		s.handleChallenge(chunk, err)
	case stateAuth:
		s.handleAuth(err)
	case stateAuthenticating:
		// The client sends nothing but pongs while its login is pending; anything else waits for
		// nobody and is dropped.
	case stateOpen:
		s.handleOpen(chunk, err)
	}
}

// handleChallenge: before C|CHR only connection messages are valid.
func (s *Session) handleChallenge(chunk []byte, err error) {
	m := &s.msg
	switch {
	case err != nil && err != frame.ErrUnknownTopic && err != frame.ErrUnknownAction:
		s.sendParts(frame.TopicConnection, frame.ActionError, []byte(frame.EvMessageParseError), chunk)
		s.close("unparsable message")
	case m.Topic != frame.TopicConnection:
		s.sendStrings(frame.TopicConnection, frame.ActionError, frame.EvInvalidMessage, "invalid connection message")
	case err != nil:
		s.sendStrings(frame.TopicConnection, frame.ActionError, frame.EvUnknownAction, "unknown action "+string(m.ActionRaw))
	case m.Action == frame.ActionChallengeResponse:
		s.state = stateAuth
		s.send(frame.TopicConnection, frame.ActionAck)
	case m.Action == frame.ActionPong:
	default:
		s.sendStrings(frame.TopicConnection, frame.ActionError, frame.EvUnknownAction, "unknown action "+string(m.ActionRaw))
	}
}

// handleAuth: the only valid message is A|REQ with one JSON object part (pongs aside).
func (s *Session) handleAuth(err error) {
	m := &s.msg
	if err == nil && m.Topic == frame.TopicConnection && m.Action == frame.ActionPong {
		return
	}
	if err != nil || m.Topic != frame.TopicAuth || m.Action != frame.ActionRequest || len(m.Data) != 1 || !isJSONObject(m.Data[0]) {
		s.sendStrings(frame.TopicAuth, frame.ActionError, frame.EvInvalidAuthMsg, "invalid authentication message")
		s.close("invalid authentication message")
		return
	}
	s.state = stateAuthenticating
	authData := append([]byte(nil), m.Data[0]...)
	s.srv.authenticate(s, authData)
}

// authDone is the result of an authentication, on the session's loop.
func (s *Session) authDone(r auth.Result) {
	if s.state != stateAuthenticating || !s.conn.IsOpen() {
		return
	}
	if r.OK {
		s.state = stateOpen
		if s.authTimer != nil {
			s.authTimer.Stop()
			s.authTimer = nil
		}
		s.user = User{ID: r.Username, ServerData: r.ServerData}
		if s.user.ID == "" {
			s.user.ID = "open"
		}
		if r.ClientData == nil {
			s.send(frame.TopicAuth, frame.ActionAck)
		} else {
			s.sendParts(frame.TopicAuth, frame.ActionAck, typedJSON(r.ClientData))
		}
		s.srv.logger.Debug("authenticated", "conn", s.conn.ID(), "user", s.user.ID)
		s.loggedIn()
		return
	}
	s.authAttempts++
	s.state = stateAuth
	clientData := []byte("U")
	if r.ClientData != nil {
		clientData = typedJSON(r.ClientData)
	}
	s.sendParts(frame.TopicAuth, frame.ActionError, []byte(frame.EvInvalidAuthData), clientData)
	if s.srv.cfg.LogInvalidAuthData {
		s.srv.logger.Info("invalid auth data", "conn", s.conn.ID(), "attempt", s.authAttempts)
	}
	if s.authAttempts >= s.srv.cfg.MaxAuthAttempts {
		s.sendStrings(frame.TopicAuth, frame.ActionError, frame.EvTooManyAuthAttempts, "Stoo many authentication attempts")
		s.close("too many authentication attempts")
	}
}

// handleOpen dispatches an authenticated session's message by topic.
func (s *Session) handleOpen(chunk []byte, err error) {
	m := &s.msg
	if err != nil {
		if err == frame.ErrUnknownTopic {
			s.sendParts(frame.TopicError, frame.ActionError, []byte(frame.EvUnknownTopic), m.TopicRaw)
			return
		}
		s.sendStrings(frame.TopicError, frame.ActionError, frame.EvMessageParseError, "null")
		return
	}
	switch m.Topic {
	case frame.TopicConnection:
		// C|PO is the answer to our heartbeat; nothing else of this topic means anything once open.
	case frame.TopicAuth:
		// A second login on an open session is ignored, as 3.x does.
	case frame.TopicEvent:
		s.handleEvent(chunk)
	case frame.TopicRecord:
		s.handleRecord(chunk)
	case frame.TopicRPC:
		s.handleRPC(chunk)
	case frame.TopicPresence:
		s.handlePresence(chunk)
	default:
		s.sendParts(frame.TopicError, frame.ActionError, []byte(frame.EvUnknownTopic), m.TopicRaw)
	}
}

// closed is called once when the connection is gone: leave every subscription and registry.
func (s *Session) closed() {
	s.state = stateGone
	if s.authTimer != nil {
		s.authTimer.Stop()
		s.authTimer = nil
	}
	s.srv.fan.UnsubscribeAll(s, func(topic string, last bool) {
		if last {
			s.srv.topicGone(topic)
		}
	})
	s.srv.eventListeners.removeSession(s)
	s.srv.recordListeners.removeSession(s)
	s.rpcClosed()
	s.presenceClosed()
}

// Building replies. Each call sends one message as one frame; the loop writes all frames of a
// callback with one write.

func (s *Session) send(t frame.Topic, a frame.Action) {
	s.conn.AppendText(func(dst []byte) []byte {
		return frame.EndMessage(frame.AppendHeader(dst, t, a))
	})
}

func (s *Session) sendParts(t frame.Topic, a frame.Action, parts ...[]byte) {
	s.conn.AppendText(func(dst []byte) []byte {
		dst = frame.AppendHeader(dst, t, a)
		for _, p := range parts {
			dst = frame.AppendPart(dst, p)
		}
		return frame.EndMessage(dst)
	})
}

func (s *Session) sendStrings(t frame.Topic, a frame.Action, parts ...string) {
	s.conn.AppendText(func(dst []byte) []byte {
		dst = frame.AppendHeader(dst, t, a)
		for _, p := range parts {
			dst = frame.AppendPartString(dst, p)
		}
		return frame.EndMessage(dst)
	})
}

// sendError sends <T>|E|<event>|<parts...>.
func (s *Session) sendError(t frame.Topic, event string, parts ...[]byte) {
	s.conn.AppendText(func(dst []byte) []byte {
		dst = frame.AppendHeader(dst, t, frame.ActionError)
		dst = frame.AppendPartString(dst, event)
		for _, p := range parts {
			dst = frame.AppendPart(dst, p)
		}
		return frame.EndMessage(dst)
	})
}

// invalidData answers INVALID_MESSAGE_DATA with the raw message, as 3.x does.
func (s *Session) invalidData(t frame.Topic, chunk []byte) {
	s.sendError(t, frame.EvInvalidMessageData, chunk)
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 1 && b[0] == '{' && json.Valid(b)
}

// typedJSON turns client data (JSON text) into a typed part: strings S, numbers N, objects O, ...
func typedJSON(j []byte) []byte {
	j = bytes.TrimSpace(j)
	if len(j) == 0 {
		return []byte("U")
	}
	switch j[0] {
	case '"':
		var str string
		if json.Unmarshal(j, &str) == nil {
			return append([]byte("S"), str...)
		}
	case 't':
		return []byte("T")
	case 'f':
		return []byte("F")
	case 'n':
		return []byte("L")
	case '{', '[':
		return append([]byte("O"), j...)
	default:
		return append([]byte("N"), j...)
	}
	return []byte("U")
}
