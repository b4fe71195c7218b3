package server

import "swiftlet/frame"

// handleRecord implements protocol.md section 5 for an open session.
func (s *Session) handleRecord(chunk []byte) {
	s.sendParts(frame.TopicError, frame.ActionError, []byte(frame.EvUnknownTopic), s.msg.TopicRaw)
}
