package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/hooks"
	"panka.dev/panka/stacks"
)

func init() { register(newCmdHooks) }

func newCmdHooks(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "hooks", Short: "Install and run panka's git hooks"}
	var force bool
	install := &cobra.Command{
		Use:        "install",
		SuggestFor: []string{"add", "enable"},
		Short:      "Install a pre-push hook that checks the stacks a push changes",
		Long: `Install writes .git/hooks/pre-push (or core.hooksPath) running
"panka hooks run pre-push". Before every push it lists the stacks and
environments the pushed commits change and fails the push when a changed
stack no longer loads. It never overwrites a hook panka did not write
unless --force is given; a hook --force replaces is kept next to it as
pre-push.panka-backup (.2, .3, ... when that exists). In a repository
whose hooks husky or lefthook manages it writes no hook and says what to
add to their configuration instead. Skip it once with git push
--no-verify; remove it with panka hooks uninstall.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return hooksInstallRun(c.Context(), f, force)
		},
	}
	install.Flags().BoolVar(&force, "force", false, "replace an existing pre-push hook not written by panka (kept as pre-push.panka-backup)")
	uninstall := &cobra.Command{
		Use:        "uninstall",
		SuggestFor: []string{"remove", "rm", "delete", "disable"},
		Short:      "Remove the pre-push hook panka installed",
		Long: `Uninstall removes the pre-push hook "panka hooks install" wrote (in
.git/hooks, or core.hooksPath). A pre-push hook panka did not write is
left alone (an error); with no pre-push hook there is nothing to do. In
a repository whose hooks husky or lefthook manages, it says what to
remove from their files if they run panka, and leaves their hook. A
hook an install --force replaced is not put back: the command says
where it is kept and how to restore it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return hooksUninstallRun(c.Context(), f)
		},
	}
	run := &cobra.Command{
		Use:   "run pre-push [REMOTE [URL]]",
		Short: "Run a hook (called by git)",
		Args:  cobra.RangeArgs(1, 3),
		RunE: func(c *cobra.Command, args []string) error {
			if args[0] != "pre-push" {
				return Usagef("unknown hook %q (panka runs pre-push)", args[0])
			}
			remote := ""
			if len(args) > 1 {
				remote = args[1]
			}
			err := hooksPrePushRun(c.Context(), f, remote)
			var ue *UsageError
			if err != nil && !errors.Is(err, errPushRefused) && !errors.As(err, &ue) {
				// The user ran git push: an error that names only
				// panka.yaml or a ref does not say where it came from,
				// nor that git stopped the push because of it.
				err = fmt.Errorf("panka's pre-push hook could not check this push, so git did not push: %w; fix that, or push with `git push --no-verify` to skip the check", err)
			}
			return err
		},
	}
	cmd.AddCommand(install, uninstall, run)
	return cmd
}

// hooksDir is the folder git runs the repository's hooks from (see
// gitops.Repo.HooksDir); what names the command in errors. shared is
// true when that folder is outside the repository (its work tree and git
// folders): a core.hooksPath, often a global one (~/.gitconfig), that
// other repositories may use too.
func hooksDir(ctx context.Context, f *Factory, what string) (dir string, shared bool, err error) {
	root, err := f.RepoRoot()
	if err != nil {
		return "", false, err
	}
	repo, err := gitops.Open(root, f.GitOptions())
	if err != nil {
		return "", false, fmt.Errorf("%s hooks: %w", what, err)
	}
	defer repo.Close()
	dir = repo.HooksDir(ctx)
	shared = true
	for _, in := range []string{repo.Root(), repo.GitDir(), repo.CommonDir()} {
		if rel, err := filepath.Rel(in, dir); in != "" && err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			shared = false
		}
	}
	return dir, shared, nil
}

func hooksInstallRun(ctx context.Context, f *Factory, force bool) error {
	dir, shared, err := hooksDir(ctx, f, "install")
	if err != nil {
		return err
	}
	if done, err := huskyInstall(f, dir); err != nil || done {
		return err
	}
	if done, err := lefthookInstall(f, dir); err != nil || done {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "panka"
	}
	exe = hookBinary(exe, os.Args[0], exec.LookPath)
	path, backup, err := hooks.Install(dir, exe, force)
	if err != nil {
		return err
	}
	if shared {
		f.Warnf("%s is outside this repository (git's core.hooksPath, often set globally in ~/.gitconfig): git runs this pre-push hook in every repository that uses that folder, not only this one. "+
			"If that is not wanted: panka hooks uninstall, then `git config core.hooksPath .git/hooks` (this repository only) and panka hooks install again", dir)
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			Hook   string `json:"hook"`
			Path   string `json:"path"`
			Backup string `json:"backup,omitempty"`
		}{"pre-push", path, backup})
	}
	fmt.Fprintf(f.IO.Out, "Installed %s\n", path)
	if backup != "" {
		fmt.Fprintf(f.IO.Out, "The pre-push hook it replaced is kept as %s (panka hooks uninstall, then mv it back to restore it)\n", backup)
	}
	return nil
}

// huskyInstall refuses to install into husky's hooks folder (.husky/_,
// which husky sets as core.hooksPath), or beside a repository that has
// one: husky writes .husky/_/pre-push again on every install (npm
// install), and then points git at it, so a hook panka wrote there (even
// with --force), or in .git/hooks, was gone without a word. The error says
// how to add panka to husky's own pre-push script; done is true when that
// script runs panka already.
func huskyInstall(f *Factory, dir string) (done bool, err error) {
	script, runs, ok := huskyScript(f, dir)
	if !ok {
		return false, nil
	}
	if runs {
		return true, runsPankaAlready(f, "husky", script)
	}
	return false, fmt.Errorf("this repository uses husky (%s): husky rewrites its hooks folder on every install and points git at it, so a hook panka installed would be gone without a word. "+
		"Add panka to husky's pre-push script instead: put this line in %s (create it if it does not exist) and commit it:\n    panka hooks run pre-push \"$@\"\n"+
		"(panka must be on the PATH git runs hooks with.) panka reads the pushed refs on standard input, which git writes only once: if that script runs another command that reads them too, give each a copy, as in\n%s",
		filepath.Join(filepath.Dir(script), "_"), script, indent4(hooks.ChainExample))
}

