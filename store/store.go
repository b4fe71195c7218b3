// Package store keeps records at rest: a durable pebble store (the default),
// an in-memory store (tests and cache-only prefixes), and Exclude, which keeps
// names with given prefixes in memory only (deepstream's storageExclusion).
package store

import (
	"encoding/binary"
	"errors"
)

// Record is a stored record: its deepstream version and its data, the JSON
// text of an object or array.
type Record struct {
	Version int64
	Data    []byte
}

// Write is one queued change to a record: a set of Record, or a delete when
// Delete is true (Record is then ignored).
type Write struct {
	Name   string
	Record Record
	Delete bool
}

// Store is the durable record store.
//
// Get may block on disk: never call it on an event loop. It is safe for
// concurrent use, and the Data it returns belongs to the caller.
//
// Write never blocks the caller on I/O: it queues the write and returns. done
// is called exactly once, after the write is durable (for pebble with Sync:
// after the synced commit of the batch holding it) or has failed. done must
// not block, since it runs on the store's committer goroutine and holds up
// every later write; hand the result back to the owning loop instead. Writes
// to one name are applied in the order Write was called. Write copies what it
// needs from w before returning, so the caller may reuse w.Record.Data at
// once. Write is safe for concurrent use.
//
// A Get concurrent with a Write to the same name may return either state, and
// may observe a write before its done is called: readable is not durable.
//
// Close flushes queued writes (their done is called), then closes. Write
// after Close calls done(ErrClosed) before returning; Get after Close returns
// ErrClosed; a second Close returns ErrClosed.
type Store interface {
	Get(name string) (Record, bool, error)
	Write(w Write, done func(error))
	Close() error
}

var (
	// ErrClosed is returned (or passed to done) after Close.
	ErrClosed = errors.New("store: closed")
	// ErrBadValue is returned by Get when a stored value does not decode.
	ErrBadValue = errors.New("store: stored value does not decode")
)

// keyspace prefixes: one byte in front of every key leaves room for other
// keyspaces (metadata, indexes) in the same database.
const recordPrefix byte = 'r'

// valueLen is the encoded size of r: varint(version) then data.
func valueLen(r Record) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutVarint(tmp[:], r.Version) + len(r.Data)
}

// encodeValue writes r into dst, which has exactly valueLen(r) bytes.
func encodeValue(dst []byte, r Record) {
	n := binary.PutVarint(dst, r.Version)
	copy(dst[n:], r.Data)
}

// decodeValue decodes a stored value into a Record whose Data is a fresh copy.
func decodeValue(v []byte) (Record, error) {
	version, n := binary.Varint(v)
	if n <= 0 {
		return Record{}, ErrBadValue
	}
	data := make([]byte, len(v)-n)
	copy(data, v[n:])
	return Record{Version: version, Data: data}, nil
}
