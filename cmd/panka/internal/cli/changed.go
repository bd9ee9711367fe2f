package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdChanged) }

// ChangedOptions are the inputs of changed.
type ChangedOptions struct {
	F *Factory
	// OpenStore builds the state store of a configuration, for
	// --since-deployed (nil: the flag reports that no store is available).
	OpenStore func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error)
	// OpenLocker opens the lock backend of a configuration, for
	// --since-deployed's list of deployments in progress (nil: f.Locker).
	OpenLocker func(ctx context.Context, cfg *config.Resolved) (locker.Locker, error)

	Base, Head    string
	Uncommitted   bool
	Stacks        []string
	Environments  []string
	Paths         bool
	Why           bool
	ExitCode      bool
	SinceDeployed bool
}

func newCmdChanged(f *Factory) *cobra.Command {
	opts := &ChangedOptions{F: f, OpenStore: f.planStore, OpenLocker: f.Locker}
	cmd := &cobra.Command{
		Use:   "changed",
		Short: "List the stacks and environments that changed between two commits",
		Long: `Changed lists the stacks and environments whose resolved model differs between
a base and a head commit, so a pre-push hook or a CI pipeline plans and deploys
only what changed.

The base defaults to the merge-base of HEAD with the remote default branch
(origin/HEAD, else origin/main or origin/master; without a remote, a local
main or master; else the branch git config init.defaultBranch names, or a
repository's only branch when it has no remote), or HEAD's first parent when
HEAD is on the default branch, its tip or behind it (on the repository's first
commit: nothing, so every stack is added). A given --base is replaced by its merge-base with
--head, so a branch is compared from where it forked. --base
4b825dc642cb6eb9a060e54bf8d69288fbee4904 (git's empty tree) compares with
nothing: every stack at head is added.

By default each touched stack is resolved at both commits and an environment is
listed only if its resolved model changed: comment or formatting edits change
nothing. --paths maps changed files to stacks without resolving them (every
environment of a touched stack is listed). A change to a file matched by a
stack's spec.watch marks every environment of that stack. A stack is added,
removed, moved (same metadata.name in a new folder) or modified.

Output: text (--why explains each change), json, names (one stack/env a line)
or github-matrix ({"include":[{"stack":..,"environment":..}]}).
--since-deployed also names the stack/environments being deployed right now
(a run holds their lease; on stderr, and as "deploying" in -o json). Its -o
json "base" is the commit deployed to every environment compared (their
merge-base when they differ; git's empty tree when none is deployed),
"bases" lists the deployed commits, and each stack's "deployed" map gives
each environment's own.
--exit-code exits 2 when the output lists something, 0 when it lists nothing
(-o names and github-matrix list environments only, not a stack moved alone).
Set PANKA_GIT_BINARY=false to read git with go-git only (no git binary).`,
		Example: `  panka changed
  panka changed --base origin/main -o names
  panka changed --base HEAD~1 --why
  panka changed --base HEAD --uncommitted --exit-code
  panka changed --base "$BEFORE_SHA" --head "$GITHUB_SHA" -o github-matrix`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotationOutputs: "names,github-matrix"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.SinceDeployed && opts.Base != "" {
				return Usagef("--since-deployed compares each environment with its last deployed commit; do not combine it with --base")
			}
			if opts.Uncommitted && opts.Head != "" {
				return Usagef("--uncommitted compares the work tree; do not combine it with --head")
			}
			for _, fl := range []struct {
				name string
				vals []string
			}{{"stack", opts.Stacks}, {"environment", opts.Environments}} {
				if cmd.Flags().Changed(fl.name) && len(fl.vals) == 0 {
					// --stack "$STACK" with the variable unset would
					// otherwise select every stack: --exit-code would
					// then answer for the others.
					return Usagef("--%s is empty (an unset or empty CI variable?): name one, or omit --%s for all", fl.name, fl.name)
				}
			}
			if cmd.Flags().Changed("base") && strings.TrimSpace(opts.Base) == "" {
				// --base "$BEFORE" with the variable unset or empty: the
				// default base may compare far less than the pipeline meant
				// (only the last commit of a push on the default branch).
				opts.Base = ""
				opts.F.Warnf("--base is empty (an unset or empty CI variable?): comparing from the default base instead; omit --base to mean that, or pass a ref")
			}
			emptyHead(cmd, &opts.Head, opts.F)
			if opts.Why && (f.Flags.Output == "names" || f.Flags.Output == "github-matrix") {
				// Silently ignored, --why looked like it explained
				// nothing changed for a reason.
				opts.F.Warnf("--why explains the text output; -o %s prints stack/environments only, without reasons: use -o json for them (its reasons and components), or leave out -o", f.Flags.Output)
			}
			// A CI job of panka changed has no deploy secrets: a
			// ${NAME:?message} for one is checked by the commands that
			// deploy (--since-deployed reads the state: it is checked).
			opts.F.notRequired = !opts.SinceDeployed
			return changedRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Base, "base", "", "base ref (default: merge-base of HEAD with the remote default branch)")
	fl.StringVar(&opts.Head, "head", "", "head ref (default HEAD)")
	fl.BoolVar(&opts.Uncommitted, "uncommitted", false, "also count work-tree changes (staged, unstaged and untracked files)")
	fl.StringSliceVarP(&opts.Stacks, "stack", "s", nil, "only these stacks (metadata.name; repeat or comma-separate; globs allowed; a plain name that is no stack is an error)")
	fl.StringSliceVarP(&opts.Environments, "environment", "e", nil, "only these environments (repeat or comma-separate; globs allowed)")
	fl.BoolVar(&opts.Paths, "paths", false, "map changed files to stacks without resolving them")
	fl.BoolVar(&opts.Why, "why", false, "explain each change (text output; -o json always holds the reasons)")
	fl.BoolVar(&opts.ExitCode, "exit-code", false, "exit 2 when something changed, 0 when nothing did")
	fl.BoolVar(&opts.SinceDeployed, "since-deployed", false, "compare each environment with the commit last deployed to it (from state)")
	return cmd
}

// GitOptions are the gitops options of this process: PANKA_GIT_BINARY=false
// (or 0, no, off) reads git with go-git alone.
func (f *Factory) GitOptions() gitops.Options {
	switch strings.ToLower(f.Getenv("PANKA_GIT_BINARY")) {
	case "false", "0", "no", "off":
		return gitops.Options{NoGitBinary: true}
	}
	return gitops.Options{}
}

// repositoryID names the repository panka runs in (gitops.Repo.RemoteID),
// as deployments record it; empty outside git or without a remote.
func (f *Factory) repositoryID() string {
	repo, err := f.openRepoHere()
	if err != nil {
		return ""
	}
	defer repo.Close()
	return repo.RemoteID()
}

// openRepoHere opens the repository panka runs in (RepoRoot, OpenRepo).
func (f *Factory) openRepoHere() (*gitops.Repo, error) {
	root, err := f.RepoRoot()
	if err != nil {
		return nil, err
	}
	return f.OpenRepo(root)
}

