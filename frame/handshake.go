package frame

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
)

// The HTTP/1.1 opening handshake of RFC 6455 section 4, parsed without
// allocating from the bytes an event loop has buffered.

// DefaultMaxRequestSize is the default limit on the size of a request head.
const DefaultMaxRequestSize = 8192

// HTTPError is a request the server must refuse with an HTTP response:
// Status and Reason go in the status line and body, Header holds extra header
// lines (each ending in "\r\n"), e.g. "Sec-WebSocket-Version: 13\r\n" for 426.
type HTTPError struct {
	Status int
	Reason string
	Header string
}

// Error implements error. Safe for concurrent use.
func (e *HTTPError) Error() string {
	return "frame: http " + strconv.Itoa(e.Status) + ": " + e.Reason
}

// AppendResponse appends the complete HTTP response refusing the request
// (closing the connection afterwards is the caller's business): the status,
// e.Header, and e.Reason as a plain-text body, with "Connection: close".
// It does not allocate when dst has capacity. Safe for concurrent use.
func (e *HTTPError) AppendResponse(dst []byte) []byte {
	return appendHTTPResponse(dst, e.Status, textPlain, e.Header, e.Reason, false)
}

// The refusals ParseRequest and CheckUpgrade report, preallocated so that
// refusing does not allocate.
var (
	errHeadTooLarge   = &HTTPError{Status: 431, Reason: "request header too large"}
	errRequestLine    = &HTTPError{Status: 400, Reason: "malformed request line"}
	errTarget         = &HTTPError{Status: 400, Reason: "request target must be an absolute path"}
	errVersion        = &HTTPError{Status: 400, Reason: "malformed HTTP version"}
	errVersionUnsupp  = &HTTPError{Status: 505, Reason: "HTTP version not supported"}
	errHeaderLine     = &HTTPError{Status: 400, Reason: "malformed header line"}
	errObsFold        = &HTTPError{Status: 400, Reason: "obsolete line folding"}
	errDuplicateHost  = &HTTPError{Status: 400, Reason: "duplicate Host header"}
	errMethod         = &HTTPError{Status: 405, Reason: "method not allowed", Header: "Allow: GET\r\n"}
	errUpgradeHTTP10  = &HTTPError{Status: 505, Reason: "WebSocket requires HTTP/1.1"}
	errNoHost         = &HTTPError{Status: 400, Reason: "missing Host header"}
	errNoUpgrade      = &HTTPError{Status: 400, Reason: "Upgrade header must name websocket"}
	errNoConnUpgrade  = &HTTPError{Status: 400, Reason: "Connection header must name upgrade"}
	errBadKey         = &HTTPError{Status: 400, Reason: "Sec-WebSocket-Key must be 16 bytes in base64"}
	errWSVersion      = &HTTPError{Status: 426, Reason: "unsupported WebSocket version", Header: "Sec-WebSocket-Version: 13\r\n"}
	crlfcrlf          = []byte("\r\n\r\n")
	websocketGUID     = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	switchingProtocol = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
)

// Request is a parsed HTTP/1.1 request head. Every slice points into the
// buffer given to ParseRequest and is valid as long as that buffer is.
type Request struct {
	// Method, Path and Query come from the request line; Path excludes the
	// query, Query excludes the '?'.
	Method, Path, Query []byte
	// Header values (the first occurrence of each, without surrounding
	// whitespace); nil when absent. Protocol is Sec-WebSocket-Protocol,
	// Key is Sec-WebSocket-Key and Version is Sec-WebSocket-Version.
	Host, Upgrade, Connection, Key, Version, Origin, Protocol []byte
	// HTTP11 is true for HTTP/1.1 and false for HTTP/1.0.
	HTTP11 bool
}

