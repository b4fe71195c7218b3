package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"swiftlet/frame"
	"swiftlet/valve"
)

// Permissions (protocol.md section 12).
//
// With `permission: {type: config}` every permissioned action is checked against the Valve rules of
// the configured file; with `type: none` everything is allowed. Checks of events, RPC, presence and
// listens run on the session's loop; record create/read/write/delete checks run on the record's
// owner shard, where the record's current data (oldData, and data after a patch) lives.
//
// A rule that looks up other records with _() never blocks a loop: Check reports the names it
// needs, the session stops processing its messages (later ones are held, in order), the records are
// fetched from their owner shards, and the message is dispatched again with them, up to
// maxRuleIterations rounds.

// newPermissions loads the permission file named by cfg; nil means everything is allowed.
func newPermissions(cfg Config) (*valve.Holder, error) {
	if cfg.Permission.Type != "config" {
		return nil, nil
	}
	opts := valve.Options{MaxRuleIterations: cfg.Permission.Options.MaxRuleIterations}
	p, err := valve.LoadWithOptions(cfg.Permission.Options.Path, opts)
	if err != nil {
		return nil, err
	}
	return valve.NewHolder(p, opts), nil
}

// Reload re-reads the permission file (SIGHUP). A bad new file keeps the old rules and logs why.
// Safe for concurrent use.
func (s *Server) Reload() {
	if s.perm == nil {
		s.logger.Info("reload: no permission file configured")
		return
	}
	if err := s.perm.ReloadFile(s.cfg.Permission.Options.Path); err != nil {
		s.logger.Error("permissions not reloaded: keeping the old rules", "err", err)
		return
	}
	s.logger.Info("permissions reloaded", "path", s.cfg.Permission.Options.Path)
}

// watchPermissions reloads the permission file when it changes on disk, until ctx ends.
func (s *Server) watchPermissions(ctx context.Context) {
	if s.perm == nil {
		return
	}
	go s.perm.Watch(ctx, s.cfg.Permission.Options.Path, 500*time.Millisecond, func(err error) {
		s.logger.Error("permissions not reloaded: keeping the old rules", "err", err)
	})
}

// valveUser is the session's user as rules see it.
func (s *Session) valveUser() *valve.User {
	if s.vuser == nil {
		s.vuser = &valve.User{ID: s.user.ID, Authenticated: s.user.ID != "open", Data: s.user.ServerData}
	}
	return s.vuser
}

// permit checks the rule of (section, typ) for the current message s.msg, named name, with data
// (JSON, nil = undefined). It returns true when the message may proceed. Otherwise it has answered:
// MESSAGE_DENIED or MESSAGE_PERMISSION_ERROR with the layout <name>|<action>|<remaining data parts>,
// or, when the rule needs records not loaded yet, it has blocked the session and will dispatch the
// message again once they are (see the file comment). Call it before any side effect of the message.
func (s *Session) permit(t frame.Topic, section valve.Section, typ valve.RuleType, name []byte, data []byte, chunk []byte) bool {
	perm := s.srv.perm
	if perm == nil {
		return true
	}
	p := perm.Load()
	req := valve.Request{Section: section, Type: typ, Name: string(name), User: s.valveUser(), Data: data,
		Action: s.msg.Action.Name(), Now: time.Now().UnixMilli()}
	allowed, err := p.Check(&req, s.lookup)
	var need *valve.NeedRecords
	if errors.As(err, &need) {
		if s.lookupRounds >= p.MaxRuleIterations() {
			err = fmt.Errorf("rule needs records beyond %d iterations", p.MaxRuleIterations())
		} else {
			s.fetchAndRetry(need.Names, chunk)
			return false
		}
	}
	s.lookupRounds, s.preloaded = 0, nil
	if err != nil {
		s.srv.logger.Debug("permission rule failed", "conn", s.conn.ID(), "name", string(name), "err", err)
		s.sendDenied(t, frame.EvMessagePermissionError)
		return false
	}
	if !allowed {
		s.sendDenied(t, frame.EvMessageDenied)
		return false
	}
	return true
}

