package stacks

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the contract other packages build on. The implementation
// lives in the rest of the package.

// Ref names a discovered stack.
type Ref struct {
	Name string `json:"name"` // metadata.name in stack.yaml
	Path string `json:"path"` // slash-separated folder relative to the fsys root, e.g. "stacks/orders"
}

// Header is the cheap part of a stack: its stack.yaml only (identity,
// watch globs, backend overrides) plus the environments found by file name.
// Change detection reads headers to map paths to stacks without loading
// whole stacks.
type Header struct {
	Ref
	// Watch are repo-relative globs (** = any depth) from spec.watch.
	Watch []string
	// Backend are spec.backend settings as config keys ("backend.bucket",
	// "backend.prefix", ...).
	Backend map[string]string
	// BackendLines gives the line of each Backend key in stack.yaml.
	BackendLines map[string]int
	// Environments are the names of environments/<env>.yaml files, sorted.
	Environments []string
}

// VarValues are variable values from outside the repository, by source.
// Priority (SPEC §3): Flags > File > Env > the environment file > stack defaults.
type VarValues struct {
	Flags map[string]string // --var NAME=VALUE
	File  map[string]string // --var-file
	Env   map[string]string // PANKA_VAR_<NAME>, NAME without the prefix
}

// Set stores value for name as given by source (SourceVarFile, SourceEnv;
// anything else is a flag), the maps of v made.
func (v VarValues) Set(source, name, value string) {
	switch source {
	case SourceVarFile:
		v.File[name] = value
	case SourceEnv:
		v.Env[name] = value
	default:
		v.Flags[name] = value
	}
}

// ResolveOptions control Resolve.
type ResolveOptions struct {
	Vars VarValues
	// Lenient keeps variables that have no value (required or secret ones)
	// as symbolic "${var.NAME}" instead of failing; change detection uses
	// it, since secrets are not in git (SPEC §3).
	Lenient bool
	// SecretKey keys the hashes of sensitive values. Empty is allowed
	// (hashes are then unkeyed SHA-256, used only for change detection).
	SecretKey []byte
	// SecretVars names variables to treat as declared secret: true when
	// their value comes from outside the repository (--var, --var-file,
	// PANKA_VAR_*), though this stack declares them without secret:
	// true. A value the user gives once for a whole run (a CI job's
	// --var DB_PASSWORD=...) that another stack declares secret, or that
	// this stack's deployed record or another commit holds as a secret,
	// must not be shown or recorded in clear here either.
	SecretVars map[string]bool
}

// ErrNoStack is returned (wrapped) when a folder has no stack.yaml.
var ErrNoStack = errors.New("no stack.yaml")

// Errors are all problems found in a stack, each with file:line:column.
// Loaders return an *Errors (errors.As) when anything is wrong, so the user
// sees every problem at once.
type Errors struct {
	List []*Error
}

// Error is one problem with a position.
type Error struct {
	File   string `json:"file"` // repo-relative, slash-separated
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Key    string `json:"key,omitempty"` // offending key path, e.g. spec.cpu
	Msg    string `json:"message"`
}

func (e *Error) Error() string {
	// A file named in bytes that are not UTF-8 (made on a Latin-1
	// system) is shown escaped, not as raw bytes a terminal garbles; one
	// whose name holds a control character (a newline, a tab) is quoted,
	// as git quotes it, or the problem's line split in two, the second
	// half without the "file:line:" a reader (or the pre-push hook's
	// prefix) goes by.
	pos := EscapeInvalid(e.File)
	if strings.ContainsFunc(e.File, unicode.IsControl) {
		pos = strconv.Quote(e.File)
	}
	if e.Line > 0 {
		pos += ":" + itoa(e.Line)
		if e.Column > 0 {
			pos += ":" + itoa(e.Column)
		}
	}
	if e.Key != "" {
		return pos + ": " + EscapeControl(e.Key) + ": " + e.Msg
	}
	return pos + ": " + e.Msg
}