// ParseRequest parses an HTTP request head at the start of buf. While the
// head is incomplete (no "\r\n\r\n" yet) it returns n == 0 and a nil error,
// unless len(buf) > max, which gives a 431 *HTTPError; a head longer than max
// also gives 431. A max of zero or less means DefaultMaxRequestSize.
// Otherwise n is the length of the head including the blank line.
//
// Strictness, all failing with a 400 *HTTPError: the request line is exactly
// method SP target SP version CRLF, the method a token, the target an
// absolute path ("/..."; asterisk and absolute forms are refused) of visible
// ASCII; lines end in CRLF (no bare CR or LF); a header is a token name, a
// colon and a value of visible characters, spaces and tabs; lines starting
// with whitespace (obsolete folding) and empty lines before the request line
// are refused, and so is a second Host header. A first byte that cannot
// start a method fails at once rather than after max bytes.
//
// Versions: HTTP/1.1 and HTTP/1.0 parse (HTTP11 tells them apart, so that an
// HTTP/1.0 health probe can still be answered; CheckUpgrade refuses 1.0 with
// 505); any other well-formed HTTP/d.d gives 505, anything else 400.
//
// Header names match case-insensitively. Request bodies are not looked at:
// the caller decides what a Content-Length means for it. ParseRequest does
// not allocate. Safe for concurrent use (it only reads buf).
func ParseRequest(buf []byte, max int) (req Request, n int, err error) {
	if max <= 0 {
		max = DefaultMaxRequestSize
	}
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		if len(buf) > 0 && !isTokenChar(buf[0]) {
			return Request{}, 0, errRequestLine
		}
		if len(buf) > max {
			return Request{}, 0, errHeadTooLarge
		}
		return Request{}, 0, nil
	}
	n = end + 4
	if n > max {
		return Request{}, 0, errHeadTooLarge
	}
	head := buf[:end+2] // every line, each with its CRLF

	// Request line.
	eol := bytes.IndexByte(head, '\n')
	if eol < 1 || head[eol-1] != '\r' {
		return Request{}, 0, errRequestLine
	}
	line := head[:eol-1]
	sp := bytes.IndexByte(line, ' ')
	if sp < 1 || !isToken(line[:sp]) {
		return Request{}, 0, errRequestLine
	}
	req.Method = line[:sp]
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp < 1 {
		return Request{}, 0, errRequestLine
	}
	target, version := line[:sp], line[sp+1:]
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return Request{}, 0, errRequestLine
		}
	}
	if target[0] != '/' {
		return Request{}, 0, errTarget
	}
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		req.Path, req.Query = target[:q], target[q+1:]
	} else {
		req.Path = target
	}
	if len(version) != 8 || string(version[:5]) != "HTTP/" || version[6] != '.' ||
		!isDigit(version[5]) || !isDigit(version[7]) {
		return Request{}, 0, errVersion
	}
	switch string(version[5:]) {
	case "1.1":
		req.HTTP11 = true
	case "1.0":
	default:
		return Request{}, 0, errVersionUnsupp
	}

	// Header lines.
	for rest := head[eol+1:]; len(rest) > 0; {
		eol = bytes.IndexByte(rest, '\n')
		if eol < 1 || rest[eol-1] != '\r' {
			return Request{}, 0, errHeaderLine
		}
		line, rest = rest[:eol-1], rest[eol+1:]
		if line[0] == ' ' || line[0] == '\t' {
			return Request{}, 0, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 1 || !isToken(line[:colon]) {
			return Request{}, 0, errHeaderLine
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return Request{}, 0, errHeaderLine
			}
		}
		var slot *[]byte
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				if req.Host != nil {
					return Request{}, 0, errDuplicateHost
				}
				slot = &req.Host
			}
		case 6:
			if equalFold(name, "origin") {
				slot = &req.Origin
			}
		case 7:
			if equalFold(name, "upgrade") {
				slot = &req.Upgrade
			}
		case 10:
			if equalFold(name, "connection") {
				slot = &req.Connection
			}
		case 17:
			if equalFold(name, "sec-websocket-key") {
				slot = &req.Key
			}
		case 21:
			if equalFold(name, "sec-websocket-version") {
				slot = &req.Version
			}
		case 22:
			if equalFold(name, "sec-websocket-protocol") {
				slot = &req.Protocol
			}
		}
		if slot != nil && *slot == nil {
			*slot = value
		}
	}
	return req, n, nil
}

// CheckUpgrade validates r as a WebSocket opening handshake (RFC 6455
// section 4.2.1) and returns the *HTTPError to refuse it with, or nil:
// a method other than GET gives 405 (with "Allow: GET"); HTTP/1.0 gives 505;
// a missing Host, an Upgrade header without the token "websocket", a
// Connection header without the token "upgrade" (both case-insensitive,
// comma-separated lists) give 400; a Sec-WebSocket-Version other than "13"
// gives 426 with "Sec-WebSocket-Version: 13"; a Sec-WebSocket-Key that is not
// the canonical base64 of exactly 16 bytes gives 400.
// Safe for concurrent use (it only reads r).
func (r *Request) CheckUpgrade() error {
	if string(r.Method) != "GET" {
		return errMethod
	}
	if !r.HTTP11 {
		return errUpgradeHTTP10
	}
	if r.Host == nil {
		return errNoHost
	}
	if !hasToken(r.Upgrade, "websocket") {
		return errNoUpgrade
	}
	if !hasToken(r.Connection, "upgrade") {
		return errNoConnUpgrade
	}
	if string(r.Version) != "13" {
		return errWSVersion
	}
	if !validKey(r.Key) {
		return errBadKey
	}
	return nil
}

