package server

import (
	"log/slog"
	"strconv"
	"sync"

	"swiftlet/frame"
	"swiftlet/loop"
	"swiftlet/store"
	"swiftlet/store/path"
	"swiftlet/valve"
)

type opKind uint8

const (
	opRead      opKind = iota // CR: send the record, creating it if missing
	opUpdate                  // U
	opPatch                   // P
	opUpsert                  // CU (whole or patch)
	opDelete                  // D
	opHas                     // H
	opSnapshot                // SN
	opHead                    // HD
	opRelease                 // the last subscriber left: the record may leave memory
	opCommitted               // the store finished a write of this shard
	opPeek                    // a permission rule's _() lookup: hand the data to peek
	opCheckRead               // CR with permissions: check create (if missing) and read, then subscribe
)

// recordOp is one request to a record's owner. Its byte slices are owned by the op.
type recordOp struct {
	kind     opKind
	sess     *Session
	name     string
	version  int64     // the version the client sent
	data     []byte    // U/CU: the JSON document; P: the value's JSON (nil = undefined)
	patch    bool      // P, or CU with a path
	path     path.Path // patch path
	pathText string
	config   []byte // the config part as sent (may be empty)
	writeAck bool
	raw      []byte // U and P: the message as sent, rebroadcast unchanged
	rest     []byte // the data parts after the name, for a MESSAGE_DENIED reply
	user     *valve.User
	peek     func(data []byte, found bool) // opPeek

	// opCommitted
	commit *pendingWrite
	err    error
}

// recordState is the owner's copy of a record.
type recordState struct {
	exists   bool
	version  int64
	data     []byte
	inflight int // writes handed to the store and not yet committed
}

// pendingWrite is a write waiting for the store: what to broadcast and whom to acknowledge once durable.
type pendingWrite struct {
	name      string
	sess      *Session // the writer
	broadcast []byte   // the change as subscribers see it; nil for a creation
	ackVer    int64    // the version to list in the writer's WA
	writeAck  bool
	deleted   bool
	errText   string // set on commit: empty when durable
}

// recordShard owns the records whose names hash to it. Its goroutine is the only one touching recs.
// It is not an event loop: it may wait for a store read.
type recordShard struct {
	srv    *Server
	st     store.Store
	logger *slog.Logger

	mu      sync.Mutex
	queue   []recordOp
	spare   []recordOp
	signal  chan struct{}
	stopped chan struct{}
	closing bool

	recs   map[string]*recordState
	setter path.Setter
	buf    []byte
	acks   []pendingWrite // committed writes waiting to be acknowledged, grouped per writer and record
}

func newRecordShard(srv *Server, st store.Store) *recordShard {
	sh := &recordShard{srv: srv, st: st, logger: srv.logger, signal: make(chan struct{}, 1),
		stopped: make(chan struct{}), recs: map[string]*recordState{}}
	go sh.run()
	return sh
}

// push queues op for the shard. Safe for concurrent use; never blocks (the queue is unbounded, so a
// busy shard never stalls an event loop).
func (sh *recordShard) push(op recordOp) {
	sh.mu.Lock()
	sh.queue = append(sh.queue, op)
	sh.mu.Unlock()
	select {
	case sh.signal <- struct{}{}:
	default:
	}
}

// stop ends the shard after it has processed what is queued.
func (sh *recordShard) stop() {
	sh.mu.Lock()
	sh.closing = true
	sh.mu.Unlock()
	select {
	case sh.signal <- struct{}{}:
	default:
	}
	<-sh.stopped
}

func (sh *recordShard) run() {
	defer close(sh.stopped)
	for range sh.signal {
		for {
			sh.mu.Lock()
			ops := sh.queue
			sh.queue, sh.spare = sh.spare[:0], nil
			closing := sh.closing
			sh.mu.Unlock()
			if len(ops) == 0 {
				sh.flushAcks()
				if closing {
					return
				}
				break
			}
			for i := range ops {
				sh.process(&ops[i])
				ops[i] = recordOp{}
			}
			sh.mu.Lock()
			if sh.spare == nil {
				sh.spare = ops[:0]
			}
			sh.mu.Unlock()
		}
	}
}

