package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/valyala/fastjson"
	yaml "go.yaml.in/yaml/v4"
)

// FileOptions configures File, i.e. `auth: {type: file, options: {...}}`.
type FileOptions struct {
	// Path is the users file, YAML or JSON:
	//
	//	alice:  # password "alicepw" with hash sha256, 100 iterations, keyLength 32
	//	  password: "sTbgrzaxBzuzeM65Xp8OLexomu6e503Sh+v4BeIghI8=75KQ2Mzm/DGyGvMHv58+SQ=="
	//	  serverData: {role: admin}    # optional, becomes user.data in permissions
	//	  clientData: {colour: red}    # optional, sent back with A|A
	Path string
	// Hash is the PBKDF2 digest the passwords were hashed with: md5, sha1,
	// sha224, sha256, sha384 or sha512. "" or "false" means the file holds
	// plain-text passwords, which also needs AllowPlainPassword.
	Hash string
	// Iterations and KeyLength are the PBKDF2 parameters; 0 means deepstream's
	// defaults (100 and 32).
	Iterations int
	KeyLength  int
	// AllowPlainPassword must be true for a file of plain-text passwords
	// (Hash "" or "false"). deepstream 3.x silently accepted them; swiftlet
	// makes the choice explicit so that a forgotten `hash:` line does not turn
	// a file of hashes into a file of passwords nobody can type.
	AllowPlainPassword bool
}

// File is `auth: {type: file}`: users and their passwords (deepstream's PBKDF2
// format, see Hash) from a users file. Authenticate is safe for concurrent use
// and may run concurrently with Reload.
type File struct {
	path       string
	hashName   string
	h          func() hash.Hash // nil for plain-text passwords
	iterations int
	keyLength  int
	// dummy is a valid hash that unknown users are checked against, so that
	// the time of a failed login does not tell whether the user exists.
	dummy string
	users atomic.Pointer[map[string]*fileUser]
}

// fileUser is one entry of the users file. The data fields are JSON texts.
type fileUser struct {
	password   string
	clientData []byte // `null` when the file has none
	serverData []byte // `null` when the file has none
}

// The client data deepstream 3.x sends back for a login without a string
// username or password (typed on the wire: A|E|INVALID_AUTH_DATA|S...+).
var (
	missingUsername = []byte(`"missing authentication parameter username"`)
	missingPassword = []byte(`"missing authentication parameter password"`)
	jsonNull        = []byte("null")
)

// NewFile loads the users file named by o.Path. Errors name the file and,
// where the file is at fault, the line. Plain-text passwords (o.Hash "" or
// "false") are refused unless o.AllowPlainPassword is set; with a hash, every
// stored password must have the shape of a hash of o.KeyLength bytes.
func NewFile(o FileOptions) (*File, error) {
	if o.Path == "" {
		return nil, errors.New("auth: file: options.path is required")
	}
	f := &File{path: o.Path, iterations: o.Iterations, keyLength: o.KeyLength}
	if f.iterations == 0 {
		f.iterations = DefaultIterations
	}
	if f.keyLength == 0 {
		f.keyLength = DefaultKeyLength
	}
	switch strings.ToLower(o.Hash) {
	case "", "false":
		if !o.AllowPlainPassword {
			return nil, fmt.Errorf("auth: file %s: no hash is configured, so the passwords would be plain text; "+
				"hash them with `swiftlet hash` and set options.hash, or set options.allowPlainPassword: true", o.Path)
		}
	default:
		h, err := lookupHash(o.Hash)
		if err != nil {
			return nil, fmt.Errorf("auth: file %s: %w", o.Path, err)
		}
		if err := checkParams(f.iterations, f.keyLength); err != nil {
			return nil, fmt.Errorf("auth: file %s: %w", o.Path, err)
		}
		f.h, f.hashName = h, strings.ToLower(o.Hash)
		if f.dummy, err = Hash("swiftlet dummy password", f.hashName, f.iterations, f.keyLength); err != nil {
			return nil, fmt.Errorf("auth: file %s: %w", o.Path, err)
		}
	}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// NonBlocking reports true for a file of plain-text passwords, whose check
// is a string comparison; PBKDF2 checks must run off the event loop. Safe for
// concurrent use.
func (f *File) NonBlocking() bool { return f.h == nil }

// Reload re-reads the users file. On error the users loaded before stay in
// force and the error is returned. Safe for concurrent use.
func (f *File) Reload() error {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("auth: users file: %w", err)
	}
	users, err := parseUsers(data, f.keyLength, f.h != nil)
	if err != nil {
		return fmt.Errorf("auth: users file %s: %w", f.path, err)
	}
	f.users.Store(&users)
	return nil
}

