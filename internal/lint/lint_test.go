// Package lint enforces swiftlet's house rules as an ordinary Go test, in the manner of pebble's
// internal/lint: no raw sync/atomic functions, no time.Sleep in server code, imports that follow the
// one-way layering of design.md, no panic in the parsers, and a package doc on every package.
//
// It parses the module's sources with go/parser (no type checking, no external tools), so it runs in well
// under a second:
//
//	go test -count=1 ./internal/lint/
//
// Every finding is reported as file:line relative to the module root. A rule that fires on code that is
// legitimately fine is narrowed here, with the reason next to it, rather than silenced at the call site.
package lint

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pkgInfo is one directory of Go sources: a package of the module.
type pkgInfo struct {
	rel   string      // directory relative to the module root, slash-separated ("server/auth"); "." for the root
	path  string      // import path ("swiftlet/server/auth")
	files []*fileInfo // non-test files
	tests []*fileInfo // _test.go files of the package itself (not of an external pkg_test package)
}

// fileInfo is one parsed source file.
type fileInfo struct {
	rel string // path relative to the module root, slash-separated
	ast *ast.File
}

// module is the parsed module: every package, keyed by its directory relative to the root.
type module struct {
	root  string
	path  string // module path from go.mod ("swiftlet")
	fset  *token.FileSet
	pkgs  map[string]*pkgInfo
	order []string // sorted keys of pkgs
}

// skipDir reports whether a directory is outside the rules: dependencies, fixtures, and the directories
// the go tool itself ignores (names starting with "." or "_").
func skipDir(name string) bool {
	switch name {
	case "node_modules", "testdata", "vendor":
		return true
	}
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

var loadOnce = sync.OnceValues(func() (*module, error) {
	root, err := findModule()
	if err != nil {
		return nil, err
	}
	return loadModuleAt(root)
})

// load parses the module once per test binary; every rule shares the result.
func load(t *testing.T) *module {
	t.Helper()
	m, err := loadOnce()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadModuleAt parses every .go file of the module rooted at root (the directory of its go.mod).
func loadModuleAt(root string) (*module, error) {
	modPath, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	m := &module{root: root, path: modPath, fset: token.NewFileSet(), pkgs: map[string]*pkgInfo{}}
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		relFile, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		relFile = filepath.ToSlash(relFile)
		f, err := parser.ParseFile(m.fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := path.Dir(relFile)
		pkg := m.pkgs[dir]
		if pkg == nil {
			ip := modPath
			if dir != "." {
				ip = modPath + "/" + dir
			}
			pkg = &pkgInfo{rel: dir, path: ip}
			m.pkgs[dir] = pkg
		}
		fi := &fileInfo{rel: relFile, ast: f}
		switch {
		case !strings.HasSuffix(p, "_test.go"):
			pkg.files = append(pkg.files, fi)
		case !strings.HasSuffix(f.Name.Name, "_test"):
			pkg.tests = append(pkg.tests, fi)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k := range m.pkgs {
		m.order = append(m.order, k)
	}
	sort.Strings(m.order)
	return m, nil
}

// findModule walks up from the working directory to the directory holding go.mod.
func findModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// modulePath reads the module line of a go.mod.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

// files returns every non-test file of the module, in path order.
func (m *module) files() []*fileInfo {
	var out []*fileInfo
	for _, k := range m.order {
		out = append(out, m.pkgs[k].files...)
	}
	return out
}

// pos renders a position as file:line relative to the module root.
func (m *module) pos(f *fileInfo, p token.Pos) string {
	return fmt.Sprintf("%s:%d", f.rel, m.fset.Position(p).Line)
}

// under reports whether the package directory rel matches pattern: "x" matches x only, "x/..." matches x
// and every package below it (as the go tool spells it).
func under(rel, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

func underAny(rel string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return under(rel, p) })
}

// importName returns the local name under which f imports importPath, "" if it does not. A dot or blank
// import gives "." or "_"; neither can be used in a selector expression, so callers simply find no match.
func importName(f *ast.File, importPath string) string {
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		if p != importPath {
			continue
		}
		if is.Name != nil {
			return is.Name.Name
		}
		return path.Base(importPath)
	}
	return ""
}

// selectors calls fn for every pkg.Name selector in f whose package identifier is local (the import name).
// Without type information a local variable that shadows the import would be mistaken for it; no file in
// the module does that, and gofmt'd code that did would be confusing anyway.
func selectors(f *ast.File, local string, fn func(sel *ast.SelectorExpr)) {
	if local == "" || local == "_" || local == "." {
		return
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
				fn(sel)
			}
		}
		return true
	})
}

