package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

func init() { register(newCmdStack) }

// stackRepo is the repository commands read stacks from: the work tree on
// disk (no git needed, so a repository without commits works too), as git
// sees it (see worktreeView).
type stackRepo struct {
	dir        string // repository root on disk
	fsys       fs.FS  // rooted at dir
	closer     func() // releases what fsys reads from (git), or nil
	stacksRoot string // slash-separated, relative to dir ("stacks")
	// rootSource says where a configured stacks.root came from ("" when
	// it is the default).
	rootSource string
	// ignores are the work tree's ignore rules (nil outside git).
	ignores *gitops.Ignores
	// warn reports, on close, the gitignored files fsys left out.
	warn func()
	// unchecked is HEAD's commit when the repository has one but no
	// staging index: nothing is checked out (git clone --no-checkout).
	unchecked string
	// gitDir is the repository's git folder ("" outside git), plain
	// whether fsys reads the disk as it is (no index entry overlaid),
	// and opened when the view was opened: what the record of the
	// stack names (saveStackNames) needs.
	gitDir string
	plain  bool
	opened time.Time
}

// notCheckedOut is an error when no stack was found and the work tree was
// never checked out (git clone --no-checkout: HEAD's commit, no index):
// validate would pass with no stack checked, as in a bare repository.
func (r *stackRepo) notCheckedOut() error {
	if r.unchecked == "" {
		return nil
	}
	return fmt.Errorf("%s is not checked out: the repository has commits (HEAD is %s) but no staging index, as a clone made with --no-checkout leaves it, so its work tree holds no stack: run git checkout (or git sparse-checkout set FOLDER... in a sparse clone) first", r.dir, r.unchecked[:12])
}

// insideStacksRoot is an error when no stack was found because, outside
// git, panka was started inside another folder's stacks root (cd
// stacks/shop in an unpacked example): validate passed with no stack
// checked and stack list listed none. In git the repository's root is
// found above, as git finds it.
func (r *stackRepo) insideStacksRoot() error {
	if r.ignores != nil {
		return nil
	}
	root := filepath.FromSlash(r.stacksRoot)
	for d := filepath.Dir(r.dir); ; d = filepath.Dir(d) {
		sr := filepath.Join(d, root)
		rel, err := filepath.Rel(sr, r.dir)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			if st, err := os.Stat(sr); err == nil && st.IsDir() {
				return fmt.Errorf("no stacks under %s/ in %s, which is inside %s, the stacks folder of %s: run panka there (cd %s, or panka -C %s); outside a git repository panka reads the stacks of the folder it is started in",
					r.stacksRoot, r.dir, sr, d, d, d)
			}
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// whyNoStacks is the error of a repository where discovery found no
// stack, when there is a reason to give: a clone not checked out, panka
// started inside another folder's stacks root, or a panka.yaml below the
// root that is not read. nil when none applies (a repository with no
// stacks yet). Every command that looks for stacks, or for one by name,
// says the same.
func (r *stackRepo) whyNoStacks(f *Factory) error {
	if err := r.notCheckedOut(); err != nil {
		return err
	}
	if err := r.insideStacksRoot(); err != nil {
		return err
	}
	return configBelowRoot(f, r.dir, r.stacksRoot)
}

// configBelowRoot is an error when no stack was found and a panka.yaml
// lies between the working directory and the repository root (cd infra in
// a monorepo that keeps infra/panka.yaml next to infra/stacks, a CI step's
// working-directory): panka reads panka.yaml at the root only, so that
// file and its stacks.root went unread without a word, validate passed
// with no stack checked and changed said to set stacks.root. dir is the
// repository root, root the stacks root used there.
func configBelowRoot(f *Factory, dir, root string) error {
	wd, err := f.WorkDir()
	if err != nil {
		return nil
	}
	if rel, err := filepath.Rel(dir, wd); err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	for d := wd; d != dir && filepath.Dir(d) != d; d = filepath.Dir(d) {
		file := filepath.Join(d, repoConfigFile)
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		own, _ := stacksRootOf(b) // a broken file: the default root is still the best guess
		if own == "" {
			own = "stacks"
		}
		relDir, _ := filepath.Rel(dir, d)
		relFile := filepath.ToSlash(filepath.Join(relDir, repoConfigFile))
		want := path.Join(filepath.ToSlash(relDir), filepath.ToSlash(own))
		// git mv takes paths relative to the folder it runs in, this one.
		from, _ := filepath.Rel(wd, file)
		to, _ := filepath.Rel(wd, filepath.Join(dir, repoConfigFile))
		return fmt.Errorf("%s is not read: panka reads panka.yaml only at the root of the repository, %s, and found no stacks under %s/ there; "+
			"move it to the root and make stacks.root relative to it (git mv %s %s, then set stacks.root: %s), or set PANKA_STACKS_ROOT=%s",
			relFile, dir, root, filepath.ToSlash(from), filepath.ToSlash(to), want, want)
	}
	return nil
}

// configuredRootMissing is an error when stacks.root was set (not the
// default) and names no folder: a mistyped root would otherwise pass
// validation with no stack checked.
func (r *stackRepo) configuredRootMissing() error {
	if r.rootSource == "" {
		return nil
	}
	return rootNotFolder(r.fsys, r.stacksRoot, r.stacksRoot, r.rootSource, r.dir)
}

// rootNotFolder is the error of a stacks.root (set as given, from where)
// that names no folder (root, in fsys) in the repository at dir; nil
// when it does.
func rootNotFolder(fsys fs.FS, root, given, where, dir string) error {
	if st, err := fs.Stat(fsys, root); err == nil && st.IsDir() {
		return nil
	}
	return fmt.Errorf("stacks.root %q (from %s) is not a folder in %s: set it to the folder holding your stacks", given, where, dir)
}

// bareRepoError is an error when dir, where panka reads the stacks from
// the work tree, is a bare repository (no .git, HEAD, objects and refs at
// its top) without a folder named like the stacks root: read as a folder
// outside git it has no stacks, so validate passed with none checked (a
// pre-receive hook on a git server let every push through) and plan said
// to create the stack.
func bareRepoError(dir, stacksRoot string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil || !gitops.IsBareRepo(dir) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(stacksRoot))); err == nil {
		return nil
	}
	return fmt.Errorf("%s is a bare repository, without a work tree to read stacks from: run panka in a clone of it (git clone %s DIR), or in a worktree (git --git-dir=%s worktree add DIR)", dir, dir, dir)
}

