package stacks

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// APIVersion is the apiVersion of every document.
const APIVersion = "core.panka.io/v1"

// Document kinds that are not components.
const (
	KindStack       Kind = "Stack"
	KindService     Kind = "Service"
	KindEnvironment Kind = "Environment"
)

// StackFile is the file that makes a folder a stack.
const StackFile = "stack.yaml"

// EnvironmentsDir is the folder of environment overlays inside a stack.
const EnvironmentsDir = "environments"

// ServicesDir is the folder of service folders inside a stack: each
// ServicesDir/<svc>/ holds one Service document and the components it
// groups.
const ServicesDir = "services"

// Stack is a loaded stack: every document parsed and checked for structure.
// Resolve turns it into a Resolved model for one environment.
type Stack struct {
	header Header
	file   string
	// watchAsWritten is every spec.watch glob, valid or not (ReadWatch).
	watchAsWritten []string
	// watchAt is where each glob of header.Watch is written.
	watchAt  []pos
	provider *node
	vars     []*varDecl
	varIdx   map[string]*varDecl
	// varsUnknown is true when stack.yaml did not load far enough to
	// declare its variables.
	varsUnknown bool
	// compsUnknown is true when a file of the stack's components did not
	// load (invalid YAML stops at the error, dropping the documents
	// after it; an unreadable file has none): a name it may declare is
	// not reported unknown where it is used (that problem is reported).
	compsUnknown bool
	comps        []*compDoc
	compIdx      map[string]*compDoc
	services     map[string]string // service name -> file
	envs         map[string]*envDoc
	links        map[string]string // symbolic link in the stack -> the file it points at

	// dupComps are the component names declared more than once (an
	// error): compIdx holds the first, which says nothing of the others,
	// so overrides and references of those names are not checked.
	dupComps map[string]bool

	// legacy, while LoadLegacy loads the stack, takes the problems it
	// accepts (see there); asDeployed marks a stack it loaded, whose
	// Resolve accepts those of resolving.
	legacy     *errList
	asDeployed bool
}

type varDecl struct {
	name        string
	def         string
	hasDef      bool
	required    bool
	secret      bool
	description string
	pos         pos
}

type compDoc struct {
	name    string
	kind    Kind
	file    string
	service string
	labels  map[string]string
	spec    *node
	pos     pos
}

type envDoc struct {
	name      string
	file      string
	vars      map[string]*node
	varKeys   []*node
	overrides []*override
	provider  *node
}

type override struct {
	key  *node // the component name key, for positions
	spec *node
}

// Header returns the stack's header (identity, watch globs, backend
// settings, environments).
func (s *Stack) Header() *Header { h := s.header; return &h }

// Environments lists the stack's environments, sorted.
func (s *Stack) Environments() []string { return append([]string(nil), s.header.Environments...) }

// File is the repo-relative path of the stack's stack.yaml.
func (s *Stack) File() string { return s.file }

// WatchGlob is a valid spec.watch glob and where stack.yaml writes it.
type WatchGlob struct {
	Glob         string
	Line, Column int
}

// WatchGlobs lists the stack's valid spec.watch globs (Header().Watch)
// with their positions in stack.yaml.
func (s *Stack) WatchGlobs() []WatchGlob {
	out := make([]WatchGlob, 0, len(s.header.Watch))
	for i, g := range s.header.Watch {
		w := WatchGlob{Glob: g}
		if i < len(s.watchAt) {
			w.Line, w.Column = s.watchAt[i].line, s.watchAt[i].col
		}
		out = append(out, w)
	}
	return out
}

// ComponentNames lists the stack's components, sorted.
func (s *Stack) ComponentNames() []string {
	out := make([]string, len(s.comps))
	for i, c := range s.comps {
		out[i] = c.name
	}
	return out
}

// ComponentFile returns the repo-relative file declaring a component, or "".
func (s *Stack) ComponentFile(name string) string {
	if c := s.compIdx[name]; c != nil {
		return c.file
	}
	return ""
}

// ServiceFile returns the repo-relative file declaring Service name, or "".
func (s *Stack) ServiceFile(name string) string { return s.services[name] }

// EnvironmentFile returns the repo-relative overlay file of env, or "".
func (s *Stack) EnvironmentFile(env string) string {
	if e := s.envs[env]; e != nil {
		return e.file
	}
	return ""
}

// LinkTarget returns the repo-relative file the symbolic link file (a
// component or environment file of the stack) points at, or "" when file
// is not a link: an edit of the target changes what the link's documents
// say.
func (s *Stack) LinkTarget(file string) string {
	return s.links[file]
}

// WithOverlay returns a copy of s in which environment env has other's
// overlay (none when other has none). Comparing its resolved model with
// s's tells what s's overlay file changes. s is not modified.
func (s *Stack) WithOverlay(env string, other *Stack) *Stack {
	c := *s
	c.envs = maps.Clone(s.envs)
	if e := other.envs[env]; e != nil {
		c.envs[env] = e
	} else {
		delete(c.envs, env)
	}
	return &c
}

// WithStackFile returns a shallow copy of s that declares other's provider
// and variables (its stack.yaml's spec): resolving it tells what s's own
// stack.yaml edit changed, with every other file as s has it.
func (s *Stack) WithStackFile(other *Stack) *Stack {
	c := *s
	c.provider, c.vars, c.varIdx, c.varsUnknown = other.provider, other.vars, other.varIdx, other.varsUnknown
	return &c
}

// nameRule is the rule for stack, environment and component names. It is
// the strictest of the AWS names they end up in (RDS identifiers).
// isName checks it without a regexp.
var nameRule = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// isName reports whether s matches nameRule.
func isName[S string | []byte](s S) bool {
	if len(s) == 0 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// MaxNameLength is the longest stack, environment or component name.
const MaxNameLength = 63

// CheckName returns "" when name is a valid stack, environment or component
// name, else why not.
func CheckName(name string) string {
	switch {
	case name == "":
		return "name is empty"
	case len(name) > MaxNameLength:
		return fmt.Sprintf("name %q is %d characters, more than %d", name, len(name), MaxNameLength)
	case !isName(name):
		return fmt.Sprintf("invalid name %q: use lowercase letters, digits and '-', starting with a letter (no '/', '..', spaces or uppercase)", name)
	case strings.Contains(name, "--"):
		return fmt.Sprintf("invalid name %q: '--' is not allowed (AWS RDS rule)", name)
	case strings.HasSuffix(name, "-"):
		return fmt.Sprintf("invalid name %q: must not end with '-'", name)
	}
	return ""
}

// isYAML reports whether a file name is a YAML file.
func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// SkipDir reports the folders discovery, loading and fmt never enter:
// hidden ones (".git", ".panka", ...), node_modules and vendor.
func SkipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor"
}

// Discover finds every folder under root (recursively, root included)
// holding a stack.yaml and returns the stacks sorted by name. It reads only
// stack.yaml files. Two stacks with the same metadata.name are an error
// naming both paths; a stack.yaml that cannot be read is an *Errors.
// A missing root yields no stacks.
func Discover(fsys fs.FS, root string) ([]Ref, error) {
	d, err := DiscoverStacks(fsys, root)
	return d.Refs, err
}

// Discovery is what DiscoverStacks found: the stacks, and the stack.yaml
// files and stack folder listings it read to find them, kept so that
// loading those stacks through it does not read them a second time.
type Discovery struct {
	// Refs are the stacks found, as Discover returns them.
	Refs []Ref
	// Duplicates maps a name that several stacks use to all their
	// folders, in lexical order (Refs holds the first only): a command
	// selecting a stack by name must refuse such a name rather than
	// pick a folder.
	Duplicates map[string][]string
	// Unnamed are the stack folders whose stack.yaml could not be read
	// or gives no valid metadata.name (a YAML error, a missing or bad
	// name), in lexical order of folder, each with its problems (also in
	// the error DiscoverStacks returns). They are not in Refs, since no
	// name selects them, but a listing of the stacks should still show
	// them.
	Unnamed []Unnamed
	// Misnamed are the stack.yml files of folders without a stack.yaml
	// (a stack file misnamed, so no stack), in lexical order: a command
	// that finds no stack of a name can say why.
	Misnamed []string
	// Folders are the folders discovery listed to find the stacks (the
	// root, the folders on the way to each stack, and the stack folders),
	// in lexical order: a folder not among them holds no stack unless one
	// of them changes (a cache of the stacks found can be checked
	// against them).
	Folders []string

	fsys fs.FS
	read map[string]*stackRead // by stack folder; read-only once built
}

// Unnamed is a stack folder whose stack.yaml gives no name.
type Unnamed struct {
	Path   string   // the stack folder, as in Ref.Path
	Errors []*Error // why stack.yaml gives no name
	// Environments are the names of its environments/<env>.yaml files,
	// sorted (an environment exists iff its file exists).
	Environments []string
}

// stackRead is what discovery read of one stack folder.
type stackRead struct {
	ents []fs.DirEntry // the folder's listing
	data []byte        // its stack.yaml, nil when it could not be read
}

// DiscoverStacks is Discover (same stacks, same errors), returning a
// Discovery whose Load reuses what discovery read. The Discovery is never
// nil. Use it to load many stacks of a tree that does not change meanwhile
// (a git commit, or a work tree being validated).
func DiscoverStacks(fsys fs.FS, root string) (*Discovery, error) {
	d := &Discovery{fsys: fsys}
	root = cleanRoot(root)
	if e := linkedRoot(fsys, root); e != nil {
		return d, &Errors{List: []*Error{e}}
	}
	var dirs []stackDir
	if err := findStackDirs(fsys, root, &dirs, &d.Folders); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return d, nil
		}
		if st, serr := fs.Stat(fsys, root); serr == nil && !st.IsDir() {
			// A file named like the root (or stacks.root set to a
			// file): "open stacks: not a directory" said nothing of
			// the setting to change.
			return d, &Errors{List: []*Error{{File: root, Msg: RootFileMessage}}}
		}
		return d, fmt.Errorf("discover stacks under %s: %w", root, err)
	}
	if ra, ok := fsys.(readAheader); ok && len(dirs) > 1 {
		files := make([]string, 0, len(dirs))
		for _, sd := range dirs {
			if sd.link == "" && !sd.badName && sd.misnamed == "" {
				files = append(files, path.Join(sd.dir, StackFile))
			}
		}
		ra.ReadAhead(files)
	}
	// Reading the names is the expensive part: spread it over the CPUs.
	names := make([]string, len(dirs))
	datas := make([][]byte, len(dirs))
	fails := make([]*errList, len(dirs))
	parallel(len(dirs), func(i int) {
		if dirs[i].link == "" && !dirs[i].badName && dirs[i].misnamed == "" {
			names[i], datas[i], fails[i] = readStackName(fsys, path.Join(dirs[i].dir, StackFile))
		}
	})
	var refs []Ref
	var errs errList
	byName := map[string]string{}
	d.read = make(map[string]*stackRead, len(dirs))
	for i, sd := range dirs {
		dir := sd.dir
		if sd.misnamed != "" {
			// Not a stack: validate reports its files (Strays).
			d.Misnamed = append(d.Misnamed, path.Join(dir, sd.misnamed))
			continue
		}
		if sd.link != "" {
			errs.add(pos{dir, 0, 0}, "", "%s", LinkedStackMessage(sd.link))
			continue
		}
		if sd.badName {
			errs.add(pos{dir, 0, 0}, "", "%s", badNameMsg(dir))
			continue
		}
		d.read[dir] = &stackRead{ents: sd.ents, data: datas[i]}
		if fails[i] != nil {
			for _, x := range fails[i].list {
				errs.addErr(x)
			}
			d.Unnamed = append(d.Unnamed, Unnamed{Path: dir, Errors: fails[i].list, Environments: environmentsOf(fsys, dir)})
			continue
		}
		if prev, ok := byName[names[i]]; ok {
			errs.add(namePos(path.Join(dir, StackFile), datas[i]), "metadata.name", "stack name %q is used by both %s and %s: stack names must be unique, rename one", names[i], prev, dir)
			if d.Duplicates == nil {
				d.Duplicates = map[string][]string{}
			}
			if len(d.Duplicates[names[i]]) == 0 {
				d.Duplicates[names[i]] = []string{prev}
			}
			d.Duplicates[names[i]] = append(d.Duplicates[names[i]], dir)
			continue
		}
		byName[names[i]] = dir
		refs = append(refs, Ref{Name: names[i], Path: dir})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	d.Refs = refs
	if e := errs.err(); e != nil {
		return d, e
	}
	return d, nil
}