// report fails the test with every finding, sorted, one per line.
func report(t *testing.T, rule string, findings []string) {
	t.Helper()
	if len(findings) == 0 {
		return
	}
	sort.Strings(findings)
	t.Errorf("%s: %d finding(s):\n\t%s", rule, len(findings), strings.Join(findings, "\n\t"))
}

// rawAtomicPrefixes are the function families of sync/atomic. The package's types (atomic.Int64,
// atomic.Uint64, atomic.Bool, atomic.Pointer[T], atomic.Value, ...) do not start with these, so a selector
// that does is a call to (or a reference to) a raw function.
var rawAtomicPrefixes = []string{"Add", "Load", "Store", "Swap", "CompareAndSwap", "And", "Or"}

// TestRawAtomics forbids the sync/atomic functions (atomic.AddInt64, atomic.LoadUint64, ...): the
// atomic.Int64-style types make every access to the field atomic and keep 64-bit fields aligned, whereas a
// raw function leaves the field open to a plain read or write elsewhere.
func TestRawAtomics(t *testing.T) { report(t, "raw atomics", checkRawAtomics(load(t))) }

func checkRawAtomics(m *module) []string {
	var bad []string
	for _, f := range m.files() {
		selectors(f.ast, importName(f.ast, "sync/atomic"), func(sel *ast.SelectorExpr) {
			for _, p := range rawAtomicPrefixes {
				if strings.HasPrefix(sel.Sel.Name, p) {
					bad = append(bad, fmt.Sprintf("%s: atomic.%s: use the atomic.Int64-style types", m.pos(f, sel.Pos()), sel.Sel.Name))
					return
				}
			}
		})
	}
	return bad
}

// sleepAllowed are the packages whose non-test code may call time.Sleep: the load generator paces its
// clients and rounds, and the conformance tooling paces its writes byte by byte (wsconf case 2.6). Every
// other package, in particular the server packages (loop, frame, fanout, server/..., store/..., valve,
// cmd/...), runs on event loops or serves them, where a sleep stalls every connection of the loop; they
// wait on timers, tickers, channels or contexts instead. The rule is an allow-list so that a new package
// starts under it.
var sleepAllowed = []string{"loadgen/...", "conformance/..."}

// TestNoSleep forbids time.Sleep in non-test code outside sleepAllowed.
func TestNoSleep(t *testing.T) { report(t, "time.Sleep", checkNoSleep(load(t))) }

func checkNoSleep(m *module) []string {
	var bad []string
	for _, k := range m.order {
		pkg := m.pkgs[k]
		if underAny(pkg.rel, sleepAllowed) {
			continue
		}
		for _, f := range pkg.files {
			selectors(f.ast, importName(f.ast, "time"), func(sel *ast.SelectorExpr) {
				if sel.Sel.Name == "Sleep" {
					bad = append(bad, fmt.Sprintf("%s: time.Sleep in package %s", m.pos(f, sel.Pos()), pkg.rel))
				}
			})
		}
	}
	return bad
}

// layer lists, for the packages matching pkg, the module packages they may import. Together the rows
// encode design.md: cmd -> server, loadgen -> loop, fanout, valve, store -> frame, with loadgen reusing
// frame for its own clients and frame importing nothing of ours. Peers of one layer do not import each
// other (loop does not use fanout, valve does not use store), except store and store/path, which are one
// subsystem. A package no row matches fails the test: a new package has to be placed in the table.
type layer struct {
	pkg string   // package pattern ("server/..." is server and everything below it)
	may []string // module packages (patterns) it may import
}