// openStackRepo opens the repository of the working directory.
func openStackRepo(f *Factory) (*stackRepo, error) {
	dir, err := f.RepoRoot()
	if err != nil {
		return nil, err
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	root := filepath.ToSlash(cfg.Stacks.Root)
	if root == "" {
		root = "stacks"
	}
	src := ""
	if s, ok := cfg.Sources["stacks.root"]; ok && s.Layer != "default" {
		src = s.Where
		if src == "" {
			src = s.Layer
		}
	}
	if strings.HasPrefix(root, "/") || root == ".." || strings.HasPrefix(root, "../") {
		return nil, fmt.Errorf("stacks.root %q (from %s) must be a folder inside the repository %s: set it relative to the repository root, e.g. stacks", cfg.Stacks.Root, src, dir)
	}
	if err := bareRepoError(dir, root); err != nil {
		return nil, err
	}
	opened := time.Now()
	if f.diskNow != nil {
		opened = f.diskNow()
	}
	v := worktreeView(f, dir)
	return &stackRepo{dir: dir, fsys: v.fsys, closer: v.closer, stacksRoot: path.Clean(root), rootSource: src,
		ignores: v.ignores, warn: func() { warnIgnored(f, v.ignores) }, unchecked: v.unchecked,
		gitDir: v.gitDir, plain: v.plain, opened: opened}, nil
}

// close releases the repository the stacks are read from, after saying
// which gitignored files were left out.
func (r *stackRepo) close() {
	if r.warn != nil {
		r.warn()
		r.warn = nil
	}
	if r.closer != nil {
		r.closer()
		r.closer = nil
	}
}

// worktreeView is the work tree at dir as git sees it, as `panka changed
// --uncommitted` reads it: in a sparse checkout the files outside the cone
// (skip-worktree), and those marked assume-unchanged, read as their staged
// version, not as missing; a stack outside the cone is so still listed,
// validated and planned as committed. Untracked files git ignores
// (.gitignore, info/exclude, core.excludesFile) are left out, as no commit,
// CI run or other clone has them; ignores (nil outside git) lists those
// the command came across. Outside git it is the disk itself (closer nil),
// and so it is in a repository panka cannot open (a SHA-256 one, an
// unknown extension), with a warning: gitignored files are then read.
// unchecked is HEAD's commit when there is one but no staging index (see
// stackRepo.notCheckedOut). gitDir is the repository's git folder, and
// plain tells that the view is the disk itself, no index entry overlaid.
func worktreeView(f *Factory, dir string) (v worktree) {
	repo, err := gitops.Open(dir, f.GitOptions())
	if err != nil {
		if !errors.Is(err, gitops.ErrNotRepository) {
			f.Log.Warn().Msgf("%v; reading the files on disk as they are instead, as outside git: gitignored files are read too, and a sparse checkout's files outside the cone are missing", err)
		}
		return worktree{fsys: stacks.DirFS(dir)}
	}
	if !repo.HasIndex() {
		if h, err := repo.Head(); err == nil {
			v.unchecked = h.String()
		}
	}
	v.ignores = repo.Ignores()
	disk := stacks.DirFSHiding(dir, v.ignores)
	wt, err := repo.WorktreeFS(disk)
	if err != nil {
		f.Log.Debug().Err(err).Msg("reading the staging index for skip-worktree files: reading the disk as it is")
		wt = disk
	} else {
		v.plain = plainDisk(wt, disk)
	}
	v.fsys, v.closer, v.gitDir = wt, func() { repo.Close() }, repo.GitDir()
	return v
}

// worktree is what worktreeView opened.
type worktree struct {
	fsys      fs.FS
	ignores   *gitops.Ignores
	closer    func()
	unchecked string
	gitDir    string
	plain     bool
}

// warnIgnored says on stderr which gitignored YAML files and folders, and
// which untracked nested git repositories, a command left out of the
// stacks (see worktreeView): a user who keeps a local override there would
// otherwise wonder why it has no effect. It also names the submodules it
// read stacks from, which no commit of this repository holds.
func warnIgnored(f *Factory, views ...*gitops.Ignores) {
	var hidden, nestedAll, subsAll []string
	for _, ig := range views {
		if ig != nil {
			hidden = append(hidden, ig.Hidden()...)
			nestedAll = append(nestedAll, ig.Nested()...)
			subsAll = append(subsAll, ig.Submodules()...)
		}
	}
	if len(hidden)+len(nestedAll)+len(subsAll) == 0 {
		return
	}
	// Several views (plan's own and the one its stacks were found in)
	// make one warning.
	for _, l := range []*[]string{&hidden, &nestedAll, &subsAll} {
		sort.Strings(*l)
		*l = slices.Compact(*l)
	}
	var left []string
	f.ignoredMu.Lock()
	for _, p := range hidden {
		name := path.Base(strings.TrimSuffix(p, "/"))
		if f.ignoredSaid[p] || !(strings.HasSuffix(p, "/") && !stacks.SkipDir(name) || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		if f.ignoredSaid == nil {
			f.ignoredSaid = map[string]bool{}
		}
		f.ignoredSaid[p] = true
		left = append(left, p)
	}
	var nested []string
	for _, p := range nestedAll {
		if f.ignoredSaid[p] {
			continue
		}
		if f.ignoredSaid == nil {
			f.ignoredSaid = map[string]bool{}
		}
		f.ignoredSaid[p] = true
		nested = append(nested, p)
	}
	var subs []string
	for _, p := range subsAll {
		if f.ignoredSaid[p] {
			continue
		}
		if f.ignoredSaid == nil {
			f.ignoredSaid = map[string]bool{}
		}
		f.ignoredSaid[p] = true
		subs = append(subs, p)
	}
	f.ignoredMu.Unlock()
	if len(subs) > 0 {
		what := "1 git submodule"
		if len(subs) > 1 {
			what = fmt.Sprintf("%d git submodules", len(subs))
		}
		f.Log.Warn().Msgf("reading %s in the stacks as checked out: %s (this repository's commits record only a commit of another repository there, none of its files: changed, plan --ref, rollback and status never see a stack inside it, and apply records this repository's commit, which does not hold what it deployed; keep stack files in this repository itself)", what, strings.Join(subs, ", "))
	}
	if len(nested) > 0 {
		what := "1 nested git repository"
		if len(nested) > 1 {
			what = fmt.Sprintf("%d nested git repositories", len(nested))
		}
		f.Log.Warn().Msgf("ignoring %s in the stacks: %s (a git repository of its own inside this one: git status shows it as one untracked folder and git add does not add its files, so no commit or CI run has them; move it out of the repository, or remove its .git and commit its files here)", what, strings.Join(nested, ", "))
	}
	if len(left) == 0 {
		return
	}
	what := "file"
	if len(left) > 1 {
		what = "files"
	}
	f.Log.Warn().Msgf("ignoring %d gitignored %s in the stacks: %s (untracked and matched by .gitignore, info/exclude or core.excludesFile, so no commit or CI run has them; `git add -f` what belongs to the stack)", len(left), what, strings.Join(left, ", "))
}

// findStack returns the discovered stack called name. A name that several
// stacks use is an error: picking one of the folders would show, plan or
// deploy a stack the user may not mean.
func findStack(d *stacks.Discovery, name, root string) (stacks.Ref, error) {
	if dirs := d.Duplicates[name]; len(dirs) > 0 {
		return stacks.Ref{}, fmt.Errorf("stack name %q is used by %s: stack names must be unique; rename one (metadata.name in its %s)", name, strings.Join(dirs, " and "), stacks.StackFile)
	}
	r, err := findRef(d.Refs, name, root)
	if err != nil {
		if nerr := d.NestedStack(name); nerr != nil {
			return stacks.Ref{}, &nestedStackError{name: name, err: nerr}
		}
		return stacks.Ref{}, withMisnamed(withUnnamed(err, d, name), d)
	}
	return r, err
}

// withMisnamed adds to a "not found" the stack files named stack.yml
// (Discovery.Misnamed): such a folder is no stack, and "there are no
// stacks, create one" sent the user to make the stack they had.
func withMisnamed(err error, d *stacks.Discovery) error {
	if hint := misnamedHint(d); hint != "" {
		return fmt.Errorf("%w; %s", err, hint)
	}
	return err
}

// misnamedHint says which stack files are named otherwise than
// stack.yaml (stack.yml, Stack.yaml); "" when none.
func misnamedHint(d *stacks.Discovery) string {
	if d == nil || len(d.Misnamed) == 0 {
		return ""
	}
	f := d.Misnamed[0]
	more := ""
	if len(d.Misnamed) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(d.Misnamed)-1)
	}
	return fmt.Sprintf("%s%s is named %s, which panka does not read: a stack file is named %s (git mv %s %s)", f, more, path.Base(f), stacks.StackFile, f, path.Join(path.Dir(f), stacks.StackFile))
}

