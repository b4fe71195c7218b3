package server

import (
	"swiftlet/frame"
	"swiftlet/valve"
)

// Topic keys in fanout: one byte for the deepstream topic, then the name, so events and records with
// the same name never meet.
const (
	eventKey  = 'E'
	recordKey = 'R'
)

// topicKey builds a fanout topic key in the loop's scratch buffer (valid until the next call).
func (ls *loopState) topicKey(kind byte, name []byte) []byte {
	ls.topic = append(append(ls.topic[:0], kind), name...)
	return ls.topic
}

// handleEvent implements protocol.md section 4 for an open session.
func (s *Session) handleEvent(chunk []byte) {
	m := &s.msg
	switch m.Action {
	case frame.ActionEvent:
		s.emit(chunk)
	case frame.ActionSubscribe:
		if name, ok := s.nameArg(frame.TopicEvent, chunk); ok && s.permit(frame.TopicEvent, valve.SectionEvent, valve.Subscribe, name, nil, chunk) {
			s.subscribeEvent(name)
		}
	case frame.ActionUnsubscribe:
		if name, ok := s.nameArg(frame.TopicEvent, chunk); ok {
			s.unsubscribeEvent(name)
		}
	case frame.ActionListen, frame.ActionUnlisten, frame.ActionListenAccept, frame.ActionListenReject:
		s.handleListen(s.srv.eventListeners, valve.SectionEvent, chunk)
	default:
		s.sendStrings(frame.TopicError, frame.ActionError, frame.EvMessageParseError, "null")
	}
}

// nameArg checks that a subscribe-like message has exactly one non-empty name part. A message with no
// name fails the permission check in 3.x (MESSAGE_PERMISSION_ERROR with an empty name); other shapes
// are INVALID_MESSAGE_DATA.
func (s *Session) nameArg(t frame.Topic, chunk []byte) ([]byte, bool) {
	m := &s.msg
	if len(m.Data) == 0 {
		s.sendError(t, frame.EvMessagePermissionError, nil, []byte(m.ActionRaw))
		return nil, false
	}
	if len(m.Data) != 1 || len(m.Data[0]) == 0 {
		s.invalidData(t, chunk)
		return nil, false
	}
	return m.Data[0], true
}

func (s *Session) emit(chunk []byte) {
	m := &s.msg
	if len(m.Data) == 0 {
		s.sendError(frame.TopicEvent, frame.EvMessagePermissionError, nil, []byte(m.ActionRaw))
		return
	}
	if len(m.Data) > 2 || len(m.Data[0]) == 0 {
		s.invalidData(frame.TopicEvent, chunk)
		return
	}
	var data []byte
	if len(m.Data) == 2 {
		v, err := frame.ParseTyped(m.Data[1])
		if err != nil {
			s.invalidData(frame.TopicEvent, chunk)
			return
		}
		if s.srv.perm != nil && v.Kind != frame.KindUndefined {
			data = v.AppendJSON(s.ls.jsonBuf[:0])
			s.ls.jsonBuf = data
		}
	}
	if !s.permit(frame.TopicEvent, valve.SectionEvent, valve.Publish, m.Data[0], data, chunk) {
		return
	}
	ls := s.ls
	ls.scratch = frame.EndMessage(append(ls.scratch[:0], chunk...))
	s.srv.fan.PublishBytes(ls.topicKey(eventKey, m.Data[0]), ls.scratch, s)
}

func (s *Session) subscribeEvent(name []byte) {
	key := s.ls.topicKey(eventKey, name)
	if s.srv.fan.IsSubscribed(string(key), s) {
		s.sendError(frame.TopicEvent, frame.EvMultipleSubscriptions, name)
		return
	}
	first := s.srv.fan.Subscribe(string(key), s)
	s.sendParts(frame.TopicEvent, frame.ActionAck, []byte(frame.ActionSubscribe.String()), name)
	if first {
		s.srv.eventListeners.subscribed(string(name))
	}
}

func (s *Session) unsubscribeEvent(name []byte) {
	key := s.ls.topicKey(eventKey, name)
	if !s.srv.fan.IsSubscribed(string(key), s) {
		s.sendError(frame.TopicEvent, frame.EvNotSubscribed, name)
		return
	}
	last := s.srv.fan.Unsubscribe(string(key), s)
	s.sendParts(frame.TopicEvent, frame.ActionAck, []byte(frame.ActionUnsubscribe.String()), name)
	if last {
		s.srv.eventListeners.unsubscribed(string(name))
	}
}

// topicGone is called when a session that left (disconnected) was the last subscriber of a topic.
func (s *Server) topicGone(topic string) {
	if len(topic) == 0 {
		return
	}
	switch topic[0] {
	case eventKey:
		s.eventListeners.unsubscribed(topic[1:])
	case recordKey:
		s.recordListeners.unsubscribed(topic[1:])
	}
}