// RootFileMessage is the problem DiscoverStacks reports, at the root, when
// the stacks root is a file.
const RootFileMessage = "the stacks root is a file, not a folder: move it away, or set stacks.root (panka.yaml or PANKA_STACKS_ROOT) to the folder holding your stacks"

// LinkedRoot returns an error when the stacks root is, or is inside, a
// symbolic link on fsys (a work tree or a commit's tree), nil otherwise.
func LinkedRoot(fsys fs.FS, root string) error {
	if e := linkedRoot(fsys, cleanRoot(root)); e != nil {
		return e
	}
	return nil
}

// linkedRoot reports a stacks root that is, or is inside, a symbolic
// link: a work tree follows it, but at a commit git stores the link, not
// the folder, and no stack would be found there.
func linkedRoot(fsys fs.FS, root string) *Error {
	if root == "." {
		return nil
	}
	for i := 0; i <= len(root); i++ {
		if i < len(root) && root[i] != '/' {
			continue
		}
		p := root[:i]
		st, err := fs.Lstat(fsys, p)
		if err != nil {
			return nil // a missing root is no stacks
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, _, _ := followLink(fsys, p)
		if target == "" {
			target, _ = fs.ReadLink(fsys, p)
		}
		use := path.Join(target, root[i:])
		what := "the stacks root is a symbolic link"
		if p != root {
			what = "the stacks root " + root + " is inside a symbolic link"
		}
		return &Error{File: p, Msg: fmt.Sprintf("%s to %s: git stores the link, not the folder, so no stack would be found at a commit; set stacks.root to %s", what, target, use)}
	}
	return nil
}

// readAheader is a file system that reads many files faster together than
// one by one, told which files are about to be read (gitops' views of a
// work tree and of a commit: a partial clone fetches the files it lacks
// in one request, not one per file). It is an optimisation only.
type readAheader interface{ ReadAhead(names []string) }

// ReadAhead tells the discovered file system, when it reads files faster
// together (see readAheader), which YAML files loading refs will read, so
// that Loads are served from what it read. It lists the stack folders
// (reading no file); elsewhere it does nothing.
func (d *Discovery) ReadAhead(refs []Ref) {
	ra, ok := d.fsys.(readAheader)
	if !ok || len(refs) < 2 {
		return
	}
	var files []string
	var walk func(dir string, ents []fs.DirEntry)
	walk = func(dir string, ents []fs.DirEntry) {
		for _, e := range ents {
			p := joinName(dir, e.Name())
			switch {
			case e.IsDir() && !SkipDir(e.Name()):
				if sub, err := fs.ReadDir(d.fsys, p); err == nil {
					walk(p, sub)
				}
			case e.Type().IsRegular() && isYAML(e.Name()) && e.Name() != StackFile:
				files = append(files, p)
			}
		}
	}
	for _, r := range refs {
		dir := cleanRoot(r.Path)
		if pre := d.read[dir]; pre != nil && pre.ents != nil {
			walk(dir, pre.ents)
		} else if ents, err := fs.ReadDir(d.fsys, dir); err == nil {
			walk(dir, ents)
		}
	}
	ra.ReadAhead(files)
}

// Load is Load(fsys, ref.Path) on the discovered file system, without
// reading again the stack.yaml and stack folder listing discovery read.
// Loads may run concurrently.
func (d *Discovery) Load(ref Ref) (*Stack, error) {
	return load(d.fsys, ref.Path, d.read[cleanRoot(ref.Path)], nil)
}

// stackDir is a folder holding a stack.yaml, with its listing; or, when
// link is set, a symbolic link to such a folder (not read: an error); or,
// when badName is set, a folder whose name is not UTF-8, which io/fs
// cannot list (an error).
type stackDir struct {
	dir     string
	ents    []fs.DirEntry
	link    string
	badName bool
	// misnamed is the name of the folder's stack file written otherwise
	// (stack.yml, Stack.yaml) when it holds no stack.yaml (not a stack;
	// Discovery.Misnamed); "" when none.
	misnamed string
}

// findStackDirs appends, in lexical order, every folder at or below dir
// that holds a stack.yaml. Stacks do not nest: it does not look below one.
// The folders below dir are searched in parallel (listing thousands of
// folders is most of discovery's work); the result, and the error (the
// first in lexical order), are those of a search in order.
func findStackDirs(fsys fs.FS, dir string, out *[]stackDir, listed *[]string) error {
	return findStackDirsIn(fsys, dir, out, listed, true)
}

// findStackDirsIn is findStackDirs, appending to listed every folder it
// lists.
func findStackDirsIn(fsys fs.FS, dir string, out *[]stackDir, listed *[]string, par bool) error {
	*listed = append(*listed, dir)
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil && !utf8.ValidString(dir) {
		// io/fs refuses such a name in the work tree ("readdir
		// stacks/ord\xe9ers: invalid argument", and no fix): one
		// problem of discovery, said as loading a stack says it; the
		// other folders are searched still (it stopped discovery, and
		// validate -s orders said "there are no stacks under stacks/").
		*out = append(*out, stackDir{dir: badNamePath(dir), badName: true})
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		// A folder named stack.yaml marks a stack too: loading it then
		// says what is wrong, where skipping it hid the whole stack.
		if e.Name() == StackFile {
			*out = append(*out, stackDir{dir: dir, ents: ents})
			return nil
		}
	}
	var subs []string
	misnamed := false
	for _, e := range ents {
		if !misnamed && isMisnamedStackFile(e.Name()) && e.Type().IsRegular() {
			*out = append(*out, stackDir{dir: dir, misnamed: e.Name()})
			misnamed = true
		}
		if e.IsDir() && !SkipDir(e.Name()) {
			subs = append(subs, path.Join(dir, e.Name()))
		}
		if e.Type()&fs.ModeSymlink != 0 && !SkipDir(e.Name()) {
			p := path.Join(dir, e.Name())
			if target, ok := LinkedStack(fsys, p); ok {
				*out = append(*out, stackDir{dir: p, link: target})
			}
		}
	}
	if !par || len(subs) < 2 {
		for _, sub := range subs {
			if err := findStackDirsIn(fsys, sub, out, listed, par); err != nil && !errors.Is(err, fs.ErrPermission) {
				return err
			}
		}
		return nil
	}
	found := make([][]stackDir, len(subs))
	lists := make([][]string, len(subs))
	errs := make([]error, len(subs))
	parallel(len(subs), func(i int) {
		errs[i] = findStackDirsIn(fsys, subs[i], &found[i], &lists[i], false)
	})
	for i := range subs {
		if errs[i] != nil && !errors.Is(errs[i], fs.ErrPermission) {
			return errs[i]
		}
		*out = append(*out, found[i]...)
		*listed = append(*listed, lists[i]...)
	}
	return nil
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func cleanRoot(root string) string {
	if root == "" {
		return "."
	}
	root = path.Clean(strings.TrimPrefix(root, "./"))
	return root
}

// readStackName reads metadata.name of a stack.yaml cheaply. It also
// returns the file's content when it could be read.
func readStackName(fsys fs.FS, file string) (string, []byte, *errList) {
	var errs errList
	data, e := readFile(fsys, file)
	if e != nil {
		errs.addErr(&e.Error)
		return "", nil, &errs
	}
	name, fail := stackName(file, data)
	return name, data, fail
}

// stackName finds metadata.name in the content of a stack.yaml.
func stackName(file string, data []byte) (string, *errList) {
	var errs errList
	if name := QuickName(data); name != "" {
		return name, nil
	}
	docs := parseFile(file, data, &errs)
	if len(errs.list) > 0 {
		return "", &errs
	}
	if len(docs) != 1 {
		errs.add(pos{file, 1, 0}, "", "stack.yaml must hold exactly one document (kind: Stack), found %d", len(docs))
		return "", &errs
	}
	meta := docs[0].root.get("metadata")
	if meta != nil && meta.kind == nNull && meta.line > 0 {
		errs.add(meta.pos(), "metadata", "%s", nullMetadata)
		return "", &errs
	}
	name := meta.get("name")
	if name != nil && name.kind == nNull && name.line > 0 {
		errs.add(name.pos(), "metadata.name", "required field is empty (null): give the stack its name")
		return "", &errs
	}
	if name.isNull() {
		// The file's other problems too (apiVersion, spec missing, a
		// misspelt metadata key): a hand-written first stack.yaml was
		// fixed one round at a time.
		var others errList
		docHeader(docs[0], &others)
		for _, e := range others.list {
			if e.Key != "metadata" && e.Key != "metadata.name" {
				errs.list = append(errs.list, e)
			}
		}
		errs.add(docs[0].root.pos(), "metadata.name", "required field is missing: the stack's name")
		return "", &errs
	}
	if name.kind != nScalar {
		errs.add(name.pos(), "metadata.name", "want a string, got %s", name.describe())
		return "", &errs
	}
	if msg := CheckName(name.value); msg != "" {
		errs.add(name.pos(), "metadata.name", "%s", msg)
		return "", &errs
	}
	return name.value, nil
}

// namePos is the position of metadata.name in a stack.yaml whose name
// was read (the file itself when it cannot be found).
func namePos(file string, data []byte) pos {
	var errs errList
	if docs := parseFile(file, data, &errs); len(docs) > 0 {
		if n := docs[0].root.get("metadata").get("name"); n != nil {
			return n.pos()
		}
	}
	return pos{file, 0, 0}
}

// QuickName finds metadata.name in the common, simple layout of a
// stack.yaml without a YAML parse:
//
//	metadata:
//	  name: plain-name
//
// It returns "" whenever the file is anything but plainly that (flow style,
// anchors, quotes, comments, several documents, tabs, a name going on
// over more lines...), and the caller parses the file properly. Load parses every file fully anyway, so a stack
// with other problems is still reported.
func QuickName(data []byte) string {
	name := ""
	inMeta, afterName, top := false, false, false
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		// Anything that could open a multi-line or non-plain value before
		// the name is settled sends the file to the real parser.
		if bytes.ContainsAny(line, "\"'|>&*!{}[]%@`#\t\r") || bytes.HasPrefix(line, []byte("---")) || !isASCII(line) {
			return "" // a lone \r and NEL, LS, PS (non-ASCII) break lines too
		}
		if line[0] != ' ' {
			if inMeta {
				break // metadata block done
			}
			top = true
			if string(line) == "metadata:" {
				inMeta = true
			}
			continue
		}
		if !top {
			return "" // an indented document: the parser reads it
		}
		if !inMeta {
			continue
		}
		if len(line) < 3 || line[1] != ' ' {
			return ""
		}
		if line[2] == ' ' {
			if afterName {
				return "" // the name goes on: a multi-line plain scalar
			}
			continue // deeper: labels etc.
		}
		afterName = false
		k, v, ok := bytes.Cut(line[2:], []byte(":"))
		if !ok {
			return "" // not a key: the parser says what it is
		}
		if string(k) != "name" {
			continue
		}
		if name != "" || len(v) == 0 || v[0] != ' ' {
			return ""
		}
		v = bytes.TrimSpace(v)
		if !isName(v) {
			return ""
		}
		name, afterName = string(v), true
	}
	// "null" is YAML's null, no name at all: the parser says so.
	if CheckName(name) != "" || name == "null" {
		return ""
	}
	return name
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// Strays lists folders under root that hold YAML files but belong to no
// stack (no stack.yaml in them or above them): usually a missing or
// misnamed stack.yaml. refs are the stacks Discover found.
func Strays(fsys fs.FS, root string, refs []Ref) []*Error {
	root = cleanRoot(root)
	inStack := map[string]bool{}
	for _, r := range refs {
		inStack[r.Path] = true
	}
	var out []*Error
	_ = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != root && SkipDir(d.Name()) || inStack[p] {
				return fs.SkipDir
			}
			// Lstat: a stack.yaml that is a broken link or a link loop is
			// a stack Discover could not read, not a missing one.
			if _, err := fs.Lstat(fsys, path.Join(p, StackFile)); err == nil {
				return fs.SkipDir // a stack Discover could not read; reported there
			}
			return nil
		}
		if isYAML(d.Name()) && p != RepoConfigFile {
			out = append(out, strayError(fsys, root, p))
		}
		return nil
	})
	return out
}