// state returns the owner's copy of name, loading it from the store on first use.
func (sh *recordShard) state(name string) (*recordState, error) {
	if rs, ok := sh.recs[name]; ok {
		return rs, nil
	}
	rec, found, err := sh.st.Get(name)
	if err != nil {
		return nil, err
	}
	rs := &recordState{exists: found, version: rec.Version, data: rec.Data}
	sh.recs[name] = rs
	return rs, nil
}

// maybeEvict drops a record nobody subscribes to and nothing is writing from memory.
func (sh *recordShard) maybeEvict(name string, rs *recordState) {
	if rs.inflight == 0 && sh.srv.fan.Count(string(recordKey)+name) == 0 {
		delete(sh.recs, name)
	}
}

func (sh *recordShard) process(op *recordOp) {
	if op.kind == opCommitted {
		sh.committed(op)
		return
	}
	rs, err := sh.state(op.name)
	if err != nil {
		sh.logger.Error("record load failed", "record", op.name, "err", err)
		if op.sess != nil {
			sh.sendError(op.sess, frame.EvRecordLoadError, op.name, err.Error())
		}
		return
	}
	switch op.kind {
	case opPeek:
		op.peek(rs.data, rs.exists)
	case opCheckRead:
		if !rs.exists {
			if ok, err := sh.checkRecord(op, valve.Create, "CREATE", nil, nil); !ok {
				sh.recordDenied(op, err, "C", nil)
				break
			}
		}
		if ok, err := sh.checkRecord(op, valve.Read, "READ", nil, rs.data); !ok {
			sh.recordDenied(op, err, "R", nil)
			break
		}
		sess, name := op.sess, op.name
		sess.ls.l.Execute(func() { sess.recordSubscribeAllowed([]byte(name)) })
	case opRead:
		if !rs.exists {
			rs.exists, rs.version, rs.data = true, 0, []byte("{}")
			sh.persist(rs, pendingWrite{name: op.name})
		}
		sh.sendRead(op.sess, op.name, rs)
	case opHas, opSnapshot, opHead:
		if ok, err := sh.checkRecord(op, valve.Read, "READ", nil, rs.data); !ok {
			sh.recordDenied(op, err, map[opKind]string{opHas: "H", opSnapshot: "SN", opHead: "HD"}[op.kind], nil)
			break
		}
		sh.answerRead(op, rs)
	case opUpdate, opPatch, opUpsert:
		sh.write(op, rs)
	case opDelete:
		if ok, err := sh.checkRecord(op, valve.Delete, "DELETE", nil, rs.data); !ok {
			sh.recordDenied(op, err, "D", nil)
			break
		}
		if rs.exists {
			rs.exists, rs.version, rs.data = false, 0, nil
			sh.persist(rs, pendingWrite{name: op.name, sess: op.sess, deleted: true})
		} else {
			sh.send(op.sess, frame.ActionAck, "D", op.name)
		}
	case opRelease:
	}
	sh.maybeEvict(op.name, rs)
}

// answerRead answers has, snapshot and head.
func (sh *recordShard) answerRead(op *recordOp, rs *recordState) {
	switch op.kind {
	case opHas:
		flag := "F"
		if rs.exists {
			flag = "T"
		}
		sh.send(op.sess, frame.ActionHas, op.name, flag)
	case opSnapshot:
		if rs.exists {
			sh.sendRead(op.sess, op.name, rs)
		} else {
			sh.send(op.sess, frame.ActionError, "SN", op.name, frame.EvRecordNotFound)
		}
	case opHead:
		if rs.exists {
			sh.send(op.sess, frame.ActionHead, op.name, strconv.FormatInt(rs.version, 10))
		} else {
			sh.send(op.sess, frame.ActionError, "HD", op.name, frame.EvRecordNotFound)
		}
	}
}