// lowerLayers are the packages under server and loadgen.
var lowerLayers = []string{"loop", "fanout", "valve", "store", "store/path", "frame"}

var layers = []layer{
	{"frame", nil},
	{"fanout", []string{"frame"}},
	{"loop", []string{"frame"}},
	{"valve", nil},
	{"store", []string{"store/path"}},
	{"store/path", []string{"store"}},
	// server's subpackages (server/auth, ...) are pieces of server: they may use the lower layers and
	// each other; the compiler rejects an import of server itself from below as a cycle.
	{"server/...", append([]string{"server/..."}, lowerLayers...)},
	{"loadgen/...", []string{"loadgen/...", "frame"}},
	// cmd wires everything together, so it may import any layer; it also starts the loop engine
	// directly, which is why loop is listed next to server and loadgen.
	{"cmd/...", append([]string{"server/...", "loadgen/..."}, lowerLayers...)},
	// Test tooling drives the server from outside; it may reuse any library package (never cmd, a
	// program). Today wsconf imports nothing of ours.
	{"conformance/...", append([]string{"conformance/...", "server/...", "loadgen/..."}, lowerLayers...)},
	// This package: test files only.
	{"internal/lint", nil},
}

// restrictedImport is a third-party import allowed only in some packages' non-test code.
type restrictedImport struct {
	path    string   // import path prefix ("gonum.org/v1/plot" also covers gonum.org/v1/plot/vg)
	allowed []string // package patterns allowed to import it
	why     string
}

var restrictedImports = []restrictedImport{
	// valve compiles the Valve language itself; goja is only the reference the differential tests
	// compare it against, and it would add 13 MB and a JS runtime to the binary.
	{"github.com/dop251/goja", nil, "goja is for _test.go files only (valve's differential tests)"},
	{"gonum.org/v1/plot", []string{"loadgen/...", "cmd/..."}, "plotting belongs to loadgen and cmd"},
}

func hasPathPrefix(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

// TestImports checks every non-test import against the layer table, the restricted third-party imports,
// and the rule that no package imports a program under cmd/.
func TestImports(t *testing.T) { report(t, "imports", checkImports(load(t))) }

func checkImports(m *module) []string {
	var bad []string
	for _, k := range m.order {
		pkg := m.pkgs[k]
		if len(pkg.files) == 0 && len(pkg.tests) == 0 {
			continue
		}
		var row *layer
		for i := range layers {
			if under(pkg.rel, layers[i].pkg) {
				row = &layers[i]
				break
			}
		}
		if row == nil {
			bad = append(bad, fmt.Sprintf("%s: package %s is not in the layer table of lint_test.go", pkg.rel, pkg.path))
			continue
		}
		for _, f := range pkg.files {
			for _, is := range f.ast.Imports {
				ip, _ := strconv.Unquote(is.Path.Value)
				at := m.pos(f, is.Pos())
				for _, r := range restrictedImports {
					if hasPathPrefix(ip, r.path) && !underAny(pkg.rel, r.allowed) {
						bad = append(bad, fmt.Sprintf("%s: %s imports %s: %s", at, pkg.rel, ip, r.why))
					}
				}
				if ip != m.path && !strings.HasPrefix(ip, m.path+"/") {
					continue
				}
				dep := strings.TrimPrefix(strings.TrimPrefix(ip, m.path), "/")
				if dep == "" {
					dep = "."
				}
				switch {
				case under(dep, "cmd/..."):
					bad = append(bad, fmt.Sprintf("%s: %s imports %s: nothing imports a program under cmd/", at, pkg.rel, ip))
				case dep == pkg.rel:
					// An external _test package importing its own package; not in non-test files.
				case !underAny(dep, row.may):
					bad = append(bad, fmt.Sprintf("%s: %s imports %s: %s may import only %v", at, pkg.rel, ip, row.pkg, row.may))
				}
			}
		}
	}
	return bad
}

// noPanic are the packages whose non-test code must not call panic: they parse untrusted bytes (frames,
// deepstream messages, record paths), and bad input must come back as an error, never as a crash. An
// impossible-state check belongs behind the invariants build tag in a test helper, not in the parser.
var noPanic = []string{"frame", "store/path"}

// TestNoPanicInParsers forbids calls to the builtin panic in the noPanic packages.
func TestNoPanicInParsers(t *testing.T) {
	report(t, "panic in parsers", checkNoPanicInParsers(load(t)))
}

func checkNoPanicInParsers(m *module) []string {
	var bad []string
	for _, k := range m.order {
		pkg := m.pkgs[k]
		if !underAny(pkg.rel, noPanic) {
			continue
		}
		for _, f := range pkg.files {
			ast.Inspect(f.ast, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "panic" {
						bad = append(bad, fmt.Sprintf("%s: panic in %s: return an error", m.pos(f, c.Pos()), pkg.rel))
					}
				}
				return true
			})
		}
	}
	return bad
}

