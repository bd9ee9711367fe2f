package stacks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest YAML file the loader reads. Anything larger is
// almost certainly not a hand-written stack file, and refusing it up front
// keeps a stray data file from taking seconds and gigabytes to parse (a
// 10 MB flow list took 36 s and 1.7 GB before it was refused).
const MaxFileSize = 1 << 20

// maxNodes bounds the nodes one file may expand to, aliases included.
// Decoding through yaml.Node bypasses yaml.v3's own alias-ratio guard, so
// without this a "billion laughs" document of a few hundred bytes would
// expand to billions of nodes.
const maxNodes = 200_000

// maxAliasNodes bounds the nodes produced by expanding aliases in one file.
// Hand-written stacks reuse a few blocks; a bomb needs millions.
const maxAliasNodes = 100_000

// maxDepth bounds how deep values nest in one file.
const maxDepth = 1000

// nodeKind is the shape of a node.
type nodeKind uint8

const (
	nNull nodeKind = iota
	nScalar
	nMap
	nSeq
)

// node is a YAML value with its position, aliases expanded and merge keys
// applied. Overlays merge node trees, so every value keeps the file it came
// from and errors point into the file that set the value.
type node struct {
	kind nodeKind
	// subst is set on scalars produced by variable substitution: their text
	// may then be read as an int or bool.
	subst bool
	// bad is set on a scalar whose substitution failed (an invalid
	// ${...}, an unknown reference), and on the first value of a key set
	// twice in a spec: that problem is reported, and the value is
	// unknown, so no check is made with it ("required field is empty",
	// nor, under a mapping or list, a variable, reference or field
	// inside it).
	bad bool
	// line and col are 1-based (int32 keeps the node small: stacks are
	// many small nodes).
	line int32
	col  int32
	// dash is set on a plain text value that YAML folded from several
	// lines, one of which starts with "- " (key: a / - b, or - a / - b
	// indented under it): the 1-based line of that "- ", which was meant
	// as a list item. It fills what would be padding.
	dash  int32
	file  string
	tag   string // scalars: !!str, !!int, !!bool, !!float, !!null, !!timestamp, ...
	value string

	keys  []*node // nMap: scalar keys, in document order
	vals  []*node // nMap: values
	items []*node // nSeq

	// secrets lists the secret variables substituted into this scalar
	// (nil for almost every node).
	secrets *[]string
}

// secretVars lists the secret variables substituted into n.
func (n *node) secretVars() []string {
	if n.secrets == nil {
		return nil
	}
	return *n.secrets
}

func (n *node) pos() pos { return pos{n.file, int(n.line), int(n.col)} }

// get returns the value of key in a map node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != nMap {
		return nil
	}
	for i, k := range n.keys {
		if k.value == key {
			return n.vals[i]
		}
	}
	return nil
}

// getKey returns the key node of key in a map node, or nil.
func (n *node) getKey(key string) *node {
	if n == nil || n.kind != nMap {
		return nil
	}
	for _, k := range n.keys {
		if k.value == key {
			return k
		}
	}
	return nil
}

// manyKeys is the size from which a mapping being built or merged is
// searched through an index rather than key by key: stack files hold small
// mappings, but a large one (an env map of thousands of entries) must not
// make loading quadratic.
const manyKeys = 16

// keyIndex finds the keys of a mapping node being built; it indexes them
// only once the mapping has manyKeys keys.
type keyIndex map[string]int