// Authenticate implements Authenticator with deepstream 3.x's file auth
// semantics: a non-string username or password gives OK false with the
// client data "missing authentication parameter username" (or password); an
// unknown user or a wrong password gives OK false and no client data; a good
// login gives the username with the user's serverData and clientData from
// the file (`null` when the file has none, so the server answers A|A|L). The
// returned data slices are shared: callers must not modify them. Safe for
// concurrent use.
func (f *File) Authenticate(ctx context.Context, _ Handshake, authData []byte) Result {
	if ctx.Err() != nil {
		return Result{}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	var uv, pv *fastjson.Value
	if o, err := parseObject(p, authData); err == nil {
		uv, pv = lastField(o, "username"), lastField(o, "password")
	}
	if uv == nil || uv.Type() != fastjson.TypeString {
		return Result{ClientData: missingUsername}
	}
	if pv == nil || pv.Type() != fastjson.TypeString {
		return Result{ClientData: missingPassword}
	}
	name, password := uv.GetStringBytes(), pv.GetStringBytes()
	u := (*f.users.Load())[string(name)]
	if f.h == nil {
		if u == nil || subtle.ConstantTimeCompare(password, []byte(u.password)) != 1 {
			return Result{}
		}
	} else {
		stored := f.dummy
		if u != nil {
			stored = u.password
		}
		if !verify(f.h, stored, string(password), f.iterations, f.keyLength) || u == nil {
			return Result{}
		}
	}
	return Result{OK: true, Username: string(name), ClientData: u.clientData, ServerData: u.serverData}
}

// maxNodes bounds the YAML nodes one users file may expand to (aliases can
// make a small file expand exponentially).
const maxNodes = 1 << 18

// maxDepth bounds the nesting of serverData and clientData values; it also
// stops an alias that refers to its own anchor.
const maxDepth = 64

// parseUsers parses a users file: a YAML (or JSON) mapping of username to
// {password, serverData?, clientData?}. Other fields are ignored, as
// deepstream does. hashed asks for every password to have the shape of a hash
// of keyLength bytes. Errors carry the line.
func parseUsers(data []byte, keyLength int, hashed bool) (map[string]*fileUser, error) {
	var doc yaml.Node
	if json.Valid(data) {
		// JSON is nearly YAML, but not quite (tab indentation, surrogate
		// pairs), so it gets a parser of its own.
		doc = jsonToNode(data)
	} else if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("the file is empty; want a mapping of username to {password, serverData, clientData}")
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, lineErr(root, "want a mapping of username to {password, serverData, clientData}")
	}
	budget := maxNodes
	users := make(map[string]*fileUser, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			return nil, lineErr(k, "a username must be a plain scalar")
		}
		name := keyString(k)
		if _, dup := users[name]; dup {
			return nil, lineErr(k, fmt.Sprintf("user %q is defined twice", name))
		}
		if v.Kind != yaml.MappingNode {
			return nil, lineErr(v, fmt.Sprintf("user %q: want a mapping {password, serverData, clientData}", name))
		}
		fields, err := pairs(v, &budget, 0)
		if err != nil {
			return nil, err
		}
		u := &fileUser{clientData: jsonNull, serverData: jsonNull}
		var pw *yaml.Node
		for _, kv := range fields {
			fk, fv := kv[0], resolve(kv[1])
			switch keyString(fk) {
			case "password":
				pw = fv
			case "clientData":
				u.clientData, err = toJSON(nil, fv, &budget, 0)
			case "serverData":
				u.serverData, err = toJSON(nil, fv, &budget, 0)
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case pw == nil:
			return nil, lineErr(v, fmt.Sprintf("missing password for user %q", name))
		case pw.Kind != yaml.ScalarNode || pw.ShortTag() != "!!str":
			return nil, lineErr(pw, fmt.Sprintf("password for user %q must be a string (quote it)", name))
		case hashed && !checkStored(pw.Value, keyLength):
			return nil, lineErr(pw, fmt.Sprintf("password for user %q is not a hash with keyLength %d "+
				"(make one with `swiftlet hash`, or check options.hash and keyLength)", name, keyLength))
		}
		u.password = pw.Value
		users[name] = u
	}
	return users, nil
}