// OpenRepo opens the git repository holding dir, as gitops.Open with
// GitOptions. panka finds the repository from the folder, as git does
// without GIT_DIR, and never follows GIT_DIR / GIT_WORK_TREE: when GIT_DIR
// names another repository (set by hand; git sets it for hooks, naming the
// same one) it warns that the answer is for the folder's repository, and a
// "not a git repository" error says where to run panka instead.
func (f *Factory) OpenRepo(dir string) (*gitops.Repo, error) {
	repo, err := gitops.Open(dir, f.GitOptions())
	env := f.Getenv("GIT_DIR")
	if env == "" {
		return repo, err
	}
	want, aerr := filepath.Abs(env)
	if aerr != nil {
		return repo, err
	}
	workTree := f.Getenv("GIT_WORK_TREE")
	configured := ""
	if workTree == "" {
		workTree = want
		if filepath.Base(want) == ".git" {
			workTree = filepath.Dir(want)
		}
		if configured = gitops.ConfiguredWorkTree(want); configured != "" {
			workTree = configured
		}
	}
	if err != nil {
		if errors.Is(err, gitops.ErrNotRepository) && configured != "" {
			// A git directory kept apart from its work tree (core.worktree),
			// which has no .git to find it by: it is not bare, and cd-ing to
			// the work tree alone does not help.
			return nil, fmt.Errorf("%w; GIT_DIR=%s is set, but panka does not follow GIT_DIR or its core.worktree (%s): it finds a repository through the .git in the folder it runs in or above; link the work tree to it (echo \"gitdir: %s\" > %s), or run panka in a clone of it (git clone %s)", err, env, configured, want, filepath.Join(configured, ".git"), want)
		}
		if errors.Is(err, gitops.ErrNotRepository) && f.Getenv("GIT_WORK_TREE") == "" && gitops.IsBareRepo(want) {
			// No work tree to send the user to; run inside it, the error
			// says so already.
			if rel, rerr := filepath.Rel(want, dir); rerr == nil && !strings.HasPrefix(rel, "..") {
				return nil, err
			}
			return nil, fmt.Errorf("%w; GIT_DIR=%s is set, but panka does not follow GIT_DIR, and %s is a bare repository, without a work tree: run panka in a clone of it (git clone %s) or in a worktree of it (git --git-dir=%s worktree add DIR)", err, env, want, want, want)
		}
		if errors.Is(err, gitops.ErrNotRepository) {
			return nil, fmt.Errorf("%w; GIT_DIR=%s is set, but panka does not follow GIT_DIR or GIT_WORK_TREE: run panka in that repository's work tree (cd %s, or panka -C %s)", err, env, workTree, workTree)
		}
		return nil, err
	}
	same := func(a, b string) bool {
		if ra, err := filepath.EvalSymlinks(a); err == nil {
			a = ra
		}
		if rb, err := filepath.EvalSymlinks(b); err == nil {
			b = rb
		}
		return a == b
	}
	if !same(want, repo.GitDir()) && !same(want, repo.CommonDir()) {
		f.Warnf("GIT_DIR=%s is set, but panka does not follow GIT_DIR or GIT_WORK_TREE: it reads the repository of the folder it runs in, %s; to read %s, run panka in its work tree (cd %s, or panka -C %s)",
			env, repo.Root(), env, workTree, workTree)
	}
	return repo, nil
}

// changedRun detects changes and prints them.
func changedRun(ctx context.Context, opts *ChangedOptions) error {
	f := opts.F
	wd, err := f.WorkDir()
	if err != nil {
		return err
	}
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	relaxGC(f) // far-apart comparisons resolve thousands of stacks
	repo, err := f.OpenRepo(wd)
	if err != nil {
		if errors.Is(err, gitops.ErrNotRepository) {
			return fmt.Errorf("panka changed needs a git repository: %w", err)
		}
		return err
	}
	defer repo.Close()
	if opts.Uncommitted && !repo.HasIndex() {
		if h, err := repo.Head(); err == nil {
			// git clone --no-checkout: the work tree holds nothing, and
			// every stack came out removed by "uncommitted changes"
			// (--since-deployed: "stacks root is not a folder").
			return (&stackRepo{dir: repo.Root(), unchecked: h.String()}).notCheckedOut()
		}
	}
	warnAmbiguousRef(f, repo, "--base", opts.Base)
	warnAmbiguousRef(f, repo, "--head", opts.Head)
	copts := changes.Options{Base: opts.Base, Head: opts.Head, Uncommitted: opts.Uncommitted, StacksRoot: cfg.Stacks.Root,
		Paths: opts.Paths, Stacks: opts.Stacks, Environments: opts.Environments, StrictNames: true,
		BackendFixed: backendFixed(cfg), BackendWhere: f.backendWhere}
	if opts.Uncommitted {
		// The work tree is read under the root the configuration gives
		// (its own panka.yaml's), every base under its own.
		copts.StacksRootAt = ownStacksRoot(f, repo, cfg)
	} else {
		ownStacksRoots(f, repo, cfg, opts.Head, &copts)
	}
	var res *changes.Result
	var deploying []LockJSON // with --since-deployed: nil when the locks could not be read
	if opts.SinceDeployed {
		if opts.OpenStore == nil {
			return errors.New("--since-deployed needs a state store, and none is available in this build")
		}
		sd := &storeDeployed{f: f, open: opts.OpenStore, stores: map[string]statestore.Store{}, named: literalNames(opts.Stacks)}
		res, err = changes.SinceDeployed(ctx, repo, sd, copts)
		if err == nil {
			sd.addDirty(res)
			sd.addTried(res)
			deploying = sd.deployingNow(ctx, opts.OpenLocker, res)
			if opts.Head == "" {
				sd.warnElsewhere(ctx, res)
			}
		}
	} else {
		res, err = changes.Detect(ctx, repo, copts)
	}
	if err != nil {
		var re *gitops.RefError
		if !opts.Uncommitted && errors.As(err, &re) && re.Unborn != "" {
			// Before the first commit the work tree is all there is.
			if opts.SinceDeployed {
				return fmt.Errorf("%w; or pass --uncommitted to compare the work tree's stacks with what is deployed", err)
			}
			return fmt.Errorf("%w; or pass --uncommitted to list the work tree's stacks as added", err)
		}
		if errors.Is(err, changes.ErrNoStacksRoot) {
			if cerr := configBelowRoot(f, repo.Root(), stacksRoot(cfg.Stacks.Root)); cerr != nil {
				return cerr
			}
		}
		return withCIBaseHint(f, err)
	}
	if opts.Base == "" && !opts.SinceDeployed {
		warnCITarget(f, repo)
		warnStaleRemoteHEAD(ctx, f, repo, res)
	}
	if !opts.SinceDeployed {
		warnRepoBackendChanged(f, repo, res, opts.Uncommitted)
		if !opts.Uncommitted {
			warnBaseDescends(f, repo, opts.Base, res)
			warnMergeResultBase(ctx, f, repo, opts.Base, res)
		}
	}
	for _, p := range res.Problems {
		f.Warnf("%s", p)
	}
	for _, a := range res.DeployedAhead {
		f.Warnf("%s/%s is deployed at %.12s, a newer commit than %s (it descends from it): not listed, since deploying %s there would roll back what %.12s deployed; "+
			"to go back on purpose, `panka rollback -s %s -e %s --to-commit %.12s`", a.Stack, a.Environment, a.Commit, aheadOf(res), aheadOf(res), a.Commit, a.Stack, a.Environment, res.Head)
	}
	if opts.SinceDeployed && f.Flags.Output == "json" {
		// "base" is a commit id in -o json, as with --base: one that
		// stands for the deployed commits (each environment's own is in
		// its stack's "deployed"); only read where it is printed.
		if err := changes.DeployedBase(ctx, repo, res); err != nil {
			return err
		}
	}
	if err := printChanged(f, opts, res, deploying); err != nil {
		return err
	}
	if opts.ExitCode && listsChange(f.Flags.Output, res) {
		return &ExitCodeError{Code: ExitChanges}
	}
	return nil
}

