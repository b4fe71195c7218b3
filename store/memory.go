package store

import "sync"

// Memory is an in-memory Store: a map guarded by a mutex. Nothing survives
// Close. Write applies the write and calls done synchronously, on the
// caller's goroutine, before it returns (after releasing the lock), so a
// caller must not hold locks done needs. Safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	records map[string]Record
	closed  bool
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{records: make(map[string]Record)}
}

// Get returns a copy of the record stored under name.
func (m *Memory) Get(name string) (Record, bool, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Record{}, false, ErrClosed
	}
	r, ok := m.records[name]
	m.mu.Unlock()
	if !ok {
		return Record{}, false, nil
	}
	// Stored Data is never mutated (a set replaces it), so copying outside
	// the lock is safe; the copy lets the caller own the result.
	return Record{Version: r.Version, Data: append([]byte(nil), r.Data...)}, true, nil
}

// Write applies w and calls done(nil), or done(ErrClosed) after Close.
func (m *Memory) Write(w Write, done func(error)) {
	var data []byte
	if !w.Delete {
		data = append(make([]byte, 0, len(w.Record.Data)), w.Record.Data...)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		done(ErrClosed)
		return
	}
	if w.Delete {
		delete(m.records, w.Name)
	} else {
		m.records[w.Name] = Record{Version: w.Record.Version, Data: data}
	}
	m.mu.Unlock()
	done(nil)
}

// Close drops every record. There is no queue to flush: each Write has
// already completed when it returns.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	m.records = nil
	return nil
}

// Len returns the number of records held. Safe for concurrent use.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}