// sendDenied answers <T>|E|<event>|<name>|<action>|<remaining data parts> for the current message.
func (s *Session) sendDenied(t frame.Topic, event string) {
	m := &s.msg
	s.conn.AppendText(func(dst []byte) []byte {
		dst = frame.AppendHeader(dst, t, frame.ActionError)
		dst = frame.AppendPartString(dst, event)
		if len(m.Data) == 0 {
			dst = frame.AppendPart(dst, nil)
		}
		for i, p := range m.Data {
			dst = frame.AppendPart(dst, p)
			if i == 0 {
				dst = frame.AppendPart(dst, m.ActionRaw)
			}
		}
		if len(m.Data) == 0 {
			dst = frame.AppendPart(dst, m.ActionRaw)
		}
		return frame.EndMessage(dst)
	})
}

// lookup is the valve.Lookup of a session: only records fetched for the current message are known.
func (s *Session) lookup(name string) ([]byte, bool, bool) {
	r, ok := s.preloaded[name]
	if !ok {
		return nil, false, false
	}
	return r.data, r.found, true
}

type lookedUp struct {
	data  []byte
	found bool
}

// fetchAndRetry blocks the session, fetches names from their owner shards, and dispatches chunk
// again on the session's loop once all have answered.
func (s *Session) fetchAndRetry(names []string, chunk []byte) {
	s.blocked = true
	s.lookupRounds++
	retry := append([]byte(nil), chunk...)
	results := make(map[string]lookedUp, len(names))
	remaining := len(names)
	l := s.ls.l
	for _, name := range names {
		name := name
		s.srv.records.shardForString(name).push(recordOp{kind: opPeek, name: name, peek: func(data []byte, found bool) {
			l.Execute(func() {
				results[name] = lookedUp{data, found}
				remaining--
				if remaining > 0 || s.state == stateGone {
					return
				}
				if s.preloaded == nil {
					s.preloaded = map[string]lookedUp{}
				}
				for k, v := range results {
					s.preloaded[k] = v
				}
				s.blocked = false
				s.dispatch(retry)
				s.drainHeld()
			})
		}})
	}
}

// drainHeld processes the messages that arrived while the session was blocked, in order, until it
// blocks again or none is left.
func (s *Session) drainHeld() {
	for len(s.held) > 0 && !s.blocked && s.state != stateGone && s.conn.IsOpen() {
		chunk := s.held[0]
		s.held[0] = nil
		s.held = s.held[1:]
		s.dispatch(chunk)
	}
}

// checkRecord evaluates a record rule on the owner shard, where data and oldData are known. Lookups of
// other records read the owner's own copy when the name hashes here, and the store otherwise (the
// shard is not an event loop, so it may wait for a read).
func (sh *recordShard) checkRecord(op *recordOp, typ valve.RuleType, action string, data, oldData []byte) (bool, error) {
	perm := sh.srv.perm
	if perm == nil || op.sess == nil {
		return true, nil
	}
	p := perm.Load()
	req := valve.Request{Section: valve.SectionRecord, Type: typ, Name: op.name, User: op.user, Data: data,
		OldData: oldData, Action: action, Now: time.Now().UnixMilli()}
	lookup := func(name string) ([]byte, bool, bool) {
		if strings.Contains(name, "undefined") {
			return nil, false, true
		}
		if sh.srv.records.shardForString(name) == sh {
			rs, err := sh.state(name)
			if err != nil || !rs.exists {
				return nil, false, true
			}
			return rs.data, true, true
		}
		rec, found, err := sh.st.Get(name)
		if err != nil {
			return nil, false, true
		}
		return rec.Data, found, true
	}
	return p.Check(&req, lookup)
}

// recordDenied sends R|E|<event>|<name>|<action>[|parts] for a record check that failed on the owner.
func (sh *recordShard) recordDenied(op *recordOp, err error, action string, rest []byte) {
	event := frame.EvMessageDenied
	if err != nil {
		event = frame.EvMessagePermissionError
		sh.logger.Debug("permission rule failed", "record", op.name, "err", err)
	}
	b := frame.AppendHeader(sh.buf[:0], frame.TopicRecord, frame.ActionError)
	b = frame.AppendPartString(b, event)
	b = frame.AppendPartString(b, op.name)
	b = frame.AppendPartString(b, action)
	if len(rest) > 0 {
		b = frame.AppendPart(b, rest)
	}
	sh.buf = frame.EndMessage(b)
	sh.srv.fan.Send(op.sess, sh.buf)
}
