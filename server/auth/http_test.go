package auth

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhook starts an httptest server whose handler answers with status and
// body (and content type, when not empty), and returns an HTTP authenticator
// for it with the given extra options.
func webhook(t *testing.T, status int, contentType, body string, o HTTPOptions) *HTTP {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	o.EndpointURL = srv.URL + "/auth"
	a, err := NewHTTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// logBuffer is a slog.Logger writing text into a buffer, safe for the
// concurrent writes of an HTTP client.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

const someLogin = `{"username":"alice","password":"pw"}`

func TestHTTPAcceptString(t *testing.T) {
	for _, c := range []struct{ contentType, body, user string }{
		{"text/plain", "alice", "alice"},
		{"text/plain", "alice\n", "alice"},             // trailing newline of an echo
		{"application/json", `"bob"`, "bob"},           // a JSON string is the username too
		{"", "not {json", "not {json"},                 // any text that is not JSON
		{"application/json", "", ""},                   // empty: valid, no username (open)
		{"application/json", "null", ""},               // JSON null: valid, no data
		{"application/json", "[1,2]", ""},              // other JSON: valid, no data
		{"application/json", `"caf\u00e9"`, "café"},    // JSON escapes decoded
		{"application/json", `{"x":[.]}`, `{"x":[.]}`}, // not JSON (fastjson alone accepts it): text
	} {
		a := webhook(t, 200, c.contentType, c.body, HTTPOptions{})
		r := auth(a, someLogin)
		if !reflect.DeepEqual(r, Result{OK: true, Username: c.user}) {
			t.Errorf("body %q: %+v, want OK as %q without data", c.body, r, c.user)
		}
	}
}

func TestHTTPAcceptObject(t *testing.T) {
	a := webhook(t, 200, "application/json",
		`{"username":"carol","clientData":{"colour":"red","n":[1,2.5]},"serverData":{"role":"admin"},"other":1}`, HTTPOptions{})
	r := auth(a, someLogin)
	if !r.OK || r.Username != "carol" ||
		!jsonEqual(t, r.ClientData, []byte(`{"colour":"red","n":[1,2.5]}`)) ||
		!jsonEqual(t, r.ServerData, []byte(`{"role":"admin"}`)) {
		t.Fatalf("got %+v (client %s, server %s)", r, r.ClientData, r.ServerData)
	}
	// null stays null (A|A|L); a missing key stays absent (A|A).
	a = webhook(t, 200, "application/json", `{"username":"dan","clientData":null}`, HTTPOptions{})
	r = auth(a, someLogin)
	if !r.OK || r.Username != "dan" || string(r.ClientData) != "null" || r.ServerData != nil {
		t.Fatalf("null clientData: %+v", r)
	}
	// A non-string username is ignored, like an absent one.
	a = webhook(t, 200, "application/json", `{"username":42,"clientData":"hi"}`, HTTPOptions{})
	if r = auth(a, someLogin); !r.OK || r.Username != "" || string(r.ClientData) != `"hi"` {
		t.Fatalf("numeric username: %+v", r)
	}
}

func TestHTTPReject(t *testing.T) {
	a := webhook(t, 401, "application/json", `{"clientData":{"reason":"banned"},"username":"eve","serverData":{"x":1}}`, HTTPOptions{})
	r := auth(a, someLogin)
	if r.OK || r.Username != "" || r.ServerData != nil || !jsonEqual(t, r.ClientData, []byte(`{"reason":"banned"}`)) {
		t.Fatalf("401 with clientData: %+v (client %s)", r, r.ClientData)
	}
	for _, body := range []string{"", "eve", `"eve"`, `{"username":"eve"}`} {
		a := webhook(t, 403, "", body, HTTPOptions{})
		if r := auth(a, someLogin); !reflect.DeepEqual(r, Result{}) {
			t.Errorf("403 body %q: %+v, want invalid without data", body, r)
		}
	}

	var logs logBuffer
	a = webhook(t, 500, "text/plain", "alice", HTTPOptions{Logger: logs.logger()})
	if r := auth(a, someLogin); !reflect.DeepEqual(r, Result{}) {
		t.Errorf("500 is not permitted by default: %+v", r)
	}
	if !strings.Contains(logs.String(), "status=500") {
		t.Errorf("a 500 answer is not logged: %q", logs.String())
	}

	// Permitted codes replace the default [200].
	o := HTTPOptions{PermittedStatusCodes: []int{201, 204}}
	if r := auth(webhook(t, 201, "", "frank", o), someLogin); !r.OK || r.Username != "frank" {
		t.Errorf("201 permitted: %+v", r)
	}
	if r := auth(webhook(t, 200, "", "frank", o), someLogin); r.OK {
		t.Errorf("200 not in the permitted list: %+v", r)
	}
	// Redirects are statuses, not followed.
	if r := auth(webhook(t, 302, "", "frank", HTTPOptions{}), someLogin); r.OK {
		t.Errorf("302: %+v", r)
	}
}

func TestHTTPRequestShape(t *testing.T) {
	type seen struct {
		method, path, contentType string
		body                      []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b}
		io.WriteString(w, "alice")
	}))
	defer srv.Close()
	a, err := NewHTTP(HTTPOptions{EndpointURL: srv.URL + "/check?x=1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := Handshake{RemoteAddress: "10.1.2.3", Headers: map[string]string{"x-token": "t<1>"}, Referer: "https://app.example/"}
	authData := `{"username":"alice","password":"pw","nested":{"a":[1,null]}}`
	if r := a.Authenticate(context.Background(), h, []byte(authData)); !r.OK || r.Username != "alice" {
		t.Fatalf("%+v", r)
	}
	s := <-got
	if s.method != http.MethodPost || s.path != "/check" || s.contentType != "application/json" {
		t.Errorf("request %s %s (%s), want POST /check application/json", s.method, s.path, s.contentType)
	}
	want := `{"connectionData":{"remoteAddress":"10.1.2.3","headers":{"x-token":"t<1>"},"referer":"https://app.example/"},` +
		`"authData":{"username":"alice","password":"pw","nested":{"a":[1,null]}}}`
	if !jsonEqual(t, s.body, []byte(want)) {
		t.Errorf("body %s\nwant %s", s.body, want)
	}
	// Without headers and referer those keys are left out, as deepstream does.
	a.Authenticate(context.Background(), Handshake{RemoteAddress: "::1"}, []byte(`{}`))
	if s = <-got; !jsonEqual(t, s.body, []byte(`{"connectionData":{"remoteAddress":"::1"},"authData":{}}`)) {
		t.Errorf("minimal body %s", s.body)
	}
	// Auth data that is not JSON never reaches the webhook.
	if r := a.Authenticate(context.Background(), h, []byte(`{"username":`)); r.OK {
		t.Errorf("broken auth data: %+v", r)
	}
	select {
	case s := <-got:
		t.Errorf("webhook called with %s", s.body)
	default:
	}
}

// slowWebhook answers only once its request is cancelled or the test ends.
// Each request that arrives is announced on the returned channel.
func slowWebhook(t *testing.T) (*httptest.Server, <-chan struct{}) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
		io.WriteString(w, "alice")
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, arrived
}