// withUnnamed adds to findRef's "not found" the stack folder whose
// stack.yaml gives no name that name most likely meant (the folder of that
// name, else the only one): not "there are no stacks", but one that does
// not load, and why.
func withUnnamed(err error, d *stacks.Discovery, name string) error {
	var u *stacks.Unnamed
	for i := range d.Unnamed {
		if path.Base(d.Unnamed[i].Path) == name {
			u = &d.Unnamed[i]
			break
		}
	}
	if u == nil && len(d.Unnamed) == 1 {
		u = &d.Unnamed[0]
	}
	if u == nil {
		return err
	}
	why := "it gives no valid metadata.name"
	if len(u.Errors) > 0 {
		why = u.Errors[0].Error()
	}
	return fmt.Errorf("stack %q not found: %s does not load, so no name selects it: %s (fix it; panka validate lists every problem)", name, path.Join(u.Path, stacks.StackFile), why)
}

// nestedStackError is "not found" for a stack whose stack.yaml is inside
// another stack's folder: its files are there, read as the outer stack's.
type nestedStackError struct {
	name string
	err  error
}

func (e *nestedStackError) Error() string {
	return fmt.Sprintf("stack %q is not a stack of its own: %v", e.name, e.err)
}

func (e *nestedStackError) Unwrap() error { return e.err }

