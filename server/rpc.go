package server

import (
	"sync"
	"time"

	"swiftlet/frame"
	"swiftlet/valve"
)

// rpcRegistry is the RPC state shared by all loops: who provides which name, and the index of the
// requests each provider was asked (see rpc_core.go for the design). mu guards providers, byProv and
// inflight; nothing is called while it is held. The per-loop cores own the requests themselves.
type rpcRegistry struct {
	srv        *Server
	ackTimeout time.Duration
	timeout    time.Duration
	roundRobin bool
	cores      []*rpcCore // per loop index

	mu        sync.Mutex
	providers map[string]*rpcProviders
	byProv    map[*Session][]string          // the names each session provides
	inflight  map[*Session]map[string]rpcRef // provider -> correlation id -> request
}

func newRPCRegistry(s *Server) *rpcRegistry {
	reg := newRPCRegistryWith(s.cfg.RPCAckTimeout.D(), s.cfg.RPCTimeout.D(), s.cfg.RPCRouting == "roundRobin")
	reg.srv = s
	for i := range s.loops {
		reg.cores = append(reg.cores, newRPCCore(reg, loopRPCEnv{srv: s, idx: i}, uint64(i)+1))
	}
	return reg
}

func newRPCRegistryWith(ackTimeout, timeout time.Duration, roundRobin bool) *rpcRegistry {
	return &rpcRegistry{
		ackTimeout: ackTimeout, timeout: timeout, roundRobin: roundRobin,
		providers: map[string]*rpcProviders{},
		byProv:    map[*Session][]string{},
		inflight:  map[*Session]map[string]rpcRef{},
	}
}

// loopRPCEnv runs a core on loop idx: the loop's clock and timers, and direct writes to sessions of
// that loop (fanout for the others).
type loopRPCEnv struct {
	srv *Server
	idx int
}

func (e loopRPCEnv) now() time.Time { return e.srv.loops[e.idx].l.Now() }

func (e loopRPCEnv) afterFunc(d time.Duration, fn func()) { e.srv.loops[e.idx].l.AfterFunc(d, fn) }

func (e loopRPCEnv) execute(fn func()) { e.srv.loops[e.idx].l.Execute(fn) }

func (e loopRPCEnv) send(to *Session, msg []byte) {
	if to.ls != nil && to.ls.l.Index() == e.idx {
		to.conn.SendText(msg)
		return
	}
	e.srv.fan.Send(to, msg)
}

// rpcCore returns the core of the session's loop.
func (s *Session) rpcCore() *rpcCore { return s.srv.rpc.cores[s.ls.l.Index()] }

