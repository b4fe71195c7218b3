package valve

import (
	"fmt"
	"unicode/utf8"
)

// nodeOp is the operation of an AST node.
type nodeOp uint8

const (
	nLit nodeOp = iota
	nRegex
	nUser
	nData
	nOldData
	nNow
	nAction
	nPathVar
	nMember // x.name
	nIndex  // x[y]
	nCall   // x.name(args...)
	nLookup // _(x)
	nNot
	nNeg
	nPos
	nTypeof
	nAdd
	nSub
	nMul
	nDiv
	nMod
	nLT
	nLE
	nGT
	nGE
	nEq
	nNe
	nSEq
	nSNe
	nAnd
	nOr
	nCond
	nArray // [args...]
)

// node is an AST node of a rule expression.
type node struct {
	op   nodeOp
	val  value // nLit
	name string
	idx  int // nPathVar: index of the capture
	x    *node
	y    *node
	z    *node
	args []*node
	re   *jsRegex
}

// Names of the string methods a rule may call (deepstream rule-parser.ts).
var allowedMethods = map[string]bool{
	"startsWith": true, "endsWith": true, "includes": true, "indexOf": true,
	"match": true, "toUpperCase": true, "toLowerCase": true, "trim": true,
}

// reservedWords are JavaScript keywords that have no meaning in a rule.
var reservedWords = map[string]bool{
	"new": true, "function": true, "this": true, "in": true, "instanceof": true, "void": true,
	"delete": true, "var": true, "let": true, "const": true, "return": true, "if": true,
	"else": true, "for": true, "while": true, "do": true, "switch": true, "case": true,
	"break": true, "continue": true, "throw": true, "try": true, "catch": true, "finally": true,
	"class": true, "extends": true, "super": true, "yield": true, "await": true, "async": true,
	"import": true, "export": true, "default": true, "with": true, "debugger": true, "enum": true,
}

// parseEnv describes where a rule is used: which variables it may see.
type parseEnv struct {
	pathVars  []string // "$id" names in capture order
	allowData bool
	allowOld  bool
	maxDepth  int
}

// parser is a Pratt parser over the lexer's tokens.
type parser struct {
	lx    lexer
	tok   token
	env   parseEnv
	depth int
}

// parseRule parses and validates one rule expression.
func parseRule(src string, env parseEnv) (*node, error) {
	if env.maxDepth == 0 {
		env.maxDepth = 200
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("rule is not valid UTF-8")
	}
	if err := prescan(src); err != nil {
		return nil, err
	}
	p := &parser{lx: lexer{src: src}, env: env}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, fmt.Errorf("empty rule")
	}
	// deepstream compiles 'return ' + rule: a line break before the first
	// token ends the return statement (automatic semicolon insertion), so
	// the rule returns undefined and always denies. The rest must still be
	// a valid expression.
	leadingNL := p.tok.nl
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	for p.isPunct(";") {
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected()
	}
	if leadingNL {
		return &node{op: nLit, val: undefinedV}, nil
	}
	return n, nil
}

// prescan reports the constructs deepstream's rule-parser rejects before
// compiling (new, user functions, assignments, ++/--) wherever they occur,
// so that "() => x" names "=>" rather than the first syntax error.
func prescan(src string) error {
	p := &parser{lx: lexer{src: src}}
	for {
		if err := p.advance(); err != nil {
			return nil // the parser reports lexical errors
		}
		switch {
		case p.tok.kind == tEOF:
			return nil
		case p.tok.kind == tIdent && (p.tok.text == "new" || p.tok.text == "function"):
			return p.unexpected()
		case p.tok.kind == tPunct:
			switch p.tok.text {
			case "=>", "++", "--", "=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=", "^=":
				return p.unexpected()
			}
		}
	}
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) unexpected() error {
	switch p.tok.kind {
	case tEOF:
		return fmt.Errorf("unexpected end of rule")
	case tIdent:
		switch p.tok.text {
		case "new":
			return fmt.Errorf("the new keyword is not supported")
		case "function":
			return fmt.Errorf("user functions are not supported")
		}
	case tPunct:
		switch p.tok.text {
		case "=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=", "^=":
			return fmt.Errorf("assignments are not supported: unexpected token %q", p.tok.text)
		}
	}
	text := p.tok.text
	if text == "" {
		text = p.lx.src[p.tok.pos:p.lx.pos]
	}
	return fmt.Errorf("unexpected token %q", text)
}

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		return p.unexpected()
	}
	return p.advance()
}