// findRef returns the stack called name among refs (the first folder of a
// duplicate name: only for validate, which reports the duplicate itself).
func findRef(refs []stacks.Ref, name, root string) (stacks.Ref, error) {
	if i := slices.IndexFunc(refs, func(r stacks.Ref) bool { return r.Name == name }); i >= 0 {
		return refs[i], nil
	}
	if stack, env := stackWordOf(refs, name); stack != "" {
		if env != "" {
			return stacks.Ref{}, fmt.Errorf("stack %q not found: %s is a stack and its environment, as panka changed -o names prints them: write --stack %s --environment %s", name, name, stack, env)
		}
		return stacks.Ref{}, fmt.Errorf("stack %q not found: %s is the folder of stack %s, and --stack takes a stack's name (metadata.name): write --stack %s", name, name, stack, stack)
	}
	// Not there: the names are only listed then (plan --all-changed looks
	// up thousands of stacks among thousands).
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	if len(names) == 0 {
		return stacks.Ref{}, fmt.Errorf("stack %q not found: there are no stacks under %s/ (create one with `panka stack init %s`)", name, root, name)
	}
	listed := "stacks: " + strings.Join(names, ", ")
	if len(names) > maxListedStacks {
		listed = fmt.Sprintf("%d stacks, panka stack list names them", len(names))
	}
	return stacks.Ref{}, fmt.Errorf("stack %q not found under %s/ (%s%s)", name, root, listed, withSemi(didYouMean(name, names)))
}

// stackWordOf reads a word that is no stack name but names one another
// way: "STACK/ENV" (as panka changed -o names prints it; env is then the
// text after the slash) or the folder of a stack (stacks/orders, or
// relative to the stacks root). stack is "" when it is neither.
func stackWordOf(refs []stacks.Ref, word string) (stack, env string) {
	if slices.ContainsFunc(refs, func(r stacks.Ref) bool { return r.Name == word }) {
		return "", "" // a stack's name, whatever folder has it
	}
	// Only a word with a slash is read as a folder: a plain word is a
	// name (the old name of a renamed stack, whose folder kept it, is
	// "not found", with the names there are).
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(word), "./"))
	for _, r := range refs {
		if strings.Contains(clean, "/") && (r.Path == clean || strings.HasSuffix(r.Path, "/"+clean)) {
			return r.Name, ""
		}
	}
	if s, e, ok := strings.Cut(word, "/"); ok && e != "" && !strings.Contains(e, "/") && slices.ContainsFunc(refs, func(r stacks.Ref) bool { return r.Name == s }) {
		return s, e
	}
	return "", ""
}

// invalidStacksMessage is stack list's final error: how many of the
// stacks listed are invalid, and which (by name, by folder when their
// stack.yaml gives none): among thousands of rows the table alone hides
// them.
func invalidStacksMessage(items []stackListItem) string {
	var bad []string
	run := "panka validate"
	for _, it := range items {
		switch {
		case it.NotLoading:
			bad = append(bad, it.Path)
		case it.Error != "":
			bad = append(bad, it.Name)
			run = "panka validate --stack " + it.Name // when it is the one
		}
	}
	switch len(bad) {
	case 0:
		// A problem of no one row (a name two stacks use), said above.
		return "some stacks are invalid: run `panka validate` for details"
	case 1:
		return fmt.Sprintf("1 of %d stacks is invalid (%s): run `%s` for details", len(items), bad[0], run)
	}
	return fmt.Sprintf("%d of %d stacks are invalid (%s): run `panka validate` for details", len(bad), len(items), listSome(bad, maxListedStacks))
}

// maxListedStacks bounds the stack names an error lists: a monorepo has
// thousands, and a mistyped --stack printed every one of them.
const maxListedStacks = 20

// didYouMean is stacks.DidYouMean.
var didYouMean = stacks.DidYouMean

// withSemi returns "; "+s, or "" for an empty s.
func withSemi(s string) string {
	if s == "" {
		return ""
	}
	return "; " + s
}

// varFlags are --var and --var-file.
type varFlags struct {
	Vars []string
	// VarFiles are read in order: a later file's value wins.
	VarFiles []string
}

func (v *varFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&v.Vars, "var", nil, "set a variable: --var NAME=VALUE (repeatable; highest priority)")
	cmd.Flags().StringArrayVar(&v.VarFiles, "var-file", nil, "read variables from a file (NAME: value YAML or NAME=value lines); - reads stdin; repeatable, a later file wins")
}

// values collects variable values from flags, the var files and PANKA_VAR_*.
func (v *varFlags) values(ctx context.Context, f *Factory) (stacks.VarValues, error) {
	out := stacks.VarValues{Flags: map[string]string{}, File: map[string]string{}, Env: map[string]string{}}
	for i, kv := range v.Vars {
		// The argument is not quoted back: a --var without "=" is often
		// a secret given alone (--var "$TOKEN").
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return out, Usagef("--var number %d has no \"=\" (not shown: it may hold a secret): write NAME=VALUE", i+1)
		}
		if k == "" {
			return out, Usagef("--var number %d has no name before \"=\": write NAME=VALUE", i+1)
		}
		if p := valueTextProblem(val); p != "" {
			return out, Usagef("--var %s: %s", k, p)
		}
		out.Flags[k] = val
	}
	stdin := 0
	for _, file := range v.VarFiles {
		if strings.TrimSpace(file) == "" {
			// --var-file "$VARS" with the variable unset read the
			// folder panka runs in: "read DIR: is a directory".
			return out, Usagef("--var-file is empty (an unset or empty CI variable?): name the file, - for standard input, or leave --var-file out")
		}
		if file == "-" {
			// The second read would find stdin empty and give nothing.
			if stdin++; stdin > 1 {
				return out, Usagef("--var-file - is given more than once: standard input can be read only once")
			}
		}
		m, err := readVarFileCtx(ctx, f, file)
		if err != nil {
			return out, err
		}
		for k, val := range m {
			out.File[k] = val
		}
	}
	var empty []string
	for _, kv := range f.Environ() {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PANKA_VAR_") && len(k) > len("PANKA_VAR_") {
			name := k[len("PANKA_VAR_"):]
			if val == "" {
				// As for the PANKA_* settings, an empty variable is as if
				// unset: a CI secret that does not exist expands to
				// nothing (PANKA_VAR_DB_PASS: ${{ secrets.DB_PASS }}), and
				// must not pass a required secret as "" and deploy it.
				if _, flag := out.Flags[name]; !flag {
					if _, file := out.File[name]; !file {
						empty = append(empty, k)
					}
				}
				continue
			}
			if p := valueTextProblem(val); p != "" {
				return out, fmt.Errorf("environment variable %s: %s", k, p)
			}
			out.Env[name] = val
		}
	}
	if len(empty) > 0 {
		sort.Strings(empty)
		f.Warnf("%s %s set but empty, which counts as unset (a CI secret that does not exist expands to nothing); give --var NAME= for an empty value",
			strings.Join(empty, ", "), map[bool]string{true: "is", false: "are"}[len(empty) == 1])
	}
	return out, nil
}