// huskyScript is husky's pre-push script (.husky/pre-push), when git's
// hooks folder dir is husky's (.husky/_) or the repository has one; runs
// is true when that script runs panka's pre-push hook.
func huskyScript(f *Factory, dir string) (script string, runs, ok bool) {
	root, _ := f.RepoRoot()
	husky := filepath.Base(dir) == "_" && filepath.Base(filepath.Dir(dir)) == ".husky"
	if !husky && root != "" {
		if st, err := os.Stat(filepath.Join(root, ".husky", "_")); err == nil && st.IsDir() {
			husky = true
		}
	}
	if !husky {
		return "", false, false
	}
	script = filepath.Join(filepath.Dir(dir), "pre-push")
	if filepath.Base(dir) != "_" && root != "" {
		script = filepath.Join(root, ".husky", "pre-push")
	}
	b, err := os.ReadFile(script)
	return script, err == nil && strings.Contains(string(b), "hooks run pre-push"), true
}

// runsPankaAlready says that a hook manager's file (husky's pre-push
// script, lefthook's configuration) runs panka's pre-push hook already, so
// install has nothing to do.
func runsPankaAlready(f *Factory, manager, file string) error {
	if f.JSON() {
		return f.PrintJSON(struct {
			Hook string `json:"hook"`
			Path string `json:"path"`
		}{"pre-push", file})
	}
	fmt.Fprintf(f.IO.Out, "%s's %s runs panka hooks run pre-push already: nothing to install\n", manager, file)
	return nil
}

// lefthookConfigs are the names lefthook reads its configuration from at
// the root of the repository, the main ones first; a -local one is each
// developer's own (not committed).
var lefthookConfigs = func() []string {
	var out []string
	for _, base := range []string{"lefthook", ".lefthook", "lefthook-local", ".lefthook-local"} {
		for _, ext := range []string{".yml", ".yaml", ".toml", ".json"} {
			out = append(out, base+ext)
		}
	}
	return out
}()

// lefthookMark is in every hook lefthook writes (it tells its own hooks
// from others by it).
const lefthookMark = "LEFTHOOK"

// lefthookInstall refuses to install into a repository whose hooks
// lefthook manages (its hook is in the hooks folder, or its configuration
// at the root): lefthook writes its hooks again whenever its configuration
// changes (on the next hook it runs, or lefthook install), moving a hook
// it did not write to pre-push.old, which nothing runs. panka's hook,
// installed with --force over lefthook's, stopped lefthook's own pre-push
// commands, and was then gone without a word; added to lefthook's hook
// script by hand, as a refusal said, it was overwritten. The error says
// what to add to lefthook's configuration; done is true when that runs
// panka already.
func lefthookInstall(f *Factory, dir string) (done bool, err error) {
	lh := findLefthook(f, dir)
	switch {
	case lh.runs != "":
		return true, runsPankaAlready(f, "lefthook", lh.runs)
	case !lh.managed && lh.config == "":
		return false, nil
	}
	// The committed configuration, not a developer's own -local one.
	config := filepath.Join(lh.root, "lefthook.yml")
	if lh.config != "" && !strings.Contains(filepath.Base(lh.config), "-local.") {
		config = lh.config
	}
	syntax := ""
	if ext := filepath.Ext(config); ext != ".yml" && ext != ".yaml" {
		syntax = fmt.Sprintf(" (as YAML here: the same keys in %s)", strings.ToUpper(ext[1:]))
	}
	where := lh.config
	if lh.managed {
		where = lh.hook + " is lefthook's"
	}
	return false, fmt.Errorf("this repository's git hooks are lefthook's (%s): lefthook writes them again whenever its configuration changes, and moves a hook it did not write aside (to pre-push.old, which git does not run), so a hook panka installed would stop without a word. "+
		"Run panka from lefthook instead: add this to %s%s and commit it (use_stdin passes on the pushed refs git writes on standard input, which panka reads):\n%s\n"+
		"(panka must be on the PATH git runs hooks with.)",
		where, config, syntax, indent4(lefthookExample))
}

// lefthookUse is what shows that lefthook manages a repository's hooks.
type lefthookUse struct {
	root    string
	hook    string // git's pre-push hook
	managed bool   // hook is lefthook's
	config  string // the first lefthook configuration at root ("" none)
	runs    string // the lefthook configuration that runs panka ("" none)
}

// findLefthook looks for lefthook's pre-push hook in git's hooks folder
// dir and its configuration at the root of the repository.
func findLefthook(f *Factory, dir string) lefthookUse {
	lh := lefthookUse{hook: filepath.Join(dir, "pre-push")}
	lh.root, _ = f.RepoRoot()
	b, err := os.ReadFile(lh.hook)
	lh.managed = err == nil && strings.Contains(string(b), lefthookMark)
	for _, name := range lefthookConfigs {
		if lh.root == "" {
			break
		}
		p := filepath.Join(lh.root, name)
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if lh.config == "" {
			lh.config = p
		}
		if lh.runs == "" && strings.Contains(string(b), "hooks run pre-push") {
			lh.runs = p
		}
	}
	return lh
}

// lefthookExample is the lefthook configuration that runs panka's
// pre-push hook: git's arguments (the remote's name and URL) as {1} {2}.
const lefthookExample = `pre-push:
  commands:
    panka:
      run: panka hooks run pre-push {1} {2}
      use_stdin: true`

// indent4 indents every line of s by four spaces.
func indent4(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// hookBinary is the panka path a pre-push hook records: the one panka was
// started by (arg0, looked up in PATH when it has no slash) when it is
// the running binary exe, else exe. os.Executable resolves symbolic
// links, and a package manager's link (/usr/local/bin/panka ->
// ../Cellar/panka/1.2.0/bin/panka, a Nix profile) outlives the versioned
// folder it points into, which an upgrade removes: the hook then found
// panka only on PATH, which a GUI git client does not have.
func hookBinary(exe, arg0 string, lookPath func(string) (string, error)) string {
	p := arg0
	if !strings.ContainsRune(p, filepath.Separator) {
		lp, err := lookPath(p)
		if err != nil {
			return exe
		}
		p = lp
	}
	abs, err := filepath.Abs(p)
	if err != nil || abs == exe {
		return exe
	}
	a, aerr := os.Stat(abs)
	b, berr := os.Stat(exe)
	if aerr != nil || berr != nil || !os.SameFile(a, b) {
		return exe
	}
	return abs
}

func hooksUninstallRun(ctx context.Context, f *Factory) error {
	dir, _, err := hooksDir(ctx, f, "uninstall")
	if err != nil {
		return err
	}
	path, removed, backups, err := hooks.Uninstall(dir)
	if !removed && (err == nil || errors.Is(err, hooks.ErrForeignHook)) {
		// A hook panka wrote is removed whoever manages the others.
		if done, err := managedUninstall(f, dir); err != nil || done {
			return err
		}
	}
	if err != nil {
		return err
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			Hook    string   `json:"hook"`
			Path    string   `json:"path"`
			Removed bool     `json:"removed"`
			Backups []string `json:"backups,omitempty"`
		}{"pre-push", path, removed, backups})
	}
	if removed {
		fmt.Fprintf(f.IO.Out, "Removed %s\n", path)
	} else {
		fmt.Fprintf(f.IO.Out, "No pre-push hook at %s: nothing to remove\n", path)
	}
	for _, b := range backups {
		fmt.Fprintf(f.IO.Out, "A pre-push hook panka replaced is kept as %s; to restore it: mv %s %s\n", b, hooks.ShellQuote(b), hooks.ShellQuote(path))
	}
	return nil
}

