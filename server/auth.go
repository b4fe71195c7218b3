package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"swiftlet/server/auth"
)

// newAuthenticator builds the strategy cfg.Auth names (deepstream's `auth`).
func newAuthenticator(cfg Config, logger *slog.Logger) (auth.Authenticator, error) {
	o := cfg.Auth.Options
	switch cfg.Auth.Type {
	case "", "none":
		return auth.None(), nil
	case "file":
		f, err := auth.NewFile(auth.FileOptions{Path: o.Path, Hash: o.Hash, Iterations: o.Iterations,
			KeyLength: o.KeyLength, AllowPlainPassword: o.AllowPlainPassword})
		if err != nil {
			return nil, err
		}
		return f, nil
	case "http":
		h, err := auth.NewHTTP(auth.HTTPOptions{EndpointURL: o.EndpointURL,
			PermittedStatusCodes: o.PermittedStatusCodes, RequestTimeout: o.RequestTimeout.D()})
		if err != nil {
			return nil, err
		}
		return h, nil
	default:
		return nil, fmt.Errorf("unknown auth type %q", cfg.Auth.Type)
	}
}

// authenticate runs the authenticator for sess and hands the result back to sess's loop. Blocking
// authenticators (file hashing, an HTTP call) run on their own goroutine, never on the event loop.
func (s *Server) authenticate(sess *Session, authData []byte) {
	h := auth.Handshake{}
	if a := sess.conn.RemoteAddr(); a != nil {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			h.RemoteAddress = host
		}
	}
	if nb, ok := s.auth.(auth.NonBlocking); ok && nb.NonBlocking() {
		sess.authDone(s.auth.Authenticate(context.Background(), h, authData))
		return
	}
	l := sess.ls.l
	go func() {
		r := s.auth.Authenticate(context.Background(), h, authData)
		l.Execute(func() { sess.authDone(r) })
	}()
	if s.cfg.LogInvalidAuthData {
		s.logger.Debug("authenticating", "conn", sess.conn.ID(), "remote", h.RemoteAddress)
	}
}