// listsChange reports whether the output of format lists something, which
// --exit-code answers with 2. -o names and -o github-matrix list
// stack/environments only: a stack moved with no environment changed, or
// one added without an environment file, is a row of the text and JSON
// output but no line or matrix entry, and exit 2 with an empty matrix
// would have a pipeline start a matrix job GitHub refuses.
func listsChange(format string, res *changes.Result) bool {
	if format != "names" && format != "github-matrix" {
		return len(res.Stacks) > 0
	}
	for _, s := range res.Stacks {
		if len(s.Environments) > 0 {
			return true
		}
	}
	return false
}

func printChanged(f *Factory, opts *ChangedOptions, res *changes.Result, deploying []LockJSON) error {
	switch f.Flags.Output {
	case "json":
		if opts.SinceDeployed {
			// deploying: the stack/environments whose lease a run holds
			// now ([] none; left out when the locks could not be read).
			return f.PrintJSON(struct {
				*changes.Result
				Deploying []LockJSON `json:"deploying,omitzero"`
			}{res, deploying})
		}
		return f.PrintJSON(res)
	case "names":
		// Thousands of lines on a far-apart comparison: one write, not one
		// per line.
		w := bufio.NewWriter(f.IO.Out)
		for _, s := range res.Stacks {
			for _, env := range s.Environments {
				fmt.Fprintf(w, "%s/%s\n", s.Stack, env)
			}
		}
		return w.Flush()
	case "github-matrix":
		type entry struct {
			Stack       string `json:"stack"`
			Environment string `json:"environment"`
			Path        string `json:"path"`
			Change      string `json:"change"`
			// PathQuoted: see changes.QuotedPath.
			PathQuoted string `json:"pathQuoted,omitempty"`
		}
		m := struct {
			Include []entry `json:"include"`
		}{Include: []entry{}}
		for _, s := range res.Stacks {
			for _, env := range s.Environments {
				m.Include = append(m.Include, entry{s.Stack, env, s.Path, string(s.EnvironmentChanges[env]), changes.QuotedPath(s.Path)})
			}
		}
		if n := len(m.Include); n > githubMatrixLimit {
			// GitHub refuses the whole job ("a matrix may not contain
			// more than 256 items") and says nothing of panka: say it here.
			f.Warnf("%d stack/environments changed: more than the %d jobs a GitHub Actions matrix may have, so a job given this matrix fails. "+
				"Split it with --stack/--environment (one matrix each), or plan them in a loop over -o names", n, githubMatrixLimit)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f.IO.Out, "%s\n", b)
		return err
	}
	w := bufio.NewWriter(f.IO.Out)
	if err := printChangedText(w, f.Notices(), opts, res, f.Flags.Quiet); err != nil {
		return err
	}
	return w.Flush()
}

// repoConfigFile is the repository's panka.yaml, at the root.
const repoConfigFile = "panka.yaml"

// warnRepoBackendChanged warns when the backend section of the repository's
// panka.yaml differs between the compared commits (or the work tree, with
// --uncommitted). No stack's resolved model holds it, so no stack is listed,
// while plan, apply and status read every stack's state at the new location
// (unless PANKA_BACKEND_* or flags override it), where nothing is deployed
// until the state is copied there.
func warnRepoBackendChanged(f *Factory, repo *gitops.Repo, res *changes.Result, uncommitted bool) {
	read := func(rev string) (map[string]string, bool) {
		b, err := repoConfigAt(f, repo, rev)
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]string{}, true
		}
		var doc struct {
			Backend map[string]any `yaml:"backend"`
		}
		if err != nil || yaml.Unmarshal(b, &doc) != nil {
			return nil, false // a broken file is said by the commands that load it
		}
		out := map[string]string{}
		for k, v := range doc.Backend {
			out["backend."+k] = fmt.Sprint(v)
		}
		return out, true
	}
	if res.Base == "" {
		return
	}
	head := res.Head
	if uncommitted {
		head = ""
	}
	before, ok1 := read(res.Base)
	after, ok2 := read(head)
	if !ok1 || !ok2 {
		return
	}
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var diffs []string
	for _, k := range sortedKeysOf(keys) {
		if before[k] != after[k] {
			diffs = append(diffs, fmt.Sprintf("%s %q -> %q", k, before[k], after[k]))
		}
	}
	if len(diffs) == 0 {
		return
	}
	f.Warnf("%s changed the state backend (%s): no stack's resolved model holds it, so no stack is listed for it, but plan, apply and status read every stack's state (and Pulumi's) at the new location "+
		"(unless PANKA_BACKEND_* or flags override it), where nothing is deployed until it is copied there: see docs/state.md, Switching backends",
		repoConfigFile, strings.Join(diffs, ", "))
}

// ownStacksRoot is changes.Options.StacksRootAt: the stacks root a
// commit's own panka.yaml names, so a base from before the stacks folder
// moved is read where its stacks were. Nil when PANKA_STACKS_ROOT or a
// flag gives one root for every commit.
func ownStacksRoot(f *Factory, repo *gitops.Repo, cfg *config.Resolved) func(string) (string, bool) {
	unset, fixed := stacksRootUnset(cfg)
	if fixed {
		return nil
	}
	return func(commit string) (string, bool) { return stacksRootAt(f, repo, commit, unset) }
}

// ownStacksRoots has a comparison between commits read each under the
// stacks.root of its own panka.yaml, as the pre-push hook reads each
// pushed commit: head (a ref, "" for HEAD) and every base (a given one,
// its merge-base, a deployed commit). The work tree (--uncommitted) is
// read under the root the configuration gives: set StacksRootAt alone.
func ownStacksRoots(f *Factory, repo *gitops.Repo, cfg *config.Resolved, head string, o *changes.Options) {
	own := ownStacksRoot(f, repo, cfg)
	if own == nil {
		return
	}
	o.StacksRootAt = own
	if head == "" {
		head = "HEAD"
	}
	if root, ok := own(head); ok {
		o.StacksRoot = root
	}
}

// repoConfigAt reads the repository's panka.yaml at rev (a commit), or
// in the work tree when rev is "". A file that is not there is
// fs.ErrNotExist.
func repoConfigAt(f *Factory, repo *gitops.Repo, rev string) ([]byte, error) {
	if rev == "" {
		root, err := f.RepoRoot()
		if err != nil {
			return nil, err
		}
		return os.ReadFile(filepath.Join(root, repoConfigFile))
	}
	h, err := repo.ResolveRef(rev)
	if err != nil {
		return nil, err
	}
	fsys, err := repo.TreeFS(h)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(fsys, repoConfigFile)
}

