package valve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	yaml "go.yaml.in/yaml/v4"
)

// DefaultMaxRuleIterations is deepstream's default for maxRuleIterations.
const DefaultMaxRuleIterations = 3

// DefaultCacheSize bounds the path-choice cache (entries over all shards).
const DefaultCacheSize = 1 << 16

// Options tunes a loaded permission set. The zero value means defaults.
type Options struct {
	MaxRuleIterations int // default DefaultMaxRuleIterations
	CacheSize         int // default DefaultCacheSize
}

// Load reads and compiles a permission file (YAML or JSON) with default
// options.
func Load(path string) (*Permissions, error) { return LoadWithOptions(path, Options{}) }

// LoadWithOptions reads and compiles a permission file.
func LoadWithOptions(path string, opts Options) (*Permissions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("valve: %w", err)
	}
	return ParseWithOptions(data, filepath.Base(path), opts)
}

// Parse compiles a permission file (YAML or JSON; JSON is YAML) with default
// options. filename is only used in error messages, which have the form
// `file:line: section "path" type: message`.
func Parse(data []byte, filename string) (*Permissions, error) {
	return ParseWithOptions(data, filename, Options{})
}

// ParseWithOptions compiles a permission file.
func ParseWithOptions(data []byte, filename string, opts Options) (*Permissions, error) {
	if opts.MaxRuleIterations <= 0 {
		opts.MaxRuleIterations = DefaultMaxRuleIterations
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", filename, err)
	}
	ld := loader{file: filename}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, ld.errf(1, "", "", 0, "empty permission file")
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, ld.errf(root.Line, "", "", 0, "the permission file must be a mapping of sections")
	}
	p := &Permissions{maxIter: opts.MaxRuleIterations, cache: newChoiceCache(opts.CacheSize)}
	seen := [numSections]bool{}
	for _, kv := range pairs(root) {
		k, v := kv[0], kv[1]
		s, ok := sectionByName(k.Value)
		if !ok {
			return nil, ld.errf(k.Line, "", "", 0, "unknown section %q", k.Value)
		}
		if seen[s] {
			return nil, ld.errf(k.Line, "", "", 0, "duplicate section %q", k.Value)
		}
		seen[s] = true
		entries, err := ld.section(s, k, v)
		if err != nil {
			return nil, err
		}
		p.sections[s] = entries
		p.cached[s] = needsCache(entries)
	}
	for s := Section(0); s < numSections; s++ {
		if !seen[s] {
			return nil, ld.errf(root.Line, "", "", 0, "missing section %q", s.String())
		}
	}
	return p, nil
}

// uncachedEntries is how many segment-matched paths a section may have
// before the choice cache pays off (BenchmarkPathChoiceUncached: a few ns
// per path, against ~40 ns for a cache lookup).
const uncachedEntries = 8

func needsCache(entries []*entry) bool {
	if len(entries) > uncachedEntries {
		return true
	}
	for _, e := range entries {
		if e.m.re != nil {
			return true
		}
	}
	return false
}

func sectionByName(n string) (Section, bool) {
	for i, s := range sectionNames {
		if s == n {
			return Section(i), true
		}
	}
	return 0, false
}

type loader struct{ file string }

// errf formats a load error naming the file, line and rule.
func (l *loader) errf(line int, sec, path string, rt int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	where := fmt.Sprintf("%s:%d: ", l.file, line)
	switch {
	case path != "" && rt >= 0 && sec != "" && rt != noRule:
		where += fmt.Sprintf("%s %q %s: ", sec, path, RuleType(rt))
	case path != "" && sec != "":
		where += fmt.Sprintf("%s %q: ", sec, path)
	case sec != "":
		where += sec + ": "
	}
	return errors.New(where + msg)
}

const noRule = -1