// managedUninstall is uninstall in a repository whose hooks husky or
// lefthook manages, where install writes no hook: the pre-push hook there
// is the manager's, which uninstall refused as "not written by panka:
// edit or remove it yourself", and removing it would stop the manager's
// own pre-push commands. When the manager's file runs panka, the error
// says what to remove from it; else panka has nothing to remove. done is
// false when no manager is found. (The caller has removed a hook panka
// wrote, if there was one.)
func managedUninstall(f *Factory, dir string) (done bool, err error) {
	manager, runs := "", ""
	if script, runsPanka, ok := huskyScript(f, dir); ok {
		manager = "husky"
		if runsPanka {
			runs = script
		}
	} else if lh := findLefthook(f, dir); lh.managed || lh.config != "" {
		manager, runs = "lefthook", lh.runs
	}
	switch {
	case manager == "":
		return false, nil
	case runs != "":
		return true, fmt.Errorf("panka's pre-push check runs from %s's %s, not from a hook of panka's: to stop it, remove the panka hooks run pre-push command from that file (and commit that); git's pre-push hook is %s's and stays", manager, runs, manager)
	}
	path := filepath.Join(dir, "pre-push")
	if f.JSON() {
		return true, f.PrintJSON(struct {
			Hook    string `json:"hook"`
			Path    string `json:"path"`
			Removed bool   `json:"removed"`
		}{"pre-push", path, false})
	}
	fmt.Fprintf(f.IO.Out, "No pre-push hook of panka's: this repository's hooks are %s's, and none of its files runs panka: nothing to remove\n", manager)
	return true, nil
}

// errPushRefused ends a pre-push hook whose checks found problems (they
// are printed above it).
var errPushRefused = errors.New("push refused: fix the stacks (or panka.yaml) above, or push with --no-verify to skip the check")