func TestHTTPTimeout(t *testing.T) {
	srv, arrived := slowWebhook(t)
	var logs logBuffer
	a, err := NewHTTP(HTTPOptions{EndpointURL: srv.URL, RequestTimeout: 50 * time.Millisecond, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if r := auth(a, someLogin); !reflect.DeepEqual(r, Result{}) {
		t.Fatalf("timed out request: %+v", r)
	}
	<-arrived
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "deadline exceeded") {
		t.Errorf("timeout not logged: %q", logs.String())
	}

	// The caller's context is respected too: cancel it once the request is
	// at the webhook.
	a, err = NewHTTP(HTTPOptions{EndpointURL: srv.URL, RequestTimeout: time.Hour, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	if r := a.Authenticate(ctx, Handshake{}, []byte(someLogin)); r.OK {
		t.Fatalf("cancelled request: %+v", r)
	}
	if !strings.Contains(logs.String(), "context canceled") {
		t.Errorf("cancellation not logged: %q", logs.String())
	}
}

func TestHTTPNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	url = strings.Replace(url, "http://", "http://hook:s3cret@", 1)
	var logs logBuffer
	a, err := NewHTTP(HTTPOptions{EndpointURL: url, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if r := auth(a, someLogin); !reflect.DeepEqual(r, Result{}) {
		t.Fatalf("connection refused: %+v", r)
	}
	if !strings.Contains(logs.String(), "webhook request failed") {
		t.Errorf("network error not logged: %q", logs.String())
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the log shows the URL's password: %q", logs.String())
	}
}

func TestHTTPBodyCap(t *testing.T) {
	big := strings.Repeat("a", MaxResponseBody+1)
	var logs logBuffer
	if r := auth(webhook(t, 200, "text/plain", big, HTTPOptions{Logger: logs.logger()}), someLogin); r.OK {
		t.Fatalf("an oversized body is accepted (username of %d bytes)", len(r.Username))
	}
	if !strings.Contains(logs.String(), "exceeds") {
		t.Errorf("oversized body not logged: %q", logs.String())
	}
	exact := strings.Repeat("a", MaxResponseBody)
	if r := auth(webhook(t, 200, "text/plain", exact, HTTPOptions{}), someLogin); !r.OK || len(r.Username) != MaxResponseBody {
		t.Fatalf("a body of exactly the cap is refused: OK %v", r.OK)
	}
}

func TestNewHTTPErrors(t *testing.T) {
	for _, o := range []HTTPOptions{
		{},
		{EndpointURL: "localhost:8080/auth"},
		{EndpointURL: "ftp://h/auth"},
		{EndpointURL: "http://"},
		{EndpointURL: "http://h/\x7f"},
		{EndpointURL: "http://h/", RequestTimeout: -time.Second},
		{EndpointURL: "http://h/", PermittedStatusCodes: []int{2000}},
	} {
		if _, err := NewHTTP(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	a, err := NewHTTP(HTTPOptions{EndpointURL: "https://auth.example/x"})
	if err != nil || a.timeout != DefaultRequestTimeout || !reflect.DeepEqual(a.permitted, []int{200}) {
		t.Fatalf("defaults: %v %+v", err, a)
	}
}