// readVarFileCtx is readVarFile given up when ctx ends (a stop signal):
// opening a FIFO no one writes to, or reading a pipe that stays open, does
// not see the signal, and panka waited for a second one.
func readVarFileCtx(ctx context.Context, f *Factory, file string) (map[string]string, error) {
	type read struct {
		m   map[string]string
		err error
	}
	done := make(chan read, 1)
	go func() {
		m, err := readVarFile(f, file)
		done <- read{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-Context(ctx).Done():
		select {
		case r := <-done:
			return r.m, r.err // read meanwhile: Run says it was interrupted
		default:
		}
		return nil, fmt.Errorf("interrupted: --var-file %s was still being read (a pipe or FIFO that nothing wrote to or closed); nothing was checked", file)
	}
}

// readVarFile reads one --var-file (- is stdin).
func readVarFile(f *Factory, file string) (map[string]string, error) {
	var r io.Reader
	name := file
	if file == "-" {
		r = f.IO.In
		name = "stdin"
	} else {
		p := file
		if !filepath.IsAbs(p) {
			wd, _ := f.WorkDir()
			p = filepath.Join(wd, p)
		}
		fh, err := os.Open(p)
		if err != nil {
			if name, value, ok := strings.Cut(file, "="); ok {
				// --var-file NAME=VALUE meant --var: the value may be a
				// secret (and the name too, for a base64 one ending
				// in "="), and the error repeated it with the path.
				shown := strconv.Quote(name+"=...") + " (its value not shown)"
				if maybeSecretName(name, value) {
					shown = "(not shown: it may be a secret value)"
				}
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // its path is the argument
				}
				return nil, fmt.Errorf("--var-file %s: %w: to set a variable write --var NAME=VALUE (--var-file reads a file of NAME=value lines)", shown, err)
			}
			return nil, fmt.Errorf("--var-file %s: %w", file, err)
		}
		defer fh.Close()
		r = fh
	}
	// Bounded: /dev/zero or a runaway pipe must not eat the memory,
	// and a longer input must not be cut silently in the middle of
	// a value.
	data, err := io.ReadAll(io.LimitReader(r, stacks.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("--var-file %s: %w", file, err)
	}
	if len(data) > stacks.MaxFileSize {
		return nil, fmt.Errorf("--var-file %s: more than %d MB: a variables file holds NAME=value lines; pass large values some other way", name, stacks.MaxFileSize>>20)
	}
	m, err := parseVarFile(data)
	if err != nil {
		return nil, fmt.Errorf("--var-file %s: %w", name, err)
	}
	return m, nil
}

// parseVarFile reads NAME: value YAML, or NAME=value lines (# comments).
func parseVarFile(data []byte) (map[string]string, error) {
	out := map[string]string{}
	// A UTF-8 byte order mark (Windows editors, PowerShell) is not part
	// of the first name.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return out, nil
	}
	if isDotenv(trimmed) {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64*1024), stacks.MaxFileSize)
		line := 0
		for sc.Scan() {
			line++
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			s = strings.TrimPrefix(s, "export ")
			k, val, ok := strings.Cut(s, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: want NAME=value", line)
			}
			name := strings.TrimSpace(k)
			val, err := dotenvValue(val)
			if err != nil {
				// The value is not shown: it may be a secret.
				return nil, fmt.Errorf("line %d: %s: %s", line, name, err)
			}
			if p := valueTextProblem(val); p != "" {
				return nil, fmt.Errorf("line %d: %s: %s", line, name, p)
			}
			out[name] = val
		}
		return out, sc.Err()
	}
	// Every document: yaml.Unmarshal reads the first only, and the
	// variables of a second (two files joined with ---) were silently
	// left out.
	var n *yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d yaml.Node
		err := dec.Decode(&d)
		if err == io.EOF {
			break
		}
		if err != nil {
			// As stack files and panka.yaml report it: the line (yaml.v3's is
			// often one early) and what is wrong, without "yaml: line N:".
			line, col, msg := stacks.YAMLErrorPos(err, data)
			where := ""
			if line > 0 {
				where = fmt.Sprintf("line %d: ", line)
				if col > 0 {
					where = fmt.Sprintf("line %d:%d: ", line, col)
				}
			}
			return nil, fmt.Errorf("%snot valid YAML: %s (want NAME: value YAML or NAME=value lines)", where, varFileYAMLProblem(msg))
		}
		if len(d.Content) == 1 && d.Content[0].Kind == yaml.ScalarNode && d.Content[0].Tag == "!!null" && d.Content[0].Value == "" {
			continue // an empty document: a stray ---, or comments only
		}
		if n != nil {
			line := d.Line
			if len(d.Content) > 0 {
				line = d.Content[0].Line
			}
			return nil, fmt.Errorf("line %d: a second YAML document (after ---): a variables file is one mapping of NAME: value; remove the --- or pass each part with its own --var-file", line)
		}
		n = &d
	}
	if n == nil {
		return out, nil // comments only
	}
	if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
		// Say where and what, never the text: a NAME=value line with a
		// typo (NAME value) is read as YAML text, and it may hold a secret.
		what, line := "no mapping", 0
		if len(n.Content) > 0 {
			line = n.Content[0].Line
			switch n.Content[0].Kind {
			case yaml.SequenceNode:
				what = "a list"
			case yaml.ScalarNode:
				what = "a line that is neither NAME=value nor NAME: value"
			}
		}
		where := ""
		if line > 0 {
			where = fmt.Sprintf("line %d: ", line)
		}
		return nil, fmt.Errorf("%swant a mapping of NAME: value (YAML) or NAME=value lines, got %s", where, what)
	}
	m := n.Content[0]
	lines := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, val := m.Content[i], m.Content[i+1]
		if val.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: %s: want a string, number or boolean", val.Line, k.Value)
		}
		if val.Tag == "!!null" {
			if val.Anchor != "" {
				// A password starting with "&" is an anchor to YAML,
				// with no value after it.
				return nil, fmt.Errorf("line %d: %s: the value starts with \"&\", which YAML reads as an anchor, and nothing follows it (not shown: the value may be a secret): put the value in quotes", val.Line, k.Value)
			}
			// "A:", "A: ~" or "A: null" would be the text "", "~" or
			// "null"; an environment file refuses them too.
			return nil, fmt.Errorf("line %d: %s: want a string, number or boolean, got null (write \"\" for an empty value, or remove the line)", val.Line, k.Value)
		}
		switch tag := val.ShortTag(); tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		case "!!binary", "!!map", "!!seq", "!!set", "!!omap", "!!pairs", "!!merge":
			// !!binary x would be its base64 decoded.
			return nil, fmt.Errorf("line %d: %s: YAML tag %s is not supported: remove the tag", val.Line, k.Value, tag)
		default:
			// A: !Ref x would be the text "x". A value that starts
			// with "!" (a password) is read as a tag: not named.
			return nil, fmt.Errorf("line %d: %s: the value starts with \"!\", which YAML reads as a tag (not shown: the value may be a secret): put the value in quotes, or remove the tag", val.Line, k.Value)
		}
		if first, dup := lines[k.Value]; dup {
			// yaml.v3 keeps both; the last would silently win.
			return nil, fmt.Errorf("line %d: %s: duplicate key (first set at line %d): remove one of them", k.Line, k.Value, first)
		}
		lines[k.Value] = k.Line
		out[k.Value] = val.Value
	}
	return out, nil
}