// stacksRootUnset is the stacks root of a commit whose panka.yaml sets
// none: the user configuration's, else "stacks". fixed is true when
// PANKA_STACKS_ROOT or a flag sets it: then every commit is read under
// that one.
func stacksRootUnset(cfg *config.Resolved) (unset string, fixed bool) {
	switch cfg.Sources["stacks.root"].Layer {
	case "env", "flag":
		return cfg.Stacks.Root, true
	case "user":
		return cfg.Stacks.Root, false
	}
	return "stacks", false
}

// stacksRootAt is the stacks.root the repository's panka.yaml sets at rev
// (a commit; "" the work tree), ${NAME} expanded as the configuration
// expands it, or unset where it sets none (no panka.yaml, or no
// stacks.root in it). ok is false when the file cannot be read or is not
// YAML: the commands that load it say so.
func stacksRootAt(f *Factory, repo *gitops.Repo, rev, unset string) (root string, ok bool) {
	b, err := repoConfigAt(f, repo, rev)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	root, err = stacksRootOf(b)
	if err != nil {
		return "", false
	}
	if root, err = config.ExpandEnv(root, f.Getenv); err != nil {
		return "", false
	}
	if root == "" {
		return unset, true
	}
	return root, true
}

// stacksRootOf is the stacks.root a panka.yaml's content sets, as written
// ("" when it sets none).
func stacksRootOf(b []byte) (string, error) {
	var doc struct {
		Stacks struct {
			Root string `yaml:"root"`
		} `yaml:"stacks"`
	}
	err := yaml.Unmarshal(b, &doc)
	return doc.Stacks.Root, err
}

// githubMatrixLimit is the most jobs a GitHub Actions matrix may have.
const githubMatrixLimit = 256

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func printChangedText(out, errOut io.Writer, opts *ChangedOptions, res *changes.Result, quiet bool) error {
	head := shortSHA(res.Head)
	if res.Uncommitted {
		head += " + work tree"
		if res.Head == gitops.EmptyTree.String() {
			head = "the work tree (no commit yet)"
		}
	}
	// git's empty tree is a base of nothing (no commit yet, or --base
	// given as its id): named, as its id means nothing to most readers.
	base := shortSHA(res.Base)
	if res.Base == gitops.EmptyTree.String() {
		base = "the empty tree"
	}
	if len(res.Stacks) == 0 {
		switch {
		case quiet:
		case !opts.SinceDeployed:
			fmt.Fprintf(errOut, "No stack changed between %s and %s.\n", base, head)
		case len(res.Bases) == 0:
			fmt.Fprintf(errOut, "No stack changed since its last deployment (head %s).\n", head)
		default:
			fmt.Fprintf(errOut, "No stack changed since its last deployment: between %s and %s.\n", deployedFrom(res), head)
		}
		return nil
	}
	// The rows are aligned as one table, then printed each with its
	// explanation (--why) below it.
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tCHANGE\tENVIRONMENTS\tPATH")
	for _, s := range res.Stacks {
		var envs []string
		for _, env := range s.Environments {
			if k := s.EnvironmentChanges[env]; k != changes.Modified {
				envs = append(envs, fmt.Sprintf("%s (%s)", env, k))
			} else {
				envs = append(envs, env)
			}
		}
		envText := strings.Join(envs, ", ")
		if envText == "" {
			envText = "-"
		}
		p := textPath(s.Path)
		if s.OldPath != "" {
			p = textPath(s.OldPath) + " -> " + p
		}
		// A stack that does not load is named after its folder, whose
		// name may be anything.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", textPath(s.Stack), s.Change, envText, p)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rows := strings.SplitAfter(table.String(), "\n")
	io.WriteString(out, rows[0])
	for i, s := range res.Stacks {
		io.WriteString(out, rows[i+1])
		if !opts.Why {
			continue
		}
		if len(s.Components) > 0 {
			fmt.Fprintf(out, "    components: %s\n", strings.Join(s.Components, ", "))
		}
		if len(s.Deployed) > 0 {
			var ds []string
			for _, env := range sortedKeysOf(s.Deployed) {
				c := shortSHA(s.Deployed[env])
				if c == "" {
					c = "never deployed"
				}
				ds = append(ds, env+": "+c)
			}
			fmt.Fprintf(out, "    deployed: %s\n", strings.Join(ds, ", "))
		}
		for _, r := range s.Reasons {
			fmt.Fprintf(out, "    %s: %s\n", textPath(r.File), escapeUnseen(stacks.EscapeControl(stacks.EscapeInvalid(r.Detail))))
		}
	}
	if !quiet {
		if opts.SinceDeployed {
			base = deployedFrom(res)
		}
		fmt.Fprintf(errOut, "%s changed between %s and %s.\n", countNoun(len(res.Stacks), "stack"), base, head)
	}
	return nil
}

// deployedFrom names what a --since-deployed comparison compared from, for
// its summary line: the one commit deployed, or how many (--why gives each
// environment's), and whether environments never deployed were compared
// with nothing.
func deployedFrom(res *changes.Result) string {
	never := false
	for _, s := range res.Stacks {
		for _, c := range s.Deployed {
			never = never || c == ""
		}
	}
	switch {
	case len(res.Bases) == 0:
		return "nothing (no environment compared is deployed yet)"
	case len(res.Bases) == 1 && !never:
		return shortSHA(res.Bases[0]) + ", deployed to every environment compared,"
	case len(res.Bases) == 1:
		return shortSHA(res.Bases[0]) + " (deployed; the environments never deployed: nothing)"
	case !never:
		return fmt.Sprintf("the commits deployed (%d different ones: --why gives each listed environment's)", len(res.Bases))
	}
	return fmt.Sprintf("the commits deployed (%d different ones: --why gives each listed environment's; the environments never deployed: nothing)", len(res.Bases))
}

// textPath is path p for the text table: quoted (Go syntax, as git quotes
// such names) when it holds a control character such as a newline or a
// tab, which would split or misalign the table's rows and lose part of
// the path, bytes that are not UTF-8 (a name made on a Latin-1 system,
// "ord\xe9ers"; raw, the terminal showed garbage or nothing, and two such
// names could not be told apart), or a character that does not show as
// itself (see unseen): café spelled with a combining accent (NFD, as
// macOS names files) is "cafe\u0301", so that a rename between the two
// spellings of a name does not print as "stacks/café -> stacks/café".
func textPath(p string) string {
	if strings.ContainsFunc(p, unicode.IsControl) || strings.ContainsFunc(p, unseen) || !utf8.ValidString(p) {
		return escapeUnseen(strconv.Quote(p))
	}
	return p
}

// unseen reports a character that does not show as itself in text: a
// combining mark (drawn over the character before it, so that e and
// U+0301 look like the single é) or an invisible format character
// (U+200B zero width space, U+00AD soft hyphen).
func unseen(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf)
}