// find returns the index of key in n.keys, or -1.
func (x *keyIndex) find(n *node, key string) int {
	if *x == nil && len(n.keys) >= manyKeys {
		*x = make(keyIndex, 2*len(n.keys))
		for i, k := range n.keys {
			if _, dup := (*x)[k.value]; !dup {
				(*x)[k.value] = i
			}
		}
	}
	if *x != nil {
		if i, ok := (*x)[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range n.keys {
		if k.value == key {
			return i
		}
	}
	return -1
}

// add appends key and val to n, keeping the index up to date.
func (x *keyIndex) add(n *node, key, val *node) {
	if *x != nil {
		if _, dup := (*x)[key.value]; !dup {
			(*x)[key.value] = len(n.keys)
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, val)
}

// isNull reports whether n is absent or an explicit null.
func (n *node) isNull() bool { return n == nil || n.kind == nNull }

// describe names the node's type for error messages.
func (n *node) describe() string {
	switch n.kind {
	case nNull:
		return "null"
	case nMap:
		return "a mapping"
	case nSeq:
		return "a list"
	}
	switch n.tag {
	case "!!int":
		return "an integer"
	case "!!bool":
		return "a boolean"
	case "!!float":
		return "a number"
	}
	if n.dash > 0 {
		return fmt.Sprintf("a string (%q%s)", n.value, n.foldedHint())
	}
	return "a string"
}

// foldedHint says, for a text value YAML folded a "- " line into (- a /
// "  - b" under it: the text "a - b", where a list was meant), why it is
// one text and what to write; "" for any other node.
func (n *node) foldedHint() string {
	if n == nil || n.dash == 0 {
		return ""
	}
	return fmt.Sprintf(": the - on line %d is indented under the text above it, so YAML reads it as more of that text, not as a list item; put each item on its own line with its - at one indentation, under the key", n.dash)
}

// describeMap is describe for a value that should have been a mapping:
// "fifo:true" (no space after the colon) is one string to YAML, and the
// message says so instead of leaving "got a string" to puzzle over.
func (n *node) describeMap() string {
	d := n.describe()
	if n.kind == nSeq {
		return d + listAsMapHint(n)
	}
	if n.kind != nScalar || n.subst || n.tag != "!!str" || n.dash > 0 {
		return d
	}
	key, rest, ok := strings.Cut(n.value, ":")
	if k, v, eq := strings.Cut(n.value, "="); !ok && eq && isKeyLike(strings.TrimRight(k, " ")) && strings.TrimSpace(v) != "" {
		// image = nginx (TOML, .env, HCL). The value is not shown: it
		// may be a secret.
		k = strings.TrimRight(k, " ")
		return fmt.Sprintf("%s (%s = ...: YAML writes a key with a colon, not =: write %s: followed by the value)", d, k, k)
	}
	if k, v, sp := strings.Cut(n.value, " "); !ok && sp && isKeyLike(k) && v != "" && !strings.ContainsAny(v, " \t") {
		// fifo true: the colon left out.
		return fmt.Sprintf("%s (%q: a key needs a colon after it, write %s: %s)", d, n.value, k, v)
	}
	if !ok || key == "" || rest == "" || !isKeyLike(key) {
		return d
	}
	r, _ := utf8.DecodeRuneInString(rest)
	if r == '/' {
		return d // a URL
	}
	if unicode.IsSpace(r) {
		return fmt.Sprintf("%s (after %q the colon is followed by %U, not a plain space, so YAML reads one string: retype the space)", d, key, r)
	}
	val, _, _ := strings.Cut(rest, " ")
	if len(val) > 40 {
		val = val[:40] + "..."
	}
	return fmt.Sprintf("%s (%q: a key needs a space after its colon, write %s: %s)", d, key+":"+val, key, val)
}

// scalarAsListHint is the hint for a text value n written where a list
// belongs: "" when describe already explains it (a "- x" folded into
// it), how to write "-db" ("- db": without the space it is the text
// "-db"), else other (the field's own hint, e.g. ": write [db]").
func scalarAsListHint(n *node, other string) string {
	switch {
	case n.kind != nScalar || n.dash > 0:
		return ""
	case n.tag == "!!str" && !n.subst && len(n.value) > 1 && n.value[0] == '-' && isKeyLike(n.value[1:2]):
		return fmt.Sprintf(": a list item needs a space after its -, write - %s", n.value[1:])
	}
	return other
}

// mapAsListHint is the hint for a value n written where a list of
// mappings belongs: for a mapping (queue: orders under subscriptions:,
// the "- " left out), where the "- " goes; else scalarAsListHint's.
func mapAsListHint(n *node) string {
	if n.kind != nMap || len(n.keys) == 0 {
		return scalarAsListHint(n, "")
	}
	k := n.keys[0]
	more := ""
	if len(n.keys) > 1 {
		more = ", and indent the item's other keys as far as " + k.value
	}
	return fmt.Sprintf(": each item of a list starts with \"- \", write - %s: on line %d%s", k.value, k.line, more)
}

// textItemHint is the hint for a text item n of the list of mappings f
// (- orders under subscriptions:): how to write it as a mapping, when
// describeMap does not already say what is wrong with the text.
func textItemHint(f *field, n *node) string {
	if f.name != "subscriptions" || n.subst || n.tag != "!!str" || n.describeMap() != n.describe() {
		return ""
	}
	v := n.value
	if scheme, _, ok := strings.Cut(v, "://"); ok && isKeyLike(scheme) {
		return fmt.Sprintf(" (%q): an external endpoint is written as - protocol: %s, with endpoint: %s on the next line, under protocol", v, scheme, v)
	}
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		// ${orders.arn}: the queue component is named, not referenced
		if comp, _, ok := strings.Cut(v[2:len(v)-1], "."); ok && isKeyLike(comp) {
			v = comp
		}
	}
	if !isKeyLike(v) {
		return ""
	}
	return fmt.Sprintf(" (%q): to subscribe the queue %s, write - queue: %s", n.value, v, v)
}

// listAsMapHint says, for a list written where a mapping belongs, how
// to write it as one when its items show what was meant: "- A=1"
// (a .env file's lines), "- name: A" / "value: b" (Kubernetes' env) or
// "- key: value" (a "- " too many before each key). "" otherwise.
func listAsMapHint(n *node) string {
	if len(n.items) == 0 {
		return ""
	}
	eq, pairs, single := true, true, true
	for _, it := range n.items {
		if it == nil {
			return ""
		}
		k, _, ok := strings.Cut(it.value, "=")
		eq = eq && it.kind == nScalar && ok && isKeyLike(k)
		pairs = pairs && it.kind == nMap && len(it.keys) == 2 && it.get("name") != nil && it.get("value") != nil
		single = single && it.kind == nMap && len(it.keys) == 1
	}
	first := n.items[0]
	// Values are not shown: an env entry may hold a secret.
	switch {
	case eq:
		k, _, _ := strings.Cut(first.value, "=")
		return fmt.Sprintf(" (a mapping has one NAME: value per line, without \"- \": write line %d as %s: followed by its value)", first.line, k)
	case pairs:
		return fmt.Sprintf(" of name/value pairs, as Kubernetes writes env (a mapping has one NAME: value per line, without \"- \": write line %d's pair as %s: followed by its value)", first.line, scalarText(first.get("name")))
	case single:
		return fmt.Sprintf(" of one-key mappings (remove the \"- \" before each key, as on line %d: with it YAML makes a list)", first.line)
	case len(n.items) == 1 && first.kind == nMap:
		return fmt.Sprintf(" holding a mapping (remove the \"- \" on line %d and indent that mapping's keys alike: with it YAML makes a list)", first.line)
	}
	return ""
}

// isKeyLike reports whether s looks like a mapping key of a stack file.
func isKeyLike(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '.' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// pos is a place in a file.
type pos struct {
	file      string
	line, col int
}

// errList collects problems.
type errList struct {
	list []*Error
	seen map[string]bool
}

func (e *errList) add(p pos, key, format string, a ...any) {
	msg := format
	if len(a) > 0 {
		msg = fmt.Sprintf(format, a...)
	}
	x := &Error{File: p.file, Line: p.line, Column: p.col, Key: key, Msg: msg}
	s := x.Error()
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if e.seen[s] {
		return
	}
	e.seen[s] = true
	e.list = append(e.list, x)
}

func (e *errList) addErr(x *Error) {
	e.add(pos{x.File, x.Line, x.Column}, x.Key, "%s", x.Msg)
}

func (e *errList) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return &Errors{List: e.list}
}

// document is one YAML document of a file.
type document struct {
	file string
	root *node // the top-level mapping
	line int
}

// badNameMsg says that a file or folder name is not UTF-8, quoting its
// last element so that the bytes can be seen.
func badNameMsg(name string) string {
	base := name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		base = name[i+1:]
	}
	return fmt.Sprintf("the name %q is not valid UTF-8, which panka cannot read: rename it (git mv) to a UTF-8 name", base)
}

// badNamePath is the start of path name up to its first element that is
// not UTF-8: the stack's own folder for stacks/ord\xe9ers/stack.yaml,
// which was reported as "the name \"stack.yaml\" is not valid UTF-8".
func badNamePath(name string) string {
	els := strings.Split(name, "/")
	for i, el := range els {
		if !utf8.ValidString(el) {
			return strings.Join(els[:i+1], "/")
		}
	}
	return name
}

// readFile reads a file of fsys with the size and binary guards.
func readFile(fsys fs.FS, name string) ([]byte, *fileError) {
	if !utf8.ValidString(name) {
		// io/fs refuses such a name ("invalid argument"), at a commit as
		// in the work tree: say what is wrong with it.
		bad := badNamePath(name)
		return nil, &fileError{Error{File: bad, Msg: badNameMsg(bad)}, nil}
	}
	if data, ok := readOSFile(fsys, name); ok {
		return checkText(name, data)
	}
	// Opening a named pipe waits for a writer, for ever; a device may
	// never end: refuse them before opening.
	if st, err := fs.Stat(fsys, name); err == nil {
		if msg := NotPlainFile(st.Mode()); msg != "" {
			return nil, &fileError{Error{File: name, Msg: msg}, nil}
		}
	}
	f, err := fsys.Open(name)
	if err != nil {
		if target, lerr := fs.ReadLink(fsys, name); lerr == nil && errors.Is(err, fs.ErrNotExist) {
			return nil, &fileError{Error{File: name, Msg: fmt.Sprintf("is a symbolic link to %s, which does not exist: point it at the file, or replace it with the file itself", target)}, err}
		}
		return nil, &fileError{Error{File: name, Msg: fmt.Sprintf("cannot read: %v", unwrapPath(err))}, err}
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return nil, &fileError{Error{File: name, Msg: "is a folder, not a file"}, nil}
		}
		if st.Size() > MaxFileSize {
			return nil, &fileError{Error{File: name, Msg: fmt.Sprintf("file is %d bytes, more than the %d MB limit for stack files: split it or remove it from the stack folder", st.Size(), MaxFileSize>>20)}, nil}
		}
		if st.Mode().IsRegular() && st.Size() > 0 {
			size = st.Size()
		}
	}
	var data []byte
	if size > 0 {
		// One read of the size Stat gave (a file that changes while it
		// is read is not something a stack loader can make sense of).
		data = make([]byte, size)
		n, err := io.ReadFull(f, data)
		if err != nil && err != io.ErrUnexpectedEOF {
			return nil, &fileError{Error{File: name, Msg: fmt.Sprintf("cannot read: %v", unwrapPath(err))}, err}
		}
		data = data[:n]
	} else {
		var err error
		data, err = io.ReadAll(io.LimitReader(f, MaxFileSize+1))
		if err != nil {
			return nil, &fileError{Error{File: name, Msg: fmt.Sprintf("cannot read: %v", unwrapPath(err))}, err}
		}
	}
	if len(data) > MaxFileSize {
		return nil, &fileError{Error{File: name, Msg: fmt.Sprintf("file is more than the %d MB limit for stack files: split it or remove it from the stack folder", MaxFileSize>>20)}, nil}
	}
	return checkText(name, data)
}