// RepoConfigFile is the repository's panka configuration, at its root
// (fsys paths are relative to it): never a file of a stack, nor a stray
// one when the stacks root is the repository's root (stacks.root: .).
const RepoConfigFile = "panka.yaml"

// envFolderHint ends the error about an Environment outside the
// environments folder when its file sits in another folder directly in
// the stack (enviroments/dev.yaml, env/dev.yaml): a typo of the folder's
// name made the environment not exist, and the fix is a git mv. files are
// the stack's YAML files; "" when the file is elsewhere.
func envFolderHint(file, dir, envDir string, files []string) string {
	folder := path.Dir(file)
	if path.Dir(folder) != dir || folder == envDir {
		return ""
	}
	if slices.ContainsFunc(files, func(f string) bool { return path.Dir(f) == envDir }) {
		return fmt.Sprintf(", not in %s/: move it there (git mv %s %s/)", folder, file, envDir)
	}
	return fmt.Sprintf(", not in %s/: rename the folder (git mv %s %s)", folder, folder, envDir)
}

// isMisnamedStackFile is whether name is a stack file written otherwise
// than stack.yaml: stack.yml, or another case (Stack.yaml, which a
// case-insensitive disk on macOS opens as stack.yaml while git and every
// CI runner keep it apart). No tool reads it as a stack's: every file of
// the stack was a "YAML file outside any stack" that told the user to add
// the stack.yaml they had.
func isMisnamedStackFile(name string) bool {
	return name != StackFile && (strings.EqualFold(name, StackFile) || strings.EqualFold(name, "stack.yml"))
}

// misnamedIn is the name of the misnamed stack file in folder d of fsys
// (isMisnamedStackFile), "" when there is none.
func misnamedIn(fsys fs.FS, d string) string {
	ents, err := fs.ReadDir(fsys, d)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if isMisnamedStackFile(e.Name()) && e.Type().IsRegular() {
			return e.Name()
		}
	}
	return ""
}

// strayError is Strays' error for the YAML file p under root.
func strayError(fsys fs.FS, root, p string) *Error {
	dir := path.Dir(p)
	for d := dir; ; d = path.Dir(d) {
		if name := misnamedIn(fsys, d); name != "" {
			f := path.Join(d, name)
			if f == p {
				return &Error{File: p, Msg: fmt.Sprintf("a stack file is named %s, not %s: rename it (git mv %s %s)", StackFile, name, p, path.Join(d, StackFile))}
			}
			return &Error{File: p, Msg: fmt.Sprintf("YAML file outside any stack: %s is named %s, not %s, so %s is not a stack: rename it (git mv %s %s)", f, name, StackFile, d, f, path.Join(d, StackFile))}
		}
		if d == root || d == "." {
			break
		}
	}
	at := dir
	if path.Base(dir) == EnvironmentsDir && path.Dir(dir) != "." && path.Dir(dir) != root {
		// An environment file: its stack.yaml goes in the stack
		// folder, not among the environments.
		at = path.Dir(dir)
	}
	return &Error{File: p, Msg: fmt.Sprintf("YAML file outside any stack: %s has no %s (nor any folder above it under %s); add %s/%s with kind: Stack, or move the file into a stack", dir, StackFile, root, at, StackFile)}
}

// StrayFile is the error Strays gives for file (slash-separated, in fsys)
// when it is one of them: a YAML file under root with no stack.yaml in its
// folder or any folder above it up to root, and in no folder discovery
// skips. nil otherwise. It reads only those folders' stack.yaml entries,
// for a caller that knows which files changed (a pre-push hook).
func StrayFile(fsys fs.FS, root, file string) *Error {
	root = cleanRoot(root)
	rel, ok := strings.CutPrefix(file, root+"/")
	if root == "." {
		rel, ok = file, true
	}
	if !ok || !isYAML(path.Base(rel)) || file == RepoConfigFile {
		return nil
	}
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if SkipDir(path.Base(d)) {
			return nil
		}
	}
	for d := path.Dir(file); ; d = path.Dir(d) {
		if _, err := fs.Lstat(fsys, path.Join(d, StackFile)); err == nil {
			return nil
		}
		if d == root || d == "." {
			break
		}
	}
	return strayError(fsys, root, file)
}

// ReadHeader parses dir/stack.yaml only and lists dir/environments/*.yaml.
func ReadHeader(fsys fs.FS, dir string) (*Header, error) {
	var errs errList
	s := &Stack{}
	if !s.readStackFile(fsys, dir, &errs, true, nil) {
		return nil, noStack(dir)
	}
	if e := errs.err(); e != nil {
		return nil, e
	}
	return s.Header(), nil
}

// ParseHeader parses data as the stack.yaml of folder dir, as ReadHeader
// does, reading no file: for a folder io/fs cannot open (a name that is
// not UTF-8, read from a git tree). Environments are not listed. A
// stack.yaml that is a symbolic link is the caller's to follow.
func ParseHeader(dir string, data []byte) (*Header, error) {
	var errs errList
	s := &Stack{}
	if data == nil {
		data = []byte{}
	}
	s.readStackFile(nil, dir, &errs, false, &stackRead{ents: []fs.DirEntry{}, data: data})
	if e := errs.err(); e != nil {
		return nil, e
	}
	return s.Header(), nil
}

// nestedMsg says that the stack.yaml in folder inner lies inside the
// folder of the stack outer (called name), naming both stacks.
func nestedMsg(fsys fs.FS, inner, outer, name string) string {
	what := inner
	if n, _, _ := ReadWatch(fsys, inner); n != "" {
		what = fmt.Sprintf("stack %q (%s)", n, inner)
	}
	of := outer
	if name != "" {
		of = fmt.Sprintf("%q (%s)", name, outer)
	}
	return fmt.Sprintf("stacks cannot be nested: %s is inside the folder of stack %s, whose files include it; move %s out of %s (e.g. next to it), or delete its %s if it is part of %s", what, of, inner, outer, StackFile, outer)
}

// NestedIn returns the error of the first folder between the stack folder
// dir and the file inside it (both slash-separated) that holds a
// stack.yaml: stacks cannot be nested (Load reports the same). nil when
// there is none. The folders are looked up with fs.Stat, so a caller
// checking many files of one stack should remember the folders it asked.
func NestedIn(fsys fs.FS, dir, file, name string) error {
	dir = cleanRoot(dir)
	rel, ok := strings.CutPrefix(file, dir+"/")
	if dir == "." {
		rel, ok = file, true
	}
	if !ok {
		return nil
	}
	d := dir
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		if SkipDir(part) {
			return nil // not read as part of the stack either
		}
		d = joinName(d, part)
		if st, err := fs.Stat(fsys, path.Join(d, StackFile)); err == nil && !st.IsDir() {
			return &Errors{List: []*Error{{File: path.Join(d, StackFile), Msg: nestedMsg(fsys, d, dir, name)}}}
		}
	}
	return nil
}

// NestedStack looks for a stack called name where discovery does not: in
// a folder <stack folder>/<name> of a discovered stack (stacks do not
// nest, so discovery stops at the outer one). It returns the error Load
// of the outer stack gives for it, or nil. Use it to explain "not found".
func (d *Discovery) NestedStack(name string) error {
	if CheckName(name) != "" {
		return nil
	}
	for _, r := range d.Refs {
		p := path.Join(r.Path, name, StackFile)
		if st, err := fs.Stat(d.fsys, p); err != nil || st.IsDir() {
			continue
		}
		if n, _, _ := ReadWatch(d.fsys, path.Join(r.Path, name)); n != name {
			continue
		}
		if err := NestedIn(d.fsys, r.Path, p, r.Name); err != nil {
			return err
		}
	}
	return nil
}