func hooksPrePushRun(ctx context.Context, f *Factory, remote string) error {
	// pre-commit names the pushed ref in its environment, also when run
	// by hand (pre-commit run --hook-stage pre-push --to-ref ...).
	preCommitEnv := f.Getenv("PRE_COMMIT_TO_REF") != "" || f.Getenv("PRE_COMMIT_LOCAL_BRANCH") != ""
	if f.IO.stdinTTY && !preCommitEnv {
		// Run by hand at a terminal: it would wait for input nobody
		// knows to type.
		return Usagef("hooks run pre-push reads what git pushes on standard input, one \"<local ref> <local sha> <remote ref> <remote sha>\" line per ref; git runs it before a push. " +
			"To try it by hand: echo \"refs/heads/main $(git rev-parse HEAD) refs/heads/main $(git rev-parse origin/main)\" | panka hooks run pre-push")
	}
	var updates []hooks.PushUpdate
	if !f.IO.stdinTTY {
		var err error
		if updates, err = hooks.ParsePrePush(f.IO.In); err != nil {
			return err
		}
	}
	preCommit := len(updates) == 0 && preCommitEnv
	if preCommit && remote == "" {
		remote = f.Getenv("PRE_COMMIT_REMOTE_NAME")
	}
	if len(updates) == 0 && !preCommit && stdinIsDevice(f.IO.In) {
		// git writes the pushed refs through a pipe, empty only when
		// everything is up to date; a device (/dev/null) is a hook
		// manager that does not pass it on (lefthook without
		// use_stdin), and every push went through unchecked.
		f.Warnf("panka hooks run pre-push read no pushed ref: its standard input is not the pipe git writes them to (it is /dev/null or another device), so nothing was checked. " +
			"The hook manager that runs panka does not pass git's standard input on: with lefthook set use_stdin: true on the command; in a script, do not redirect it")
		return nil
	}
	root, err := f.RepoRoot()
	if err != nil {
		return err
	}
	repo, err := gitops.Open(root, f.GitOptions())
	if err != nil {
		return err
	}
	defer repo.Close()
	// The hook checks what the pushed files say, on the pusher's machine:
	// a ${NAME:?message} for a variable set only where panka runs (a CI
	// secret) refused every push. The commands run there still refuse it.
	f.notRequired = true
	cfg, err := prePushConfig(f, repo)
	if err != nil {
		return err
	}
	if isRemoteURL(remote) {
		// git push URL (or a path) names no remote: git passes the URL.
		// One of a configured remote is that remote.
		if name, known := repo.RemoteFor(remote); known {
			remote = name
		}
	}
	if preCommit {
		u, err := preCommitUpdate(f, repo)
		if err != nil {
			return err
		}
		updates = append(updates, u)
	}
	failed := false
	// The commits of the refs before this one in the push (name ->
	// commit): the remote holds them once the push is done, so a ref with
	// nothing else to compare with is compared from them, not checked
	// whole again (git push --mirror, or main and its tags, to a new
	// remote: a first push of a 4,000-stack repository with 300 tags
	// checked every stack 301 times, and listed them each time).
	// Only refs that bring commits are kept, and at most
	// maxEarlierRefs of them: each is a merge-base to compute for every
	// later ref (git push --mirror of hundreds of branches).
	pushedRefs := map[string]gitops.Hash{}
	var brings struct {
		name string
		h    gitops.Hash
		ok   bool
	}
	unkept := 0 // refs bringing commits that maxEarlierRefs left out
	for _, u := range updates {
		if brings.ok && len(pushedRefs) < maxEarlierRefs {
			pushedRefs[brings.name] = brings.h
		} else if brings.ok {
			unkept++
		}
		brings.ok = false
		if u.Deleting() {
			continue
		}
		if strings.HasPrefix(u.RemoteRef, "refs/notes/") {
			// git notes (git push origin refs/notes/*): commits of notes
			// about other commits, whose trees hold no stacks. Checked as
			// a branch, a first push said "checking every stack" and the
			// next ones to set stacks.root.
			hookNote(f, "panka: %s holds git notes, not stacks: nothing to check", u.LocalRef)
			continue
		}
		if kind, err := repo.PeeledType(u.LocalSHA); err == nil && kind != "commit" {
			// A tag of a tree or a blob (git tag NAME HEAD^{tree}): it
			// holds no stacks to check, and git pushes it as it is.
			hookNote(f, "panka: %s points at a %s, not a commit: nothing to check", u.LocalRef, kind)
			continue
		}
		earlier := pushedRefs
		if h, err := repo.ResolveRef(u.LocalSHA); err == nil {
			brings.name, brings.h, brings.ok = u.LocalRef+", pushed with it,", h, true
		}
		if err := pushedConfigError(f, repo, u.LocalSHA); err != nil {
			hookProblem(f, u.LocalRef, err)
			failed = true
		}
		root := pushedStacksRoot(f, repo, cfg, u.LocalSHA)
		if brings.ok && holdsNoPanka(repo, u.LocalSHA, root) {
			// A branch of something else (gh-pages, an orphan branch of
			// docs): a later ref is compared from it as from nothing, so
			// it is not kept, and does not take one of the
			// maxEarlierRefs places from the branches later ones fork
			// from (git push --all of 16 such branches left every later
			// branch checked whole, main pushed before them or not).
			brings.ok = false
		}
		// Said when a new branch is checked whole for want of a ref
		// maxEarlierRefs left out.
		capped := ""
		if unkept > 0 && u.NewBranch() {
			capped = fmt.Sprintf("; it is compared only with the first %d refs this push sends before it that bring commits, not with the %d after them: push the branch it forks from on its own first", maxEarlierRefs, unkept)
		}
		opts := changes.Options{Head: u.LocalSHA, StacksRoot: root, StacksRootAt: ownStacksRoot(f, repo, cfg)}
		other := otherRemote(repo, remote)
		if u.NewBranch() {
			if _, _, err := repo.DefaultBranch(); other || errors.Is(err, gitops.ErrNoDefaultBranch) {
				// No origin/HEAD, main or master (a default branch named
				// otherwise, in a clone of an empty repository), or a push
				// to another remote than the default branch's: compare
				// with the pushed remote's branches this clone knows.
				if name, fork, ok := remoteForkPoint(ctx, repo, remote, u, earlier); ok {
					if baseFromFork(f, repo, u, name, fork, &opts) {
						brings.ok = false
						continue
					}
				} else if other {
					why := fmt.Sprintf("no remote-tracking branch of %s shares its history", remote)
					if isRemoteURL(remote) {
						why = fmt.Sprintf("%s is no configured remote, so nothing in this clone says what it holds", remote)
					}
					if all, ok := prePushCheckAll(ctx, f, repo, u.LocalSHA, root, why, capped); ok {
						if reportPrePush(f, u, all) {
							failed = true
						}
						continue
					}
				}
			}
		}
		if u.NewBranch() && opts.Base == "" && pushAddsNothing(ctx, f, repo, u) {
			brings.ok = false
			continue
		}
		if u.NewBranch() && opts.Base == "" {
			if name, _, err := repo.DefaultBranch(); err == nil && localBranchOnly(repo, name) {
				// Only a local main stands for the default branch: no
				// remote-tracking branch says what the remote holds (the
				// first push to an empty remote, or one never fetched),
				// and comparing with main's parent would leave every
				// older commit unchecked.
				why := fmt.Sprintf("no remote-tracking branch says what the remote holds, and the local %s does not", name)
				if done, ok := fromEarlierRefs(ctx, f, repo, u, earlier, &opts); done {
					brings.ok = false
					continue
				} else if !ok {
					if all, ok := prePushCheckAll(ctx, f, repo, u.LocalSHA, root, why, capped); ok {
						if reportPrePush(f, u, all) {
							failed = true
						}
						continue
					}
				}
			}
		}
		if !u.NewBranch() {
			// A remote SHA this clone does not have (someone else pushed
			// since the last fetch) falls back to the default base.
			if rh, err := repo.ResolveRef(u.RemoteSHA); err == nil {
				opts.Base = u.RemoteSHA
				if pushRewinds(ctx, f, repo, u, rh) {
					brings.ok = false
					continue
				}
				if !other && forcedOver(ctx, repo, u.LocalSHA, rh) && pushAddsNothing(ctx, f, repo, u) {
					// A branch reset to a commit of the remote default
					// branch (git reset --hard origin/main, then git push
					// --force) brings no commit either: compared from its
					// old fork point it would list main's changes. (One
					// replacing an unrelated history is checked whole; a
					// fast-forward, git push origin main:release, lists
					// what it moves the branch over.)
					brings.ok = false
					continue
				}
				if fork, ok := pushForkPoint(ctx, repo, u, rh, remote, other); ok {
					opts.Base = fork.String()
				}
			}
		}
		res, err := changes.Detect(ctx, repo, opts)
		checkedAll := false // every stack and stray file of the commit checked
		if errors.Is(err, changes.ErrStacksRootMoved) {
			// The stacks are there under another folder than panka.yaml
			// names (git mv stacks deploy, panka.yaml left as it was):
			// every panka changed on the commit fails (without the
			// check, CI listed every stack removed and destroyed them),
			// so the pipeline breaks on it. Stopped here, where the fix
			// (stacks.root in the same commit) is one amend away.
			hookLine(f, true, "panka: %s: %v", u.LocalRef, err)
			failed = true
			continue
		}
		if errors.Is(err, changes.ErrNoStacksRoot) {
			// Nothing to check (no stacks yet, or stacks.root is wrong):
			// say so, but do not block the push. A branch of something
			// else (gh-pages), or a repository without panka, has no
			// stacks.root to set.
			if holdsNoPanka(repo, u.LocalSHA, root) {
				hookNote(f, "panka: %s holds no stacks (no %s folder, no %s): nothing to check", u.LocalRef, stacksRoot(root), repoConfigFile)
			} else {
				hookLine(f, false, "panka: %s: %v", u.LocalRef, err)
			}
			continue
		}
		var re *gitops.RefError
		if err != nil && opts.Base == "" && errors.As(err, &re) && re.Shallow && re.MergeBase {
			// A shallow clone cut off above where the pushed commit and
			// the remote default branch meet (a branch made from another
			// remote branch in git clone --depth 1 --no-single-branch):
			// compared from where it forks from the remote's branches
			// this clone has, as without a default branch, rather than
			// every stack checked and listed as added.
			if name, fork, ok := remoteForkPoint(ctx, repo, remote, u, earlier); ok {
				if baseFromFork(f, repo, u, name, fork, &opts) {
					brings.ok = false
					continue
				}
				res, err = changes.Detect(ctx, repo, opts)
			}
		}
		if err != nil && opts.Base == "" {
			if done, ok := fromEarlierRefs(ctx, f, repo, u, earlier, &opts); done {
				brings.ok = false
				continue
			} else if ok {
				res, err = changes.Detect(ctx, repo, opts)
			}
		}
		if err != nil && opts.Base == "" {
			// Nothing to compare with (the first push to an empty remote,
			// or no default branch to find): check every stack of the
			// pushed commit rather than refuse the push.
			if all, ok := prePushCheckAll(ctx, f, repo, u.LocalSHA, root, "", capped); ok {
				res, err, checkedAll = all, nil, true
			}
		}
		if errors.Is(err, gitops.ErrUnrelatedHistories) && opts.Base != "" {
			// A push that replaces the remote branch with an unrelated
			// history (git push --force over an orphan branch): no fork
			// point, so every stack of the pushed commit is checked.
			why := fmt.Sprintf("it shares no history with %.12s, what %s holds", u.RemoteSHA, u.RemoteRef)
			if all, ok := prePushCheckAll(ctx, f, repo, u.LocalSHA, root, why, ""); ok {
				res, err, checkedAll = all, nil, true
			}
		}
		if err != nil {
			return fmt.Errorf("pre-push %s: %w", u.LocalRef, err)
		}
		if !checkedAll {
			// New stacks, which detection lists without loading, and
			// YAML the push adds outside every stack (a new stack
			// without its stack.yaml): panka validate refuses them, as
			// checking every stack does.
			more, err := hooks.CheckPushed(ctx, repo, res, stacksRoot(root))
			if err != nil {
				return fmt.Errorf("pre-push %s: %w", u.LocalRef, err)
			}
			res.Problems = append(res.Problems, more...)
		}
		if reportPrePush(f, u, res) {
			failed = true
		}
	}
	if failed {
		return errPushRefused
	}
	return nil
}