// valueTextProblem says what keeps a variable's value from being text, ""
// when nothing does. A value that is not UTF-8 (a secrets file saved as
// Latin-1, "Passw\xf6rd") reached the deployment with U+FFFD in place of
// the bytes the engine's JSON could not carry, while its hash in state
// was of the bytes given: a changed password, silently. The value is
// not shown: it may be a secret.
func valueTextProblem(val string) string {
	switch {
	case !utf8.ValidString(val):
		return "the value is not valid UTF-8 text (not shown: it may be a secret): save the file as UTF-8, or give binary data base64-encoded"
	case strings.IndexByte(val, 0) >= 0:
		return "the value holds a NUL byte (not shown: it may be a secret): give binary data base64-encoded"
	}
	return ""
}

// varFileYAMLProblem is a YAML syntax problem of a variables file
// without the text of a value: the explanations stacks.YAMLErrorPos adds
// for stack files quote the line (a value holding ": ") or an alias name
// (a value starting with "*"), and a variables file holds secrets.
func varFileYAMLProblem(msg string) string {
	if strings.HasPrefix(msg, "unknown anchor '") {
		return "a value starting with \"*\" is read as a YAML alias (not shown: the value may be a secret): put the value in quotes"
	}
	if i := strings.Index(msg, "; put the value in quotes ("); i >= 0 {
		return msg[:i] + "; put the value in quotes (not shown: it may be a secret)"
	}
	return msg
}

// dotenvValue is the value of a NAME=value line, given what follows the
// "=": trimmed, the text between its quotes when quoted, and without a
// comment after it (" # ..."), as the shell and docker compose read it.
// NAME="s3cret" # rotated monthly was the value "s3cret" # rotated
// monthly, quotes and comment included, silently.
func dotenvValue(raw string) (string, error) {
	v := strings.TrimSpace(raw)
	if v != "" && v[0] == '#' && raw[0] != '#' {
		return "", nil // NAME= # a comment: empty
	}
	if v == "" || v[0] != '"' && v[0] != '\'' {
		for i := 1; i < len(v); i++ {
			if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
				return strings.TrimSpace(v[:i]), nil
			}
		}
		return v, nil
	}
	q := v[0]
	end := -1
	for i := 1; i < len(v); i++ {
		if v[i] == '\\' && q == '"' {
			i++ // an escaped character: kept as written
			continue
		}
		if v[i] == q {
			end = i
			break
		}
	}
	if end < 0 {
		return "", fmt.Errorf("the value's opening %c quote is not closed on its line", q)
	}
	if rest := strings.TrimSpace(v[end+1:]); rest != "" && rest[0] != '#' {
		return "", fmt.Errorf("text after the value's closing %c quote: put the whole value in the quotes, or start a comment with #", q)
	}
	return v[1:end], nil
}

// isDotenv reports whether the first meaningful line looks like NAME=value.
func isDotenv(data []byte) bool {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		l = strings.TrimPrefix(l, "export ")
		eq := strings.IndexByte(l, '=')
		colon := strings.IndexByte(l, ':')
		return eq > 0 && (colon < 0 || eq < colon)
	}
	return false
}

func newCmdStack(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "stack", Short: "Create and list stacks"}
	cmd.AddCommand(newCmdStackInit(f, nil), newCmdStackList(f, nil))
	return cmd
}