// HasProtocol reports whether the client offered subprotocol name in
// Sec-WebSocket-Protocol (a comma-separated list; names compare exactly, as
// RFC 6455 makes them case-sensitive).
// Safe for concurrent use (it only reads r).
func (r *Request) HasProtocol(name string) bool {
	for list := r.Protocol; len(list) > 0; {
		var item []byte
		if c := bytes.IndexByte(list, ','); c >= 0 {
			item, list = list[:c], list[c+1:]
		} else {
			item, list = list, nil
		}
		if string(trimOWS(item)) == name {
			return true
		}
	}
	return false
}

// validKey reports whether key is the canonical base64 encoding of exactly
// 16 bytes: 22 alphabet characters, the last of which carries only 2 data
// bits (A, Q, g or w), then "==".
func validKey(key []byte) bool {
	if len(key) != 24 || key[22] != '=' || key[23] != '=' {
		return false
	}
	for _, c := range key[:22] {
		if !isBase64(c) {
			return false
		}
	}
	switch key[21] {
	case 'A', 'Q', 'g', 'w':
		return true
	}
	return false
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// AppendAccept appends the 101 Switching Protocols response accepting the
// handshake whose Sec-WebSocket-Key is key. It does not allocate when dst has
// capacity (for keys up to 92 bytes, which covers every valid key).
// Safe for concurrent use (it touches only dst).
func AppendAccept(dst, key []byte) []byte {
	return AppendAcceptProtocol(dst, key, "")
}

// AppendAcceptProtocol is AppendAccept with a chosen subprotocol: when
// protocol is not empty the response carries "Sec-WebSocket-Protocol".
// Safe for concurrent use (it touches only dst).
func AppendAcceptProtocol(dst, key []byte, protocol string) []byte {
	var sum [sha1.Size]byte
	var in [128]byte
	if len(key)+len(websocketGUID) <= len(in) {
		b := append(append(in[:0], key...), websocketGUID...)
		sum = sha1.Sum(b)
	} else {
		h := sha1.New()
		h.Write(key)
		h.Write([]byte(websocketGUID))
		h.Sum(sum[:0])
	}
	dst = append(dst, switchingProtocol...)
	dst = base64.StdEncoding.AppendEncode(dst, sum[:])
	dst = append(dst, '\r', '\n')
	if protocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '\r', '\n')
}

// AppendHTTPResponse appends a complete HTTP/1.1 response: the status line,
// Content-Length, "Connection: close" unless keepAlive, the extra header
// lines (each ending in "\r\n"), the blank line and body. It serves health
// checks and refusals (see HTTPError). It does not allocate when dst has
// capacity. Safe for concurrent use (it touches only dst).
func AppendHTTPResponse(dst []byte, status int, header string, body string, keepAlive bool) []byte {
	return appendHTTPResponse(dst, status, header, "", body, keepAlive)
}

const textPlain = "Content-Type: text/plain; charset=utf-8\r\n"

func appendHTTPResponse(dst []byte, status int, header, header2, body string, keepAlive bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, '\r', '\n')
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, header...)
	dst = append(dst, header2...)
	dst = append(dst, '\r', '\n')
	return append(dst, body...)
}

// StatusText returns the reason phrase for the HTTP status codes this server
// uses, and "Status" for others. Safe for concurrent use.
func StatusText(status int) string {
	switch status {
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status"
}

// hasToken reports whether the comma-separated list contains token,
// compared case-insensitively (token must be lower case).
func hasToken(list []byte, token string) bool {
	for len(list) > 0 {
		var item []byte
		if c := bytes.IndexByte(list, ','); c >= 0 {
			item, list = list[:c], list[c+1:]
		} else {
			item, list = list, nil
		}
		if item = trimOWS(item); len(item) == len(token) && equalFold(item, token) {
			return true
		}
	}
	return false
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case in b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tokenChars marks the tchar set of RFC 9110 section 5.6.2.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenChars[c] }

func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}
