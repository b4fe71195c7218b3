package store

import (
	"errors"
	"strings"
)

// Exclude wraps s so that records whose names start with any of prefixes
// live only in memory and never reach s (deepstream's storageExclusion).
// With no prefixes it returns s itself. Each name always goes to the same
// side, so per-name write order is kept. done for an excluded name is called
// synchronously, as Memory does. Close closes the memory side and s.
func Exclude(s Store, prefixes []string) Store {
	if len(prefixes) == 0 {
		return s
	}
	return &exclude{durable: s, mem: NewMemory(), prefixes: append([]string(nil), prefixes...)}
}

type exclude struct {
	durable  Store
	mem      *Memory
	prefixes []string
}

func (e *exclude) route(name string) Store {
	for _, p := range e.prefixes {
		if strings.HasPrefix(name, p) {
			return e.mem
		}
	}
	return e.durable
}

func (e *exclude) Get(name string) (Record, bool, error) { return e.route(name).Get(name) }

func (e *exclude) Write(w Write, done func(error)) { e.route(w.Name).Write(w, done) }

func (e *exclude) Close() error {
	return errors.Join(e.mem.Close(), e.durable.Close())
}