// write applies U, P or CU to rs, after the version check.
func (sh *recordShard) write(op *recordOp, rs *recordState) {
	upsert := op.kind == opUpsert
	created := false
	if !rs.exists {
		if !upsert {
			sh.sendError(op.sess, frame.EvRecordUpdateError, strconv.FormatInt(op.version, 10))
			return
		}
		if ok, err := sh.checkRecord(op, valve.Create, "CREATE", nil, nil); !ok {
			sh.recordDenied(op, err, "C", nil)
			return
		}
		created = true
	}
	cur, curVersion := rs.data, rs.version
	if created {
		cur, curVersion = []byte("{}"), 0
	}
	if !upsert && op.version != curVersion+1 {
		// Only the writer hears of the conflict, with the server's state to merge with.
		parts := []string{op.name, strconv.FormatInt(curVersion, 10), string(cur)}
		if len(op.config) > 0 {
			parts = append(parts, string(op.config))
		}
		sh.sendError(op.sess, frame.EvVersionExists, parts...)
		return
	}
	newVersion := curVersion + 1
	var data []byte
	if op.patch {
		out, err := sh.setter.SetTrusted(cur, op.path, op.data)
		if err != nil {
			sh.sendError(op.sess, frame.EvInvalidMessageData, op.name, err.Error())
			return
		}
		data = append([]byte(nil), out...)
	} else {
		data = op.data
	}
	var oldData []byte
	if !created {
		oldData = cur
	}
	action := "UPDATE"
	if op.patch {
		action = "PATCH"
	}
	if ok, err := sh.checkRecord(op, valve.Write, action, data, oldData); !ok {
		wire := frame.ActionUpdate.String()
		switch {
		case upsert:
			wire = frame.ActionCreateAndUpdate.String()
		case op.patch:
			wire = frame.ActionPatch.String()
		}
		sh.recordDenied(op, err, wire, op.rest)
		return
	}
	rs.exists = true
	broadcast := op.raw
	if upsert {
		// CU is broadcast as the U or P it amounts to, with the version the server gave it.
		a := frame.ActionUpdate
		if op.patch {
			a = frame.ActionPatch
		}
		b := frame.AppendHeader(nil, frame.TopicRecord, a)
		b = frame.AppendPartString(b, op.name)
		b = frame.AppendPartString(b, strconv.FormatInt(newVersion, 10))
		if op.patch {
			b = frame.AppendPartString(b, op.pathText)
			if op.data == nil {
				b = frame.AppendTypedUndefined(append(b, frame.PartSeparator))
			} else {
				b = frame.AppendTypedJSON(append(b, frame.PartSeparator), op.data)
			}
		} else {
			b = frame.AppendPart(b, op.data)
		}
		if len(op.config) > 0 {
			b = frame.AppendPart(b, op.config)
		}
		broadcast = frame.EndMessage(b)
	}
	rs.version, rs.data = newVersion, data
	sh.persist(rs, pendingWrite{name: op.name, sess: op.sess, broadcast: broadcast, ackVer: op.version, writeAck: op.writeAck})
}

// persist hands rs's new state to the store; pw is acted on once it is durable.
func (sh *recordShard) persist(rs *recordState, pw pendingWrite) {
	rs.inflight++
	w := store.Write{Name: pw.name, Record: store.Record{Version: rs.version, Data: rs.data}, Delete: pw.deleted}
	p := &pw
	sh.st.Write(w, func(err error) {
		sh.push(recordOp{kind: opCommitted, name: p.name, commit: p, err: err})
	})
}

// committed runs when the store finished a write: broadcast it, then queue the writer's acknowledgement.
func (sh *recordShard) committed(op *recordOp) {
	pw := op.commit
	if rs := sh.recs[pw.name]; rs != nil {
		rs.inflight--
		defer sh.maybeEvict(pw.name, rs)
	}
	if op.err != nil {
		sh.logger.Error("record write failed", "record", pw.name, "err", op.err)
	}
	switch {
	case pw.deleted:
		sh.deleted(pw, op.err)
		return
	case op.err == nil && pw.broadcast != nil:
		sh.srv.fan.Publish(string(recordKey)+pw.name, pw.broadcast, pw.sess)
	}
	if pw.writeAck && pw.sess != nil {
		pw.errText = ""
		if op.err != nil {
			pw.errText = "Error writing record to storage"
		}
		sh.acks = append(sh.acks, *pw)
	}
}

