package path

import (
	"bytes"
	"errors"

	"github.com/valyala/fastjson"
)

// Errors returned by Setter.Set.
var (
	// ErrNotContainer is returned when the document is not a JSON object or
	// array, or when the path runs through a value that is neither (a string,
	// number, boolean or null). deepstream throws a TypeError there.
	ErrNotContainer = errors.New("path: path runs through a value that is not an object or array")
	// ErrKeyOnArray is returned when a non-numeric key addresses an array.
	// JavaScript would set a property that JSON.stringify then drops, so the
	// patch would silently do nothing; rejecting it is clearer.
	ErrKeyOnArray = errors.New("path: non-numeric key on an array")
	// ErrBadJSON is returned when the document or the value is not valid JSON.
	ErrBadJSON = errors.New("path: invalid JSON")
)

// Setter applies path patches to JSON documents, reusing its fastjson parsers,
// arena and output buffer, so that patching an existing path does not
// allocate in steady state. A Setter is not safe for concurrent use: keep one
// per owning goroutine.
type Setter struct {
	doc   fastjson.Parser
	val   fastjson.Parser
	arena fastjson.Arena
	out   []byte
}

// Set returns doc with value set at p, creating missing intermediate nodes (an
// array when the next token is an index, an object otherwise) and padding
// arrays with null up to an index past their end. value is JSON text; nil
// means undefined: the key is removed from its object, or the array element
// becomes null (as JSON.stringify renders an undefined element). doc must be a
// JSON object or array and p must hold at least one token.
//
// The returned slice is owned by the Setter and valid until its next call;
// doc and value are not retained.
func (s *Setter) Set(doc []byte, p Path, value []byte) ([]byte, error) {
	// fastjson's parser is lenient (it takes "+" or "nan" for numbers), so
	// inputs are validated strictly first: a patch must never turn a record
	// into invalid JSON.
	if fastjson.ValidateBytes(doc) != nil {
		return nil, ErrBadJSON
	}
	return s.SetTrusted(doc, p, value)
}

// SetTrusted is Set without the strict validation of doc, for a doc known to
// be valid JSON: the previous output of a Setter, or a payload validated on
// arrival. value is still validated. An invalid doc may then yield an invalid
// result instead of ErrBadJSON, but never a panic.
func (s *Setter) SetTrusted(doc []byte, p Path, value []byte) ([]byte, error) {
	if len(p.Tokens) == 0 {
		return nil, ErrEmpty
	}
	root, err := s.doc.ParseBytes(doc)
	if err != nil {
		return nil, ErrBadJSON
	}
	t := root.Type()
	if t != fastjson.TypeObject && t != fastjson.TypeArray {
		return nil, ErrNotContainer
	}
	var v *fastjson.Value
	if value != nil {
		if fastjson.ValidateBytes(value) != nil {
			return nil, ErrBadJSON
		}
		if v, err = s.val.ParseBytes(value); err != nil {
			return nil, ErrBadJSON
		}
	}
	s.arena.Reset()

	node := root
	last := len(p.Tokens) - 1
	for i := 0; i < last; i++ {
		tok := &p.Tokens[i]
		child, err := lookup(node, tok)
		if err != nil {
			return nil, err
		}
		if child == nil {
			if p.Tokens[i+1].IsIndex {
				child = s.arena.NewArray()
			} else {
				child = s.arena.NewObject()
			}
			put(node, tok, child)
		} else if ct := child.Type(); ct != fastjson.TypeObject && ct != fastjson.TypeArray {
			return nil, ErrNotContainer
		}
		node = child
	}

	tok := &p.Tokens[last]
	if node.Type() == fastjson.TypeArray && !tok.IsIndex {
		return nil, ErrKeyOnArray
	}
	switch {
	case v != nil:
		put(node, tok, v)
	case node.Type() == fastjson.TypeObject:
		node.Del(tok.Key)
	default:
		put(node, tok, s.arena.NewNull())
	}
	s.out = root.MarshalTo(s.out[:0])
	if badEscape(s.out) {
		// fastjson re-quotes unescaped object keys with strconv.AppendQuote,
		// whose \x, \a, \v and \U escapes are not JSON. Rare (keys with
		// control characters); re-encode correctly.
		s.out = appendValue(s.out[:0], root)
	}
	return s.out, nil
}

// badEscape reports whether b holds a backslash escape that Go produces but
// JSON does not allow. Backslashes only occur inside strings, in pairs
// "\\c", so stepping over each pair tokenises the escapes exactly.
func badEscape(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 || i+1 >= len(b) {
			return false
		}
		switch b[i+1] {
		case 'a', 'v', 'x', 'U':
			return true
		}
		b = b[i+2:]
	}
}

// appendValue is a correct JSON encoder for a fastjson tree, the slow path
// behind badEscape.
func appendValue(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		first := true
		o.Visit(func(k []byte, c *fastjson.Value) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendValue(dst, c)
		})
		return append(dst, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		for i, c := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, c)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		sb, _ := v.StringBytes()
		return appendString(dst, sb)
	default:
		return v.MarshalTo(dst)
	}
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping only what JSON requires.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// lookup returns node's child for tok, nil when it is missing.
func lookup(node *fastjson.Value, tok *Token) (*fastjson.Value, error) {
	if node.Type() == fastjson.TypeObject {
		o, _ := node.Object()
		return o.Get(tok.Key), nil
	}
	if !tok.IsIndex {
		return nil, ErrKeyOnArray
	}
	a, _ := node.Array()
	if tok.Index < len(a) {
		return a[tok.Index], nil
	}
	return nil, nil
}

// put stores v under tok in node, an object or array (for an array tok is
// an index, checked by the caller).
func put(node *fastjson.Value, tok *Token, v *fastjson.Value) {
	if node.Type() == fastjson.TypeObject {
		o, _ := node.Object()
		o.Set(tok.Key, v)
		return
	}
	node.SetArrayItem(tok.Index, v)
}

var parserPool fastjson.ParserPool

// Get returns the JSON text at p in doc; found is false when doc is not valid
// JSON or the path does not resolve (a missing key, an index past the end, a
// key on an array or a step through a non-container value). value is a fresh
// slice owned by the caller. Safe for concurrent use.
func Get(doc []byte, p Path) (value []byte, found bool) {
	par := parserPool.Get()
	defer parserPool.Put(par)
	node, err := par.ParseBytes(doc)
	if err != nil {
		return nil, false
	}
	for i := range p.Tokens {
		t := node.Type()
		if t != fastjson.TypeObject && t != fastjson.TypeArray {
			return nil, false
		}
		child, err := lookup(node, &p.Tokens[i])
		if err != nil || child == nil {
			return nil, false
		}
		node = child
	}
	out := node.MarshalTo(nil)
	if badEscape(out) {
		out = appendValue(out[:0], node)
	}
	return out, true
}