// Binding powers.
const (
	bpCond   = 2
	bpOr     = 3
	bpAnd    = 4
	bpEq     = 8
	bpRel    = 9
	bpAdd    = 11
	bpMul    = 12
	bpPrefix = 14
)

var binaryOps = map[string]struct {
	bp int
	op nodeOp
}{
	"||": {bpOr, nOr}, "&&": {bpAnd, nAnd},
	"==": {bpEq, nEq}, "!=": {bpEq, nNe}, "===": {bpEq, nSEq}, "!==": {bpEq, nSNe},
	"<": {bpRel, nLT}, "<=": {bpRel, nLE}, ">": {bpRel, nGT}, ">=": {bpRel, nGE},
	"+": {bpAdd, nAdd}, "-": {bpAdd, nSub},
	"*": {bpMul, nMul}, "/": {bpMul, nDiv}, "%": {bpMul, nMod},
}

// expr parses an expression whose operators bind tighter than minBP.
func (p *parser) expr(minBP int) (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > p.env.maxDepth {
		return nil, fmt.Errorf("rule is nested too deeply")
	}
	left, err := p.prefix()
	if err != nil {
		return nil, err
	}
	for {
		if p.tok.kind != tPunct {
			if p.tok.kind == tIdent && (p.tok.text == "in" || p.tok.text == "instanceof") {
				return nil, p.unexpected()
			}
			return left, nil
		}
		if p.tok.text == "?" {
			if bpCond <= minBP {
				return left, nil
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			a, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect(":"); err != nil {
				return nil, err
			}
			b, err := p.expr(bpCond - 1)
			if err != nil {
				return nil, err
			}
			left = &node{op: nCond, x: left, y: a, z: b}
			continue
		}
		bo, ok := binaryOps[p.tok.text]
		if !ok {
			switch p.tok.text {
			case ")", "]", ":", ",", ";":
				return left, nil
			}
			return nil, p.unexpected()
		}
		if bo.bp <= minBP {
			return left, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.expr(bo.bp)
		if err != nil {
			return nil, err
		}
		left = &node{op: bo.op, x: left, y: right}
	}
}

func (p *parser) prefix() (*node, error) {
	t := p.tok
	var n *node
	switch t.kind {
	case tNumber:
		n = &node{op: nLit, val: numV(t.num)}
	case tString:
		n = &node{op: nLit, val: strV(t.str)}
	case tRegex:
		re, err := compileJSRegex(t.str, t.flags)
		if err != nil {
			return nil, err
		}
		n = &node{op: nRegex, re: re}
	case tPunct:
		var op nodeOp
		switch t.text {
		case "[":
			elems, err := p.list("]")
			if err != nil {
				return nil, err
			}
			return p.postfix(&node{op: nArray, args: elems})
		case "(":
			if err := p.advance(); err != nil {
				return nil, err
			}
			inner, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if !p.isPunct(")") {
				return nil, p.unexpected()
			}
			n = inner
		case "!":
			op = nNot
		case "-":
			op = nNeg
		case "+":
			op = nPos
		default:
			return nil, p.unexpected()
		}
		if n == nil {
			if err := p.advance(); err != nil {
				return nil, err
			}
			x, err := p.expr(bpPrefix - 1)
			if err != nil {
				return nil, err
			}
			return &node{op: op, x: x}, nil
		}
	case tIdent:
		var err error
		n, err = p.identifier(t.text)
		if err != nil {
			return nil, err
		}
		if n.op == nTypeof {
			if err := p.advance(); err != nil {
				return nil, err
			}
			x, err := p.expr(bpPrefix - 1)
			if err != nil {
				return nil, err
			}
			n.x = x
			return n, nil
		}
		if n.op == nLookup {
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.isPunct("(") {
				return nil, fmt.Errorf("_ can only be called: _('recordName')")
			}
			args, err := p.arguments()
			if err != nil {
				return nil, err
			}
			if len(args) != 1 {
				return nil, fmt.Errorf("_ takes exactly one argument, got %d", len(args))
			}
			n.x = args[0]
			return p.postfix(n)
		}
	default:
		return nil, p.unexpected()
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p.postfix(n)
}

func (p *parser) identifier(name string) (*node, error) {
	switch name {
	case "true":
		return &node{op: nLit, val: trueV}, nil
	case "false":
		return &node{op: nLit, val: falseV}, nil
	case "null":
		return &node{op: nLit, val: nullV}, nil
	case "undefined":
		return &node{op: nLit, val: undefinedV}, nil
	case "NaN":
		return &node{op: nLit, val: numV(nan)}, nil
	case "Infinity":
		return &node{op: nLit, val: numV(posInf)}, nil
	case "typeof":
		return &node{op: nTypeof}, nil
	case "_":
		return &node{op: nLookup}, nil
	case "user":
		return &node{op: nUser}, nil
	case "now":
		return &node{op: nNow}, nil
	case "action":
		return &node{op: nAction}, nil
	case "data":
		if !p.env.allowData {
			return nil, fmt.Errorf("data is not available for this rule type")
		}
		return &node{op: nData}, nil
	case "oldData":
		if !p.env.allowOld {
			return nil, fmt.Errorf("oldData is only available for read, write and delete rules")
		}
		return &node{op: nOldData}, nil
	}
	if reservedWords[name] {
		return nil, p.unexpected()
	}
	if name[0] == '$' {
		for i, v := range p.env.pathVars {
			if v == name {
				return &node{op: nPathVar, idx: i, name: name}, nil
			}
		}
		return nil, fmt.Errorf("unknown path variable %s", name)
	}
	return nil, fmt.Errorf("unknown identifier %s", name)
}

func (p *parser) arguments() ([]*node, error) { return p.list(")") }

// list parses comma-separated expressions after the current opening token
// up to and including end; a trailing comma is allowed, holes are not.
func (p *parser) list(end string) ([]*node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var args []*node
	for !p.isPunct(end) {
		a, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.isPunct(",") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		if !p.isPunct(end) {
			return nil, p.unexpected()
		}
	}
	return args, p.advance()
}

// postfix parses member access, indexing and method calls after a primary.
func (p *parser) postfix(n *node) (*node, error) {
	for {
		switch {
		case p.isPunct("."):
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tIdent {
				return nil, p.unexpected()
			}
			name := p.tok.text
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.isPunct("(") {
				if !allowedMethods[name] {
					return nil, fmt.Errorf("function %s is not supported", name)
				}
				args, err := p.arguments()
				if err != nil {
					return nil, err
				}
				if name == "match" && len(args) > 0 && args[0].op == nLit && args[0].val.k == kString {
					// new RegExp('literal'): translate it now, reject it now.
					if _, err := compileJSRegex(args[0].val.s, ""); err != nil {
						return nil, err
					}
				}
				n = &node{op: nCall, x: n, name: name, args: args}
				continue
			}
			n = &node{op: nMember, x: n, name: name}
		case p.isPunct("["):
			if err := p.advance(); err != nil {
				return nil, err
			}
			k, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if !p.isPunct("]") {
				return nil, p.unexpected()
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.isPunct("(") {
				return nil, fmt.Errorf("calls through computed members are not supported")
			}
			n = &node{op: nIndex, x: n, y: k}
		case p.isPunct("("):
			return nil, fmt.Errorf("only _() and the string methods can be called")
		case p.isPunct("++") || p.isPunct("--"):
			return nil, p.unexpected()
		default:
			return n, nil
		}
	}
}
