package server

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"strconv"

	"swiftlet/frame"
	"swiftlet/store/path"
	"swiftlet/valve"
)

// Records (protocol.md section 5).
//
// The session's loop validates a message's shape, keeps the subscription (fanout is per loop) and
// acknowledges it; everything about a record's state happens on its owner: one of a fixed number of
// record shards, chosen by hashing the name, each a goroutine of its own (recordShard). The owner
// orders the record's writes, checks versions, applies path patches and persists through the store; a
// change is broadcast and acknowledged (WA) only once the store reports it durable, in version order.
// Replies go back through fanout.Send, so they keep their order per shard.

// handleRecord implements protocol.md section 5 for an open session.
func (s *Session) handleRecord(chunk []byte) {
	m := &s.msg
	switch m.Action {
	case frame.ActionCreateOrRead:
		if name, ok := s.nameArg(frame.TopicRecord, chunk); ok {
			s.recordSubscribe(name)
		}
	case frame.ActionUnsubscribe:
		if name, ok := s.nameArg(frame.TopicRecord, chunk); ok {
			s.recordDiscard(name)
		}
	case frame.ActionUpdate, frame.ActionPatch, frame.ActionCreateAndUpdate:
		s.recordWrite(chunk)
	case frame.ActionDelete, frame.ActionHas, frame.ActionSnapshot, frame.ActionHead:
		if name, ok := s.nameArg(frame.TopicRecord, chunk); ok {
			kind := opDelete
			switch m.Action {
			case frame.ActionHas:
				kind = opHas
			case frame.ActionSnapshot:
				kind = opSnapshot
			case frame.ActionHead:
				kind = opHead
			}
			s.srv.records.shardFor(name).push(recordOp{kind: kind, sess: s, name: string(name), user: s.valveUser()})
		}
	case frame.ActionListen, frame.ActionUnlisten, frame.ActionListenAccept, frame.ActionListenReject:
		s.handleListen(s.srv.recordListeners, valve.SectionRecord, chunk)
	default:
		s.sendStrings(frame.TopicError, frame.ActionError, frame.EvMessageParseError, "null")
	}
}

// recordSubscribe is R|CR: subscribe (ack at once), then the owner sends the record, creating it if
// it does not exist. With permissions, the owner checks create and read first.
func (s *Session) recordSubscribe(name []byte) {
	if s.srv.perm != nil {
		s.srv.records.shardFor(name).push(recordOp{kind: opCheckRead, sess: s, name: string(name), user: s.valveUser()})
		return
	}
	s.recordSubscribeAllowed(name)
}

// recordSubscribeAllowed subscribes to a record whose reading was allowed.
func (s *Session) recordSubscribeAllowed(name []byte) {
	if s.state == stateGone {
		return
	}
	key := s.ls.topicKey(recordKey, name)
	sh := s.srv.records.shardFor(name)
	if s.srv.fan.IsSubscribed(string(key), s) {
		// 3.x answers MULTIPLE_SUBSCRIPTIONS and still sends the record again.
		s.sendError(frame.TopicRecord, frame.EvMultipleSubscriptions, name)
		sh.push(recordOp{kind: opRead, sess: s, name: string(name)})
		return
	}
	first := s.srv.fan.Subscribe(string(key), s)
	s.sendParts(frame.TopicRecord, frame.ActionAck, []byte(frame.ActionSubscribe.String()), name)
	sh.push(recordOp{kind: opRead, sess: s, name: string(name)})
	if first {
		s.srv.recordListeners.subscribed(string(name))
	}
	if s.srv.recordListeners.hasProvider(string(name)) {
		s.sendStrings(frame.TopicRecord, frame.ActionSubscriptionHasProvider, string(name), "T")
	}
}

// recordDiscard is R|US.
func (s *Session) recordDiscard(name []byte) {
	key := s.ls.topicKey(recordKey, name)
	if !s.srv.fan.IsSubscribed(string(key), s) {
		s.sendError(frame.TopicRecord, frame.EvNotSubscribed, name)
		return
	}
	last := s.srv.fan.Unsubscribe(string(key), s)
	s.sendParts(frame.TopicRecord, frame.ActionAck, []byte(frame.ActionUnsubscribe.String()), name)
	if last {
		s.srv.recordListeners.unsubscribed(string(name))
		s.srv.records.shardFor(name).push(recordOp{kind: opRelease, name: string(name)})
	}
}