// prePushConfig is the configuration a pre-push hook runs with. git
// pushes commits, not the work tree: a panka.yaml edit not yet committed
// (half-typed, a key of a newer panka) refused every push, of commits
// whose own panka.yaml is fine, with an error that named the work tree's
// file. That file is then left out, with a warning: each pushed commit
// is checked under its own panka.yaml (pushedConfigError refuses one that
// does not load).
func prePushConfig(f *Factory, repo *gitops.Repo) (*config.Resolved, error) {
	cfg, err := f.Config()
	if err == nil {
		return cfg, nil
	}
	b, rerr := repoConfigAt(f, repo, "")
	if rerr != nil {
		return nil, err
	}
	werr := config.CheckRepoFile(repoConfigFile, b, f.Environ())
	if werr == nil {
		return nil, err // not the work tree's panka.yaml
	}
	cfg, cerr := f.configForStackLines(nil, nil, "", false, true)
	if cerr != nil {
		return nil, err
	}
	// One line: its problems each a line of their own would stand among
	// the hook's "panka: REF:" lines without a prefix.
	f.Warnf("the work tree's %s does not load (%s): a push sends commits, so each pushed commit is checked under its own %s", repoConfigFile, strings.ReplaceAll(werr.Error(), "\n", "; "), repoConfigFile)
	return cfg, nil
}

// pushedStacksRoot is the stacks root a pushed commit is checked under:
// the stacks.root of its own panka.yaml. The work tree's may not be the
// pushed commit's: git push origin feature (or --all) from another
// branch, or an uncommitted edit of panka.yaml. A branch that moved the
// stacks folder was read under the checked-out root, its stacks listed
// as removed and none of them loaded, so a stack that no longer loads
// went through. PANKA_STACKS_ROOT or a flag wins, as everywhere; a
// panka.yaml that cannot be read leaves the work tree's.
func pushedStacksRoot(f *Factory, repo *gitops.Repo, cfg *config.Resolved, sha string) string {
	unset, fixed := stacksRootUnset(cfg)
	if fixed {
		return cfg.Stacks.Root
	}
	if root, ok := stacksRootAt(f, repo, sha, unset); ok {
		return root
	}
	return cfg.Stacks.Root
}

// preCommitUpdate is the pushed ref the pre-commit framework (pre-commit,
// prek) names in its environment. It reads git's standard input itself
// and runs a pre-push command with an empty one, naming the first ref
// that is not a deletion: PRE_COMMIT_TO_REF the commit pushed (left out
// for a push that carries the root commit: PRE_COMMIT_LOCAL_BRANCH then),
// PRE_COMMIT_FROM_REF the remote ref's commit when this clone has it, else
// the parent of the first commit no remote-tracking branch holds, which
// the remote holds too: compared from it as from the remote's commit.
func preCommitUpdate(f *Factory, repo *gitops.Repo) (hooks.PushUpdate, error) {
	local := f.Getenv("PRE_COMMIT_LOCAL_BRANCH")
	to := f.Getenv("PRE_COMMIT_TO_REF")
	if to == "" {
		to = local
	}
	h, err := repo.ResolveRef(to)
	if err != nil {
		return hooks.PushUpdate{}, fmt.Errorf("the pushed commit pre-commit names (PRE_COMMIT_TO_REF or PRE_COMMIT_LOCAL_BRANCH %q): %w", to, err)
	}
	u := hooks.PushUpdate{LocalRef: local, LocalSHA: h.String(), RemoteRef: f.Getenv("PRE_COMMIT_REMOTE_BRANCH"), RemoteSHA: hooks.ZeroSHA}
	if u.LocalRef == "" {
		u.LocalRef = h.String()
	}
	if from, err := repo.ResolveRef(f.Getenv("PRE_COMMIT_FROM_REF")); f.Getenv("PRE_COMMIT_FROM_REF") != "" && err == nil {
		u.RemoteSHA = from.String()
	}
	return u, nil
}