// NotPlainFile returns, for a file of mode m named *.yaml, why it cannot
// be a stack file when it is a named pipe, socket, device or other special
// file (opening a named pipe waits for a writer for ever), else "".
func NotPlainFile(m fs.FileMode) string {
	if m&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) == 0 {
		return ""
	}
	return fmt.Sprintf("is not a regular file (%s): stack files must be plain files; remove it or rename it so it does not end in .yaml", FileKind(m))
}

// FileKind names what a file system entry that is not a regular file is
// ("a folder", "a named pipe", "a socket", "a device", else "a special
// file"), for errors that refuse one where a file is needed.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "a device"
	}
	return "a special file"
}

// checkText refuses binary content, and text that is not UTF-8 (saying
// where: a Latin-1 "é" is a stack file to fix, not to remove).
func checkText(name string, data []byte) ([]byte, *fileError) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, &fileError{Error{File: name, Msg: "the file is UTF-16 text: stack files must be UTF-8; save the file as UTF-8"}, nil}
	}
	if bytes.HasPrefix(data, []byte("version https://git-lfs.github.com/spec/")) {
		return nil, &fileError{Error{File: name, Line: 1, Column: 1, Msg: "is a Git LFS pointer, not the YAML itself: panka reads stack files from git's objects, where Git LFS keeps only this pointer; stop tracking stack files with LFS (git lfs untrack PATTERN, then git add --renormalize . and commit)"}, nil}
	}
	// git-crypt and transcrypt encrypt through a git filter: the work tree
	// of an unlocked clone holds the YAML (validate passes there), git's
	// objects hold the ciphertext, which is what changed, plan --ref,
	// rollback and promote read.
	if bytes.HasPrefix(data, []byte("\x00GITCRYPT\x00")) || bytes.HasPrefix(data, []byte("U2FsdGVkX1")) {
		tool := "git-crypt"
		if data[0] == 'U' {
			tool = "transcrypt"
		}
		return nil, &fileError{Error{File: name, Line: 1, Column: 1, Msg: fmt.Sprintf("is encrypted with %s, not the YAML itself: panka reads stack files from git's objects, where %s keeps them encrypted (the work tree holds them decrypted only once unlocked); keep stack files out of %s (remove their filter line in .gitattributes, then git add --renormalize . and commit) and give secrets as SSM or Secrets Manager references or variables declared secret: true", tool, tool, tool)}, nil}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, &fileError{Error{File: name, Msg: "not a text file (binary content): stack files must be UTF-8 YAML; remove it or rename it so it does not end in .yaml"}, nil}
	}
	if off := invalidUTF8(data); off >= 0 {
		line, col := lineCol(data, off)
		return nil, &fileError{Error{File: name, Line: line, Column: col,
			Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02x): stack files must be UTF-8; save the file as UTF-8 (it is probably in Latin-1 or another legacy encoding)", data[off])}, nil}
	}
	return data, nil
}

// invalidUTF8 returns the offset of the first byte of data that is not
// valid UTF-8, or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for off := 0; off < len(data); {
		r, n := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && n == 1 {
			return off
		}
		off += n
	}
	return -1
}

// fileError is a read problem with its cause.
type fileError struct {
	Error
	cause error
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseFile parses every document of data. Problems go to errs; documents
// that could not be read are skipped.
func parseFile(name string, data []byte, errs *errList) (docs []document) {
	if _, ok := parseRoots(name, data, errs, func(n *node) { docs = addDocument(docs, n, errs) }); !ok {
		return nil
	}
	return docs
}

// parseRoots calls root with the root node of every document of data that
// could be read, in order, and reports its YAML problems (a syntax error,
// a duplicate key, a tag, ...) to errs. fast reports that fastParse read
// data; ok is false when the parser failed altogether.
func parseRoots(name string, data []byte, errs *errList, root func(*node)) (fast, ok bool) {
	if roots, ok := fastParse(name, data); ok {
		for _, n := range roots {
			root(n)
		}
		return true, true
	}
	return false, parseRootsYAML(name, data, errs, root)
}

// addDocument appends the document with root n, skipping empty documents
// and reporting a root that is not a mapping.
func addDocument(docs []document, n *node, errs *errList) []document {
	if n.kind == nNull {
		return docs // empty document (e.g. only comments)
	}
	if n.kind != nMap {
		errs.add(n.pos(), "", "a document must be a mapping with apiVersion, kind, metadata and spec, got %s", n.describe())
		return docs
	}
	return append(docs, document{file: n.file, root: n, line: int(n.line)})
}

// parseRootsYAML is parseRoots through yaml.v3, for any YAML.
func parseRootsYAML(name string, data []byte, errs *errList, root func(*node)) (ok bool) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; never let a
		// stack file crash panka.
		if p := recover(); p != nil {
			errs.add(pos{name, 0, 0}, "", "invalid YAML: the parser failed (%v)", p)
			ok = false
		}
	}()
	// Most files hold one document: yaml.Unmarshal parses straight from the
	// bytes, cheaper than a Decoder. Anything that may hold several
	// documents goes through the Decoder.
	single := !bytes.Contains(data, []byte("---")) && !bytes.Contains(data, []byte("..."))
	var dec *yaml.Decoder
	if !single {
		dec = yaml.NewDecoder(bytes.NewReader(data))
	}
	budget := maxNodes
	for i := 0; ; i++ {
		var y yaml.Node
		var err error
		if single {
			if i > 0 {
				break
			}
			err = yaml.Unmarshal(data, &y)
		} else {
			err = dec.Decode(&y)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col, msg := yamlErrPos(err, data)
			errs.add(pos{name, line, col}, "", "invalid YAML: %s", msg)
			break
		}
		if len(y.Content) == 0 {
			continue
		}
		c := convert{file: name, data: data, budget: &budget, errs: errs, docLine: y.Content[0].Line}
		c.slab = make([]node, 0, countNodes(y.Content[0], 0))
		n := c.node(y.Content[0], 0)
		if c.failed {
			break
		}
		root(n)
	}
	return true
}

