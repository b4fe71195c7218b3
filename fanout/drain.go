package fanout

import "time"

// drain delivers everything queued for the shard. It runs on the shard's goroutine, started by the
// Executor after a wake or a deferral timer.
func (sh *shard) drain() {
	sh.draining = true
	var start time.Time
	if sh.e.window > 0 {
		start = time.Now()
	}
	r := sh.ring

	// Everything committed in the ring, in order, up to one ring's worth (a drain is bounded so the
	// loop gets back to its sockets; a non-empty ring reschedules below).
	var n uint64
	for size := r.size(); n < size; n++ {
		s := r.at(n)
		if s == nil {
			break
		}
		sh.handle(s.kind, s.topic(), s.msg(), s.from, s.to)
	}

	// Then the overflow list, but only if the ring has been consumed up to its tail: a producer that
	// spilled a record may have put its earlier records in the ring, and those must go first. The
	// check is repeated under the lock because a spilling producer's earlier ring push (a CAS on tail)
	// happens before it takes the lock.
	took := false
	if sh.spill.Load() && !r.pending(n) {
		sh.spillMu.Lock()
		if !r.pending(n) {
			sh.spillCur, sh.spillSpare = sh.spillSpare, sh.spillCur
			sh.spill.Store(false)
			took = true
		}
		sh.spillMu.Unlock()
		if took {
			l := &sh.spillSpare
			for i := range l.recs {
				rec := &l.recs[i]
				b := l.data[rec.off : rec.off+rec.topicLen+rec.n]
				sh.handle(rec.kind, b[:rec.topicLen], b[rec.topicLen:], rec.from, rec.to)
			}
		}
	}

	for _, lt := range sh.batches {
		sh.flushTopic(lt)
	}
	clear(sh.batches)
	sh.batches = sh.batches[:0]

	// Every frame of this drain has been handed over; the bytes they point into may now be reused.
	r.release(n)
	if took {
		l := &sh.spillSpare
		clear(l.recs)
		l.recs = l.recs[:0]
		l.data = l.data[:0]
		if cap(l.data) > spillRetain {
			l.data = nil
		}
		if cap(l.recs)*64 > spillRetain {
			l.recs = nil
		}
	}
	if cap(sh.arena) > arenaRetain {
		sh.arena = nil
	} else {
		sh.arena = sh.arena[:0]
	}
	sh.draining = false

	c := &sh.cnt
	sh.drains.Add(1)
	sh.records.Add(c.records)
	sh.sends.Add(c.sends)
	sh.delivered.Add(c.delivered)
	sh.frames.Add(c.frames)
	sh.bytes.Add(c.bytes)
	busy := c.records >= deferRecords || c.frames >= deferFrames
	*c = drainCounts{}
	hold := busy || start.Before(sh.lingerUntil)

	// Busy (or lingering after a busy drain, see lingerFor) and fast: keep sched at 1 so producers do
	// not wake us, and drain again Window after the loop has written this drain's frames (arm).
	// Otherwise (idle, or a drain so slow that natural batching already coalesces), clear sched and
	// look again for records whose producers saw sched == 1 and did not wake us.
	//
	// A claimed but uncommitted slot at head does not count: its producer commits and then wakes,
	// and since its commit comes after our look (we did not see it) and our Store(0) before the look,
	// its wake sees 0 and schedules the drain. Counting it would make the shard spin drains for as
	// long as that producer is preempted between its claim and its commit (milliseconds on a loaded
	// machine: measured thousands of empty drains per benchmark round). Likewise the overflow list
	// only counts when the ring is empty to its tail, the one state in which a drain can take it.
	if hold && sh.e.window > 0 {
		if el := time.Since(start); el < sh.e.window {
			sh.deferred.Add(1)
			if busy {
				sh.busyStart, sh.armBusy = start, true
			}
			sh.executor().Execute(sh.armFn)
			return
		}
	}
	sh.sched.Store(0)
	again := r.at(0) != nil || (sh.spill.Load() && !r.pending(0))
	if again && sh.sched.CompareAndSwap(0, 1) {
		sh.wakes.Add(1)
		sh.executor().Execute(sh.drainFn)
	}
}

// handle adds one record to the drain: a publish joins its topic's batch, a unicast is delivered at
// once, after any pending batch its subscriber is in (so a producer's earlier publishes reach the
// subscriber before its later unicast). Shard goroutine only, during a drain.
func (sh *shard) handle(kind uint8, topic, msg []byte, from, to Subscriber) {
	if kind == kindSend {
		sh.cnt.sends++
		if sub := sh.subs[to]; sub != nil {
			if len(sub.topics) <= len(sh.batches) {
				for _, lt := range sub.topics {
					if lt.pending {
						sh.flushTopic(lt)
					}
				}
			} else {
				for _, lt := range sh.batches {
					if lt.pending {
						if _, ok := lt.index[to]; ok {
							sh.flushTopic(lt)
						}
					}
				}
			}
		}
		a := sh.arena
		start := len(a)
		a = appendTextHeader(a, len(msg))
		a = append(a, msg...)
		sh.arena = a
		f := a[start:len(a):len(a)]
		to.WriteFrame(f)
		sh.cnt.delivered++
		sh.cnt.frames++
		sh.cnt.bytes += uint64(len(f))
		return
	}

	lt := sh.topics[string(topic)]
	if lt == nil {
		return // every local subscriber left after the record was published
	}
	sh.cnt.records++
	if !lt.pending {
		lt.pending = true
		lt.epoch++
		lt.total = 0
		lt.nsenders = 0
		sh.batches = append(sh.batches, lt)
	}
	sender := int32(-1)
	if from != nil {
		if p, ok := lt.index[from]; ok {
			sender = p
			if m := &lt.members[p]; m.mark != lt.epoch {
				m.mark = lt.epoch
				lt.nsenders++
			}
		}
	}
	lt.msgs = append(lt.msgs, msgRef{b: msg, sender: sender})
	lt.total += len(msg)
}

// flushTopic encodes lt's pending batch once as one text frame and hands it to every local
// subscriber; a subscriber that sent some of the batch gets a frame of its own without them (none if
// the batch is all its own). Frames are appended to the drain's arena and never overwritten before
// the drain ends. Shard goroutine only, during a drain.
func (sh *shard) flushTopic(lt *localTopic) {
	if !lt.pending {
		return
	}
	lt.pending = false
	a := sh.arena
	start := len(a)
	a = appendTextHeader(a, lt.total)
	for _, m := range lt.msgs {
		a = append(a, m.b...)
	}
	frame := a[start:len(a):len(a)]
	nmsg := uint64(len(lt.msgs))
	c := &sh.cnt
	for i := range lt.members {
		m := &lt.members[i]
		if lt.nsenders > 0 && m.mark == lt.epoch {
			own, ownN := 0, uint64(0)
			for _, r := range lt.msgs {
				if r.sender == int32(i) {
					own += len(r.b)
					ownN++
				}
			}
			if own == lt.total {
				continue
			}
			cs := len(a)
			a = appendTextHeader(a, lt.total-own)
			for _, r := range lt.msgs {
				if r.sender != int32(i) {
					a = append(a, r.b...)
				}
			}
			f := a[cs:len(a):len(a)]
			m.s.WriteFrame(f)
			c.delivered += nmsg - ownN
			c.frames++
			c.bytes += uint64(len(f))
			continue
		}
		m.s.WriteFrame(frame)
		c.delivered += nmsg
		c.frames++
		c.bytes += uint64(len(frame))
	}
	sh.arena = a
	clear(lt.msgs) // drop references into ring slots and the overflow list
	lt.msgs = lt.msgs[:0]
}
