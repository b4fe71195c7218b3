package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
)

// Handshake is what an authenticator knows about the connection (deepstream's handshakeData).
type Handshake struct {
	RemoteAddress string `json:"remoteAddress"`
}

// AuthResult is an authenticator's verdict. ClientData and ServerData are JSON texts, nil when absent:
// ClientData goes back to the client in A|A (or with A|E|INVALID_AUTH_DATA), ServerData becomes
// user.data in permission rules.
type AuthResult struct {
	OK         bool
	Username   string
	ClientData []byte
	ServerData []byte
}

// Authenticator checks login data (deepstream's isValidUser). Authenticate may block (hashing, an HTTP
// call): the server calls it off the event loop, except for authenticators that implement
// nonBlocking, which run inline.
type Authenticator interface {
	Authenticate(h Handshake, authData []byte) AuthResult
}

// nonBlocking marks an authenticator cheap enough to run on the event loop.
type nonBlocking interface{ NonBlocking() bool }

func newAuthenticator(cfg Config, logger *slog.Logger) (Authenticator, error) {
	switch cfg.Auth.Type {
	case "", "none":
		return openAuth{}, nil
	default:
		return nil, errors.New("auth type " + cfg.Auth.Type + " is not available in this build")
	}
}

// openAuth is `auth: {type: none}`: everyone is let in, as authData.username or "open".
type openAuth struct{}

func (openAuth) NonBlocking() bool { return true }

func (openAuth) Authenticate(_ Handshake, authData []byte) AuthResult {
	var d struct {
		Username any `json:"username"`
	}
	_ = json.Unmarshal(authData, &d)
	name, _ := d.Username.(string)
	if name == "" {
		name = "open"
	}
	return AuthResult{OK: true, Username: name}
}

// authenticate runs the authenticator for s and hands the result back to s's loop.
func (s *Server) authenticate(sess *Session, authData []byte) {
	h := Handshake{}
	if a := sess.conn.RemoteAddr(); a != nil {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			h.RemoteAddress = host
		}
	}
	if nb, ok := s.auth.(nonBlocking); ok && nb.NonBlocking() {
		sess.authDone(s.auth.Authenticate(h, authData))
		return
	}
	l := sess.ls.l
	go func() {
		r := s.auth.Authenticate(h, authData)
		l.Execute(func() { sess.authDone(r) })
	}()
}