// EscapeInvalid writes the bytes of s that are not UTF-8 as Go escapes
// (\xe9), for text that may hold a path: printed raw they were garbage on
// a terminal, and EscapeControl made them U+FFFD.
func EscapeInvalid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			const hexDigits = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[0]>>4])
			b.WriteByte(hexDigits[s[0]&0xf])
		} else {
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// EscapeControl writes the control characters of s (a key written in the
// YAML as "\e[2J" or "a\rb", a path in a reason) as Go escapes: raw, they
// would drive the terminal, or split a message over lines.
func EscapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.Error())
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// The loader API (implemented in loader.go, resolve.go, graph.go, format.go):
//
//	func DirFS(dir string) fs.FS
//	    os.DirFS(dir) whose files the loader reads with fewer system calls
//	    on Unix: use it for work trees.
//	func DirFSHiding(dir string, hide Hider) fs.FS
//	    DirFS without what hide reports (the files git ignores).
//	func Discover(fsys fs.FS, root string) ([]Ref, error)
//	    every folder under root (recursively; hidden folders skipped; stacks
//	    do not nest) holding stack.yaml; duplicate metadata.name is an error
//	    naming both paths (the first path in lexical order is kept). Sorted
//	    by name. Reads stack.yaml files only, in parallel, and usually
//	    without a YAML parse. A missing root is no stacks. Problems: *Errors
//	    (with the readable stacks still returned).
//	func DiscoverStacks(fsys fs.FS, root string) (*Discovery, error)
//	func (d *Discovery) Load(ref Ref) (*Stack, error)
//	func (d *Discovery) NestedStack(name string) error
//	    why name is not found: its stack.yaml is nested in another stack.
//	    Discover (d.Refs, same errors) + Load(fsys, ref.Path) without
//	    reading again the stack.yaml and stack folder listing discovery
//	    read: use it to load many discovered stacks (validate, plan all).
//	    d.Duplicates lists every folder of a name used more than once;
//	    d.Unnamed every folder whose stack.yaml gives no name (not in Refs);
//	    d.Folders every folder it listed (a cache of the names found holds
//	    while none of them, and no stack.yaml, changes).
//	func Strays(fsys fs.FS, root string, refs []Ref) []*Error
//	    YAML files under root that belong to no stack (missing stack.yaml).
//	func StrayFile(fsys fs.FS, root, file string) *Error
//	    Strays' error for one file, reading only its folders' stack.yaml.
//	func ReadHeader(fsys fs.FS, dir string) (*Header, error)
//	    parses dir/stack.yaml only and lists dir/environments/*.yaml names.
//	func NestedIn(fsys fs.FS, dir, file, name string) error
//	    the "stacks cannot be nested" error of a stack.yaml between dir and file.
//	func ReadWatch(fsys fs.FS, dir string) (name string, watch []string, err error)
//	    metadata.name and spec.watch as written, even when invalid.
//	func Load(fsys fs.FS, dir string) (*Stack, error)
//	    parses every YAML file of the stack (strict), validates structure,
//	    returns *Errors listing every problem (spec problems of every
//	    environment included). No stack.yaml: an error wrapping ErrNoStack.
//	func LoadLegacy(fsys fs.FS, dir string) (*Stack, []*Error, error)
//	    Load for a commit other than the one being edited (rollback,
//	    promote, changed's base, plan --ref of an older commit): what
//	    panka accepted when it was made and refuses since (Services
//	    outside services/<svc>/, watch globs matching nothing, db.YAML;
//	    resolving: env entries without a value, $NAME) loads as then,
//	    each returned as a warning (Resolved.Legacy when resolving).
//	func (s *Stack) Header() *Header
//	func (s *Stack) Environments() []string
//	func (s *Stack) File() string; ComponentNames() []string;
//	    ComponentFile(name) string; EnvironmentFile(env) string;
//	    ServiceFile(name) string
//	func (s *Stack) Resolve(env string, opts ResolveOptions) (*Resolved, error)
//	    env not found: error wrapping ErrNoEnvironment; else *Errors. A
//	    loaded Stack is read-only: Resolve may run concurrently.
//	func (s *Stack) Validate(opts ResolveOptions) error  // all envs, Lenient
//	func (r *Resolved) Graph() (*Graph, error)          // *CycleError on a cycle
//	func NewGraph(deps map[string][]string) (*Graph, error)
//	func (g *Graph) Order() []string; Levels() [][]string;
//	    Dependencies(name) []string; Dependents(name) []string
//	func Format(src []byte) ([]byte, error)             // canonical YAML, comments kept
//	func DecodeSpec(c *Component, out any) error        // typed spec, e.g. *MicroServiceSpec
//	func HashSensitive(key []byte, name, value string) Sensitive  // v1: name and value
//	func HashSensitiveAt(key []byte, stack, env, name, value string) Sensitive
//	func SecretMatches(key []byte, stack, env, name, value, recorded string) bool
//	func CheckName(name string) string; CheckSchedule(expr string) string
//	func CheckWatchGlob(g string) string
//	func NotPlainFile(m fs.FileMode) string  // a named pipe, socket, device ...
//	func KindFields(k Kind) []string
var _ fs.FS = nil
