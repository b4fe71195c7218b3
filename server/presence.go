package server

import "swiftlet/frame"

// handlePresence implements protocol.md section 7 for an open session.
func (s *Session) handlePresence(chunk []byte) {
	s.sendParts(frame.TopicError, frame.ActionError, []byte(frame.EvUnknownTopic), s.msg.TopicRaw)
}

// loggedIn is called once when the session has authenticated (presence join).
func (s *Session) loggedIn() {}

// presenceClosed is called once when the connection is gone (presence leave).
func (s *Session) presenceClosed() {}

// presenceRegistry is shared by all loops.
type presenceRegistry struct{ srv *Server }

func newPresenceRegistry(s *Server) *presenceRegistry { return &presenceRegistry{srv: s} }