// ReadWatch reads metadata.name and spec.watch of dir/stack.yaml as
// written: a glob validate refuses is listed too, and so are the globs of
// a stack.yaml with other errors (err, as ReadHeader's, says what is
// wrong). Change detection watches them whatever else is wrong, and says
// so about the invalid ones at every commit.
func ReadWatch(fsys fs.FS, dir string) (name string, watch []string, err error) {
	var errs errList
	s := &Stack{}
	if !s.readStackFile(fsys, dir, &errs, false, nil) {
		return "", nil, noStack(dir)
	}
	return s.header.Name, s.watchAsWritten, errs.err()
}

// readStackFile reads dir/stack.yaml into s and lists environments. It
// reports false when stack.yaml is missing. pre, when not nil, is what
// discovery read of dir.
func (s *Stack) readStackFile(fsys fs.FS, dir string, errs *errList, listEnvs bool, pre *stackRead) bool {
	dir = cleanRoot(dir)
	file := path.Join(dir, StackFile)
	s.file = file
	s.header.Path = dir
	var data []byte
	var e *fileError
	src, linked := file, false
	if pre != nil && pre.ents != nil {
		for _, en := range pre.ents {
			if en.Name() == StackFile {
				linked = en.Type()&fs.ModeSymlink != 0
			}
		}
	} else if st, err := fs.Lstat(fsys, file); err == nil {
		linked = st.Mode()&fs.ModeSymlink != 0
	}
	if linked {
		target, isDir, msg := followLink(fsys, file)
		switch {
		case msg == "" && isDir:
			msg = fmt.Sprintf("is a symbolic link to the folder %s: make %s a file", target, file)
		case msg == "" && !within(dir, target):
			msg = fmt.Sprintf("is a symbolic link to %s, outside the stack folder %s: a stack is read from its own folder only; make %s a file", target, dir, file)
		}
		if msg != "" {
			errs.add(pos{file, 0, 0}, "", "%s", msg)
			return true
		}
		src = target
		s.links = map[string]string{file: target}
	}
	if pre != nil && pre.data != nil && !linked {
		data = pre.data
	} else {
		data, e = readFile(fsys, src)
	}
	if e != nil && errors.Is(e.cause, fs.ErrNotExist) {
		return false
	}
	if e != nil {
		errs.addErr(&e.Error)
		return true
	}
	docs := parseFile(file, data, errs)
	if len(docs) == 0 {
		if len(errs.list) == 0 {
			errs.add(pos{file, 1, 0}, "", "empty stack.yaml: it needs apiVersion: %s, kind: Stack, metadata.name and spec", APIVersion)
		}
	}
	for i, d := range docs {
		kind, name, _, spec, ok := docHeader(d, errs)
		if !ok {
			continue
		}
		if i > 0 {
			errs.add(pos{file, d.line, 0}, "", "stack.yaml must hold exactly one document (kind: Stack); move %s %q into its own file", kind, name)
			continue
		}
		if kind != KindStack {
			errs.add(d.root.get("kind").pos(), "kind", "stack.yaml must be kind: Stack, got %s", kind)
			continue
		}
		s.header.Name = name
		s.decodeStackSpec(spec, errs)
	}
	// Environments exist iff their files exist.
	if listEnvs {
		envDir := path.Join(dir, EnvironmentsDir)
		if ents, err := fs.ReadDir(fsys, envDir); err == nil {
			s.addEnvironments(envDir, ents, errs)
		}
	}
	return true
}

// noStack is the error for a folder without stack.yaml; it wraps ErrNoStack.
func noStack(dir string) error {
	return fmt.Errorf("%s: %w: %s is not a stack (create %s with kind: Stack, or run `panka stack init`)", path.Join(dir, StackFile), ErrNoStack, dir, StackFile)
}

// environmentsOf lists the environments of stack folder dir by file name
// only, ignoring bad file names (Load reports them).
func environmentsOf(fsys fs.FS, dir string) []string {
	envDir := path.Join(dir, EnvironmentsDir)
	ents, err := fs.ReadDir(fsys, envDir)
	if err != nil {
		return nil
	}
	var s Stack
	s.addEnvironments(envDir, ents, &errList{})
	return s.header.Environments
}

// addEnvironments records the environments of the files in envDir.
func (s *Stack) addEnvironments(envDir string, ents []fs.DirEntry, errs *errList) {
	for i, ent := range ents {
		if ent.IsDir() || !isYAML(ent.Name()) {
			continue
		}
		env := strings.TrimSuffix(strings.TrimSuffix(ent.Name(), ".yaml"), ".yml")
		if msg := CheckName(env); msg != "" {
			if low := strings.ToLower(env); low != env && CheckName(low) == "" {
				// Prod.yaml: the fix is the lower-case name, in the
				// file's name and its metadata.name.
				p, to := path.Join(envDir, ent.Name()), path.Join(envDir, strings.ToLower(ent.Name()))
				msg += fmt.Sprintf(": rename it (git mv %s %s) and set its metadata.name to %s", p, to, low)
			}
			errs.add(pos{path.Join(envDir, ent.Name()), 0, 0}, "", "environment file name: %s", msg)
			continue
		}
		if contains(s.header.Environments, env) {
			if i > 0 && ents[i-1].Name() == ent.Name() {
				// Only a malformed git tree (written by a faulty tool)
				// lists a name twice; no file system does.
				errs.add(pos{path.Join(envDir, ent.Name()), 0, 0}, "", "the commit's tree lists %s twice, which git cannot check out (a malformed tree, written by a faulty tool: git fsck reports duplicateEntries): commit the environment file again with git itself", ent.Name())
				continue
			}
			errs.add(pos{path.Join(envDir, ent.Name()), 0, 0}, "", "environment %q is defined twice (.yaml and .yml): remove one", env)
			continue
		}
		s.header.Environments = append(s.header.Environments, env)
	}
	sort.Strings(s.header.Environments)
}

var knownKinds = map[Kind]bool{KindStack: true, KindService: true, KindEnvironment: true}

func init() {
	for _, k := range ComponentKinds {
		knownKinds[k] = true
	}
}

// literalLabel is the problem with a label name or value holding "${":
// variables and references are substituted in spec fields only (SPEC §3),
// so it would reach the resource tags as written, and AWS tags do not
// even allow '$', '{' or '}'.
func literalLabel(what, s string) string {
	return fmt.Sprintf("labels are literal: ${...} in the label %s %q is not substituted (variables and ${component.output} references work in spec fields only); write the %s itself", what, s, what)
}

// docHeader checks apiVersion, kind, metadata and spec of a document.
// nullMetadata is the error of a document whose metadata: holds nothing
// (often: its name written without indentation, below it).
const nullMetadata = "required field is empty (null): add name: <name> on the next line, indented under metadata"

func docHeader(d document, errs *errList) (kind Kind, name string, meta, spec *node, ok bool) {
	root := d.root
	ok = true
	top := []string{"apiVersion", "kind", "metadata", "spec"}
	if len(root.keys) > 0 && !slices.ContainsFunc(top, func(k string) bool { return root.get(k) != nil || caseTwin(root, k) }) {
		// An OpenAPI spec, a docker-compose.yaml or a Helm values.yaml
		// kept next to a service: one error that says so, not one per
		// key and per missing field.
		keys := make([]string, 0, 3)
		for _, k := range root.keys {
			if len(keys) == 3 {
				keys = append(keys, "...")
				break
			}
			keys = append(keys, EscapeControl(k.value))
		}
		errs.add(root.pos(), "", "not a stack file (no apiVersion, kind, metadata or spec; its keys: %s): every .yaml and .yml file in a stack folder is read as part of the stack; move this one out of the stack folder, or start it with apiVersion: %s and kind", strings.Join(keys, ", "), APIVersion)
		return "", "", nil, nil, false
	}
	underSpec := false // a spec field written at the top, outside spec:
	for _, k := range root.keys {
		switch k.value {
		case "apiVersion", "kind", "metadata", "spec":
		default:
			hint := suggestWord(k.value, "apiVersion", "kind", "metadata", "spec")
			if kn := root.get("kind"); hint == "" && kn != nil && kn.kind == nScalar && specField(kn.value, k.value) {
				underSpec = true
				hint = fmt.Sprintf(" (%s is a spec field: indent it under spec:)", k.value)
			}
			errs.add(k.pos(), k.value, "unknown field%s; a document has apiVersion, kind, metadata and spec", hint)
		}
	}
	av := root.get("apiVersion")
	switch {
	case av != nil && av.kind == nNull && av.line > 0:
		errs.add(av.pos(), "apiVersion", "required field is empty (null): write apiVersion: %s", APIVersion)
	case av.isNull() && caseTwin(root, "apiVersion"):
		// APIVersion: reported as an unknown field, with how to write it
	case av.isNull():
		errs.add(root.pos(), "apiVersion", "required field is missing: add apiVersion: %s", APIVersion)
	case av.kind != nScalar || av.value != APIVersion:
		errs.add(av.pos(), "apiVersion", "unsupported apiVersion %q: use %s", scalarText(av), APIVersion)
	}
	kn := root.get("kind")
	switch {
	case kn != nil && kn.kind == nNull && kn.line > 0:
		errs.add(kn.pos(), "kind", "required field is empty (null): write one of Stack, Service, Environment, %s", kindList())
		return "", "", nil, nil, false
	case kn.isNull() && caseTwin(root, "kind"):
		return "", "", nil, nil, false // Kind: reported as an unknown field
	case kn.isNull():
		errs.add(root.pos(), "kind", "required field is missing: one of Stack, Service, Environment, %s", kindList())
		return "", "", nil, nil, false
	case kn.bad:
		return "", "", nil, nil, false // {{ KIND }}: said where it was read
	case kn.kind != nScalar || !knownKinds[Kind(kn.value)]:
		errs.add(kn.pos(), "kind", "unknown kind %q%s: use one of Stack, Service, Environment, %s", scalarText(kn), suggestKind(kn), kindList())
		return "", "", nil, nil, false
	}
	kind = Kind(kn.value)
	meta = root.get("metadata")
	switch {
	case meta != nil && meta.kind == nNull && meta.line > 0:
		// metadata: with nothing under it (or its lines not indented)
		errs.add(meta.pos(), "metadata", "%s", nullMetadata)
		ok = false
	case meta.isNull() && caseTwin(root, "metadata"):
		ok = false // Metadata: reported as an unknown field
	case meta.isNull():
		errs.add(root.pos(), "metadata", "required field is missing: add metadata.name")
		ok = false
	case meta.kind != nMap:
		errs.add(meta.pos(), "metadata", "want a mapping with name, description, labels, got %s", meta.describeMap())
		ok = false
	default:
		for _, k := range meta.keys {
			switch k.value {
			case "name", "description", "labels":
			default:
				errs.add(k.pos(), "metadata."+k.value, "unknown field%s; metadata has name, description and labels", suggestWord(k.value, "name", "description", "labels"))
			}
		}
		nn := meta.get("name")
		switch {
		case nn != nil && nn.kind == nNull && nn.line > 0:
			// name: ~ or name: with nothing after it
			errs.add(nn.pos(), "metadata.name", "required field is empty (null): give it a value")
			ok = false
		case nn.isNull() && caseTwin(meta, "name"):
			ok = false // Name: reported as an unknown field
		case nn.isNull():
			errs.add(meta.pos(), "metadata.name", "required field is missing")
			ok = false
		case nn.bad:
			ok = false // {{ NAME }}: said where it was read
		case nn.kind != nScalar:
			errs.add(nn.pos(), "metadata.name", "want a string, got %s", nn.describe())
			ok = false
		default:
			name = nn.value
			if msg := CheckName(name); msg != "" {
				errs.add(nn.pos(), "metadata.name", "%s", msg)
				ok = false
			}
			if name == "var" && kind != KindStack && kind != KindEnvironment && kind != KindService {
				errs.add(nn.pos(), "metadata.name", "the name \"var\" is reserved (${var.NAME} means a variable): choose another name")
				ok = false
			}
		}
		if dn := meta.get("description"); !dn.isNull() && dn.kind != nScalar {
			errs.add(dn.pos(), "metadata.description", "want a string, got %s", dn.describe())
		}
		if ln := meta.get("labels"); !ln.isNull() {
			if ln.kind != nMap {
				errs.add(ln.pos(), "metadata.labels", "want a mapping of strings, got %s", ln.describeMap())
			} else {
				for i, k := range ln.keys {
					switch v := ln.vals[i]; {
					case v.kind != nScalar:
						errs.add(v.pos(), "metadata.labels."+k.value, "want a string, got %s", v.describe())
					case strings.Contains(k.value, "${"):
						errs.add(k.pos(), "metadata.labels."+k.value, "%s", literalLabel("name", k.value))
					case strings.Contains(v.value, "${"):
						errs.add(v.pos(), "metadata.labels."+k.value, "%s", literalLabel("value", v.value))
					}
				}
			}
		}
	}
	spec = root.get("spec")
	switch {
	case spec.isNull():
		if spec == nil {
			if !caseTwin(root, "spec") && !underSpec { // Spec: or its fields: reported as unknown fields
				errs.add(root.pos(), "spec", "required field is missing (use spec: {} when every default is fine)")
			}
			ok = false
		} else {
			spec = &node{kind: nMap, file: d.file, line: spec.line, col: spec.col}
		}
	case spec.kind != nMap:
		errs.add(spec.pos(), "spec", "want a mapping, got %s", spec.describeMap())
		ok = false
	}
	return kind, name, meta, spec, ok
}