// TestPackageDocs requires a package doc comment on every package: on one of its non-test files, or, for
// a package of test files only (conformance/client, conformance/durability, this one), on one of those.
// A library package's doc must begin "Package name" (go doc's convention, which `go doc` and pkg.go.dev
// rely on for the one-line summary); a command's may begin any way ("Command swiftlet ...").
func TestPackageDocs(t *testing.T) { report(t, "package docs", checkPackageDocs(load(t))) }

func checkPackageDocs(m *module) []string {
	var bad []string
	for _, k := range m.order {
		pkg := m.pkgs[k]
		files := pkg.files
		if len(files) == 0 {
			files = pkg.tests
		}
		if len(files) == 0 {
			continue
		}
		var docs []*fileInfo
		for _, f := range files {
			if f.ast.Doc != nil {
				docs = append(docs, f)
			}
		}
		name := files[0].ast.Name.Name
		if len(docs) == 0 {
			bad = append(bad, fmt.Sprintf("%s: package %s has no package doc comment (add a doc.go)", pkg.rel, name))
			continue
		}
		for _, f := range docs {
			if name != "main" && !strings.HasPrefix(f.ast.Doc.Text(), "Package "+name+" ") {
				bad = append(bad, fmt.Sprintf("%s: package doc should begin %q", m.pos(f, f.ast.Doc.Pos()), "Package "+name))
			}
		}
	}
	return bad
}

// TestRulesSeeTheModule guards the rules against passing vacuously on the real tree: the walk must find
// the packages the rules name, each with sources, and must not enter a skipped directory.
func TestRulesSeeTheModule(t *testing.T) {
	m := load(t)
	for _, rel := range []string{"frame", "fanout", "loop", "server", "server/auth", "store", "store/path", "valve", "cmd/swiftlet", "loadgen"} {
		if p := m.pkgs[rel]; p == nil || len(p.files) == 0 {
			t.Errorf("walk found no non-test sources in %s", rel)
		}
	}
	for rel := range m.pkgs {
		for _, part := range strings.Split(rel, "/") {
			if rel != "." && skipDir(part) {
				t.Errorf("walk entered skipped directory %s", rel)
			}
		}
	}
}

