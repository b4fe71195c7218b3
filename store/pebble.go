package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// PebbleOptions configure OpenPebble.
type PebbleOptions struct {
	// Dir is the database directory; "" means "./data".
	Dir string
	// Sync makes each group commit wait for fsync before done is called.
	// Without it a done(nil) write can be lost on a process crash (pebble
	// buffers NoSync writes in the process). The zero value is false, so
	// start from DefaultPebbleOptions, which turns it on; OpenPebble logs a
	// warning when it is off.
	Sync bool
	// Logger receives pebble's log lines and the store's own; nil means
	// slog.Default().
	Logger *slog.Logger
	// FS replaces the real filesystem (tests: vfs.NewCrashableMem()).
	FS vfs.FS
}

// DefaultPebbleOptions returns the durable defaults: Dir "./data", Sync on.
func DefaultPebbleOptions() PebbleOptions {
	return PebbleOptions{Dir: "./data", Sync: true}
}

// Pebble is the durable Store on cockroachdb/pebble.
//
// Writes are group-committed: Write encodes the write straight into the
// pending pebble Batch under a mutex (a few hundred nanoseconds; the batch is
// unbounded, so Write never waits for the disk or for queue space) and wakes
// the committer goroutine. The committer swaps the pending batch for an empty
// one, commits it with one fsync, then calls the done of every write in it.
// While a commit waits on the disk the next batch fills up, so the number of
// writes per fsync grows with load. A mutex-guarded batch was chosen over a
// lock-free ring: writes are copied exactly once (into the batch that is
// committed), the critical section is short and never blocks, and no bound
// has to be picked (memory use follows the disk's speed).
type Pebble struct {
	db   *pebble.DB
	wo   *pebble.WriteOptions
	log  *slog.Logger
	wake chan struct{} // capacity 1: "the pending batch is not empty"
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the committer has exited

	mu      sync.Mutex // guards pending, dones, closed
	pending *pebble.Batch
	dones   []func(error)
	closed  bool

	getMu    sync.RWMutex // readers: Get; writer: Close of db
	dbClosed bool
}

// OpenPebble opens (or creates) the database in opts.Dir and starts its
// committer goroutine. It uses the newest pebble format, whose WAL sync
// chunks let recovery tell a torn tail (tolerated) from corruption of synced
// data: corruption makes OpenPebble fail with an error for which
// IsCorruption is true.
func OpenPebble(opts PebbleOptions) (*Pebble, error) {
	if opts.Dir == "" {
		opts.Dir = "./data"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "store")
	popts := &pebble.Options{
		FS:                 opts.FS,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log},
	}
	db, err := pebble.Open(opts.Dir, popts)
	if err != nil {
		return nil, fmt.Errorf("store: open pebble in %s: %w", opts.Dir, err)
	}
	// The WAL a brand-new database starts with predates the format ratchet
	// and lacks sync chunks, so corruption inside it would be replayed as a
	// torn tail, silently dropping acknowledged writes. A flush rotates to a
	// WAL in the newest format; it is cheap at startup and also bounds the
	// next recovery.
	if err := db.Flush(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: initial flush in %s: %w", opts.Dir, err)
	}
	wo := pebble.Sync
	if !opts.Sync {
		wo = pebble.NoSync
		log.Warn("pebble sync disabled: acknowledged writes can be lost on a crash", "dir", opts.Dir)
	}
	p := &Pebble{
		db:      db,
		wo:      wo,
		log:     log,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: db.NewBatch(),
	}
	go p.commitLoop(db.NewBatch())
	return p, nil
}

// IsCorruption reports whether err (from OpenPebble or Get) reports corrupt
// data on disk.
func IsCorruption(err error) bool {
	return err != nil && (pebble.IsCorruptionError(err) || errors.Is(err, pebble.ErrCorruption))
}

// Get reads the record stored under name. It may block on disk.
func (p *Pebble) Get(name string) (Record, bool, error) {
	key := make([]byte, 1+len(name))
	key[0] = recordPrefix
	copy(key[1:], name)
	p.getMu.RLock()
	defer p.getMu.RUnlock()
	if p.dbClosed {
		return Record{}, false, ErrClosed
	}
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("store: get %q: %w", name, err)
	}
	r, err := decodeValue(v)
	closer.Close()
	if err != nil {
		return Record{}, false, fmt.Errorf("store: get %q: %w", name, err)
	}
	return r, true, nil
}

// Write queues w for the next group commit; see Store. It does not allocate
// in steady state (the batch and done slice are reused).
func (p *Pebble) Write(w Write, done func(error)) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		done(ErrClosed)
		return
	}
	keyLen := 1 + len(w.Name)
	var op *pebble.DeferredBatchOp
	if w.Delete {
		op = p.pending.DeleteDeferred(keyLen)
	} else {
		op = p.pending.SetDeferred(keyLen, valueLen(w.Record))
		encodeValue(op.Value, w.Record)
	}
	op.Key[0] = recordPrefix
	copy(op.Key[1:], w.Name)
	err := op.Finish() // only fails for indexed batches; ours is not
	if err == nil {
		p.dones = append(p.dones, done)
	}
	p.mu.Unlock()
	if err != nil {
		done(err)
		return
	}
	select {
	case p.wake <- struct{}{}:
	default: // already signalled
	}
}

// commitLoop is the committer goroutine. next is an empty batch to swap in.
func (p *Pebble) commitLoop(next *pebble.Batch) {
	defer close(p.done)
	var nextDones []func(error)
	for {
		select {
		case <-p.wake:
		case <-p.quit:
		}
		p.mu.Lock()
		b, dones, closed := p.pending, p.dones, p.closed
		p.pending, p.dones = next, nextDones
		p.mu.Unlock()

		if len(dones) > 0 {
			err := b.Commit(p.wo)
			if err != nil {
				p.log.Error("record batch commit failed", "writes", len(dones), "err", err)
				err = fmt.Errorf("store: commit: %w", err)
			}
			for i, f := range dones {
				f(err)
				dones[i] = nil
			}
		}
		b.Reset()
		next, nextDones = b, dones[:0]
		if closed {
			// Nothing can be queued after closed was set, and this round
			// took everything queued before it.
			b.Close()
			p.mu.Lock()
			p.pending.Close()
			p.mu.Unlock()
			return
		}
	}
}

// Close waits for every queued write to commit (calling its done), then
// closes the database.
func (p *Pebble) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.mu.Unlock()
	close(p.quit)
	<-p.done

	p.getMu.Lock()
	defer p.getMu.Unlock()
	p.dbClosed = true
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("store: close pebble: %w", err)
	}
	return nil
}

// pebbleLogger adapts slog to pebble's Logger.
type pebbleLogger struct{ l *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.l.Info(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

// Fatalf logs and panics: pebble calls it on unrecoverable states (such as a
// disk stall past its limit) and requires that it not return.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.l.Error(msg, "source", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