// handleRPC implements protocol.md section 6 for an open session.
func (s *Session) handleRPC(chunk []byte) {
	m := &s.msg
	switch m.Action {
	case frame.ActionSubscribe:
		if name, ok := s.nameArg(frame.TopicRPC, chunk); ok {
			if !s.permit(frame.TopicRPC, valve.SectionRPC, valve.Provide, name, nil, chunk) {
				return
			}
			if !s.srv.rpc.provide(s, name) {
				s.sendError(frame.TopicRPC, frame.EvMultipleSubscriptions, name)
				return
			}
			s.sendParts(frame.TopicRPC, frame.ActionAck, []byte(frame.ActionSubscribe.String()), name)
		}
	case frame.ActionUnsubscribe:
		if name, ok := s.nameArg(frame.TopicRPC, chunk); ok {
			if !s.srv.rpc.unprovide(s, name) {
				s.sendError(frame.TopicRPC, frame.EvNotSubscribed, name)
				return
			}
			s.sendParts(frame.TopicRPC, frame.ActionAck, []byte(frame.ActionUnsubscribe.String()), name)
		}
	case frame.ActionRequest:
		// P|REQ|name|cid|typed
		if len(m.Data) == 0 {
			s.sendError(frame.TopicRPC, frame.EvMessagePermissionError, nil, m.ActionRaw)
			return
		}
		if len(m.Data) != 3 || len(m.Data[0]) == 0 || len(m.Data[1]) == 0 {
			s.invalidData(frame.TopicRPC, chunk)
			return
		}
		v, err := frame.ParseTyped(m.Data[2])
		if err != nil {
			s.invalidData(frame.TopicRPC, chunk)
			return
		}
		if s.srv.perm != nil {
			var data []byte
			if v.Kind != frame.KindUndefined {
				data = v.AppendJSON(s.ls.jsonBuf[:0])
				s.ls.jsonBuf = data
			}
			if !s.permit(frame.TopicRPC, valve.SectionRPC, valve.RequestRule, m.Data[0], data, chunk) {
				return
			}
		}
		ls := s.ls
		ls.scratch = frame.EndMessage(append(ls.scratch[:0], chunk...))
		s.rpcCore().request(s, ls.scratch, m.Data[0], m.Data[1])
	case frame.ActionAck:
		// P|A|REQ|name|cid
		if len(m.Data) != 3 || string(m.Data[0]) != frame.ActionRequest.String() || len(m.Data[1]) == 0 || len(m.Data[2]) == 0 {
			s.invalidData(frame.TopicRPC, chunk)
			return
		}
		s.fromProvider(rpcEvAck, m.Data[2], chunk)
	case frame.ActionResponse:
		// P|RES|name|cid|typed (the data part may be missing)
		if len(m.Data) < 2 || len(m.Data) > 3 || len(m.Data[0]) == 0 || len(m.Data[1]) == 0 ||
			(len(m.Data) == 3 && !validTyped(m.Data[2])) {
			s.invalidData(frame.TopicRPC, chunk)
			return
		}
		s.fromProvider(rpcEvResponse, m.Data[1], chunk)
	case frame.ActionError:
		// P|E|error|name|cid
		if len(m.Data) != 3 || len(m.Data[1]) == 0 || len(m.Data[2]) == 0 {
			s.invalidData(frame.TopicRPC, chunk)
			return
		}
		s.fromProvider(rpcEvError, m.Data[2], chunk)
	case frame.ActionRejection:
		// P|REJ|name|cid
		if len(m.Data) != 2 || len(m.Data[0]) == 0 || len(m.Data[1]) == 0 {
			s.invalidData(frame.TopicRPC, chunk)
			return
		}
		s.fromProvider(rpcEvReject, m.Data[1], chunk)
	default:
		ls := s.ls
		ls.scratch = append(append(ls.scratch[:0], "unknown action "...), m.ActionRaw...)
		s.sendError(frame.TopicRPC, frame.EvUnknownAction, ls.scratch)
	}
}

func validTyped(b []byte) bool {
	_, err := frame.ParseTyped(b)
	return err == nil
}

// fromProvider hands a provider's message about cid to the request's core, or answers
// INVALID_RPC_CORRELATION_ID when the provider has no such request.
func (s *Session) fromProvider(kind uint8, cid, chunk []byte) {
	ls := s.ls
	ls.scratch = frame.EndMessage(append(ls.scratch[:0], chunk...))
	if !s.srv.rpc.providerMessage(s.rpcCore(), kind, s, cid, ls.scratch) {
		ls.scratch = appendUnexpected(ls.scratch[:0], &s.msg)
		s.conn.SendText(ls.scratch)
	}
}

// rpcClosed releases the session's providers and requests when its connection is gone: its own
// requests are orphaned (answers discarded), and the requests it was asked as a provider are re-routed
// to another provider or fail with NO_RPC_PROVIDER.
func (s *Session) rpcClosed() {
	here := s.rpcCore()
	here.requesterGone(s)
	for _, ref := range s.srv.rpc.removeProvider(s) {
		s.srv.rpc.dispatch(here, rpcEvGone, s, ref, nil)
	}
}
