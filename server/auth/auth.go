// Package auth holds swiftlet's pluggable authentication strategies, the ones
// deepstream 3.x configures under the `auth` key (protocol.md section 13):
//
//   - None: everybody is let in, as authData.username or "open".
//   - File: users and PBKDF2 password hashes from a deepstream users.yml, read
//     unchanged (YAML or JSON).
//   - HTTP: a webhook that answers each login with a status code and a body.
//
// An Authenticator may block (PBKDF2, a network round trip); the server runs
// every authenticator that does not report NonBlocking() == true on its own
// goroutine, off the event loop. All authenticators in this package are safe
// for concurrent use.
package auth

import (
	"context"

	"github.com/valyala/fastjson"
)

// Handshake is deepstream's handshakeData: what an authenticator knows about
// the connection. It is sent as connectionData to an HTTP webhook.
type Handshake struct {
	// RemoteAddress is the client's IP address, without the port.
	RemoteAddress string `json:"remoteAddress"`
	// Headers holds the HTTP upgrade request headers the endpoint was told to
	// pass on (deepstream's endpoint option `headers`), lower-case names.
	Headers map[string]string `json:"headers,omitempty"`
	// Referer is the upgrade request's Referer header, if any.
	Referer string `json:"referer,omitempty"`
}

// Result is an authenticator's verdict.
//
// ClientData and ServerData are JSON texts. nil means absent (JavaScript's
// undefined) and the JSON text `null` means null; the difference is visible on
// the wire: A|A+ for absent client data, A|A|L+ for null (protocol.md 3.2).
// ClientData goes back to the client with A|A or A|E|INVALID_AUTH_DATA;
// ServerData becomes user.data in permission rules.
type Result struct {
	OK         bool
	Username   string
	ClientData []byte
	ServerData []byte
}

// Authenticator checks login data (deepstream's isValidUser). authData is the
// text of a JSON object, as the client sent it in A|REQ. Authenticate must
// return promptly once ctx is done. Implementations in this package are safe
// for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, h Handshake, authData []byte) Result
}

// NonBlocking is implemented by authenticators cheap enough to run inline on
// an event loop. The server only trusts it when NonBlocking returns true.
type NonBlocking interface {
	NonBlocking() bool
}

// openUsername is the name None gives users who bring no username.
const openUsername = "open"

// None returns the authenticator of `auth: {type: none}`: every login is
// valid; the username is authData.username if that is a non-empty string, and
// "open" otherwise. No client or server data. It is NonBlocking and does not
// allocate beyond the username string.
func None() Authenticator { return none{} }

type none struct{}

// NonBlocking reports true: None only scans the auth data. Safe for
// concurrent use.
func (none) NonBlocking() bool { return true }

// Authenticate implements Authenticator. Safe for concurrent use.
func (none) Authenticate(_ context.Context, _ Handshake, authData []byte) Result {
	name := openUsername
	p := parsers.Get()
	if o, err := parseObject(p, authData); err == nil {
		if v := lastField(o, "username"); v != nil && v.Type() == fastjson.TypeString {
			if b := v.GetStringBytes(); len(b) > 0 {
				name = string(b)
			}
		}
	}
	parsers.Put(p)
	return Result{OK: true, Username: name}
}

// parsers recycles fastjson parsers for auth data and webhook bodies.
var parsers fastjson.ParserPool

// errNotObject is returned by parseObject for JSON that is not an object.
var errNotObject = &notObjectError{}

type notObjectError struct{}

func (*notObjectError) Error() string { return "auth: auth data is not a JSON object" }

// parseObject parses data with p and returns it as an object. The result is
// valid until p is reused.
func parseObject(p *fastjson.Parser, data []byte) (*fastjson.Object, error) {
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	o, err := v.Object()
	if err != nil {
		return nil, errNotObject
	}
	return o, nil
}

// lastField returns the value of the last key named key in o, or nil.
// JavaScript's JSON.parse keeps the last of duplicate keys; so do we.
func lastField(o *fastjson.Object, key string) *fastjson.Value {
	var found *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == key {
			found = v
		}
	})
	return found
}