// pushedConfigError is what every panka command would refuse in the
// pushed commit's panka.yaml (not YAML, an unknown key, a bad value): only
// the work tree's was read, so a branch pushed from another checkout (git
// push origin feature) carried a panka.yaml that no longer loads without
// a word.
func pushedConfigError(f *Factory, repo *gitops.Repo, sha string) error {
	b, err := repoConfigAt(f, repo, sha)
	if err != nil {
		return nil // none there (or not readable: the checks below say so)
	}
	return config.CheckRepoFile(repoConfigFile, b, f.Environ())
}

// stdinIsDevice reports whether in is a file that is a character device,
// such as /dev/null (a terminal is turned away before).
func stdinIsDevice(in io.Reader) bool {
	file, ok := in.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// reportPrePush says what one pushed ref changes, and its problems (a
// stack that no longer loads): failed is true when there are any.
func reportPrePush(f *Factory, u hooks.PushUpdate, res *changes.Result) (failed bool) {
	for _, p := range res.Problems {
		failed = true
		hookProblem(f, u.LocalRef, p)
	}
	if len(res.Stacks) == 0 {
		// The most common push in a monorepo.
		hookNote(f, "panka: %s changes no stack", u.LocalRef)
		return failed
	}
	hookLine(f, false, "panka: %s changes:", u.LocalRef)
	for i, s := range res.Stacks {
		if i == maxListedStacks {
			// A shared file or a first push of a monorepo changes
			// thousands: git shows the one pushing a screenful.
			base := gitops.EmptyTree.String() // every stack checked: from nothing
			if res.Base != "" && res.Base != base {
				base = short(res.Base) // (the empty tree is no object to abbreviate)
			}
			hookLine(f, false, "  ... and %d more (panka changed --base %s --head %s lists them)", len(res.Stacks)-i, base, short(res.Head))
			break
		}
		hookLine(f, false, "  %s", prePushLine(s))
	}
	return failed
}

// hookProblem writes a problem of the pushed ref in the pre-push report:
// a line each of problemLines, prefixed; one log record with
// --log-format json.
func hookProblem(f *Factory, ref string, p error) {
	if f.jsonLog != nil {
		hookLine(f, true, "panka: %s: %v", ref, p)
		return
	}
	for _, line := range problemLines(p) {
		hookLine(f, true, "panka: %s: %s", ref, line)
	}
}

// problemLines is a problem of the pre-push report a line each, for
// every line to carry the "panka: REF:" prefix, as git's "remote:" lines
// do: a stack's several problems (a *stacks.Errors, one a line) came with
// only the first prefixed, the others bare among git's own output, and in
// the order they were found, which jumps about in a file. They are now
// under their stack's line, indented, in file and line order, as panka
// validate lists them.
func problemLines(p error) []string {
	var es *stacks.Errors
	if errors.As(p, &es) && len(es.List) > 1 {
		if head, ok := strings.CutSuffix(p.Error(), es.Error()); ok && head != "" {
			probs := problemsOf(es, "", "")
			sortProblems(probs)
			lines := []string{strings.TrimSuffix(head, " ")}
			for _, q := range probs {
				lines = append(lines, "  "+q.location())
			}
			return lines
		}
	}
	// Another error of several lines (panka.yaml's unknown keys, one a
	// line): each line its own, as it reads without the prefix.
	return strings.Split(p.Error(), "\n")
}

// remoteDefaultBranch is the remote default branch (origin/main, or
// upstream/main in a clone whose one remote is upstream); ok is false when
// only a local branch (main, master, init.defaultBranch's, the only one),
// or nothing, stands for it.
func remoteDefaultBranch(repo *gitops.Repo) (name string, tip gitops.Hash, ok bool) {
	name, tip, err := repo.DefaultBranch()
	if err != nil || localBranchOnly(repo, name) {
		return "", gitops.ZeroHash, false
	}
	return name, tip, true
}

// localBranchOnly reports whether the default branch name
// (gitops.DefaultBranch) is a local branch, not a remote-tracking one: it
// says nothing of what the remote holds.
func localBranchOnly(repo *gitops.Repo, name string) bool {
	return !strings.HasPrefix(repo.FullRefName(name), "refs/remotes/")
}

// hookLine writes one line of the pre-push report on stderr (it is what
// git shows the one pushing), or, with --log-format json, a JSON log line:
// level error for a stack that no longer loads (isErr), info otherwise.
func hookLine(f *Factory, isErr bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case f.jsonLog != nil && isErr:
		f.jsonLog.Error().Msg(msg)
	case f.jsonLog != nil:
		f.jsonLog.Info().Msg(strings.TrimSpace(msg))
	default:
		fmt.Fprintln(f.IO.ErrOut, msg)
	}
}

// hookNote is a line of the pre-push report that says nothing was to be
// checked (a ref that changes no stack, or brings no commit), printed
// only when asked (-v, PANKA_LOGGING_LEVEL=info): git's own hooks are
// silent when all is well, and git push --tags, --follow-tags or --mirror
// pushes hundreds of refs that bring no commit, a line each.
func hookNote(f *Factory, format string, args ...any) {
	if f.Log.GetLevel() <= zerolog.InfoLevel {
		hookLine(f, false, format, args...)
	}
}

// pushAddsNothing reports (and, when asked, says) that a branch or tag is pushed at
// a commit the remote default branch already holds: the push brings no
// commit, so nothing to check. (The default base would otherwise compare
// that commit with its first parent and list its own changes again.)
func pushAddsNothing(ctx context.Context, f *Factory, repo *gitops.Repo, u hooks.PushUpdate) bool {
	name, tip, ok := remoteDefaultBranch(repo)
	if !ok {
		return false // a local main says nothing of what the remote holds
	}
	h, err := repo.ResolveRef(u.LocalSHA)
	if err != nil {
		return false
	}
	if mb, err := repo.MergeBase(ctx, h, tip); err != nil || mb != h {
		return false
	}
	hookNote(f, "panka: %s adds no commit to %s: nothing to check", u.LocalRef, name)
	return true
}

// pushRewinds reports (and, when asked, says) that a push moves the remote ref back to
// one of its own ancestors (git reset, then git push --force): it brings
// no commit to check, and comparing from the merge-base (the pushed commit
// itself) would say it changes no stack, when the remote branch loses
// what the commits after it changed.
func pushRewinds(ctx context.Context, f *Factory, repo *gitops.Repo, u hooks.PushUpdate, remote gitops.Hash) bool {
	h, err := repo.ResolveRef(u.LocalSHA)
	if err != nil || h == remote {
		return false
	}
	if mb, err := repo.MergeBase(ctx, h, remote); err != nil || mb != h {
		return false
	}
	hookNote(f, "panka: %s moves back from %.12s to an earlier commit, %.12s: no new commit to check (the stacks are as they were at %.12s)",
		u.LocalRef, remote, h, h)
	return true
}

