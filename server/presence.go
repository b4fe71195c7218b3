package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"

	"swiftlet/frame"
	"swiftlet/valve"
)

// Presence (protocol.md section 7). The registry counts the logged-in connections of every username;
// a username's first connection announces U|PNJ|user and its last one U|PNL|user, to the global
// subscribers (fanout topic "U") and to the subscribers of that user ("Uu"+user). Anonymous sessions
// are the user "open" and count like any other.
//
// The joining connection is not told about its own join: it logs in before it can subscribe, as in
// 3.x. A connection that leaves is unsubscribed from everything before its leave is announced.

// Fanout topic keys of presence, distinct from the 'E' and 'R' keys of events and records.
const (
	presenceAllKey  = "U"
	presenceUserKey = "Uu"
)

// presenceRegistry is shared by all loops; mu guards users. The announcement is published while mu is
// held, so that the joins and leaves of one username reach every subscriber in the order in which they
// were counted (fanout only copies and returns).
type presenceRegistry struct {
	srv      *Server
	mu       sync.Mutex
	users    map[string]int // username -> logged-in connections
	announce func(user string, joined bool)
}

func newPresenceRegistry(s *Server) *presenceRegistry {
	r := &presenceRegistry{srv: s, users: map[string]int{}}
	r.announce = r.publish
	return r
}

// join counts one more connection of user and announces the first. Safe for concurrent use.
func (r *presenceRegistry) join(user string) (first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users[user]++
	if r.users[user] == 1 {
		r.announce(user, true)
		return true
	}
	return false
}

// leave counts one connection of user less and announces the last. Safe for concurrent use.
func (r *presenceRegistry) leave(user string) (last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.users[user]
	if !ok {
		return false
	}
	if n > 1 {
		r.users[user] = n - 1
		return false
	}
	delete(r.users, user)
	r.announce(user, false)
	return true
}

// online returns the usernames with a logged-in connection, sorted, except skip. Safe for concurrent
// use.
func (r *presenceRegistry) online(skip string) []string {
	r.mu.Lock()
	names := make([]string, 0, len(r.users))
	for u := range r.users {
		if u != skip {
			names = append(names, u)
		}
	}
	r.mu.Unlock()
	slices.Sort(names)
	return names
}

// isOnline reports for each name whether it has a logged-in connection. Safe for concurrent use.
func (r *presenceRegistry) isOnline(names []string) []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	on := make([]bool, len(names))
	for i, n := range names {
		on[i] = r.users[n] > 0
	}
	return on
}

// publish sends U|PNJ|user or U|PNL|user to the global subscribers and to those of user.
func (r *presenceRegistry) publish(user string, joined bool) {
	a := frame.ActionPresenceLeave
	if joined {
		a = frame.ActionPresenceJoin
	}
	msg := frame.AppendMessage(nil, frame.TopicPresence, a, []byte(user))
	r.srv.fan.Publish(presenceAllKey, msg, nil)
	r.srv.fan.Publish(presenceUserKey+user, msg, nil)
}

// loggedIn is called once when the session has authenticated (presence join).
func (s *Session) loggedIn() { s.srv.presence.join(s.user.ID) }

// presenceClosed is called once when the connection is gone (presence leave), after the session has
// left every subscription. Only a session that logged in has joined.
func (s *Session) presenceClosed() {
	if s.user.ID != "" {
		s.srv.presence.leave(s.user.ID)
	}
}