// recordWrite validates U, P and CU on the session's loop and hands them to the owner.
//
//	R|U|name|version|json[|config]          R|P|name|version|path|typed[|config]
//	R|CU|name|version|json|config           R|CU|name|version|path|typed|config
//
// What a write allocates, and why: the op leaves the loop for the owner shard and the store's
// committer, so everything it carries is copied out of the loop's read buffer, which the next read
// reuses (the raw message, later broadcast as is; the data or the patch value as JSON; the config
// part; the name and path as strings, which also key maps). The owner copies the patched record
// once, because the store holds that version until it is durable while the setter reuses its
// buffer. A few small allocations per write against one fsync per commit batch; delivery to the
// subscribers (fanout) allocates nothing.
func (s *Session) recordWrite(chunk []byte) {
	m := &s.msg
	d := m.Data
	if len(d) == 0 {
		s.sendError(frame.TopicRecord, frame.EvMessagePermissionError, nil, []byte(m.ActionRaw))
		return
	}
	op := recordOp{sess: s, name: string(d[0]), user: s.valveUser()}
	if s.srv.perm != nil {
		op.rest = bytes.Join(d[1:], []byte{frame.PartSeparator})
	}
	var minParts, maxParts int
	switch m.Action {
	case frame.ActionUpdate:
		op.kind, minParts, maxParts = opUpdate, 3, 4
	case frame.ActionPatch:
		op.kind, minParts, maxParts = opPatch, 4, 5
	default: // CU: 4 parts set the whole record, 5 patch it
		op.kind, minParts, maxParts = opUpsert, 4, 5
	}
	if len(d) < minParts || len(d) > maxParts || len(d[0]) == 0 {
		s.invalidData(frame.TopicRecord, chunk)
		return
	}
	v, err := strconv.ParseInt(string(d[1]), 10, 64)
	if err != nil || v < -1 {
		s.sendParts(frame.TopicRecord, frame.ActionError, []byte(frame.EvInvalidVersion), d[0], d[1])
		return
	}
	op.version = v
	patch := op.kind == opPatch || (op.kind == opUpsert && len(d) == 5)
	cfg := []byte(nil)
	if patch {
		pathText := string(d[2])
		p, err := path.Parse(pathText)
		if err != nil {
			s.invalidData(frame.TopicRecord, chunk)
			return
		}
		tv, err := frame.ParseTyped(d[3])
		if err != nil {
			s.invalidData(frame.TopicRecord, chunk)
			return
		}
		op.path, op.pathText = p, pathText
		if tv.Kind != frame.KindUndefined {
			op.data = tv.AppendJSON(nil)
		}
		op.patch = true
		if len(d) == 5 {
			cfg = d[4]
		}
	} else {
		if !isJSONContainer(d[2]) {
			s.invalidData(frame.TopicRecord, chunk)
			return
		}
		op.data = append([]byte(nil), d[2]...)
		if len(d) == 4 {
			cfg = d[3]
		}
	}
	op.writeAck = wantsWriteAck(cfg)
	op.config = append([]byte(nil), cfg...)
	if op.kind != opUpsert {
		op.raw = frame.EndMessage(append([]byte(nil), chunk...))
	}
	s.srv.records.shardFor(d[0]).push(op)
}

func isJSONContainer(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 1 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

// wantsWriteAck reports whether a write's config part asks for a write acknowledgement.
func wantsWriteAck(cfg []byte) bool {
	if len(cfg) == 0 || !bytes.Contains(cfg, []byte("writeSuccess")) {
		return false
	}
	var c struct {
		WriteSuccess bool `json:"writeSuccess"`
	}
	return json.Unmarshal(cfg, &c) == nil && c.WriteSuccess
}

// records is the set of record shards.
type records struct {
	seed   maphash.Seed
	shards []*recordShard
}

func (r *records) shardFor(name []byte) *recordShard {
	return r.shards[maphash.Bytes(r.seed, name)%uint64(len(r.shards))]
}

func (r *records) shardForString(name string) *recordShard {
	return r.shards[maphash.String(r.seed, name)%uint64(len(r.shards))]
}