// forcedOver reports whether the pushed commit sha replaces the remote
// ref's commit without descending from it (a forced push), the two
// sharing history.
func forcedOver(ctx context.Context, repo *gitops.Repo, sha string, remote gitops.Hash) bool {
	h, err := repo.ResolveRef(sha)
	if err != nil {
		return false
	}
	mb, err := repo.MergeBase(ctx, h, remote)
	return err == nil && mb != remote
}

// pushForkPoint is where the pushed commits fork from what the remote
// already holds, when that is past their merge-base with the remote ref
// they replace: a branch rebased onto a newer main and pushed with
// --force (or --force-with-lease) forks from the old main at the remote
// branch's commit, and comparing from there lists main's own changes,
// which the remote already has and git does not send, as the push's.
// The remote default branch's merge-base with the pushed commit is then
// the later fork point (with no remote default branch, or for a push to
// another remote: the latest fork point from that remote's branches this
// clone knows). A fast-forward is left to mergedDefaultForkPoint. ok is
// false when it is not the later fork point (a forced push of a branch
// that merged main in).
func pushForkPoint(ctx context.Context, repo *gitops.Repo, u hooks.PushUpdate, remote gitops.Hash, remoteName string, other bool) (gitops.Hash, bool) {
	h, err := repo.ResolveRef(u.LocalSHA)
	if err != nil {
		return gitops.ZeroHash, false
	}
	fromRemote, err := repo.MergeBase(ctx, h, remote)
	if err != nil {
		return gitops.ZeroHash, false
	}
	if fromRemote == remote {
		return mergedDefaultForkPoint(ctx, repo, h, remote, other)
	}
	var fromDefault gitops.Hash
	if _, tip, ok := remoteDefaultBranch(repo); ok && !other {
		if fromDefault, err = repo.MergeBase(ctx, h, tip); err != nil {
			return gitops.ZeroHash, false
		}
	} else if _, fork, ok := remoteForkPoint(ctx, repo, remoteName, u, nil); ok {
		// No default branch (no origin/HEAD, main or master), or a push
		// to another remote: the latest fork point from its branches.
		fromDefault = fork
	} else {
		return gitops.ZeroHash, false
	}
	if fromDefault == fromRemote || fromDefault == h {
		return gitops.ZeroHash, false
	}
	// Only a fork point the remote ref's own one is an ancestor of: it
	// is then on both histories, and every commit between the two is
	// already on the remote.
	if mb, err := repo.MergeBase(ctx, fromRemote, fromDefault); err != nil || mb != fromRemote {
		return gitops.ZeroHash, false
	}
	return fromDefault, true
}

// mergedDefaultForkPoint is where a fast-forward push forks from the
// remote default branch when the branch merged that branch in since the
// remote ref's commit (git merge origin/main, git pull origin main): the
// merged commits are already on the remote, and compared from the remote
// ref's commit they were listed, and checked, as the push's own (a stack
// main broke refused the push of a branch that never touched it). Compared
// from the fork point, the push lists what the branch changes against the
// default branch, as panka changed lists a branch. ok is false for any
// other fast-forward, compared from the remote ref's commit as git log
// <remote sha>..<local sha> lists it: one with no merge of the default
// branch, and a deploy branch (git push origin main:release), whose commit
// the default branch holds, which lists all it moves over.
func mergedDefaultForkPoint(ctx context.Context, repo *gitops.Repo, h, remote gitops.Hash, other bool) (gitops.Hash, bool) {
	if other {
		return gitops.ZeroHash, false
	}
	_, tip, ok := remoteDefaultBranch(repo)
	if !ok {
		return gitops.ZeroHash, false
	}
	fork, err := repo.MergeBase(ctx, h, tip)
	if err != nil || fork == h || fork == remote {
		return gitops.ZeroHash, false
	}
	// Only when the two have each what the other lacks: the remote ref
	// holds the branch's own commits, the fork point main's merged ones.
	if mb, err := repo.MergeBase(ctx, fork, remote); err != nil || mb == fork || mb == remote {
		return gitops.ZeroHash, false
	}
	return fork, true
}

// otherRemote reports whether the hook's remote (git passes its name) is
// a configured remote other than the one whose default branch panka
// compares with: git push mirror, with origin/main the default branch,
// which says nothing of what mirror holds. So is a URL or path that no
// configured remote names (git push ../backup.git feat): it has no
// remote-tracking branch at all, and compared with origin's default
// branch, a new branch's older commits, which that remote may well lack,
// went unchecked. (The hook turns a configured remote's URL into its
// name first.)
func otherRemote(repo *gitops.Repo, remote string) bool {
	if remote == "" {
		return false
	}
	if isRemoteURL(remote) {
		name, known := repo.RemoteFor(remote)
		if !known {
			return true
		}
		remote = name
	}
	name, _, ok := remoteDefaultBranch(repo)
	return ok && !strings.HasPrefix(name, remote+"/")
}

// isRemoteURL reports whether the remote git passes a pre-push hook is a
// URL or a path rather than a remote's name.
func isRemoteURL(remote string) bool {
	return strings.ContainsAny(remote, "/:\\")
}

// remoteForkPoint is where a new branch's pushed commit forks from the
// remote's branches this clone knows (refs/remotes/<remote>/*), and from
// the refs pushed before it in the same push (earlier, which the remote
// holds once the push is done), for a clone without a default branch to
// compare with: the latest of its merge-bases with them, so the commits
// the remote already holds are not listed as the push's. name is the
// branch it forks from. ok is false with no such branch, or when two
// fork points are on separate lines (neither is the later).
func remoteForkPoint(ctx context.Context, repo *gitops.Repo, remote string, u hooks.PushUpdate, earlier map[string]gitops.Hash) (name string, fork gitops.Hash, ok bool) {
	if remote == "" {
		remote = "origin"
	}
	branches, err := repo.RemoteBranches(remote)
	if err != nil {
		branches = nil
	}
	branches = maps.Clone(branches)
	if branches == nil {
		branches = map[string]gitops.Hash{}
	}
	maps.Copy(branches, earlier)
	h, err := repo.ResolveRef(u.LocalSHA)
	if err != nil {
		return "", gitops.ZeroHash, false
	}
	return forkPointAmong(ctx, repo, h, branches)
}

