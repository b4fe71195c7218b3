package valve

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"
)

// Holder holds the current permissions and swaps them atomically on reload.
// Readers never block. Safe for concurrent use.
type Holder struct {
	p    atomic.Pointer[Permissions]
	opts Options
}

// NewHolder returns a Holder serving p; opts are used by ReloadFile.
func NewHolder(p *Permissions, opts Options) *Holder {
	h := &Holder{opts: opts}
	h.p.Store(p)
	return h
}

// Load returns the current permissions. Safe for concurrent use.
func (h *Holder) Load() *Permissions { return h.p.Load() }

// Swap installs p and returns the previous permissions. Safe for concurrent use.
func (h *Holder) Swap(p *Permissions) *Permissions { return h.p.Swap(p) }

// ReloadFile loads path and installs it. On any error the current rules stay
// in force and the error is returned. Safe for concurrent use.
func (h *Holder) ReloadFile(path string) error {
	p, err := LoadWithOptions(path, h.opts)
	if err != nil {
		return err
	}
	h.p.Store(p)
	return nil
}

// Watch polls path every interval and reloads it when its modification time
// or size changes. Errors (a bad file, a missing file) go to onErr, which may
// be nil; the old rules stay in force. It returns when ctx is done.
func (h *Holder) Watch(ctx context.Context, path string, interval time.Duration, onErr func(error)) {
	if interval <= 0 {
		interval = time.Second
	}
	report := func(err error) {
		if onErr != nil && err != nil {
			onErr(err)
		}
	}
	var lastMod time.Time
	var lastSize int64 = -1
	if fi, err := os.Stat(path); err == nil {
		lastMod, lastSize = fi.ModTime(), fi.Size()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) || lastSize != -2 {
				report(err)
			}
			lastSize = -2 // report a missing file once
			continue
		}
		if fi.ModTime().Equal(lastMod) && fi.Size() == lastSize {
			continue
		}
		lastMod, lastSize = fi.ModTime(), fi.Size()
		report(h.ReloadFile(path))
	}
}