// StackInitJSON is stack init's -o json result: the stack, its folder and
// the files created, repo-relative.
type StackInitJSON struct {
	Stack string   `json:"stack"`
	Path  string   `json:"path"`
	Files []string `json:"files"`
}

// StackInitOptions are the inputs of `panka stack init`.
type StackInitOptions struct {
	F    *Factory
	Name string
	// Dir is the folder to create; default <stacks root>/<name>.
	Dir string
}

func newCmdStackInit(f *Factory, runF func(*StackInitOptions) error) *cobra.Command {
	opts := &StackInitOptions{F: f}
	cmd := &cobra.Command{
		Use:        "init NAME",
		SuggestFor: []string{"new", "create", "add"},
		Short:      "Scaffold a new stack (stack.yaml, infra/, services/, environments/dev.yaml)",
		Args:       cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			if msg := stacks.CheckName(opts.Name); msg != "" {
				return Usagef("%s", msg)
			}
			if runF != nil {
				return runF(opts)
			}
			return stackInitRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "folder to create (default: <stacks root>/NAME)")
	return cmd
}

func stackInitRun(opts *StackInitOptions) error {
	f := opts.F
	repo, err := openStackRepo(f)
	if err != nil {
		return err
	}
	defer repo.close()
	if err := stacks.LinkedRoot(repo.fsys, repo.stacksRoot); err != nil {
		// No command would find the new stack (validate says this).
		return fmt.Errorf("%w; nothing created", err)
	}
	refs, err := stacks.Discover(repo.fsys, repo.stacksRoot)
	var es *stacks.Errors
	if err != nil && !errors.As(err, &es) {
		return err
	}
	for _, r := range refs {
		if r.Name == opts.Name {
			return fmt.Errorf("a stack named %q already exists in %s: choose another name", opts.Name, r.Path)
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir = filepath.Join(repo.dir, filepath.FromSlash(repo.stacksRoot), opts.Name)
	} else if !filepath.IsAbs(dir) {
		wd, _ := f.WorkDir()
		dir = filepath.Join(wd, dir)
	}
	// Stacks are found under the stacks root only, and do not nest: a
	// scaffold anywhere else would be a stack no command ever reads.
	root := filepath.Join(repo.dir, filepath.FromSlash(repo.stacksRoot))
	if rel, err := filepath.Rel(root, dir); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return Usagef("--dir %s is outside the stacks root %s/: panka finds stacks there only (use --dir %s/<folder>, or set stacks.root)", opts.Dir, repo.stacksRoot, repo.stacksRoot)
	}
	for _, r := range refs {
		p := filepath.Join(repo.dir, filepath.FromSlash(r.Path))
		if rel, err := filepath.Rel(p, dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return fmt.Errorf("%s is inside stack %s (%s): stacks cannot be nested; choose a folder outside it", dir, r.Name, r.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, stacks.StackFile)); err == nil {
		return fmt.Errorf("%s already exists: not overwriting it", filepath.Join(dir, stacks.StackFile))
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s exists and is not empty: not overwriting it (pass --dir to use another folder)", dir)
	}
	files := map[string]string{
		stacks.StackFile:                     scaffoldStack(opts.Name),
		"infra/README.md":                    "Shared components of the stack (Database, Cache, Queue, Bucket, Topic), one or more per YAML file.\n",
		"services/README.md":                 "One folder per service: services/<name>/service.yaml holds a kind: Service document and its components (MicroService, Worker, CronJob).\n",
		stacks.EnvironmentsDir + "/dev.yaml": scaffoldEnv,
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		_, werr := fh.WriteString(files[n])
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", p, werr)
		}
	}
	rel, err := filepath.Rel(repo.dir, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = dir
	}
	if f.JSON() {
		created := make([]string, 0, len(names))
		for _, n := range names {
			created = append(created, filepath.ToSlash(filepath.Join(rel, filepath.FromSlash(n))))
		}
		if err := f.PrintJSON(StackInitJSON{Stack: opts.Name, Path: filepath.ToSlash(rel), Files: created}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(f.IO.Out, "created stack %s in %s\n", opts.Name, filepath.ToSlash(rel))
	}
	if !filepath.IsAbs(rel) && ignoredByGit(f, repo.dir, path.Join(filepath.ToSlash(rel), stacks.StackFile)) {
		// Every command that reads stacks leaves a gitignored one out.
		f.Log.Warn().Msgf("%s is gitignored: no commit will hold this stack, and panka validate, plan and show leave it out; change the ignore rule (`git check-ignore -v %s/%s` names it) or `git add -f %s`",
			filepath.ToSlash(rel), filepath.ToSlash(rel), stacks.StackFile, filepath.ToSlash(rel))
		return nil
	}
	fmt.Fprintf(f.Notices(), "next: add components under %s/infra and %s/services, then run `panka validate --stack %s`\n", filepath.ToSlash(rel), filepath.ToSlash(rel), opts.Name)
	return nil
}

// ignoredByGit reports whether the file name (slash-separated, relative to
// the repository at dir) is untracked and ignored by git; false outside
// git.
func ignoredByGit(f *Factory, dir, name string) bool {
	repo, err := gitops.Open(dir, f.GitOptions())
	if err != nil {
		return false
	}
	defer repo.Close()
	return repo.Ignores().Ignored(name, false)
}

func scaffoldStack(name string) string {
	return `apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: ` + name + `
  description: ""
spec:
  # Where the stack deploys: aws (region, assumeRole, network) or local.
  provider:
    name: aws
    region: us-east-1
  # Variables used as ${NAME} in component specs. Values come from --var,
  # --var-file, PANKA_VAR_<NAME>, environments/<env>.yaml, then default.
  variables:
    IMAGE_TAG:
      description: Tag of the service images
      default: latest
  #   DB_PASSWORD:
  #     secret: true
  #     required: true
  # Shared files outside the stack whose changes redeploy every environment.
  # watch:
  #   - shared/policies/**
`
}

const scaffoldEnv = `apiVersion: core.panka.io/v1
kind: Environment
metadata:
  name: dev
spec:
  # Values for the variables declared in stack.yaml.
  variables:
    IMAGE_TAG: latest
  # Per-component changes for this environment (deep merge; lists replace):
  # overrides:
  #   api:
  #     replicas: 1
  #     cpu: 256
  #     memory: 512
  # Provider settings merged over stack.yaml's (e.g. another account):
  # provider:
  #   region: eu-west-1
  #   assumeRole: arn:aws:iam::123456789012:role/panka-deployer
`

// StackListOptions are the inputs of `panka stack list`.
type StackListOptions struct {
	F *Factory
}

// stackListItem is one row of `panka stack list -o json` (fields are stable).
type stackListItem struct {
	// Stack is Name under the key every other command's -o json gives
	// a stack's name (docs/json.md); name stays for existing readers.
	Stack        string   `json:"stack"`
	Name         string   `json:"name"`
	Path         string   `json:"path"`
	Environments []string `json:"environments"`
	Components   int      `json:"components"`
	Error        string   `json:"error,omitempty"`
	// NotLoading marks a stack folder whose stack.yaml does not load
	// far enough to give its name (Name is then ""): Problems says why.
	NotLoading bool      `json:"notLoading,omitempty"`
	Problems   []Problem `json:"problems,omitempty"`
}

func newCmdStackList(f *Factory, runF func(*StackListOptions) error) *cobra.Command {
	opts := &StackListOptions{F: f}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the stacks of the repository",
		Long: `List the stacks of the repository: name, folder, environments and
number of components.

A stack is listed as invalid (and the exit status is 1) when it does not
load or a component (or an environment's override of it) has an unknown
field. Checking types, references and variables resolves every
environment: that is panka validate's.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return stackListRun(opts)
		},
	}
}

func stackListRun(opts *StackListOptions) error {
	f := opts.F
	relaxGC(f)
	repo, err := openStackRepo(f)
	if err != nil {
		return err
	}
	defer repo.close()
	disc, err := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
	refs := disc.Refs
	if len(refs) == 0 {
		// A configured root that is a file fails discovery itself:
		// the setting, and where it came from, is what to fix.
		if err := repo.configuredRootMissing(); err != nil {
			return err
		}
	}
	if len(refs) == 0 && err == nil {
		if err := repo.whyNoStacks(f); err != nil {
			return err
		}
	}
	failed := false
	if err != nil {
		var es *stacks.Errors
		if !errors.As(err, &es) {
			return err
		}
		printProblems(f, problemsOf(es, "", ""))
		failed = true
	}
	disc.ReadAhead(refs) // in a partial clone, one fetch for every stack's files
	items := make([]stackListItem, 0, len(refs))
	for _, r := range refs {
		it := stackListItem{Name: r.Name, Stack: r.Name, Path: r.Path, Environments: []string{}}
		s, err := disc.Load(r)
		if err == nil {
			// A misspelt field loads (validate refuses it): without
			// this the stack was listed as fine. Types and references
			// need every environment resolved, which is validate's.
			if ferr := s.CheckFields(); ferr != nil {
				s, err = nil, ferr
			}
		}
		if err != nil {
			failed = true
			it.Error = "invalid: run `panka validate --stack " + r.Name + "`"
			if h, herr := stacks.ReadHeader(repo.fsys, r.Path); herr == nil {
				it.Environments = append(it.Environments, h.Environments...)
			}
		} else {
			it.Environments = append(it.Environments, s.Environments()...)
			it.Components = len(s.ComponentNames())
		}
		items = append(items, it)
	}
	// A folder whose stack.yaml gives no name is still a stack folder:
	// leaving it out would hide it from the user listing stacks.
	for _, u := range disc.Unnamed {
		it := stackListItem{Path: u.Path, Environments: append([]string{}, u.Environments...), NotLoading: true}
		msgs := make([]string, len(u.Errors))
		for i, e := range u.Errors {
			msgs[i] = e.Error()
			it.Problems = append(it.Problems, Problem{File: e.File, Line: e.Line, Column: e.Column, Key: e.Key, Message: e.Msg})
		}
		it.Error = "not loading: " + strings.Join(msgs, "; ")
		items = append(items, it)
	}
	if len(items) > 0 {
		// Listed without it, a stack whose file is named stack.yml
		// looked deleted: validate refuses it, stack list left it out
		// without a word.
		if hint := misnamedHint(disc); hint != "" {
			fmt.Fprintf(f.Notices(), "not listed: %s\n", hint)
		}
	}
	if f.JSON() {
		if err := f.PrintJSON(items); err != nil {
			return err
		}
	} else if len(items) == 0 {
		if hint := misnamedHint(disc); hint != "" {
			fmt.Fprintf(f.Notices(), "no stacks under %s/: %s\n", repo.stacksRoot, hint)
		} else if !failed { // else the errors said why
			fmt.Fprintf(f.Notices(), "no stacks under %s/ (create one with `panka stack init NAME`)\n", repo.stacksRoot)
		}
	} else {
		tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPATH\tENVIRONMENTS\tCOMPONENTS")
		for _, it := range items {
			name, count := it.Name, fmt.Sprint(it.Components)
			switch {
			case it.NotLoading:
				// The problems, printed above on stderr, say why.
				name, count = "-", "not loading"
			case it.Error != "":
				count = "invalid"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, it.Path, strings.Join(it.Environments, ","), count)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed {
		msg := invalidStacksMessage(items)
		if f.jsonLog == nil {
			f.Errorf("%s", msg)
		}
		return &ExitCodeError{Code: ExitError, Msg: msg}
	}
	return nil
}