// handlePresence implements protocol.md section 7 for an open session.
//
// Acks follow the 2.3.4 client (U|A|S|S, U|A|US|US, U|A|S|<id>, U|A|US|<id>), not 3.x, whose acks the
// client does not recognise. Subscribing to a user twice, or unsubscribing from a user one does not
// follow, is not an error: the client batches users per tick and acks per batch.
func (s *Session) handlePresence(chunk []byte) {
	m := &s.msg
	// Subscriptions and queries need the presence "allow" rule; deepstream checks it with the
	// message's first data part as the name (S, Q or the client's correlation id).
	if (m.Action == frame.ActionSubscribe || m.Action == frame.ActionQuery) && len(m.Data) > 0 &&
		!s.permit(frame.TopicPresence, valve.SectionPresence, valve.Allow, m.Data[0], nil, chunk) {
		return
	}
	switch m.Action {
	case frame.ActionSubscribe, frame.ActionUnsubscribe:
		sub := m.Action == frame.ActionSubscribe
		switch {
		case len(m.Data) == 0:
			s.sendError(frame.TopicPresence, frame.EvMessagePermissionError, nil, m.ActionRaw)
		case len(m.Data) == 1 && bytes.Equal(m.Data[0], m.ActionRaw):
			s.presenceAll(sub)
		case len(m.Data) == 2 && len(m.Data[0]) > 0:
			users, ok := presenceUsers(m.Data[1])
			if !ok {
				s.sendStrings(frame.TopicPresence, frame.ActionError, frame.EvInvalidPresenceUsers,
					"users are required to be a json array of usernames")
				return
			}
			for _, u := range users {
				if sub {
					s.srv.fan.Subscribe(presenceUserKey+u, s)
				} else {
					s.srv.fan.Unsubscribe(presenceUserKey+u, s)
				}
			}
			s.sendParts(frame.TopicPresence, frame.ActionAck, m.ActionRaw, m.Data[0])
		default:
			s.invalidData(frame.TopicPresence, chunk)
		}
	case frame.ActionQuery:
		switch {
		case len(m.Data) == 0:
			s.sendError(frame.TopicPresence, frame.EvMessagePermissionError, nil, m.ActionRaw)
		case len(m.Data) == 1 && bytes.Equal(m.Data[0], m.ActionRaw):
			names := s.srv.presence.online(s.user.ID)
			s.sendStrings(frame.TopicPresence, frame.ActionQuery, names...)
		case len(m.Data) == 2 && len(m.Data[0]) > 0:
			users, ok := presenceUsers(m.Data[1])
			if !ok {
				s.sendStrings(frame.TopicPresence, frame.ActionError, frame.EvInvalidPresenceUsers,
					"users are required to be a json array of usernames")
				return
			}
			users = dedupe(users)
			s.sendParts(frame.TopicPresence, frame.ActionQuery, m.Data[0], presenceResult(users, s.srv.presence.isOnline(users)))
		default:
			s.invalidData(frame.TopicPresence, chunk)
		}
	default:
		ls := s.ls
		ls.scratch = append(append(ls.scratch[:0], "unknown action "...), m.ActionRaw...)
		s.sendError(frame.TopicPresence, frame.EvUnknownAction, ls.scratch)
	}
}

// presenceAll subscribes to or unsubscribes from every user's joins and leaves (U|S|S, U|US|US).
func (s *Session) presenceAll(sub bool) {
	subscribed := s.srv.fan.IsSubscribed(presenceAllKey, s)
	switch {
	case sub && subscribed:
		s.sendError(frame.TopicPresence, frame.EvMultipleSubscriptions, []byte(frame.TopicPresence.String()))
	case !sub && !subscribed:
		s.sendError(frame.TopicPresence, frame.EvNotSubscribed, []byte(frame.TopicPresence.String()))
	case sub:
		s.srv.fan.Subscribe(presenceAllKey, s)
		s.sendStrings(frame.TopicPresence, frame.ActionAck, "S", "S")
	default:
		s.srv.fan.Unsubscribe(presenceAllKey, s)
		s.sendStrings(frame.TopicPresence, frame.ActionAck, "US", "US")
	}
}

// presenceUsers parses a JSON array of usernames. Names with the protocol's separators could not be
// sent back and are refused.
func presenceUsers(b []byte) ([]string, bool) {
	var users []string
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	if err := json.Unmarshal(b, &users); err != nil {
		return nil, false
	}
	for _, u := range users {
		if u == "" || bytes.ContainsAny([]byte(u), "\x1e\x1f") {
			return nil, false
		}
	}
	return users, true
}

func dedupe(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// presenceResult builds {"bob":true,"carol":false} in the order of the query.
func presenceResult(users []string, on []bool) []byte {
	b := []byte{'{'}
	for i, u := range users {
		if i > 0 {
			b = append(b, ',')
		}
		q, _ := json.Marshal(u)
		b = append(b, q...)
		if on[i] {
			b = append(b, ":true"...)
		} else {
			b = append(b, ":false"...)
		}
	}
	return append(b, '}')
}