// resolve follows YAML aliases (permission files may share rules through
// anchors).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// pairs returns the key/value pairs of a mapping with aliases resolved and
// YAML merge keys (<<: *defaults) expanded; explicit keys win over merged.
func pairs(m *yaml.Node) [][2]*yaml.Node {
	var out, merged [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, src := range srcs {
				if src = resolve(src); src.Kind == yaml.MappingNode {
					merged = append(merged, pairs(src)...)
				}
			}
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	for _, kv := range merged {
		if !seen[kv[0].Value] {
			seen[kv[0].Value] = true
			out = append(out, kv)
		}
	}
	return out
}

func (l *loader) section(s Section, k, v *yaml.Node) ([]*entry, error) {
	sec := s.String()
	if v.Kind != yaml.MappingNode {
		return nil, l.errf(v.Line, sec, "", noRule, "section must be a mapping of paths to rules")
	}
	if len(v.Content) == 0 {
		return nil, l.errf(k.Line, sec, "", noRule, "section must not be empty")
	}
	var entries []*entry
	hasRoot := false
	paths := map[string]bool{}
	for _, kv := range pairs(v) {
		pk, pv := kv[0], kv[1]
		path := pk.Value
		if pk.Kind != yaml.ScalarNode || path == "" {
			return nil, l.errf(pk.Line, sec, "", noRule, "path must be a non-empty string")
		}
		if path[0] == '/' {
			return nil, l.errf(pk.Line, sec, path, noRule, "path must not start with /")
		}
		if paths[path] {
			return nil, l.errf(pk.Line, sec, path, noRule, "duplicate path")
		}
		paths[path] = true
		if path == "*" {
			hasRoot = true
		}
		m, vars, err := compilePath(path)
		if err != nil {
			return nil, l.errf(pk.Line, sec, path, noRule, "%v", err)
		}
		if pv.Kind != yaml.MappingNode {
			return nil, l.errf(pv.Line, sec, path, noRule, "rules must be a mapping of rule types to rules")
		}
		e := &entry{path: path, m: m, vars: vars}
		for _, rkv := range pairs(pv) {
			rk, rv := rkv[0], rkv[1]
			rt, ok := ruleTypeByName(s, rk.Value)
			if !ok {
				return nil, l.errf(rk.Line, sec, path, noRule, "unknown rule type %q", rk.Value)
			}
			if e.rules[rt] != nil {
				return nil, l.errf(rk.Line, sec, path, int(rt), "duplicate rule type")
			}
			r, err := compileRuleNode(rv, rt, vars)
			if err != nil {
				return nil, l.errf(rv.Line, sec, path, int(rt), "%v", err)
			}
			e.rules[rt] = r
		}
		entries = append(entries, e)
	}
	if !hasRoot {
		return nil, l.errf(k.Line, sec, "", noRule, `section must have a "*" entry`)
	}
	// Longest path string wins; among equal lengths the first in the file.
	sort.SliceStable(entries, func(a, b int) bool { return len(entries[a].path) > len(entries[b].path) })
	return entries, nil
}

func ruleTypeByName(s Section, n string) (RuleType, bool) {
	for _, rt := range sectionRules[s] {
		if rt.String() == n {
			return rt, true
		}
	}
	return 0, false
}

// compileRuleNode compiles one YAML rule value: true, false or a string.
func compileRuleNode(n *yaml.Node, rt RuleType, vars []string) (*rule, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("rule must be true, false or a string")
	}
	switch n.ShortTag() {
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return &rule{constant: true, allow: b, src: n.Value}, nil
	case "!!str":
	default:
		return nil, fmt.Errorf("rule must be true, false or a string, got %s", n.ShortTag())
	}
	return compileRule(n.Value, rt, vars)
}

// compileRule compiles a rule expression for rule type rt on a path with
// the given variables.
func compileRule(src string, rt RuleType, vars []string) (*rule, error) {
	ast, err := parseRule(src, parseEnv{pathVars: vars, allowData: ruleHasData(rt), allowOld: ruleHasOldData(rt)})
	if err != nil {
		return nil, err
	}
	return &rule{fn: compile(ast), src: src}, nil
}