// escapeUnseen writes the unseen characters of s as Go escapes (\u0301).
func escapeUnseen(s string) string {
	if !strings.ContainsFunc(s, unseen) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !unseen(r):
			b.WriteRune(r)
		case r > 0xFFFF:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// storeDeployed reads the last successfully deployed commit of each
// stack/environment from its state store (located with the stack's own
// spec.backend settings).
type storeDeployed struct {
	f    *Factory
	open func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error)

	mu     sync.Mutex // DeployedCommit is called concurrently
	stores map[string]statestore.Store
	// cfgs are the configurations stores were opened with (same keys),
	// and looked the store each stack/environment asked about was read
	// from: their locks are where cfgs say (deployingNow).
	cfgs   map[string]*config.Resolved
	looked map[statestore.Key]string
	// dirty are the stack/environments whose deployment was made from a
	// dirty work tree: what runs is not their deployed commit's YAML.
	dirty map[statestore.Key]dirtyDeployment
	// named are the stacks --stack names without a glob: one gone from
	// the repository is looked for where status finds it.
	named []string
	// tried are the stack/environments gone at head that no deployment
	// succeeded in, listed for the run that failed or was interrupted
	// there (ListDeployed): resources may hold what it tried to deploy.
	tried map[statestore.Key]*statestore.Deployment
}