// specField reports whether key is a field of the spec of a document of
// kind (description aside: metadata has one too).
func specField(kind, key string) bool {
	var names []string
	switch Kind(kind) {
	case KindStack:
		names = []string{"provider", "variables", "watch", "backend"}
	case KindEnvironment:
		names = []string{"variables", "overrides", "provider"}
	case KindService:
		names = []string{"owner"}
	default:
		return key != "description" && slices.ContainsFunc(componentSchema(Kind(kind)), func(f *field) bool { return f.name == key })
	}
	return slices.Contains(names, key)
}

func scalarText(n *node) string {
	if n.kind == nScalar {
		return n.value
	}
	return n.describe()
}

// suggestKind is suggestWord for a kind name.
func suggestKind(n *node) string {
	if n.kind != nScalar {
		return ""
	}
	kinds := []string{string(KindStack), string(KindService), string(KindEnvironment)}
	for _, k := range ComponentKinds {
		kinds = append(kinds, string(k))
	}
	return suggestWord(n.value, kinds...)
}

func kindList() string {
	s := make([]string, len(ComponentKinds))
	for i, k := range ComponentKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// providerFields is the schema of spec.provider (stack and environment).
type providerSchema struct {
	Name       string            `json:"name" default:"aws" enum:"aws,local"`
	Region     string            `json:"region,omitempty" pattern:"^[a-z]{2,4}(-[a-z]+)+-[0-9]+$" want:"an AWS region such as us-east-1"`
	AssumeRole string            `json:"assumeRole,omitempty" pattern:"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+" want:"an IAM role ARN (arn:aws:iam::<account>:role/<name>)"`
	Directory  string            `json:"directory,omitempty" pattern:"^([^~\\s\\x00-\\x1f\\x7f]([^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f])?)?$" want:"a folder relative to the repository, or an absolute one (not starting with ~, which is not expanded: a folder named ~ would be made in the repository; no spaces at either end, no control characters)"`
	Network    *networkSchema    `json:"network,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

type networkSchema struct {
	VpcID          string   `json:"vpcId,omitempty" pattern:"^vpc-[0-9a-f]+$" want:"a VPC id (vpc-...)"`
	PublicSubnets  []string `json:"publicSubnets,omitempty"`
	PrivateSubnets []string `json:"privateSubnets,omitempty"`
	ListenerArn    string   `json:"listenerArn,omitempty" pattern:"^arn:aws[a-z-]*:elasticloadbalancing:" want:"a load balancer listener ARN"`
}

// backendSchema is spec.backend. Its patterns are the rules panka's
// configuration applies to the same keys when a command opens the store
// (bucket names S3 accepts, prefixes of non-empty segments other than . and
// .., region names the AWS SDK takes, endpoints without a path), so validate reports them with file:line
// instead of a pre-push hook passing and every plan failing.
type backendSchema struct {
	Type     string `json:"type,omitempty" enum:"local,s3"`
	Bucket   string `json:"bucket,omitempty" pattern:"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$" want:"an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or a digit)"`
	Prefix   string `json:"prefix,omitempty" pattern:"^/*(([^/\\x5c\\x00.][^/\\x5c\\x00]*|\\.[^/\\x5c\\x00.][^/\\x5c\\x00]*|\\.\\.[^/\\x5c\\x00]+)(/([^/\\x5c\\x00.][^/\\x5c\\x00]*|\\.[^/\\x5c\\x00.][^/\\x5c\\x00]*|\\.\\.[^/\\x5c\\x00]+))*/*)?$" want:"a key prefix of '/'-separated names (none empty, . or .., no backslash), e.g. team-a/"`
	Region   string `json:"region,omitempty" pattern:"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)?$" want:"a region name (letters, digits and hyphens), e.g. us-east-1"`
	Endpoint string `json:"endpoint,omitempty" pattern:"^(?i)(https?://[^/?#\\s]+/?)?$" want:"the server's http:// or https:// URL without a path, e.g. http://127.0.0.1:7070"`
}

var (
	providerFields = structFields(typeOf[providerSchema]())
	backendFields  = structFields(typeOf[backendSchema]())
)

// unknownWatch keeps, for ReadWatch, the globs of a spec.watch that is
// not checked (a key set twice): change detection still watches what the
// file says rather than nothing.
func (s *Stack) unknownWatch(v *node) {
	if v == nil || v.kind != nSeq {
		return
	}
	for _, it := range v.items {
		if it.kind == nScalar && it.value != "" {
			s.watchAsWritten = append(s.watchAsWritten, it.value)
		}
	}
}

// decodeStackSpec checks the Stack spec and keeps what Resolve needs.
func (s *Stack) decodeStackSpec(spec *node, errs *errList) {
	s.varIdx = map[string]*varDecl{}
	if spec.bad {
		// spec: set twice (reported): what it declares is unknown.
		s.varsUnknown, s.provider = true, spec
		s.unknownWatch(spec.get("watch"))
		return
	}
	for i, k := range spec.keys {
		v := spec.vals[i]
		kp := "spec." + k.value
		if v.bad && (k.value == "description" || specField(string(KindStack), k.value)) {
			// Set twice (reported): which value was meant is not
			// known, so nothing is checked with the first, and the
			// variables the second declares are not undeclared.
			s.varsUnknown = s.varsUnknown || k.value == "variables"
			switch k.value {
			case "provider":
				s.provider = v
			case "watch":
				s.unknownWatch(v)
			}
			continue
		}
		switch k.value {
		case "description":
			if !v.isNull() && v.kind != nScalar {
				errs.add(v.pos(), kp, "want a string, got %s", v.describe())
			}
		case "provider":
			if !v.isNull() && v.kind != nMap {
				errs.add(v.pos(), kp, "want a mapping (name, region, assumeRole, directory, network, tags), got %s", v.describeMap())
				continue
			}
			s.provider = v
			unknownFields(errs, providerFields, v, kp) // types are checked when the merged value is decoded
		case "variables":
			s.decodeVarDecls(v, errs)
		case "watch":
			if v.isNull() {
				continue
			}
			if v.kind != nSeq {
				errs.add(v.pos(), kp, "want a list of repo-relative globs, got %s%s", v.describe(), scalarAsListHint(v, ""))
				continue
			}
			for j, it := range v.items {
				ikp := fmt.Sprintf("%s[%d]", kp, j)
				if it.kind != nScalar {
					errs.add(it.pos(), ikp, "want a glob string, got %s", it.describe())
					continue
				}
				// A glob refused matches nothing (the forms refused
				// since a commit was made matched nothing, or less than
				// meant, then): a commit loaded as it was deployed
				// (legacy) goes without it.
				bad := errs
				if s.legacy != nil {
					bad = s.legacy
				}
				if it.value == "" {
					bad.add(it.pos(), ikp, "empty watch glob: remove it, or write a repo-relative glob such as shared/**")
					continue
				}
				s.watchAsWritten = append(s.watchAsWritten, it.value)
				if msg := checkGlob(it.value); msg != "" {
					bad.add(it.pos(), ikp, "%s", msg)
					continue
				}
				s.header.Watch = append(s.header.Watch, it.value)
				s.watchAt = append(s.watchAt, it.pos())
			}
		case "backend":
			if v.isNull() {
				continue
			}
			ty := typer{errs: errs}
			m := ty.object(backendFields, v, kp)
			if len(m) > 0 {
				s.header.Backend = map[string]string{}
				s.header.BackendLines = map[string]int{}
				for key, val := range m {
					s.header.Backend["backend."+key] = fmt.Sprint(val)
				}
				for i, k := range v.keys {
					if _, ok := m[k.value]; ok && i < len(v.vals) {
						s.header.BackendLines["backend."+k.value] = int(v.vals[i].line)
					}
				}
			}
		default:
			errs.add(k.pos(), kp, "unknown field%s; a Stack spec has description, provider, variables, watch and backend", suggestWord(k.value, "description", "provider", "variables", "watch", "backend"))
		}
	}
}

// CheckWatchGlob returns "" when g is a valid spec.watch glob, else why
// not (the message validate gives).
func CheckWatchGlob(g string) string { return checkGlob(g) }

// checkGlob validates a watch glob.
func checkGlob(g string) string {
	if strings.HasPrefix(g, "/") || g == ".." || strings.HasPrefix(g, "../") || strings.Contains(g, "/../") || strings.HasSuffix(g, "/..") {
		if c := path.Clean(g); !strings.HasPrefix(g, "/") && c != "." && c != ".." && !strings.HasPrefix(c, "../") {
			// stacks/../shared/*: inside the repository, but ".."
			// is not matched against paths.
			return fmt.Sprintf("watch glob %q: \"..\" segments are not resolved (globs match repo-relative paths as written): write %s", g, c)
		}
		return fmt.Sprintf("watch glob %q must be relative to the repository root and stay inside it", g)
	}
	if strings.HasPrefix(g, "!") {
		return fmt.Sprintf("watch glob %q: a leading ! does not exclude anything here (spec.watch only lists what to watch, and a path starting with ! matches nothing): list narrower globs instead", g)
	}
	// A leading ./ and a trailing / are dropped when matching; an empty
	// or "." segment inside (shared//x, shared/./x) never matches a path.
	if segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(g, "./"), "/"), "/"); slices.Contains(segs, "") || slices.Contains(segs, ".") {
		clean := strings.Join(slices.DeleteFunc(segs, func(s string) bool { return s == "" || s == "." }), "/")
		if clean == "" {
			clean = "** for the whole repository, or a folder's glob such as shared/**"
		}
		return fmt.Sprintf("watch glob %q has an empty or \".\" path segment, which matches no path: write %s", g, clean)
	}
	// A backslash escapes the next character; before a letter, a digit
	// or a dot it escapes nothing: a Windows folder separator, which
	// makes the glob match no path (shared\x matches "sharedx").
	for i := 0; i+1 < len(g); i++ {
		if g[i] == '\\' {
			if c := g[i+1]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
				return fmt.Sprintf("watch glob %q: \\ is not a folder separator here (it escapes the next character): write %s", g, strings.ReplaceAll(g, "\\", "/"))
			}
			i++
		}
	}
	for _, part := range strings.Split(g, "/") {
		if part == "**" {
			continue
		}
		if strings.Contains(part, "**") {
			return fmt.Sprintf("watch glob %q: ** matches any depth only as a whole path segment (shared/**/*.json); inside %q it is a plain * that stays in one folder", g, part)
		}
		if i := strings.IndexByte(part, '{'); i >= 0 && strings.Contains(part[i:], ",") && strings.Contains(part[i:], "}") {
			return fmt.Sprintf("watch glob %q: braces {a,b} are not supported (they would match a name with braces and a comma in it): list each alternative as a glob of its own", g)
		}
		if _, err := path.Match(part, ""); err != nil {
			return fmt.Sprintf("invalid watch glob %q: %v", g, err)
		}
	}
	return ""
}

// declField are the fields of a variable declaration in stack.yaml.
var declField = map[string]bool{"default": true, "required": true, "secret": true, "description": true}

// decodeVarDecls reads spec.variables of stack.yaml.
func (s *Stack) decodeVarDecls(v *node, errs *errList) {
	if v.isNull() {
		return
	}
	if v.kind != nMap {
		hint := ""
		if v.kind == nSeq && len(v.items) > 0 && v.items[0].kind == nScalar && envName.MatchString(v.items[0].value) {
			// variables: [IMAGE_TAG, DB_PASSWORD]
			hint = fmt.Sprintf(" (declare each as NAME: {} or NAME: {default: ...}, without \"- \": %s: {})", v.items[0].value)
		}
		errs.add(v.pos(), "spec.variables", "want a mapping of variable names to {default, required, secret, description}, got %s%s", v.describeMap(), hint)
		// What it declares is unknown: the uses of its variables are
		// not undeclared.
		s.varsUnknown = true
		return
	}
	for i, k := range v.keys {
		kp := "spec.variables." + k.value
		if !envName.MatchString(k.value) {
			errs.add(k.pos(), kp, "invalid variable name %q: use letters, digits and _, not starting with a digit", k.value)
			continue
		}
		if declField[k.value] {
			// A field of the declaration above, indented one level too
			// little: "DB_PASSWORD:" then "secret: true" under
			// variables declared DB_PASSWORD plain (printed, stored in
			// clear) and a variable named secret.
			j := i - 1
			for j >= 0 && declField[v.keys[j].value] {
				j--
			}
			if j >= 0 && v.vals[j].isNull() {
				errs.add(k.pos(), kp, "%q is a field of the declaration of %s above (which has nothing under it), indented one level too little: indent it under %s (a variable cannot be named default, required, secret or description)", k.value, v.keys[j].value, v.keys[j].value)
			} else {
				errs.add(k.pos(), kp, "%q is a field of a variable declaration, not a variable: indent it under the variable it belongs to (a variable cannot be named default, required, secret or description)", k.value)
			}
			continue
		}
		d := &varDecl{name: k.value, pos: k.pos()}
		val := v.vals[i]
		switch val.kind {
		case nNull:
		case nScalar: // shorthand: NAME: default
			d.def, d.hasDef = val.value, true
		case nSeq:
			errs.add(val.pos(), kp, "want {default, required, secret, description} or a default value, got a list")
			continue
		case nMap:
			for j, fk := range val.keys {
				fv := val.vals[j]
				fkp := kp + "." + fk.value
				switch fk.value {
				case "default":
					if fv.kind == nNull {
						continue
					}
					if fv.kind != nScalar {
						errs.add(fv.pos(), fkp, "want a string, number or boolean, got %s", fv.describe())
						continue
					}
					d.def, d.hasDef = fv.value, true
				case "required", "secret":
					if fv.kind != nScalar || fv.tag != "!!bool" {
						if fv.kind == nScalar && fv.tag == "!!str" {
							// secret: yes left as a string would be
							// refused anyway; say why and what it was.
							errs.add(fv.pos(), fkp, "want true or false, got %s%s", strconv.Quote(fv.value), yaml11Hint(fv.value))
						} else {
							errs.add(fv.pos(), fkp, "want true or false, got %s", fv.describe())
						}
						continue
					}
					// True and TRUE are booleans too (YAML 1.2): secret:
					// True must not leave the value in clear.
					b := strings.EqualFold(fv.value, "true")
					if fk.value == "required" {
						d.required = b
					} else {
						d.secret = b
					}
				case "description":
					if fv.kind != nScalar {
						errs.add(fv.pos(), fkp, "want a string, got %s", fv.describe())
						continue
					}
					d.description = fv.value
				default:
					errs.add(fk.pos(), fkp, "unknown field%s; a variable has default, required, secret and description", suggestWord(fk.value, "default", "required", "secret", "description"))
				}
			}
		}
		if d.required && d.hasDef {
			errs.add(k.pos(), kp, "a required variable cannot have a default: drop one of them")
		}
		s.vars = append(s.vars, d)
		s.varIdx[d.name] = d
	}
	sort.Slice(s.vars, func(i, j int) bool { return s.vars[i].name < s.vars[j].name })
}

// Load parses every YAML file of the stack in dir (stack.yaml, components
// in any subfolder, environments/*.yaml), checks their structure strictly
// and returns the stack. On any problem it returns an *Errors listing all
// of them, each with its repo-relative file:line:column.
func Load(fsys fs.FS, dir string) (*Stack, error) {
	return load(fsys, dir, nil, nil)
}

// LoadLegacy is Load for a stack as a commit other than the one being
// edited holds it (a rollback or promotion target, the deployed commit
// changed compares from, plan --ref of an older commit): what panka
// accepted when the commit was made and refuses since, where that
// cannot change what is deployed, loads as it did then, each returned
// in legacy with its file:line and the fix. Those are the layouts
// panka loaded before it checked where Services are (a Service outside
// services/<svc>/, a services/<svc>/ folder without one, a component
// directly in services/), which load as they were deployed; spec.watch
// globs of the forms refused since (they matched nothing, or less than
// meant; watch is change detection's, never part of what is deployed),
// which are left out; files whose extension is not lowercase (db.YAML),
// which were never read and still are not; and, when the stack is
// resolved (Resolved.Legacy), an env or secrets entry written without
// a value (LOG_LEVEL:), which was left out of the container's
// environment and still is, and $NAME of a declared variable outside a
// command, which was deployed as that text and still is. A commit
// cannot be edited, and what panka deployed from one must stay
// deployable: refusing it would leave only a rollback to a recorded
// spec. Every other problem is an error as with Load, and legacy is nil
// when there is none of these.
func LoadLegacy(fsys fs.FS, dir string) (s *Stack, legacy []*Error, err error) {
	var warns errList
	s, err = load(fsys, dir, nil, &warns)
	if s != nil {
		s.asDeployed = true
	}
	return s, warns.list, err
}

// load is Load; pre, when not nil, is what discovery read of dir; legacy,
// when not nil, takes the problems LoadLegacy accepts, which then load as
// they did before they were checked.
func load(fsys fs.FS, dir string, pre *stackRead, legacy *errList) (*Stack, error) {
	var errs errList
	s := &Stack{compIdx: map[string]*compDoc{}, services: map[string]string{}, envs: map[string]*envDoc{}, legacy: legacy}
	dir = cleanRoot(dir)
	if !s.readStackFile(fsys, dir, &errs, false, pre) {
		return nil, noStack(dir)
	}
	if s.varIdx == nil {
		// A stack.yaml that did not load leaves its variables unknown:
		// every use would otherwise be reported as undeclared too.
		s.varsUnknown = len(errs.list) > 0
		s.varIdx = map[string]*varDecl{}
	}
	envDir := path.Join(dir, EnvironmentsDir)
	// Every other YAML file of the stack, folder by folder.
	type svcDir struct{ name, file string }
	svcOf := map[string]svcDir{}
	svcRoot := path.Join(dir, ServicesDir)
	// svcUnsure are the services/<svc> folders whose Service may be in
	// a document that did not load or is misplaced (reported): not
	// reported again as folders without one.
	svcUnsure := map[string]bool{}
	svcFolder := func(p string) string {
		rel, _ := strings.CutPrefix(p, svcRoot+"/")
		if f, _, ok := strings.Cut(rel, "/"); ok && rel != p {
			return svcRoot + "/" + f
		}
		return ""
	}
	var files []string
	links := s.links // symbolic link -> the file it points at
	var walk func(d string)
	walk = func(d string) {
		var ents []fs.DirEntry
		var err error
		if d == dir && pre != nil && pre.ents != nil {
			ents = pre.ents
		} else {
			ents, err = fs.ReadDir(fsys, d)
		}
		if err != nil && !utf8.ValidString(d) {
			errs.add(pos{d, 0, 0}, "", "%s", badNameMsg(d))
			return
		}
		if err != nil {
			errs.add(pos{d, 0, 0}, "", "cannot read the folder: %v", unwrapPath(err))
			return
		}
		if d != dir {
			for _, e := range ents {
				if e.Name() == StackFile && !e.IsDir() {
					errs.add(pos{path.Join(d, StackFile), 0, 0}, "", "%s", nestedMsg(fsys, d, dir, s.header.Name))
					return
				}
			}
		}
		if d == envDir {
			s.addEnvironments(envDir, ents, &errs)
		}
		for _, e := range ents {
			p := joinName(d, e.Name())
			switch {
			case e.Type()&fs.ModeSymlink != 0 && !SkipDir(e.Name()):
				target, isDir, msg := followLink(fsys, p)
				switch {
				case isDir:
					errs.add(pos{p, 0, 0}, "", "is a symbolic link to the folder %s: linked folders are not read; move the files into the stack", target)
				case !isYAML(e.Name()) || p == s.file:
				case (msg == "" || dangling(target)) && !within(dir, target):
					// Also when the target is missing: a file outside the
					// stack is no part of it, there or not (panka changed
					// --uncommitted does not read one untracked there).
					msg = fmt.Sprintf("is a symbolic link to %s, outside the stack folder %s: a stack is read from its own folder only (panka changed would not see %s change); copy the file into the stack", target, dir, target)
					fallthrough
				case msg != "":
					errs.add(pos{p, 0, 0}, "", "%s", msg)
				default:
					files = append(files, p)
					if links == nil {
						links = map[string]string{}
						s.links = links
					}
					links[p] = target
				}
			case e.IsDir() && SkipDir(e.Name()):
			case e.IsDir() && d == envDir:
				errs.add(pos{p, 0, 0}, "", "folders inside %s are not read: environments are %s/<env>.yaml files", envDir, envDir)
			case e.IsDir():
				walk(p)
			case isYAML(e.Name()) && p != s.file:
				files = append(files, p)
			case !e.IsDir() && !isYAML(e.Name()) && isYAML(strings.ToLower(e.Name())):
				// infra/db.YAML: skipped as not YAML, its components
				// would silently not exist. A commit loaded as it was
				// deployed (legacy) went without them then, and still
				// does.
				bad := &errs
				if legacy != nil {
					bad = legacy
				}
				bad.add(pos{p, 0, 0}, "", "is not read: stack files end in .yaml or .yml, in lowercase; rename it to %s", strings.TrimSuffix(e.Name(), path.Ext(e.Name()))+strings.ToLower(path.Ext(e.Name())))
			}
		}
	}
	walk(dir)
	if ra, ok := fsys.(readAheader); ok && len(files) > 1 {
		ahead := make([]string, len(files))
		for i, p := range files {
			ahead[i] = p
			if t, ok := links[p]; ok {
				ahead[i] = t
			}
		}
		ra.ReadAhead(ahead)
	}
	var comps []*compDoc
	for _, p := range files {
		src := p
		if t, ok := links[p]; ok {
			src = t
		}
		data, e := readFile(fsys, src)
		if e != nil {
			errs.addErr(&e.Error)
			if path.Dir(p) != envDir {
				s.compsUnknown = true
			}
			svcUnsure[svcFolder(p)] = true
			continue
		}
		before := len(errs.list)
		docs := parseFile(p, data, &errs)
		if path.Dir(p) == envDir {
			s.loadEnvironment(p, docs, &errs, len(errs.list) > before)
			continue
		}
		for _, e := range errs.list[before:] {
			if e.Line == 0 || strings.HasPrefix(e.Msg, "invalid YAML") {
				s.compsUnknown = true
			}
		}
		if len(errs.list) > before {
			svcUnsure[svcFolder(p)] = true
		}
		for _, d := range docs {
			kind, name, meta, spec, ok := docHeader(d, &errs)
			if kind == "" || kind == KindService && !ok {
				svcUnsure[svcFolder(p)] = true
			}
			if kind == "" {
				continue
			}
			switch kind {
			case KindStack:
				errs.add(d.root.get("kind").pos(), "kind", "a Stack document belongs in %s only: %s", s.file, belongsIn(kind, name, dir))
				continue
			case KindEnvironment:
				hint := envFolderHint(p, dir, envDir, files)
				if hint == "" {
					hint = fmt.Sprintf(", not in %s/: %s", path.Dir(p), belongsIn(kind, name, dir))
				}
				errs.add(d.root.get("kind").pos(), "kind", "an Environment document belongs in %s/<env>.yaml%s", envDir, hint)
				continue
			case KindService:
				if !ok {
					continue
				}
				if !spec.bad { // spec: set twice (reported)
					checkServiceSpec(spec, &errs)
				}
				folder := path.Dir(p)
				if path.Dir(folder) != svcRoot {
					// In infra/ it would silently make every shared
					// component there part of the service; at the stack
					// root it groups nothing. That is still what it does
					// in a commit loaded as it was deployed (legacy).
					svcUnsure[svcFolder(p)] = true
					msg := fmt.Sprintf("a Service document belongs in %s/<service>/service.yaml, not in %s/: %s", svcRoot, folder, belongsIn(kind, name, dir))
					if legacy == nil {
						errs.add(d.root.get("kind").pos(), "kind", "%s", msg)
						continue
					}
					legacy.add(d.root.get("kind").pos(), "kind", "%s", msg)
				}
				if prev, dup := svcOf[folder]; dup {
					errs.add(d.root.get("metadata").get("name").pos(), "metadata.name", "folder %s already has Service %q (%s): one Service per folder", folder, prev.name, prev.file)
					continue
				}
				if prev, dup := s.services[name]; dup {
					errs.add(d.root.get("metadata").get("name").pos(), "metadata.name", "duplicate Service name %q (also in %s)", name, prev)
					continue
				}
				svcOf[folder] = svcDir{name, p}
				s.services[name] = p
				continue
			}
			if !ok {
				continue
			}
			c := &compDoc{name: name, kind: kind, file: p, spec: spec, pos: d.root.get("metadata").get("name").pos()}
			if ln := meta.get("labels"); ln != nil && ln.kind == nMap {
				c.labels = map[string]string{}
				for i, k := range ln.keys {
					c.labels[k.value] = ln.vals[i].value
				}
			}
			if prev := s.compIdx[name]; prev != nil {
				errs.add(c.pos, "metadata.name", "duplicate component name %q (also declared at %s:%d): component names are unique within a stack", name, prev.file, prev.pos.line)
				if s.dupComps == nil {
					s.dupComps = map[string]bool{}
				}
				s.dupComps[name] = true
				continue
			}
			s.compIdx[name] = c
			comps = append(comps, c)
		}
	}
	// A component belongs to the Service of its folder or the nearest folder above.
	for _, c := range comps {
		for f := path.Dir(c.file); f != dir && f != "." && f != "/"; f = path.Dir(f) {
			if sv, ok := svcOf[f]; ok {
				c.service = sv.name
				break
			}
		}
	}
	if legacy != nil {
		checkServiceFolders(comps, svcRoot, svcUnsure, legacy)
	} else {
		checkServiceFolders(comps, svcRoot, svcUnsure, &errs)
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].name < comps[j].name })
	s.comps = comps
	// Overrides must name existing components (reported in environment
	// order, not map order: the same on every load).
	for _, name := range slices.Sorted(maps.Keys(s.envs)) {
		env := s.envs[name]
		for _, o := range env.overrides {
			if s.compIdx[o.key.value] == nil && !s.compsUnknown {
				errs.add(o.key.pos(), "spec.overrides."+o.key.value, "environment %q overrides unknown component %q%s", env.name, o.key.value, suggestName(o.key.value, s.ComponentNames()))
			}
		}
	}
	if len(errs.list) > 0 {
		// Report everything at once: also check the specs of what could
		// be read, as Validate would.
		var envs []string
		for _, e := range s.header.Environments {
			if s.envs[e] != nil {
				envs = append(envs, e)
			}
		}
		for _, x := range errLines(s.validate(envs, ResolveOptions{})) {
			errs.addErr(x)
		}
		return nil, errs.err()
	}
	s.legacy = nil
	return s, nil
}

// belongsIn says where in the stack folder dir a document of kind named
// name goes, for one found in the wrong place.
func belongsIn(kind Kind, name, dir string) string {
	if name == "" {
		name = "<name>"
	}
	switch kind {
	case KindStack:
		return fmt.Sprintf("a stack has one, in its %s; to start another stack, move this document to the %s of a folder of its own outside %s", StackFile, StackFile, dir)
	case KindEnvironment:
		return fmt.Sprintf("move it to %s/%s.yaml", path.Join(dir, EnvironmentsDir), name)
	case KindService:
		return fmt.Sprintf("move it to %s/%s/service.yaml, next to the components it groups", path.Join(dir, ServicesDir), name)
	}
	return fmt.Sprintf("move it into %s/ if it is shared, or into the folder of the service it belongs to (%s/<service>/)", path.Join(dir, "infra"), path.Join(dir, ServicesDir))
}

// checkServiceFolders reports the components under svcRoot (a stack's
// services/ folder) that no Service groups: those in a services/<svc>/
// folder without its service.yaml (deleted, renamed, or its kind
// mistyped), once per folder, and those directly in services/. Either
// way the components would deploy as belonging to no service. comps are
// in file order, with their service set; a folder in skip may have its
// Service in a document already reported (misplaced, or not loading).
func checkServiceFolders(comps []*compDoc, svcRoot string, skip map[string]bool, errs *errList) {
	var folders []string
	orphans := map[string][]*compDoc{}
	for _, c := range comps {
		rel, under := strings.CutPrefix(c.file, svcRoot+"/")
		if !under || c.service != "" {
			continue
		}
		svc, _, inFolder := strings.Cut(rel, "/")
		if !inFolder {
			errs.add(c.pos, "", "%s %q is directly in %s/, where only service folders belong: move it into %s/<service>/ beside that service's service.yaml, or into infra/ if it is shared", c.kind, c.name, svcRoot, svcRoot)
			continue
		}
		folder := svcRoot + "/" + svc
		if skip[folder] {
			continue
		}
		if orphans[folder] == nil {
			folders = append(folders, folder)
		}
		orphans[folder] = append(orphans[folder], c)
	}
	for _, f := range folders {
		cs := orphans[f]
		names := make([]string, len(cs))
		for i, c := range cs {
			names[i] = c.name
		}
		errs.add(cs[0].pos, "", "service folder %s has no Service document, so its components (%s) belong to no service: add %s/service.yaml (kind: Service, metadata.name: %s), or move the components into infra/ if they are shared", f, strings.Join(names, ", "), f, path.Base(f))
	}
}

// joinName is path.Join(dir, name) for a clean dir and a name read from
// it, without path.Join's cleaning work.
// followLink resolves the symbolic link p of fsys to what it finally
// points at. msg says why it cannot (unreadable, absolute or leaving fsys,
// dangling, a loop); isDir is true when it points at a folder.
func followLink(fsys fs.FS, p string) (target string, isDir bool, msg string) {
	cur := p
	for hops := 0; hops < 40; hops++ {
		dest, err := fs.ReadLink(fsys, cur)
		if err != nil {
			return "", false, fmt.Sprintf("cannot read the symbolic link: %v", unwrapPath(err))
		}
		next := path.Join(path.Dir(cur), dest)
		if path.IsAbs(dest) || !fs.ValidPath(next) {
			return dest, false, fmt.Sprintf("is a symbolic link to %s, outside the repository: copy the file into the stack", dest)
		}
		st, err := fs.Lstat(fsys, next)
		if err != nil {
			return next, false, fmt.Sprintf("is a symbolic link to %s, which does not exist", next)
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return next, st.IsDir(), ""
		}
		cur = next
	}
	return "", false, "too many levels of symbolic links"
}

// dangling reports whether target, as followLink returns it with a
// message, is a path in fsys where nothing is (not a link leaving fsys).
func dangling(target string) bool {
	return target != "" && fs.ValidPath(target)
}

// LinkedStack reports whether p is a symbolic link (through links inside
// fsys, or leaving it where fsys follows that: a work tree) to a folder
// holding a stack.yaml, and that folder. Such a folder
// is not read as a stack: in a work tree it could be, but at a commit git
// stores the link, not the folder, so the stack would differ between the
// two and its changes would go unseen.
func LinkedStack(fsys fs.FS, p string) (target string, ok bool) {
	target, isDir, msg := followLink(fsys, p)
	if msg != "" {
		// A link leaving fsys: a work tree (os.DirFS) follows it to
		// whatever is there, a commit's tree cannot.
		if target == "" {
			return "", false
		}
		st, err := fs.Stat(fsys, path.Join(p, StackFile))
		return target, err == nil && !st.IsDir()
	}
	if !isDir {
		return "", false
	}
	st, err := fs.Stat(fsys, path.Join(target, StackFile))
	return target, err == nil && !st.IsDir()
}

// LinkedStackMessage says why the link to the stack folder target is not
// read, and what to do.
func LinkedStackMessage(target string) string {
	return fmt.Sprintf("is a symbolic link to the stack folder %s: linked stack folders are not read, since git stores the link, not the folder (panka changed would not see %s change); move the folder here, or put it under the stacks root", target, target)
}

// within reports whether p is dir or below it (both clean, slash-separated).
func within(dir, p string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

func joinName(dir, name string) string {
	if dir == "." || dir == "" || dir[len(dir)-1] == '/' || name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 {
		return path.Join(dir, name)
	}
	return dir + "/" + name
}

// errLines returns the entries of an *Errors, or the error as one entry.
func errLines(err error) []*Error {
	if err == nil {
		return nil
	}
	var es *Errors
	if errors.As(err, &es) {
		return es.List
	}
	return []*Error{{Msg: err.Error()}}
}

func suggestName(name string, names []string) string {
	// dependsOn: [${orders.url}] or queue: ${orders.arn}: a reference
	// where a component's name belongs.
	if inner, ok := strings.CutPrefix(name, "${"); ok {
		comp, _, _ := strings.Cut(strings.TrimSuffix(inner, "}"), ".")
		if contains(names, strings.TrimSpace(comp)) {
			return fmt.Sprintf(" (write the component's name, %s, not a reference to one of its outputs)", strings.TrimSpace(comp))
		}
	}
	// "" or "3" is one or two edits from any short name: no guess.
	bd := min(3, len(name))
	best := ""
	for _, n := range names {
		if d := EditDistance(name, n); d < bd {
			best, bd = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(names) == 0 {
		return "; the stack has no components"
	}
	if len(names) <= 12 {
		return "; components: " + strings.Join(names, ", ")
	}
	return ""
}

func checkServiceSpec(spec *node, errs *errList) {
	for i, k := range spec.keys {
		switch k.value {
		case "owner", "description":
			if v := spec.vals[i]; !v.isNull() && v.kind != nScalar {
				errs.add(v.pos(), "spec."+k.value, "want a string, got %s", v.describe())
			}
		default:
			errs.add(k.pos(), "spec."+k.value, "unknown field%s; a Service spec has owner and description (components are separate documents in the service's folder)", suggestWord(k.value, "owner", "description"))
		}
	}
}

// loadEnvironment reads one environments/<env>.yaml file; parseFailed is
// true when parsing it reported errors already.
func (s *Stack) loadEnvironment(file string, docs []document, errs *errList, parseFailed bool) {
	base := path.Base(file)
	envName := strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
	if CheckName(envName) != "" {
		return // reported by readStackFile
	}
	if len(docs) == 0 && parseFailed {
		return // the parse error says what is wrong; "empty" would only confuse
	}
	if len(docs) == 0 {
		errs.add(pos{file, 1, 0}, "", "empty environment file: it needs apiVersion: %s, kind: Environment, metadata.name: %s and spec", APIVersion, envName)
		return
	}
	if len(docs) > 1 {
		hint := ""
		if k := docs[1].root.get("kind"); k != nil && k.kind == nScalar && knownKinds[Kind(k.value)] {
			name := ""
			if n := docs[1].root.get("metadata").get("name"); n != nil && n.kind == nScalar {
				name = n.value
			}
			hint = fmt.Sprintf(": for the %s %q after it, %s", k.value, name, belongsIn(Kind(k.value), name, path.Dir(path.Dir(file))))
		}
		errs.add(pos{file, docs[1].line, 0}, "", "an environment file holds exactly one document (kind: Environment)%s", hint)
	}
	d := docs[0]
	kind, name, _, spec, ok := docHeader(d, errs)
	if kind == "" {
		return
	}
	if kind != KindEnvironment {
		errs.add(d.root.get("kind").pos(), "kind", "files in %s must be kind: Environment, got %s: %s", path.Dir(file), kind, belongsIn(kind, name, path.Dir(path.Dir(file))))
		return
	}
	if !ok {
		return
	}
	if name != envName {
		errs.add(d.root.get("metadata").get("name").pos(), "metadata.name", "environment name %q must match its file name %s (%q)", name, base, envName)
		return
	}
	e := &envDoc{name: name, file: file, vars: map[string]*node{}}
	if spec.bad {
		// spec: set twice (reported): nothing in it is checked.
		e.provider = spec
		s.envs[name] = e
		return
	}
	for i, k := range spec.keys {
		v := spec.vals[i]
		kp := "spec." + k.value
		if v.bad && (k.value == "description" || specField(string(KindEnvironment), k.value)) {
			// Set twice (reported): nothing is checked with the first
			// value, which may be the one about to be deleted.
			if k.value == "provider" {
				e.provider = v
			}
			continue
		}
		switch k.value {
		case "description":
			if !v.isNull() && v.kind != nScalar {
				errs.add(v.pos(), kp, "want a string, got %s", v.describe())
			}
		case "variables":
			if v.isNull() {
				continue
			}
			if v.kind != nMap {
				errs.add(v.pos(), kp, "want a mapping of variable names to values, got %s", v.describeMap())
				continue
			}
			for j, vk := range v.keys {
				vv := v.vals[j]
				vkp := kp + "." + vk.value
				d := s.varIdx[vk.value]
				if d == nil && s.varsUnknown {
					continue
				}
				if d == nil {
					errs.add(vk.pos(), vkp, "variable %q is not declared in %s%s: add it under spec.variables there", vk.value, s.file, s.suggestVar(vk.value))
					continue
				}
				if vv.kind != nScalar {
					hint := ""
					if vv.kind == nMap {
						// GREETING: {default: hi}, a declaration's form.
						hint = fmt.Sprintf(": an environment gives the variable its value (%s: VALUE); default, required, secret and description belong to its declaration in %s", vk.value, s.file)
					}
					errs.add(vv.pos(), vkp, "want a string, number or boolean, got %s%s", vv.describe(), hint)
					continue
				}
				e.vars[vk.value] = vv
				e.varKeys = append(e.varKeys, vk)
			}
		case "overrides":
			if v.isNull() {
				continue
			}
			if v.kind != nMap {
				errs.add(v.pos(), kp, "want a mapping of component names to spec fields, got %s", v.describeMap())
				continue
			}
			for j, ck := range v.keys {
				cv := v.vals[j]
				if cv.isNull() {
					// "web:" with every field commented out overrides
					// nothing, but the name is still checked: a typo
					// must not pass because its body is empty.
					e.overrides = append(e.overrides, &override{key: ck, spec: &node{kind: nMap, file: ck.file, line: ck.line, col: ck.col}})
					continue
				}
				if cv.kind != nMap {
					errs.add(cv.pos(), kp+"."+ck.value, "want a mapping of spec fields, got %s", cv.describeMap())
					continue
				}
				e.overrides = append(e.overrides, &override{key: ck, spec: cv})
			}
		case "provider":
			if v.isNull() {
				continue
			}
			if v.kind != nMap {
				errs.add(v.pos(), kp, "want a mapping (region, assumeRole, network, tags, ...), got %s", v.describeMap())
				continue
			}
			unknownFields(errs, providerFields, v, kp) // types are checked when the merged value is decoded
			e.provider = v
		default:
			hint := suggestWord(k.value, "description", "variables", "overrides", "provider")
			if hint == "" && v.kind == nMap {
				// web: {replicas: 2} straight under spec.
				hint = fmt.Sprintf(" (to override component %s, put it under spec.overrides)", k.value)
			}
			errs.add(k.pos(), kp, "unknown field%s; an Environment spec has description, variables, overrides and provider", hint)
		}
	}
	s.envs[name] = e
}

// suggestVar returns ` (did you mean "X"?)` when name is a near miss of a
// variable the stack declares, or "".
func (s *Stack) suggestVar(name string) string {
	names := make([]string, len(s.vars))
	for i, d := range s.vars {
		names[i] = d.name
	}
	return suggestWord(name, names...)
}

// SecretVars returns those of names that a discovered stack declares
// secret: true in its stack.yaml (nil when none does). Only the
// stack.yaml files that mention "secret" and one of the names are parsed,
// so a run given a few variables does not parse every stack of a large
// repository; a stack.yaml that does not load declares nothing here (its
// own load reports it).
func (d *Discovery) SecretVars(names []string) map[string]bool {
	if d == nil || len(names) == 0 {
		return nil
	}
	var out map[string]bool
	for _, ref := range d.Refs {
		pre := d.read[cleanRoot(ref.Path)]
		if pre == nil || pre.data == nil || !bytes.Contains(pre.data, []byte("secret")) {
			continue
		}
		mentions := false
		for _, n := range names {
			if !out[n] && bytes.Contains(pre.data, []byte(n)) {
				mentions = true
				break
			}
		}
		if !mentions {
			continue
		}
		var errs errList
		s := &Stack{}
		s.readStackFile(d.fsys, ref.Path, &errs, false, pre)
		for _, n := range names {
			if v := s.varIdx[n]; v != nil && v.secret {
				if out == nil {
					out = map[string]bool{}
				}
				out[n] = true
			}
		}
	}
	return out
}