// yamlErrPos splits a yaml.v3 error into its 1-based line and column (0
// when unknown) and message, so that every syntax error names a line.
//
// yaml.v3 reports scanner errors 1-based but parser errors ("did not find
// expected key", ...) with the 0-based line of the construct or token they
// concern (its fail() adds 1 for scanner errors only), one line early;
// those are moved to the line they mean, and a line past the end of data
// (an unclosed bracket at end of file) to its last line. It leaves the
// line out altogether when that 0-based line is 0, i.e. on the first line;
// and its reader errors (a control character) and an unknown alias carry
// no position at all: those are found in data.
func yamlErrPos(err error, data []byte) (line, col int, msg string) {
	line, col, msg = yamlErrLine(err, data)
	if off := invalidUTF8(data); off >= 0 && strings.Contains(msg, "UTF-8") {
		// yaml.v3's "invalid leading UTF-8 octet" comes with no line:
		// a config file saved in Latin-1 (checkText says it of stack
		// files before they are parsed).
		line, col = lineCol(data, off)
		return line, col, fmt.Sprintf("invalid UTF-8 (byte 0x%02x): the file must be UTF-8; save it as UTF-8 (it is probably in Latin-1 or another legacy encoding)", data[off])
	}
	if l := conflictMarker(data); l > 0 && (line == 0 || l <= line) {
		// The parser's complaint ("could not find expected ':'") would
		// hide what is wrong: a merge or rebase left the file half done.
		return l, 1, "unresolved merge conflict (git's <<<<<<< marker): resolve the conflict in this file, then git add it"
	}
	if c, hint, ok := templateHint(data, line); ok {
		return line, c, msg + ": " + hint
	}
	if (msg == "did not find expected ',' or '}'" || msg == "did not find expected ',' or ']'") && line > 0 {
		if c, hint, ok := flowRefHint(data, line); ok {
			return line, c, msg + ": " + hint
		}
	}
	if msg == "mapping values are not allowed in this context" && line > 0 {
		if c, hint := colonInValue(data, line); hint != "" {
			return line, c, msg + ": " + hint
		}
		if c, hint, ok := overIndentHint(data, line); ok {
			return line, c, msg + ": " + hint
		}
		if l, c, hint, ok := listItemHint(data, line); ok {
			return l, c, msg + ": " + hint
		}
	}
	if msg == "found unexpected end of stream" && line > 0 {
		if c, hint, ok := unclosedQuoteHint(data, line); ok {
			return line, c, msg + ": " + hint
		}
	}
	if msg == "did not find expected key" {
		// Both look from the reported line on: the wrong line is the
		// first either finds.
		l, c, hint, ok := dedentHint(data, line)
		if il, ic, ihint, iok := itemAtKeyHint(data, line); iok && (!ok || il < l) {
			l, c, hint, ok = il, ic, ihint, true
		}
		if ok {
			return l, c, msg + ": " + hint
		}
	}
	if (msg == "did not find expected key" || msg == "did not find expected '-' indicator") && line > 0 {
		if l, c, hint, ok := listItemHint(data, line); ok {
			return l, c, msg + ": " + hint
		}
	}
	if onLine, ok := tabProblems[msg]; ok && line > 0 {
		// The column, and for the tab messages the line: yaml.v3 names
		// the line a plain scalar began on, which may be before the tab.
		if l, c := indentTab(data, line, onLine); l > 0 {
			return l, c, "a tab in the indentation: YAML indents with spaces only, replace the tab with spaces"
		}
		if v, at, _, ok := valueOf(data, line); ok && strings.HasPrefix(v, "-\t") {
			// -<tab>db: valueOf leaves the item's "-" on, as no "- " follows
			return line, at + 2, "a tab after a list item's -: YAML wants a space there, replace the tab with a space"
		}
	}
	if msg == "did not find expected alphabetic or numeric character" && line > 0 {
		if c, hint, ok := aliasStartHint(data, line); ok {
			return line, c, msg + ": " + hint
		}
	}
	if msg == "found character that cannot start any token" && line > 0 {
		if c, hint, ok := reservedStartHint(data, line); ok {
			return line, c, msg + ": " + hint
		}
	}
	if msg == "did not find expected key" && line > 0 {
		if c, hint, ok := quoteInQuotedHint(data, line); ok {
			return line, c, msg + ": " + hint
		}
	}
	return line, col, msg
}

// valueOf splits line n (1-based) of data into the value of its key (or
// list item) and its 0-based column (in characters) in the line, and what it is
// ("the value of KEY", "this list item"); ok is false when there is none.
func valueOf(data []byte, n int) (v string, at int, what string, ok bool) {
	lines := bytes.Split(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return "", 0, "", false
	}
	l := strings.TrimRight(string(lines[n-1]), "\r")
	text := strings.TrimLeft(l, " ")
	for strings.HasPrefix(text, "- ") {
		text = strings.TrimLeft(text[2:], " ")
	}
	v, what = text, "this list item"
	if k := lineKey(text); k != "" {
		v, what = lineValue(text), "the value of "+k
	}
	if v == "" {
		return "", 0, "", false
	}
	return v, utf8.RuneCountInString(l[:strings.LastIndex(l, v)]), what, true
}