// literalNames are the entries of a --stack list without glob characters.
func literalNames(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		if p != "" && !strings.ContainsAny(p, `*?[\`) {
			out = append(out, p)
		}
	}
	return out
}

type dirtyDeployment struct {
	path, commit string
	// partial: the components a --target-component run deployed (the
	// deployment was not dirty, only incomplete).
	partial []string
	// failed: a run since the deployment failed or was interrupted (the
	// deployment was complete, but resources may hold what that run
	// tried to deploy).
	failed *statestore.Deployment
}

// addDirty lists as modified the environments deployed from uncommitted
// changes that res left out: their deployed commit and head may resolve
// alike, but what runs is neither, and deploying head changes it.
func (d *storeDeployed) addDirty(res *changes.Result) {
	if len(d.dirty) == 0 {
		return
	}
	byName := map[string]*changes.Stack{}
	for _, s := range res.Stacks {
		byName[s.Stack] = s
	}
	// Deployed at a newer commit than head: left out on purpose (deploying
	// head there would roll it back), however it runs.
	ahead := map[statestore.Key]bool{}
	for _, a := range res.DeployedAhead {
		ahead[statestore.Key{Stack: a.Stack, Environment: a.Environment}] = true
	}
	keys := make([]statestore.Key, 0, len(d.dirty))
	for k := range d.dirty {
		if !ahead[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		dd := d.dirty[k]
		s := byName[k.Stack]
		if s != nil && planContains(s.Environments, k.Environment) {
			continue
		}
		if s == nil {
			s = &changes.Stack{Stack: k.Stack, Path: dd.path, Change: changes.Modified, EnvironmentChanges: map[string]changes.Kind{},
				Components: []string{}, Reasons: []changes.Reason{}, Deployed: map[string]string{}}
			byName[k.Stack] = s
			res.Stacks = append(res.Stacks, s)
		}
		s.Environments = append(s.Environments, k.Environment)
		sort.Strings(s.Environments)
		s.EnvironmentChanges[k.Environment] = changes.Modified
		if s.Deployed == nil {
			s.Deployed = map[string]string{}
		}
		s.Deployed[k.Environment] = dd.commit
		detail := fmt.Sprintf("environment %s runs a deployment made from uncommitted changes at %s, not that commit's YAML", k.Environment, shortSHA(dd.commit))
		if len(dd.partial) > 0 {
			detail = fmt.Sprintf("environment %s runs a partial deployment of %s (--target-component %s): its other components are not that commit's YAML",
				k.Environment, shortSHA(dd.commit), strings.Join(dd.partial, ","))
		}
		if f := dd.failed; f != nil {
			detail = failedRunDetail(k.Environment, dd.commit, f)
		}
		s.Reasons = append(s.Reasons, changes.Reason{File: dd.path, Detail: detail})
	}
	sort.Slice(res.Stacks, func(i, j int) bool { return res.Stacks[i].Stack < res.Stacks[j].Stack })
}

func (d *storeDeployed) DeployedCommit(ctx context.Context, h *stacks.Header, env string) (string, bool, error) {
	keys := make([]string, 0, len(h.Backend))
	for k, v := range h.Backend {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	sig := strings.Join(keys, "\x00")
	d.mu.Lock()
	store, ok := d.stores[sig]
	if !ok {
		// Opened once per backend, under the lock: the other lookups of
		// that backend wait for it.
		cfg, err := d.f.configForHeader(h, h.Path+"/"+stacks.StackFile)
		if err == nil {
			store, err = d.open(ctx, cfg)
		}
		if err != nil {
			d.mu.Unlock()
			return "", false, err
		}
		d.stores[sig] = store
		d.setCfg(sig, cfg)
	}
	key := statestore.Key{Stack: h.Name, Environment: env}
	d.look(key, sig)
	d.mu.Unlock()
	dep, failed, err := deployedCommitRecord(ctx, store, key)
	if dep == nil || err != nil {
		return "", false, err
	}
	if dep.Dirty || len(dep.TargetComponents) > 0 || failed != nil {
		d.mu.Lock()
		if d.dirty == nil {
			d.dirty = map[statestore.Key]dirtyDeployment{}
		}
		dd := dirtyDeployment{path: h.Path, commit: dep.Commit}
		if !dep.Dirty {
			dd.partial = dep.TargetComponents
		}
		dd.failed = failed
		d.dirty[key] = dd
		d.mu.Unlock()
	}
	return dep.Commit, true, nil
}

// ListDeployed lists what is deployed in the default state store and in
// every store a stack's spec.backend pointed at so far. A stack --stack
// names that is gone from the repository is also looked for where status
// and destroy find it (deployedStackConfig: another stack's spec.backend,
// or its own spec.backend before the commit that removed it). So is every
// stack removed with a spec.backend of its own in the history
// removedStackHeaders walks: without --stack, one whose state lived in a
// store no stack at head uses was not seen, and stayed deployed.
func (d *storeDeployed) ListDeployed(ctx context.Context, skip func(stack, env string) bool) ([]changes.Deployment, error) {
	if _, ok := d.stores[""]; !ok {
		cfg, err := d.f.ConfigForStack(nil, "")
		if err != nil {
			return nil, err
		}
		store, err := d.open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		d.stores[""] = store
		d.setCfg("", cfg)
	}
	for _, name := range d.named {
		if h, err := d.f.findHeader(name); err != nil || h != nil || skip(name, "") {
			continue // at head (its own backend was asked already), or left out
		}
		cfg, err := d.f.deployedStackConfig(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("find the state of stack %s (not in the repository): %w", name, err)
		}
		sig := "removed stack backend\x00" + d.f.describeBackend(cfg)
		if _, ok := d.stores[sig]; ok {
			continue
		}
		store, err := d.open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		d.stores[sig] = store
		d.setCfg(sig, cfg)
	}
	// A store only a removed stack named may be gone with it (a bucket
	// deleted after its destroy): said, not an error of every run.
	optional := map[string]string{}
	seenRemoved := map[string]bool{}
	d.f.removedStackHeaders(ctx, func(h *stacks.Header, at gitops.Hash) bool {
		if len(h.Backend) == 0 || seenRemoved[h.Name] || skip(h.Name, "") {
			return true
		}
		seenRemoved[h.Name] = true
		if hh, err := d.f.findHeader(h.Name); err != nil || hh != nil {
			return true // at head: its own backend was asked already
		}
		where := path.Join(h.Path, stacks.StackFile) + " at " + commit7(at.String())
		cfg, err := d.f.ConfigForStack(h.Backend, where)
		if err != nil {
			d.f.Warnf("stack %s (removed; its spec.backend in %s): %v: what it has deployed is not listed", h.Name, where, err)
			return true
		}
		sig := "removed stack backend\x00" + d.f.describeBackend(cfg)
		if _, ok := d.stores[sig]; ok {
			return true
		}
		store, err := d.open(ctx, cfg)
		if err != nil {
			d.f.Warnf("stack %s (removed; its spec.backend in %s): open %s: %v: what it has deployed is not listed", h.Name, where, d.f.describeBackend(cfg), err)
			return true
		}
		d.stores[sig] = store
		optional[sig] = fmt.Sprintf("stack %s (removed; its spec.backend in %s)", h.Name, where)
		return true
	})
	type lookup struct {
		sig    string
		store  statestore.Store
		key    statestore.Key
		commit string
		tried  *statestore.Deployment
		ok     bool
	}
	var lookups []*lookup
	seen := map[statestore.Key]bool{}
	for _, sig := range sortedKeysOf(d.stores) {
		store := d.stores[sig]
		var keys []statestore.Key
		var err error
		if sl, ok := store.(statestore.SkipLister); ok {
			// The stacks at head were looked up already: only what is
			// deployed but gone at head is listed.
			keys, err = sl.ListSkipping(ctx, func(k statestore.Key) bool { return skip(k.Stack, k.Environment) })
		} else {
			keys, err = store.List(ctx)
		}
		if err != nil && optional[sig] != "" {
			d.f.Warnf("%s: %v: what it has deployed is not listed", optional[sig], err)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if seen[k] || skip(k.Stack, k.Environment) {
				continue
			}
			seen[k] = true
			lookups = append(lookups, &lookup{sig: sig, store: d.stores[sig], key: k})
		}
	}
	// A stack deleted at head can leave thousands of stack/environments:
	// their states are read storeReads at a time.
	err := forEach(ctx, storeReads, len(lookups), func(ctx context.Context, i int) error {
		l := lookups[i]
		var err error
		if l.commit, l.tried, l.ok, err = goneDeployedCommit(ctx, l.store, l.key); err != nil {
			return fmt.Errorf("%s/%s: %w", l.key.Stack, l.key.Environment, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []changes.Deployment
	for _, l := range lookups {
		if l.ok {
			out = append(out, changes.Deployment{Stack: l.key.Stack, Environment: l.key.Environment, Commit: l.commit})
			d.look(l.key, l.sig)
			if l.tried != nil {
				if d.tried == nil {
					d.tried = map[statestore.Key]*statestore.Deployment{}
				}
				d.tried[l.key] = l.tried
			}
		}
	}
	return out, nil
}

// goneDeployedCommit returns, for key gone at head, the commit last
// successfully deployed to it; or, when no deployment of it succeeded (and
// it is not destroyed), the commit of its last run, which failed or was
// interrupted (tried): that run may have created resources, which plan
// --all-changed plans to delete and panka destroy deletes, so it is listed
// removed too, not left running unlisted. ok is false when nothing of it
// can be deployed.
func goneDeployedCommit(ctx context.Context, store statestore.Store, key statestore.Key) (commit string, tried *statestore.Deployment, ok bool, err error) {
	st, _, err := store.Get(ctx, key)
	switch {
	case errors.Is(err, statestore.ErrNotFound):
		return "", nil, false, nil
	case err != nil:
		return "", nil, false, err
	}
	if dep := deployedRecord(st); dep != nil && dep.Commit != "" {
		return dep.Commit, nil, true, nil
	}
	if l := triedRun(st); l != nil {
		return l.Commit, l, true, nil
	}
	return "", nil, false, nil
}

// triedRun is, for a state that no deployment succeeded in (deployedRecord
// is nil) and that is not destroyed, its last run when that failed or was
// interrupted and names a commit: it may have created resources. nil
// otherwise (and for a run of uncommitted YAML before the first commit,
// which has no commit to compare from).
func triedRun(st *statestore.State) *statestore.Deployment {
	if st == nil || st.Status == statestore.StatusDestroyed || deployedRecord(st) != nil {
		return nil
	}
	l := st.LastDeployment
	if l == nil || l.Result == statestore.ResultSucceeded {
		return nil
	}
	if _, full := gitops.FullID(l.Commit); !full {
		return nil
	}
	return l
}

// addTried says, of each environment listed that no deployment succeeded
// in (goneDeployedCommit), why it is listed all the same.
func (d *storeDeployed) addTried(res *changes.Result) {
	for _, s := range res.Stacks {
		for _, env := range s.Environments {
			t := d.tried[statestore.Key{Stack: s.Stack, Environment: env}]
			if t == nil {
				continue
			}
			s.Reasons = append(s.Reasons, changes.Reason{File: s.Path, Detail: fmt.Sprintf(
				"environment %s: no deployment of it succeeded, but its last run (%s, serial %d) %s, so resources may hold what it tried to deploy (panka destroy deletes them)",
				env, runAt(t.Operation, t.Commit), t.Serial, t.Result)})
		}
	}
}

// deployedCommitRecord is the last successful deployment of key that left
// a commit deployed, or nil (never deployed, destroyed, no commit), and
// the run after it that failed or was interrupted, if the state's last
// run is one (see failedSince).
func deployedCommitRecord(ctx context.Context, store statestore.Store, key statestore.Key) (dep, failed *statestore.Deployment, err error) {
	st, _, err := store.Get(ctx, key)
	if errors.Is(err, statestore.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if dep := deployedRecord(st); dep != nil && dep.Commit != "" {
		return dep, failedSince(st, dep), nil
	}
	return nil, nil, nil
}

// failedSince is the state's last run when it failed or was interrupted
// after dep, the deployment still recorded as deployed: the engine may
// have changed resources to what that run tried to deploy (plan then
// plans against that and apply puts the YAML back), so dep's commit
// resolving like HEAD does not mean nothing is to deploy. nil otherwise.
func failedSince(st *statestore.State, dep *statestore.Deployment) *statestore.Deployment {
	l := st.LastDeployment
	if l == nil || dep == nil || l.Result == statestore.ResultSucceeded || l.Serial == dep.Serial {
		return nil
	}
	return l
}

// failedRunDetail says why an environment whose deployed commit resolves
// like head is listed all the same: a run since failed.
func failedRunDetail(env, deployed string, failed *statestore.Deployment) string {
	return fmt.Sprintf("environment %s: the last run (%s, serial %d) %s after %s was deployed, so resources may hold what it tried to deploy, not that commit's YAML (panka plan shows what apply puts back)",
		env, runAt(failed.Operation, failed.Commit), failed.Serial, failed.Result, shortSHA(deployed))
}

// warnBaseDescends warns when the given base descends from head: their
// merge-base is head itself, so head is compared with itself and nothing
// is listed, although the stacks differ wherever the commits head lacks
// changed them. That is CI's "before" once a branch was moved back (a
// force push that dropped a commit, a reset) on a runner that still has
// it: a deploy pipeline going by the empty list kept deployed what the
// dropped commit changed, without a word.
func warnBaseDescends(f *Factory, repo *gitops.Repo, base string, res *changes.Result) {
	if base == "" {
		return
	}
	if res.Base != res.Head {
		warnForcedBefore(f, repo, base, res)
		return
	}
	b, err := repo.ResolveRef(base)
	if err != nil || b.String() == res.Head {
		return
	}
	f.Warnf("--base %s (%.12s) descends from head %.12s: head is behind it (the branch was moved back, by a force push or a reset), so head is compared with itself and nothing is listed, "+
		"though head lacks what the commits after it changed; panka changed --base %.12s --head %.12s lists what moving back changes, "+
		"panka changed --since-deployed what differs from what is deployed", base, b.String(), res.Head, res.Head, b.String())
}

// warnForcedBefore warns when the given base is CI's "before" of a push
// that force-pushed the branch (the commit the branch pointed at, which
// head does not descend from): it is compared from its merge-base with
// head, which is right for a branch but leaves out, without a word, the
// stacks that only the dropped commits changed, still deployed from them
// on the runner that has them. Only CI's own "before" is meant: a
// --base origin/main that moved on since a branch forked is compared so
// on purpose.
func warnForcedBefore(f *Factory, repo *gitops.Repo, base string, res *changes.Result) {
	before := ""
	switch {
	case f.Getenv("GITHUB_EVENT_NAME") == "push" && f.Getenv("GITHUB_EVENT_PATH") != "":
		b, err := os.ReadFile(f.Getenv("GITHUB_EVENT_PATH"))
		if err != nil {
			return
		}
		var ev struct {
			Before string `json:"before"`
		}
		if json.Unmarshal(b, &ev) != nil {
			return
		}
		before = ev.Before
	case f.Getenv("GITLAB_CI") == "true" && f.Getenv("CI_PIPELINE_SOURCE") == "push":
		before = f.Getenv("CI_COMMIT_BEFORE_SHA")
	}
	if before == "" {
		return
	}
	b, err := repo.ResolveRef(base)
	if err != nil || !strings.EqualFold(b.String(), before) || b.String() == res.Base {
		return
	}
	f.Warnf("--base %s (%.12s) is what the branch pointed at before this push, and head %.12s does not descend from it: the push replaced commits (a force push), "+
		"so head is compared from their merge-base %.12s and what only the replaced commits changed is not listed, though it may be deployed; "+
		"panka changed --base %.12s --head %.12s lists what the push took out, panka changed --since-deployed what differs from what is deployed",
		base, b.String(), res.Head, res.Base, res.Head, b.String())
}

// warnMergeResultBase warns when head is the merge commit a CI system
// made of a pull/merge request into its target branch (GitHub's
// refs/pull/N/merge, a GitLab merged-results or merge-train pipeline),
// whose first parent is the target branch's tip, and the given base is
// an older commit of that branch, such as the request's fork point
// (GitLab's $CI_MERGE_REQUEST_DIFF_BASE_SHA): head is compared from it,
// as git diff base...head would, so what the target branch gained since
// then is listed as the request's own changes (a false alarm, a plan job
// for a stack the request does not touch). The request's own changes
// are those from the first parent.
func warnMergeResultBase(ctx context.Context, f *Factory, repo *gitops.Repo, base string, res *changes.Result) {
	if base == "" || res.Base == "" || res.Base == gitops.EmptyTree.String() {
		return
	}
	var what, ciHead, alt string
	switch {
	case f.Getenv("GITHUB_EVENT_NAME") == "pull_request" && strings.HasPrefix(f.Getenv("GITHUB_REF"), "refs/pull/") && strings.HasSuffix(f.Getenv("GITHUB_REF"), "/merge"):
		what, ciHead = "GitHub pull request", f.Getenv("GITHUB_SHA")
		if b := f.Getenv("GITHUB_BASE_REF"); b != "" {
			alt = " (or origin/" + b + ")"
		}
	case f.Getenv("GITLAB_CI") == "true" && (f.Getenv("CI_MERGE_REQUEST_EVENT_TYPE") == "merged_result" || f.Getenv("CI_MERGE_REQUEST_EVENT_TYPE") == "merge_train"):
		what, ciHead, alt = "GitLab merge request", f.Getenv("CI_COMMIT_SHA"), " (or $CI_MERGE_REQUEST_TARGET_BRANCH_SHA)"
	default:
		return
	}
	if ciHead != "" && !strings.EqualFold(ciHead, res.Head) {
		return // --head names another commit than the one CI built
	}
	head, herr := repo.ResolveRef(res.Head)
	from, ferr := repo.ResolveRef(res.Base)
	if herr != nil || ferr != nil {
		return
	}
	c, err := repo.Commit(head)
	if err != nil || len(c.Parents) < 2 || c.Parents[0] == from {
		return
	}
	if mb, err := repo.MergeBase(ctx, from, c.Parents[0]); err != nil || mb != from {
		return // not an older commit of the target branch
	}
	f.Warnf("head %.12s is the merge of this %s into its target branch (its first parent %.12s): compared from --base %s (%.12s), which the target branch's tip descends from, "+
		"it also lists what the target branch gained since then as the request's own changes; pass --base HEAD^1%s to list only what the request changes",
		res.Head, what, c.Parents[0].String(), base, from.String(), alt)
}

// withCIBaseHint adds to a "no default branch" error the --base to pass in
// the CI system panka runs in (a pull/merge request's target branch), as
// CI checkouts often fetch only the commit to build.
func withCIBaseHint(f *Factory, err error) error {
	var re *gitops.RefError
	if errors.As(err, &re) && re.Missing && re.Shallow && f.Getenv("GITLAB_CI") == "true" {
		// The shallow-clone fix names GitHub's actions/checkout; GitLab
		// clones GIT_DEPTH commits (20 by default).
		return fmt.Errorf("%w\nOn GitLab CI: set GIT_DEPTH: 0 in the job's variables (a full clone), or git fetch --deepen=200 before panka", err)
	}
	if errors.As(err, &re) && re.Zero && f.Getenv("GITLAB_CI") == "true" && f.Getenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") == "" {
		return fmt.Errorf("%w\n%s", err, gitlabBranchHint(f))
	}
	if !errors.Is(err, gitops.ErrNoDefaultBranch) {
		return err
	}
	switch {
	case f.Getenv("GITHUB_BASE_REF") != "":
		b := f.Getenv("GITHUB_BASE_REF")
		return fmt.Errorf("%w\nIn this GitHub pull request into %s: pass --base origin/%s, and check out with actions/checkout fetch-depth: 0 so that branch and its history are there", err, b, b)
	case f.Getenv("GITHUB_ACTIONS") == "true":
		return fmt.Errorf("%w\nOn GitHub Actions: pass --base ${{ github.event.before }} for a push (see README), and check out with actions/checkout fetch-depth: 0", err)
	case f.Getenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") != "":
		b := f.Getenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
		return fmt.Errorf("%w\nIn this GitLab merge request into %s: git fetch origin %s, then pass --base origin/%s (GIT_DEPTH: 0 keeps the history)", err, b, b, b)
	case f.Getenv("GITLAB_CI") == "true":
		return fmt.Errorf("%w\n%s", err, gitlabBranchHint(f))
	}
	// "pass --base" alone left a repository whose branch is named
	// otherwise (git init with init.defaultBranch trunk) guessing what to
	// pass.
	return fmt.Errorf("%w: on a branch, the branch it forked from (e.g. --base trunk; a clone made with --depth or --single-branch lacks it: git fetch origin trunk first, then --base origin/trunk); on the default branch itself, --base HEAD~1 (what the last commit changed); or name the default branch once for this repository: git config init.defaultBranch trunk", err)
}

// gitlabBranchHint is the base to pass in a GitLab branch pipeline. Its
// runner fetches only the branch it builds, so there is no default branch
// to compare with, and $CI_COMMIT_BEFORE_SHA is all zeros for a new
// branch: "pass --base $CI_COMMIT_BEFORE_SHA" alone led from the one error
// to the other.
func gitlabBranchHint(f *Factory) string {
	b := f.Getenv("CI_DEFAULT_BRANCH")
	if b == "" {
		b = "main"
	}
	fetch := "git fetch origin " + b
	if b != "main" && b != "master" {
		// Without origin/HEAD the default branch is found only as
		// origin/main or origin/master (gitops.DefaultBranch): another
		// name fetched alone still left none.
		fetch += " && git remote set-head origin " + b
	}
	return fmt.Sprintf("On GitLab CI the runner fetches only the branch it builds: %s, then omit --base (or pass --base origin/%s); "+
		"for a push to a branch that existed before, --base $CI_COMMIT_BEFORE_SHA lists what the push brought (it is all zeros for a new branch); GIT_DEPTH: 0 keeps the history", fetch, b)
}

// warnAmbiguousRef warns when the ref a flag names is both a branch and a
// tag (or a remote branch), or a ref and an object id (a branch named
// like a short commit id): it resolves, as git does, to the first of
// them in git's order (the tag before the branch, a ref before an
// abbreviated id, a full id before a ref), which git warns about
// ("refname is ambiguous") and panka would otherwise use silently. An
// empty flag words it for a ref from one of several flags.
func warnAmbiguousRef(f *Factory, repo *gitops.Repo, flag, ref string) {
	full := repo.AmbiguousRef(ref)
	if len(full) < 2 {
		return
	}
	name := strings.TrimSpace(ref)
	if i := strings.IndexAny(name, "~^@:"); i >= 0 {
		name = name[:i]
	}
	rest := strings.TrimPrefix(strings.TrimSpace(ref), name)
	picks := make([]string, len(full))
	for i, n := range full {
		what := "the ref"
		switch {
		case strings.HasPrefix(n, "refs/tags/"):
			what = "the tag"
		case strings.HasPrefix(n, "refs/heads/"):
			what = "the branch"
		case strings.HasPrefix(n, "refs/remotes/"):
			what = "the remote branch"
		case !strings.HasPrefix(n, "refs/"):
			what = "the object with that id" // a commit, most likely
			if h, ok := gitops.FullID(n); ok {
				if _, err := repo.Commit(h); err == nil {
					what = "the commit"
				}
			}
		}
		picks[i] = strings.TrimSpace(fmt.Sprintf("%s %s%s for %s", flag, n, rest, what))
	}
	label := flag
	if label == "" {
		label = "ref" // a ref given by --ref or --to-commit
	}
	f.Warnf("%s %s is ambiguous: it names %s, and is resolved, as git does, to %s; pass %s",
		label, ref, strings.Join(full, " and "), full[0], strings.Join(picks, ", or "))
}

// warnCITarget warns when the default base, the remote default branch,
// is not the branch the pull/merge request panka runs for merges into (a
// pull request into release/2.x): the comparison then lists what differs
// between that branch and the default one as the request's own changes.
func warnCITarget(f *Factory, repo *gitops.Repo) {
	target, what := f.Getenv("GITHUB_BASE_REF"), "GitHub pull request"
	if target == "" {
		target, what = f.Getenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"), "GitLab merge request"
	}
	if target == "" {
		return
	}
	name, _, err := repo.DefaultBranch()
	if err != nil {
		return
	}
	remote, branch, ok := strings.Cut(name, "/")
	if !ok {
		remote, branch = "origin", name // a local main
	}
	if branch == target || branch == "HEAD" {
		return
	}
	f.Warnf("compared from %s, the default branch, but this %s merges into %s: pass --base %s/%s to list only its own changes", name, what, target, remote, target)
}

// warnStaleRemoteHEAD warns when the default base of res came from a
// remote HEAD that most likely went stale (gitops.Repo.StaleRemoteHEAD):
// the default branch renamed on the host (master -> main) after this clone
// was made. Every change made on the new branch since then was listed as
// the branch's own.
func warnStaleRemoteHEAD(ctx context.Context, f *Factory, repo *gitops.Repo, res *changes.Result) {
	head, ok := gitops.FullID(res.Head)
	if !ok {
		return
	}
	stale, newer, ok := repo.StaleRemoteHEAD(ctx, head)
	if !ok {
		return
	}
	remote, _, _ := strings.Cut(stale, "/")
	f.Warnf("compared from %s, which %s/HEAD names as the default branch, but %s holds all of it and newer commits: if the default branch is now %s, run `git remote set-head %s --auto` (git fetch does not move %s/HEAD), or pass --base %s",
		stale, remote, newer, strings.TrimPrefix(newer, remote+"/"), remote, remote, newer)
}

// aheadOf names the head of a since-deployed comparison in its warnings.
func aheadOf(res *changes.Result) string {
	if res.Uncommitted {
		return "the work tree (on " + res.Head[:12] + ")"
	}
	return "head " + res.Head[:12]
}

// backendWhere is changes.Options.BackendWhere: where the state of a stack
// with spec.backend keys is kept, every layer and implied default applied.
func (f *Factory) backendWhere(keys map[string]string) (string, error) {
	c, err := f.ConfigForStack(keys, "")
	if err != nil {
		return "", err
	}
	where := f.describeBackend(c)
	if c.Backend.Type == "s3" && c.Backend.Endpoint != "" {
		where += " at " + c.Backend.Endpoint
	}
	return where, nil
}

// backendFixed are the backend and lock keys that environment variables or
// flags set: they win over a stack's spec.backend (SPEC §8), so a change of
// those keys there moves no state and is no reason to list the stack.
func backendFixed(cfg *config.Resolved) map[string]bool {
	fixed := map[string]bool{}
	for k, src := range cfg.Sources {
		if src.Layer == "env" || src.Layer == "flag" {
			fixed[k] = true
		}
	}
	return fixed
}

// emptyHead warns about a --head given empty (--head "$SHA" with the
// variable unset or empty), which compares HEAD, as --head left out does:
// said, as for --base, not silently another commit than the one meant.
func emptyHead(cmd *cobra.Command, head *string, f *Factory) {
	if cmd.Flags().Changed("head") && strings.TrimSpace(*head) == "" {
		*head = ""
		f.Warnf("--head is empty (an unset or empty CI variable?): comparing HEAD instead; omit --head to mean that, or pass a ref")
	}
}
