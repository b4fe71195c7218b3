package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/valyala/fastjson"
)

// HTTPOptions configures HTTP, i.e. `auth: {type: http, options: {...}}`.
type HTTPOptions struct {
	// EndpointURL is the webhook, an http or https URL.
	EndpointURL string
	// PermittedStatusCodes are the response codes that mean "valid";
	// default [200].
	PermittedStatusCodes []int
	// RequestTimeout bounds one webhook call, body included; default 2s.
	RequestTimeout time.Duration
	// Client makes the requests. nil means a client of its own that does not
	// follow redirects (a 3xx is a status like any other, as in deepstream).
	Client *http.Client
	// Logger receives webhook failures (network errors, timeouts, 5xx
	// answers) at level WARN; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults of deepstream's http auth options.
const (
	DefaultRequestTimeout = 2 * time.Second
	// MaxResponseBody caps the webhook response body that is read; a longer
	// body makes the login invalid.
	MaxResponseBody = 1 << 20
)

// HTTP is `auth: {type: http}`: each login is POSTed to a webhook as
// {"connectionData": <Handshake>, "authData": <authData>}, and the status code
// decides. Safe for concurrent use.
type HTTP struct {
	url       string
	logURL    string // url without a password, for logs
	permitted []int
	timeout   time.Duration
	client    *http.Client
	logger    *slog.Logger
}

// NewHTTP checks o and returns the webhook authenticator.
func NewHTTP(o HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(o.EndpointURL)
	if err != nil {
		return nil, fmt.Errorf("auth: http: options.endpointUrl: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: http: options.endpointUrl %q is not an http(s) URL", o.EndpointURL)
	}
	if o.RequestTimeout < 0 {
		return nil, fmt.Errorf("auth: http: options.requestTimeout %v is negative", o.RequestTimeout)
	}
	a := &HTTP{
		url:       o.EndpointURL,
		logURL:    u.Redacted(),
		permitted: slices.Clone(o.PermittedStatusCodes),
		timeout:   o.RequestTimeout,
		client:    o.Client,
		logger:    o.Logger,
	}
	if len(a.permitted) == 0 {
		a.permitted = []int{http.StatusOK}
	}
	for _, c := range a.permitted {
		if c < 100 || c > 999 {
			return nil, fmt.Errorf("auth: http: options.permittedStatusCodes: %d is not an HTTP status", c)
		}
	}
	if a.timeout == 0 {
		a.timeout = DefaultRequestTimeout
	}
	if a.client == nil {
		a.client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if a.logger == nil {
		a.logger = slog.Default()
	}
	return a, nil
}

// webhookRequest is the body POSTed to the webhook.
type webhookRequest struct {
	ConnectionData Handshake       `json:"connectionData"`
	AuthData       json.RawMessage `json:"authData"`
}

var errBodyTooLarge = errors.New("response body exceeds 1 MiB")

// Authenticate implements Authenticator: it POSTs the login to the webhook
// and waits for the answer, at most RequestTimeout and never past ctx.
//
// A permitted status means valid. A JSON object body may then hold
// {username, clientData, serverData}; a JSON string body, or a body that is
// not JSON, is the username (surrounding white space removed); an empty body
// or any other JSON value gives no username (the server treats the user as
// open). A status that is not permitted means invalid, with the body's
// clientData passed back when the body is a JSON object that has it. A
// network error, a timeout or an oversized body means invalid and is logged.
// Safe for concurrent use.
func (a *HTTP) Authenticate(ctx context.Context, h Handshake, authData []byte) Result {
	if !json.Valid(authData) {
		a.logger.Warn("auth: http: auth data is not JSON; not calling the webhook")
		return Result{}
	}
	reqBody, err := json.Marshal(webhookRequest{ConnectionData: h, AuthData: authData})
	if err != nil {
		a.logger.Warn("auth: http: cannot encode the webhook request", "err", err)
		return Result{}
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(reqBody))
	if err != nil {
		a.logger.Warn("auth: http: cannot build the webhook request", "url", a.logURL, "err", err)
		return Result{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		a.logger.Warn("auth: http: webhook request failed", "url", a.logURL, "err", err)
		return Result{}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	resp.Body.Close()
	if err == nil && len(body) > MaxResponseBody {
		err = errBodyTooLarge
	}
	if err != nil {
		a.logger.Warn("auth: http: reading the webhook response failed", "url", a.logURL, "status", resp.StatusCode, "err", err)
		return Result{}
	}
	if resp.StatusCode >= 500 {
		a.logger.Warn("auth: http: webhook answered with a server error", "url", a.logURL, "status", resp.StatusCode)
	}
	return webhookResult(slices.Contains(a.permitted, resp.StatusCode), body)
}

// webhookResult turns a webhook answer into a Result (see HTTP.Authenticate).
func webhookResult(ok bool, body []byte) Result {
	r := Result{OK: ok}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return r
	}
	if !json.Valid(body) { // fastjson alone lets through e.g. [.]
		if ok {
			r.Username = string(body)
		}
		return r
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return r
	}
	switch v.Type() {
	case fastjson.TypeString:
		if ok {
			r.Username = string(v.GetStringBytes())
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		if cd := lastField(o, "clientData"); cd != nil {
			r.ClientData = cd.MarshalTo(nil)
		}
		if !ok {
			return r
		}
		if un := lastField(o, "username"); un != nil && un.Type() == fastjson.TypeString {
			r.Username = string(un.GetStringBytes())
		}
		if sd := lastField(o, "serverData"); sd != nil {
			r.ServerData = sd.MarshalTo(nil)
		}
	}
	return r
}