// forkPointAmong is the latest of commit h's merge-bases with branches
// (name -> commit), and the branch it forks from; ok is false with none
// that shares its history, or when two fork points are on separate lines
// (neither is the later).
func forkPointAmong(ctx context.Context, repo *gitops.Repo, h gitops.Hash, branches map[string]gitops.Hash) (name string, fork gitops.Hash, ok bool) {
	names := slices.Sorted(maps.Keys(branches))
	for _, n := range names {
		mb, err := repo.MergeBase(ctx, h, branches[n])
		if err != nil {
			continue // unrelated histories
		}
		if !ok {
			name, fork, ok = n, mb, true
			continue
		}
		if mb == fork {
			if branches[n] == mb {
				name = n // the branch at the fork point names it best
			}
			continue
		}
		switch both, err := repo.MergeBase(ctx, fork, mb); {
		case err != nil:
			return "", gitops.ZeroHash, false
		case both == fork:
			name, fork = n, mb // mb is the later
		case both != mb:
			return "", gitops.ZeroHash, false // neither is the later
		}
	}
	return name, fork, ok
}

// maxEarlierRefs bounds the refs of a push that later refs of the same
// push are compared from.
const maxEarlierRefs = 16

// fromEarlierRefs sets opts.Base to where u's commit forks from the refs
// pushed before it (earlier), for a ref with nothing else to compare
// with (ok); done is true when one of them holds the commit (said when
// asked), so there is nothing to check.
func fromEarlierRefs(ctx context.Context, f *Factory, repo *gitops.Repo, u hooks.PushUpdate, earlier map[string]gitops.Hash, opts *changes.Options) (done, ok bool) {
	h, err := repo.ResolveRef(u.LocalSHA)
	if err != nil {
		return false, false
	}
	name, fork, ok := forkPointAmong(ctx, repo, h, earlier)
	if !ok {
		return false, false
	}
	return baseFromFork(f, repo, u, name, fork, opts), true
}

// baseFromFork sets opts.Base to fork, where u's commit forks from the
// branch name; nothing is true (and said when asked) when fork is that
// commit itself: name holds it, the push brings nothing to check.
func baseFromFork(f *Factory, repo *gitops.Repo, u hooks.PushUpdate, name string, fork gitops.Hash, opts *changes.Options) (nothing bool) {
	// The commit pushed: an annotated tag's id is the tag object's.
	if h, err := repo.ResolveRef(u.LocalSHA); err == nil && fork == h {
		hookNote(f, "panka: %s adds no commit (%s holds it): nothing to check", u.LocalRef, name)
		return true
	}
	opts.Base = fork.String()
	return false
}

// prePushCheckAll checks every stack of the pushed commit sha when it has
// no base to be compared with (ok is false when it has one: the comparison
// failed for another reason, which the caller reports). A why given says
// why the base is not to be used, and skips that test; more is added to
// the reason said.
func prePushCheckAll(ctx context.Context, f *Factory, repo *gitops.Repo, sha, root, why, more string) (*changes.Result, bool) {
	head, err := repo.ResolveRef(sha)
	if err != nil {
		return nil, false
	}
	if why == "" {
		_, berr := changes.DefaultBase(ctx, repo, head)
		if berr == nil {
			return nil, false
		}
		why = strings.TrimSuffix(berr.Error(), "; pass --base")
		if errors.Is(berr, gitops.ErrUnrelatedHistories) {
			// Not the advice of panka changed (--base), which a hook
			// cannot take.
			why = "it shares no history with the remote default branch"
		}
	}
	tree, err := repo.CommitTree(head)
	if err != nil {
		return nil, false
	}
	root = stacksRoot(root)
	if holdsNoPanka(repo, sha, root) {
		// An orphan branch of something else (gh-pages), a repository
		// without panka: nothing to check, and nothing to say.
		return &changes.Result{Head: head.String(), Stacks: []*changes.Stack{}}, true
	}
	if _, ok, err := repo.FirstParent(head); err == nil && !ok {
		why, more = "it is a first commit", ""
	}
	hookLine(f, false, "panka: nothing to compare %s with (%s%s): checking every stack", sha, why, more)
	res := hooks.CheckAll(repo.TreeFSOf(tree), root)
	res.Head = head.String()
	return res, true
}

// holdsNoPanka reports whether the pushed commit sha holds neither the
// stacks root nor a panka.yaml: a branch of something else, such as an
// orphan gh-pages of built docs, or a repository that does not use panka
// at all, whose hooks come from a shared core.hooksPath. "checking every
// stack" and "set stacks.root in panka.yaml" said something was wrong on
// every push. (With a panka.yaml there, the hint stays: its stacks.root
// may be wrong.)
func holdsNoPanka(repo *gitops.Repo, sha, root string) bool {
	h, err := repo.ResolveRef(sha)
	return err == nil && !hasPankaFiles(repo, h, root)
}

// hasPankaFiles reports whether commit h holds the stacks root or a
// panka.yaml (true when that cannot be read).
func hasPankaFiles(repo *gitops.Repo, h gitops.Hash, root string) bool {
	tree, err := repo.CommitTree(h)
	if err != nil {
		return true
	}
	fsys := repo.TreeFSOf(tree)
	for _, p := range []string{stacksRoot(root), repoConfigFile} {
		if _, err := fs.Stat(fsys, p); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// stacksRoot is stacks.root as a slash-separated path ("stacks" unset).
func stacksRoot(root string) string {
	if root == "" {
		root = "stacks"
	}
	return filepath.ToSlash(root)
}

// prePushLine describes one changed stack for the pre-push hook:
// "shop (modified): dev, qa (added)", "shop (moved from stacks/shop to
// apps/shop; no environment changed)".
func prePushLine(s *changes.Stack) string {
	what := string(s.Change)
	if s.Change == changes.Moved && s.OldPath != "" {
		what = fmt.Sprintf("moved from %s to %s", s.OldPath, s.Path)
	}
	var envs []string
	for _, env := range s.Environments {
		// An environment's own kind, when it says more than the stack's.
		if k := s.EnvironmentChanges[env]; k != "" && k != changes.Modified && k != s.Change {
			env += " (" + string(k) + ")"
		}
		envs = append(envs, env)
	}
	if len(envs) == 0 {
		return fmt.Sprintf("%s (%s; no environment changed)", s.Stack, what)
	}
	return fmt.Sprintf("%s (%s): %s", s.Stack, what, strings.Join(envs, ", "))
}