// pairs returns the key/value pairs of the mapping n with YAML merge keys
// (`<<: *base` or `<<: [*a, *b]`) expanded as js-yaml does: the mapping's own
// keys win over merged ones, and earlier merged mappings over later ones.
// Keys must be scalars; a key given twice is an error, as in js-yaml.
func pairs(n *yaml.Node, budget *int, depth int) ([][2]*yaml.Node, error) {
	if depth > maxDepth {
		return nil, lineErr(n, "values nest too deeply (an alias inside its own anchor?)")
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, lineErr(k, "only scalar keys are supported")
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, resolve(n.Content[i+1]))
			continue
		}
		name := keyString(k)
		if seen[name] {
			return nil, lineErr(k, fmt.Sprintf("key %q is given twice", name))
		}
		seen[name] = true
		out = append(out, [2]*yaml.Node{k, n.Content[i+1]})
	}
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, src := range sources {
			if *budget--; *budget < 0 {
				return nil, lineErr(src, "the file expands to too many values (alias loop or bomb?)")
			}
			if src = resolve(src); src.Kind != yaml.MappingNode {
				return nil, lineErr(src, "a merge key (<<) needs a mapping or a list of mappings")
			}
			kvs, err := pairs(src, budget, depth+1)
			if err != nil {
				return nil, err
			}
			for _, kv := range kvs {
				if name := keyString(kv[0]); !seen[name] {
					seen[name] = true
					out = append(out, kv)
				}
			}
		}
	}
	return out, nil
}

// keyString is the JavaScript property name js-yaml gives the scalar key k:
// `~` is "null", `True` is "true", `0x10` is "16"; other keys as written.
func keyString(k *yaml.Node) string {
	switch k.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool", "!!int":
		var v any
		if k.Decode(&v) == nil {
			switch v := v.(type) {
			case bool:
				return strconv.FormatBool(v)
			case int:
				return strconv.Itoa(v)
			}
		}
	}
	return k.Value
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func lineErr(n *yaml.Node, msg string) error {
	return fmt.Errorf("line %d: %s", n.Line, msg)
}

// toJSON appends the JSON text of the YAML value n to buf, the way js-yaml
// plus JSON.stringify would see it. budget counts down the nodes visited,
// depth is n's nesting level.
func toJSON(buf []byte, n *yaml.Node, budget *int, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, lineErr(n, "values nest too deeply (an alias inside its own anchor?)")
	}
	if *budget--; *budget < 0 {
		return nil, lineErr(n, "the file expands to too many values (alias loop or bomb?)")
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		kvs, err := pairs(n, budget, depth)
		if err != nil {
			return nil, err
		}
		buf = append(buf, '{')
		for i, kv := range kvs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, keyString(kv[0]))
			buf = append(buf, ':')
			if buf, err = toJSON(buf, kv[1], budget, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case yaml.SequenceNode:
		buf = append(buf, '[')
		for i, c := range n.Content {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = toJSON(buf, c, budget, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return append(buf, "null"...), nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, lineErr(n, err.Error())
			}
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return nil, lineErr(n, "infinity and NaN have no JSON form")
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, lineErr(n, err.Error())
			}
			return append(buf, b...), nil
		case jsonNumberTag:
			return append(buf, n.Value...), nil
		default: // !!str, !!timestamp, !!binary, custom tags: the text as written
			return appendJSONString(buf, n.Value), nil
		}
	}
	return nil, lineErr(n, "unsupported YAML value")
}

// appendJSONString appends s as a JSON string, without HTML escaping.
func appendJSONString(buf []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(buf, bytes.TrimSuffix(b.Bytes(), []byte{'\n'})...)
}

// jsonNumberTag marks numbers from a JSON users file: their text is already
// JSON and is kept as written.
const jsonNumberTag = "!swiftlet/json-number"

// jsonToNode turns valid JSON into the YAML node tree parseUsers walks, with
// line numbers, so that a users.json is checked like a users.yml.
func jsonToNode(data []byte) yaml.Node {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	line, seen := 1, 0
	lineAt := func() int {
		off := int(dec.InputOffset())
		line += bytes.Count(data[seen:off], []byte{'\n'})
		seen = off
		return line
	}
	var value func(tok json.Token) *yaml.Node
	next := func() json.Token {
		tok, _ := dec.Token() // the input is valid JSON
		return tok
	}
	value = func(tok json.Token) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Line: lineAt()}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' {
				n.Kind, n.Tag = yaml.MappingNode, "!!map"
				for dec.More() {
					k := value(next())
					n.Content = append(n.Content, k, value(next()))
				}
			} else {
				n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
				for dec.More() {
					n.Content = append(n.Content, value(next()))
				}
			}
			next() // the closing delimiter
		case string:
			n.Tag, n.Value, n.Style = "!!str", t, yaml.DoubleQuotedStyle
		case json.Number:
			n.Tag, n.Value = jsonNumberTag, t.String()
		case bool:
			n.Tag, n.Value = "!!bool", strconv.FormatBool(t)
		default:
			n.Tag, n.Value = "!!null", "null"
		}
		return n
	}
	root := value(next())
	return yaml.Node{Kind: yaml.DocumentNode, Line: 1, Content: []*yaml.Node{root}}
}