// brokenModule is a small module, written to a temporary directory, that breaks every rule once (and
// keeps to them elsewhere, so a rule that fires too widely shows up as an unexpected finding).
var brokenModule = map[string]string{
	"go.mod": "module example\n\ngo 1.26\n",
	// frame: a panic, a raw atomic under a renamed import, a sleep, an import of the module, no doc.
	"frame/frame.go": `package frame

import (
	at "sync/atomic"
	"time"

	"example/valve"
)

var n at.Int64

func F() {
	at.AddInt64(nil, 1)
	_ = at.LoadUint64
	n.Add(1)
	time.Sleep(time.Millisecond)
	_ = valve.X
	panic("bad input")
}
`,
	// A test file may do all of this.
	"frame/frame_test.go": `package frame

import (
	"sync/atomic"
	"time"

	_ "github.com/dop251/goja"
)

func g() { atomic.AddInt32(nil, 1); time.Sleep(1); panic(1) }
`,
	"valve/doc.go":        "// Package valve is fine.\npackage valve\n\n// X is exported.\nvar X int\n",
	"fanout/doc.go":       "// Package fanout imports more than frame.\npackage fanout\n\nimport _ \"example/store\"\n",
	"store/doc.go":        "// Package store is fine.\npackage store\n\nimport _ \"example/store/path\"\n",
	"store/path/p.go":     "// Package path is fine.\npackage path\n\nimport \"sync/atomic\"\n\nvar v atomic.Uint64\n",
	"server/doc.go":       "// Package server uses goja.\npackage server\n\nimport _ \"github.com/dop251/goja\"\n",
	"server/auth/a.go":    "// The auth package has a doc that does not begin with its name.\npackage auth\n\nimport _ \"example/cmd/tool\"\n",
	"loadgen/doc.go":      "// Package loadgen may sleep and plot.\npackage loadgen\n\nimport (\n\t\"time\"\n\n\t_ \"gonum.org/v1/plot/vg\"\n\t_ \"example/frame\"\n)\n\nfunc S() { time.Sleep(1) }\n",
	"loop/doc.go":         "// Package loop plots.\npackage loop\n\nimport _ \"gonum.org/v1/plot\"\n",
	"cmd/tool/main.go":    "// Command tool is fine.\npackage main\n\nimport _ \"example/server\"\n\nfunc main() {}\n",
	"extra/doc.go":        "// Package extra is in no row of the table.\npackage extra\n",
	"node_modules/x/x.go": "package x\n\nimport \"time\"\n\nfunc S() { time.Sleep(1) }\n",
	"frame/testdata/t.go": "package t\n\nfunc S() { panic(1) }\n",
}

// TestRulesFire runs every rule over brokenModule and compares the findings with the exact list expected,
// so each rule is shown to fire where it should and nowhere else.
func TestRulesFire(t *testing.T) {
	root := t.TempDir()
	for name, body := range brokenModule {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := loadModuleAt(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule  string
		check func(*module) []string
		want  []string // substrings, one per finding, in sorted finding order
	}{
		{"raw atomics", checkRawAtomics, []string{
			"frame/frame.go:13: atomic.AddInt64",
			"frame/frame.go:14: atomic.LoadUint64",
		}},
		{"time.Sleep", checkNoSleep, []string{
			"frame/frame.go:16: time.Sleep in package frame",
		}},
		{"imports", checkImports, []string{
			"extra: package example/extra is not in the layer table",
			"fanout/doc.go:4: fanout imports example/store: fanout may import only [frame]",
			"frame/frame.go:7: frame imports example/valve: frame may import only []",
			"loop/doc.go:4: loop imports gonum.org/v1/plot: plotting belongs to loadgen and cmd",
			"server/auth/a.go:4: server/auth imports example/cmd/tool: nothing imports a program under cmd/",
			"server/doc.go:4: server imports github.com/dop251/goja: goja is for _test.go files only",
		}},
		{"panic in parsers", checkNoPanicInParsers, []string{
			"frame/frame.go:18: panic in frame",
		}},
		{"package docs", checkPackageDocs, []string{
			"frame: package frame has no package doc comment",
			`server/auth/a.go:1: package doc should begin "Package auth"`,
		}},
	} {
		got := c.check(m)
		sort.Strings(got)
		ok := len(got) == len(c.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.Contains(got[i], c.want[i])
		}
		if !ok {
			t.Errorf("%s on the broken module:\n got  %q\n want %q", c.rule, got, c.want)
		}
	}
}