// flushAcks sends the queued write acknowledgements, one WA per writer and record listing every
// version that became durable together.
func (sh *recordShard) flushAcks() {
	for i := 0; i < len(sh.acks); {
		a := sh.acks[i]
		j := i + 1
		for j < len(sh.acks) && sh.acks[j].sess == a.sess && sh.acks[j].name == a.name && sh.acks[j].errText == a.errText {
			j++
		}
		b := frame.AppendHeader(sh.buf[:0], frame.TopicRecord, frame.ActionWriteAck)
		b = frame.AppendPartString(b, a.name)
		b = append(b, frame.PartSeparator, '[')
		for k := i; k < j; k++ {
			if k > i {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, sh.acks[k].ackVer, 10)
		}
		b = append(b, ']')
		if a.errText == "" {
			b = frame.AppendPartString(b, "L")
		} else {
			b = frame.AppendTypedString(append(b, frame.PartSeparator), a.errText)
		}
		sh.buf = frame.EndMessage(b)
		sh.srv.fan.Send(a.sess, sh.buf)
		i = j
	}
	for i := range sh.acks {
		sh.acks[i] = pendingWrite{}
	}
	sh.acks = sh.acks[:0]
}

// deleted tells the deleter and every subscriber R|A|D|name, and unsubscribes them all (3.x does so
// silently). It runs the notices on each loop, so a notice and its unsubscription happen together.
func (sh *recordShard) deleted(pw *pendingWrite, err error) {
	if err != nil {
		sh.sendError(pw.sess, frame.EvRecordDeleteError, err.Error())
		return
	}
	delete(sh.recs, pw.name)
	msg := frame.AppendHeader(nil, frame.TopicRecord, frame.ActionAck)
	msg = frame.AppendPartString(msg, "D")
	msg = frame.EndMessage(frame.AppendPartString(msg, pw.name))
	wire := frame.AppendFrame(nil, frame.OpText, msg)
	key := string(recordKey) + pw.name
	deleter := pw.sess
	name := pw.name
	for _, ls := range sh.srv.loops {
		if ls == nil {
			continue
		}
		ls := ls
		ls.l.Execute(func() {
			ls.l.ForEach(func(c *loop.Conn) {
				sess, ok := c.Context().(*Session)
				if !ok {
					return
				}
				subscribed := sh.srv.fan.IsSubscribed(key, sess)
				if subscribed || sess == deleter {
					c.WriteFrame(wire)
				}
				if subscribed && sh.srv.fan.Unsubscribe(key, sess) {
					sh.srv.recordListeners.unsubscribed(name)
				}
			})
		})
	}
}

func (sh *recordShard) sendRead(to *Session, name string, rs *recordState) {
	b := frame.AppendHeader(sh.buf[:0], frame.TopicRecord, frame.ActionRead)
	b = frame.AppendPartString(b, name)
	b = frame.AppendPartString(b, strconv.FormatInt(rs.version, 10))
	b = frame.AppendPart(b, rs.data)
	sh.buf = frame.EndMessage(b)
	sh.srv.fan.Send(to, sh.buf)
}

// send sends R|<a>|parts... to one session.
func (sh *recordShard) send(to *Session, a frame.Action, parts ...string) {
	if to == nil {
		return
	}
	b := frame.AppendHeader(sh.buf[:0], frame.TopicRecord, a)
	for _, p := range parts {
		b = frame.AppendPartString(b, p)
	}
	sh.buf = frame.EndMessage(b)
	sh.srv.fan.Send(to, sh.buf)
}

// sendError sends R|E|<event>|parts... to one session.
func (sh *recordShard) sendError(to *Session, event string, parts ...string) {
	sh.send(to, frame.ActionError, append([]string{event}, parts...)...)
}