// templateHint explains a yaml.v3 error on line (1-based): template
// syntax there, as Helm or Jinja write it (image: {{ .Values.repo }}:{{
// .Values.tag }}, or a line {{- if .Values.x }}), which YAML reads as
// mappings and then cannot read on ("did not find expected key", with
// no word of the template). A whole value {{ NAME }} parses, and convert
// says the same of it. ok is false when the line is not like that.
func templateHint(data []byte, line int) (col int, hint string, ok bool) {
	v, at, what, ok := valueOf(data, line)
	if !ok || v[0] == '\'' || v[0] == '"' {
		return 0, "", false
	}
	i := strings.Index(v, "{{")
	if i < 0 || !strings.Contains(v[i:], "}}") {
		return 0, "", false
	}
	if _, text := lineAt(bytes.Split(data, []byte("\n")), line); !isItemText(text) && lineKey(text) == "" {
		what = "this line" // {{- if .Values.x }}
	}
	return at + utf8.RuneCountInString(v[:i]) + 1, what + " holds {{ }}, template syntax (Helm, Jinja), which YAML reads as a mapping; panka does not run templates: panka variables are written ${NAME}", true
}

// flowRefHint explains yaml.v3's "did not find expected ',' or '}'" (or
// ']') on line (1-based): a ${NAME} written unquoted inside { } or [ ] on
// that line, where YAML ends a plain value at the "{" (spec:
// {visibilityTimeout: ${X}}, or a one-line panka.yaml as README writes
// them, with a bucket read from the environment). col is the "$".
func flowRefHint(data []byte, line int) (col int, hint string, ok bool) {
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return 0, "", false
	}
	indent, text := lineAt(lines, line)
	depth, quote := 0, byte(0)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && i > 0 && text[i-1] == ' ':
			return 0, "", false // a comment
		case c == '$' && depth > 0 && strings.HasPrefix(text[i:], "${"):
			ref := text[i:]
			if end := strings.IndexByte(ref, '}'); end > 0 {
				ref = ref[:end+1]
			}
			return indent + utf8.RuneCountInString(text[:i]) + 1, fmt.Sprintf("%s inside { } or [ ] must be quoted, as YAML ends a plain value there at its {: write \"%s\"", ref, ref), true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return 0, "", false
}

// aliasStartHint explains yaml.v3's "did not find expected alphabetic or
// numeric character" on line (1-based): a value starting with * or &
// followed by no name, which YAML reads as an alias or an anchor — a cron
// schedule (*/5 * * * *) above all. ok is false when the line is not like
// that. A value that may be a secret is not shown.
func aliasStartHint(data []byte, line int) (col int, hint string, ok bool) {
	v, at, what, ok := valueOf(data, line)
	if !ok || (v[0] != '*' && v[0] != '&') {
		return 0, "", false
	}
	reads := "an alias (*name, a value written elsewhere)"
	if v[0] == '&' {
		reads = "an anchor (&name, a value to reuse)"
	}
	fix := "put the value in quotes"
	if k, _, _ := strings.Cut(strings.TrimPrefix(what, "the value of "), " "); strings.HasPrefix(what, "the value of ") && !mayHoldSecret(k) {
		v = strings.TrimSpace(strings.SplitN(v, " #", 2)[0])
		fix += fmt.Sprintf(": %s: %q", k, v)
		if aws := awsCron(v); k == "schedule" && aws != "" {
			// quoted, it is still not a schedule panka takes
			fix = fmt.Sprintf("a crontab schedule is written as EventBridge takes it, which needs no quotes: %s: %s", k, aws)
		}
	}
	return at + 1, fmt.Sprintf("%s starts with %c, which YAML reads as %s: %s", what, v[0], reads, fix), true
}

// reservedStartHint explains yaml.v3's "found character that cannot start
// any token" on line (1-based): a value starting with @ or `, which YAML
// reserves. ok is false when the line is not like that.
func reservedStartHint(data []byte, line int) (col int, hint string, ok bool) {
	v, at, what, ok := valueOf(data, line)
	if !ok || (v[0] != '@' && v[0] != '`') {
		return 0, "", false
	}
	return at + 1, fmt.Sprintf("%s starts with %c, which YAML reserves: put the value in quotes", what, v[0]), true
}

// quoteInQuotedHint explains yaml.v3's "did not find expected key" on
// line (1-based): a quoted value with text after its closing quote, as
// 'it's' (the quote inside ended it). ok is false when the line is not
// like that.
func quoteInQuotedHint(data []byte, line int) (col int, hint string, ok bool) {
	v, at, what, ok := valueOf(data, line)
	if !ok || (v[0] != '\'' && v[0] != '"') {
		return 0, "", false
	}
	q := v[0]
	for j := 1; j < len(v); j++ {
		switch {
		case q == '"' && v[j] == '\\':
			j++
		case q == '\'' && v[j] == '\'' && j+1 < len(v) && v[j+1] == '\'':
			j++
		case v[j] == q:
			rest := strings.TrimLeft(v[j+1:], " ")
			if rest == "" || rest[0] == '#' {
				return 0, "", false
			}
			inside := "write '' for a quote inside '...', or quote the value with \"...\" instead"
			if q == '"' {
				inside = "write \\\" for a quote inside \"...\", or quote the value with '...' instead"
			}
			return at + utf8.RuneCountInString(v[:j]) + 1, fmt.Sprintf("%s ends at this quote (%c), with more text after it: %s", what, q, inside), true
		}
	}
	return 0, "", false
}

// colonInValue explains yaml.v3's "mapping values are not allowed" on
// line (1-based) of data: a plain value holding ": " (description: Note:
// ...), which YAML reads as a second key, or a key longer than YAML's
// 1024 characters. It returns the column of the offending colon and the
// hint, or "" when the line is not like that.
func colonInValue(data []byte, line int) (int, string) {
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return 0, ""
	}
	l := string(bytes.TrimRight(lines[line-1], "\r"))
	text := strings.TrimLeft(l, " ")
	text = strings.TrimLeft(strings.TrimPrefix(text, "- "), " ")
	first := strings.Index(text, ": ")
	if first < 0 {
		return 0, ""
	}
	key := text[:first]
	if utf8.RuneCountInString(key) > 1024 {
		return 0, "a key longer than 1024 characters, the most YAML allows; shorten it"
	}
	if strings.ContainsAny(key, "\"'{[#") {
		return 0, ""
	}
	rest := text[first+2:]
	if r := strings.TrimLeft(rest, " "); r == "" || strings.ContainsAny(r[:1], "\"'[{|>&*!#") {
		return 0, ""
	}
	second := strings.Index(rest, ": ")
	if second < 0 {
		if !strings.HasSuffix(rest, ":") {
			return 0, ""
		}
		second = len(rest) - 1
	}
	at := len(l) - len(rest) + second
	if mayHoldSecret(key) {
		// DB_PASSWORD: a: b in an environment's variables or an env
		// map: the value is not quoted back.
		return utf8.RuneCountInString(l[:at]) + 1, fmt.Sprintf("the value of %s holds \": \", which YAML reads as another key; put the value in quotes (not shown: it may be a secret)", key)
	}
	return utf8.RuneCountInString(l[:at]) + 1, fmt.Sprintf("the value of %s holds \": \", which YAML reads as another key; put the value in quotes (%s: \"%s\")", key, key, strings.TrimSpace(strings.ReplaceAll(rest, `"`, `\"`)))
}

// conflictMarker returns the line (1-based) of the first "<<<<<<< " line
// git writes into a file with a merge conflict, or 0.
func conflictMarker(data []byte) int {
	for n, l := range bytes.SplitAfter(data, []byte("\n")) {
		l = bytes.TrimRight(l, "\r\n")
		if bytes.Equal(l, []byte("<<<<<<<")) || bytes.HasPrefix(l, []byte("<<<<<<< ")) {
			return n + 1
		}
	}
	return 0
}

// tabProblems are yaml.v3's errors for a tab where YAML wants spaces: true
// when the error's line is the tab's, false when the tab may be after it.
var tabProblems = map[string]bool{
	"found character that cannot start any token":                  true, // or '@', '`', ...
	"found a tab character that violates indentation":              false,
	"found a tab character where an indentation space is expected": false,
}

// indentTab returns the line and column of the first tab in the leading
// whitespace of line from (1-based), or of a later line unless only, or
// 0, 0.
func indentTab(data []byte, from int, only bool) (line, col int) {
	for n, l := range bytes.SplitAfter(data, []byte("\n")) {
		if n+1 < from {
			continue
		}
		if only && n+1 > from {
			break
		}
		for i, c := range l {
			if c == '\t' {
				return n + 1, i + 1
			}
			if c != ' ' {
				break
			}
		}
	}
	return 0, 0
}

// yamlErrLine is the line (and column, when it can tell) of a yaml.v3
// error, and its message without the position.
func yamlErrLine(err error, data []byte) (line, col int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return noLineErrPos(msg, data)
	}
	i := strings.IndexByte(rest, ':')
	if i <= 0 {
		return 0, 0, msg
	}
	n := 0
	for _, c := range rest[:i] {
		if c < '0' || c > '9' {
			return 0, 0, msg
		}
		n = n*10 + int(c-'0')
	}
	msg = strings.TrimSpace(rest[i+1:])
	if yamlParserProblems[msg] {
		n++
	}
	lines := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
	}
	if lines > 0 {
		n = min(n, lines)
	}
	return n, 0, msg
}

// noLineErrPos places a yaml.v3 error that came without a line.
func noLineErrPos(msg string, data []byte) (line, col int, _ string) {
	switch {
	case msg == "control characters are not allowed":
		// A reader error: yaml.v3 knows only the byte offset, and does not say it.
		for off, r := range string(data) {
			if !yamlPrintable(r) {
				line, col := lineCol(data, off)
				return line, col, fmt.Sprintf("%s (found %U)", msg, r)
			}
		}
		return 0, 0, msg
	case strings.HasPrefix(msg, "unknown anchor '") && strings.HasSuffix(msg, "' referenced"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		off := aliasOffset(data, name)
		if off >= 0 && mayHoldSecret(keyBefore(data, off)) {
			// DB_PASSWORD: *x9... is a password starting with "*":
			// not shown.
			line, col := lineCol(data, off)
			return line, col, fmt.Sprintf("the value of %s starts with \"*\", which YAML reads as an alias (not shown: it may be a secret): put the value in quotes", keyBefore(data, off))
		}
		msg += fmt.Sprintf(": *%s needs an &%s earlier in the same document (mark the value to reuse with &%s, then write *%s or <<: *%s)", name, name, name, name, name)
		if off >= 0 {
			line, col := lineCol(data, off)
			return line, col, msg
		}
		return 0, 0, msg
	case yamlReaderProblems[msg] || strings.HasPrefix(msg, "input error: "):
		return 0, 0, msg
	}
	// Scanner and parser errors whose marks are all at 0-based line 0.
	if len(data) == 0 {
		return 0, 0, msg
	}
	return 1, 0, msg
}

// yamlPrintable reports whether yaml.v3's reader accepts r (readerc.go).
func yamlPrintable(r rune) bool {
	switch {
	case r == 0x09, r == 0x0A, r == 0x0D, r >= 0x20 && r <= 0x7E, r == 0x85,
		r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// aliasOffset is the byte offset of the first alias *name in data (-1 if
// none): an alias ends at a space, a line end or a flow indicator.
func aliasOffset(data []byte, name string) int {
	tok := []byte("*" + name)
	for from := 0; ; {
		i := bytes.Index(data[from:], tok)
		if i < 0 {
			return -1
		}
		i += from
		end := i + len(tok)
		if end == len(data) || bytes.IndexByte([]byte(" \t\r\n,]}"), data[end]) >= 0 {
			return i
		}
		from = i + 1
	}
}

// lineCol turns a byte offset into a 1-based line and column (columns count
// characters, as yaml.v3's do).
func lineCol(data []byte, off int) (int, int) {
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// yamlReaderProblems are yaml.v3's reader errors, which carry no position
// (UTF-8 ones do not reach yaml.v3: checkText refuses such files first).
var yamlReaderProblems = map[string]bool{
	"invalid leading UTF-8 octet":        true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid trailing UTF-8 octet":       true,
	"invalid length of a UTF-8 sequence": true,
	"invalid Unicode character":          true,
	"incomplete UTF-16 character":        true,
	"unexpected low surrogate area":      true,
	"incomplete UTF-16 surrogate pair":   true,
	"expected low surrogate area":        true,
}

// yamlParserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner) errors, whose line it reports 0-based (parserc.go of v3.0.1).
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// countNodes counts the nodes (and keys) of y without expanding aliases, to
// size the slab of a document.
func countNodes(y *yaml.Node, depth int) int {
	if depth > 1000 {
		return 0
	}
	n := 1
	for _, c := range y.Content {
		n += countNodes(c, depth+1)
	}
	return n
}

// convert turns yaml.Nodes into nodes, expanding aliases within a budget.
type convert struct {
	file    string
	data    []byte
	starts  []int // offsets of data's lines, found when first needed (foldedDash)
	budget  *int
	aliases int // nodes expanded from aliases so far
	inAlias int // depth of alias expansion
	aliasAt pos // the outermost alias being expanded
	docLine int // line of the document's root: an anchor before it is another document's
	errs    *errList
	failed  bool
	slab    []node       // nodes are allocated in chunks: fewer objects for the GC
	path    []string     // keys ("spec", "env") and list indexes ("[0]") down to the node being converted
	open    []*yaml.Node // the mappings and lists being converted, outermost first
}

// foldedDash returns the line (1-based) of the first line starting with
// "-" that YAML folded into the plain scalar y, or 0. It reads the
// scalar's lines back from the source: its first line from its column,
// then whole lines, joined by spaces, must make its value.
func (c *convert) foldedDash(y *yaml.Node) int {
	if c.starts == nil {
		c.starts = append(c.starts, 0)
		for i, b := range c.data {
			if b == '\n' {
				c.starts = append(c.starts, i+1)
			}
		}
	}
	text := func(l int) string { // line l (1-based), without its line break
		if l < 1 || l > len(c.starts) {
			return ""
		}
		end := len(c.data)
		if l < len(c.starts) {
			end = c.starts[l] - 1
		}
		return strings.TrimRight(string(c.data[c.starts[l-1]:end]), "\r")
	}
	first := []rune(text(y.Line))
	if y.Column < 1 || y.Column > len(first) {
		return 0
	}
	rest, ok := strings.CutPrefix(y.Value, strings.TrimRight(string(first[y.Column-1:]), " "))
	for l := y.Line + 1; ok && rest != ""; l++ {
		t := strings.Trim(text(l), " ")
		if rest, ok = strings.CutPrefix(rest, " "+t); ok && (t == "-" || strings.HasPrefix(t, "- ")) {
			return l
		}
	}
	return 0
}

// keyPath is the key path of a key of the mapping being converted, e.g.
// spec.subscriptions[0].protocol.
func (c *convert) keyPath(key string) string {
	var b strings.Builder
	for _, p := range c.path {
		if b.Len() > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
	return b.String()
}

// mk allocates a node from the slab.
func (c *convert) mk(n node) *node {
	if len(c.slab) == cap(c.slab) {
		c.slab = make([]node, 0, 32)
	}
	c.slab = append(c.slab, n)
	return &c.slab[len(c.slab)-1]
}

func (c *convert) node(y *yaml.Node, depth int) *node {
	if c.failed {
		return c.mk(node{kind: nNull, file: c.file})
	}
	*c.budget--
	if c.inAlias > 0 {
		c.aliases++
	}
	if *c.budget < 0 || c.aliases > maxAliasNodes || depth > maxDepth {
		c.failed = true
		at := pos{c.file, y.Line, y.Column}
		if c.inAlias > 0 {
			at = c.aliasAt
		}
		// Say which limit was hit: blaming aliases in a file that has
		// none sends the user looking for the wrong thing.
		switch {
		case c.inAlias > 0:
			c.errs.add(at, "", "document expands to too many values (more than %d through aliases, %d in all, or nested deeper than %d): aliases (*name) may be expanding exponentially; write the values out instead", maxAliasNodes, maxNodes, maxDepth)
		case depth > maxDepth:
			c.errs.add(at, "", "values nested deeper than %d levels: stack files need a few; flatten the structure", maxDepth)
		default:
			c.errs.add(at, "", "document holds more than %d values: split it into several files or documents", maxNodes)
		}
		return c.mk(node{kind: nNull, file: c.file})
	}
	switch y.Kind {
	case yaml.AliasNode:
		if y.Alias == nil {
			return c.mk(node{kind: nNull, file: c.file, line: int32(y.Line), col: int32(y.Column)})
		}
		if c.inAlias == 0 {
			c.aliasAt = pos{c.file, y.Line, y.Column}
		}
		if y.Alias.Line < c.docLine {
			// yaml.v3 resolves *name to an anchor of an earlier document
			// of the file; YAML anchors are per document, so other tools
			// (and a reader) would not find it.
			c.errs.add(pos{c.file, y.Line, y.Column}, strings.TrimSuffix(c.keyPath(""), "."), "*%s refers to &%s at line %d, in an earlier document of this file: anchors are per document (after ---); repeat the value here, or mark it &%s in this document", y.Value, y.Value, y.Alias.Line, y.Value)
		}
		if slices.Contains(c.open, y.Alias) {
			// &s on a mapping, *s inside it: yaml.v3 expands it
			// until the node budget runs out, and the message blamed
			// aliases expanding exponentially.
			c.errs.add(pos{c.file, y.Line, y.Column}, strings.TrimSuffix(c.keyPath(""), "."), "*%s refers to &%s at line %d, which holds this *%s: a value cannot hold itself; write out the values meant", y.Value, y.Value, y.Alias.Line, y.Value)
			return c.mk(node{kind: nScalar, bad: true, file: c.file, line: int32(y.Line), col: int32(y.Column), tag: "!!str"})
		}
		c.inAlias++
		n := c.node(y.Alias, depth+1)
		c.inAlias--
		return n
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return c.mk(node{kind: nNull, file: c.file, line: int32(y.Line), col: int32(y.Column)})
		}
		return c.node(y.Content[0], depth+1)
	case yaml.ScalarNode:
		tag := y.ShortTag()
		c.checkTag(y, tag)
		if tag == "!!null" {
			return c.mk(node{kind: nNull, file: c.file, line: int32(y.Line), col: int32(y.Column), tag: tag})
		}
		if tag == "!!binary" {
			tag = "!!str"
		}
		n := c.mk(node{kind: nScalar, file: c.file, line: int32(y.Line), col: int32(y.Column), tag: tag, value: y.Value})
		if y.Style == 0 && c.inAlias == 0 && strings.Contains(y.Value, " -") {
			n.dash = int32(c.foldedDash(y))
		}
		return n
	case yaml.SequenceNode:
		c.checkTag(y, y.ShortTag())
		n := c.mk(node{kind: nSeq, file: c.file, line: int32(y.Line), col: int32(y.Column)})
		n.items = make([]*node, 0, len(y.Content))
		c.open = append(c.open, y)
		for i, it := range y.Content {
			c.path = append(c.path, "["+strconv.Itoa(i)+"]")
			n.items = append(n.items, c.node(it, depth+1))
			c.path = c.path[:len(c.path)-1]
		}
		c.open = c.open[:len(c.open)-1]
		return n
	case yaml.MappingNode:
		if name, ok := templatePlaceholder(y); ok {
			// {{ IMAGE }} (Helm, Jinja, Go templates): YAML reads a
			// mapping whose key is a mapping, and panka said "mapping
			// keys must be plain strings" and "want a string, got a
			// mapping".
			hint := "write the value itself"
			switch {
			case len(c.path) == 0 || c.path[0] != "spec":
				// kind, metadata: no variables there
			case isEnvName(name):
				hint = fmt.Sprintf("write ${%s}", name)
			default:
				hint = "panka variables are written ${NAME}"
			}
			c.errs.add(pos{c.file, y.Line, y.Column}, strings.TrimSuffix(c.keyPath(""), "."), "{{ %s }} is template syntax, which YAML reads as a mapping; panka does not run templates: %s", name, hint)
			return c.mk(node{kind: nScalar, bad: true, file: c.file, line: int32(y.Line), col: int32(y.Column), tag: "!!str"})
		}
		c.checkTag(y, y.ShortTag())
		n := c.mk(node{kind: nMap, file: c.file, line: int32(y.Line), col: int32(y.Column)})
		c.open = append(c.open, y)
		defer func() { c.open = c.open[:len(c.open)-1] }()
		var merges []*yaml.Node
		var idx keyIndex
		secondDoc := false // a document's root holds a second one's keys
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				c.errs.add(pos{c.file, k.Line, k.Column}, "", "mapping keys must be plain strings")
				continue
			}
			if first := idx.find(n, k.Value); first >= 0 {
				switch {
				case secondDoc:
					// said once, at its apiVersion or kind
				case len(c.path) == 0 && c.inAlias == 0 && (k.Value == "apiVersion" || k.Value == "kind") && slices.ContainsFunc(y.Content[i+2:], func(l *yaml.Node) bool {
					// and another of the document's keys again after it
					return l.Kind == yaml.ScalarNode && l.Value != k.Value && slices.Contains([]string{"apiVersion", "kind", "metadata", "spec"}, l.Value) && idx.find(n, l.Value) >= 0
				}):
					// Two documents pasted together without ---: one
					// error that says so, not one per key.
					secondDoc = true
					c.errs.add(pos{c.file, k.Line, k.Column}, c.keyPath(k.Value), "duplicate key (first set at line %d): a second document starts here without the --- line that separates documents: add --- on the line before", n.keys[first].line)
				default:
					c.errs.add(pos{c.file, k.Line, k.Column}, c.keyPath(k.Value), "duplicate key (first set at line %d): remove one of them", n.keys[first].line)
					if v := n.vals[first]; len(c.path) > 0 && c.path[0] == "spec" || len(c.path) == 0 && k.Value == "spec" {
						// fifo: true, then fifo: false, or two env:
						// blocks: which one was meant is not known, so
						// no check is made with the first (the FIFO
						// topic's subscriptions, a variable or a field
						// of the first block).
						v.bad = true
					}
				}
				continue
			}
			*c.budget--
			c.path = append(c.path, k.Value)
			idx.add(n, c.mk(node{kind: nScalar, file: c.file, line: int32(k.Line), col: int32(k.Column), tag: "!!str", value: k.Value}), c.node(v, depth+1))
			c.path = c.path[:len(c.path)-1]
		}
		// Merge keys (<<: *base) add the keys the mapping does not set itself.
		for _, m := range merges {
			srcs := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for _, s := range srcs {
				sn := c.node(s, depth+1)
				if sn.kind != nMap {
					if !sn.bad {
						c.errs.add(pos{c.file, s.Line, s.Column}, "<<", "a merge key needs a mapping (or a list of mappings)")
					}
					continue
				}
				for i, k := range sn.keys {
					if idx.find(n, k.value) < 0 {
						idx.add(n, k, sn.vals[i])
					}
				}
			}
		}
		return n
	}
	return c.mk(node{kind: nNull, file: c.file, line: int32(y.Line), col: int32(y.Column)})
}

// plainTags are the YAML tags a stack file may carry: the core schema's,
// which only say what the value already is ("!!str 3" is the string "3").
var plainTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!map": true, "!!seq": true,
}

// checkTag reports a tag other than the core schema's on node y: panka
// would otherwise drop it and read the value as written, so image: !Ref x
// would deploy the image "x" and image: !Sub (a tag with nothing after it)
// an empty one, while !!binary would leave a base64 text undecoded.
func (c *convert) checkTag(y *yaml.Node, tag string) {
	if plainTags[tag] || y.Tag == "" || y.Tag == "!" {
		return
	}
	hint := ""
	if !strings.HasPrefix(tag, "!!") {
		hint = " (wire outputs with ${<component>.<output>} and values with ${NAME} variables, not !Ref or !Sub)"
	}
	key := strings.TrimSuffix(c.keyPath(""), ".")
	if last := key[strings.LastIndexByte(key, '.')+1:]; y.Kind == yaml.ScalarNode && mayHoldSecret(last) {
		// DB_PASSWORD: !x9... is a password starting with "!": the
		// tag is the value, not shown.
		c.errs.add(pos{c.file, y.Line, y.Column}, key, "the value starts with \"!\", which YAML reads as a tag (not shown: it may be a secret): put the value in quotes, or remove the tag")
		return
	}
	c.errs.add(pos{c.file, y.Line, y.Column}, key, "YAML tag %s is not supported: stack files hold plain values; remove the tag%s", tag, hint)
}

// mayHoldSecret reports whether key names a variable or an environment
// variable (DB_PASSWORD: upper case, digits and _), whose value a YAML
// error must not quote back: an environment's spec.variables or a
// component's env may hold a secret.
func mayHoldSecret(key string) bool {
	return isEnvName(key) && strings.ToUpper(key) == key && strings.ContainsAny(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
}

// keyBefore returns the key of a "KEY: " that comes right before offset
// off of data on its line, "" when none does.
func keyBefore(data []byte, off int) string {
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	l := strings.TrimRight(string(data[start:off]), " ")
	l, ok := strings.CutSuffix(l, ":")
	if !ok {
		return ""
	}
	l = strings.TrimLeft(l, " ")
	l = strings.TrimLeft(strings.TrimPrefix(l, "- "), " ")
	if i := strings.LastIndexAny(l, "{, "); i >= 0 {
		l = l[i+1:]
	}
	return l
}

// YAMLErrorPos splits a yaml.v3 decoding error of data into its 1-based
// line and column (0 when unknown) and its message, with yaml.v3's
// off-by-one lines corrected, for YAML files outside the stack model
// (panka.yaml, ~/.panka/config.yaml).
func YAMLErrorPos(err error, data []byte) (line, col int, msg string) {
	return yamlErrPos(err, data)
}

// templatePlaceholder reports whether y is a template's {{ NAME }}
// written as a plain YAML value: a flow mapping whose one key is a flow
// mapping of one key with no value. name is that key.
func templatePlaceholder(y *yaml.Node) (name string, ok bool) {
	if y.Style&yaml.FlowStyle == 0 || len(y.Content) != 2 {
		return "", false
	}
	k, v := y.Content[0], y.Content[1]
	if k.Kind != yaml.MappingNode || k.Style&yaml.FlowStyle == 0 || len(k.Content) != 2 || v.ShortTag() != "!!null" || v.Value != "" {
		return "", false
	}
	kk, kv := k.Content[0], k.Content[1]
	if kk.Kind != yaml.ScalarNode || kv.ShortTag() != "!!null" || kv.Value != "" {
		return "", false
	}
	return strings.TrimSpace(kk.Value), true
}
