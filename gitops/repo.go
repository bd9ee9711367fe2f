package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	formatcfg "github.com/go-git/go-git/v5/plumbing/format/config"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// Hash is a git object id.
type Hash = plumbing.Hash

// EmptyTree is git's empty tree (git hash-object -t tree /dev/null), which
// every git repository knows without storing it. As the base of a
// comparison it stands for "nothing": every stack is added.
var EmptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// ZeroHash is the all-zero object id (what CI systems send as the "before"
// commit of a new branch).
var ZeroHash = plumbing.ZeroHash

// Options control how a repository is read.
type Options struct {
	// NoGitBinary selects pure go-git even when a git binary is on PATH.
	NoGitBinary bool
	// GitBinary is the git executable to use as accelerator; empty means
	// "git" looked up on PATH.
	GitBinary string
}

// ErrNotRepository is returned (wrapped) by Open outside a git repository.
var ErrNotRepository = errors.New("not a git repository")

// Repo is an open repository. It is safe for concurrent use; object reads
// are serialized internally.
type Repo struct {
	r  *git.Repository
	st *packStorage // the pack files it keeps open
	// newStorage opens another go-git storage of the repository, for a
	// long read that must not hold up the others (go-git's storage is not
	// safe for concurrent use: r's is serialized by mu).
	newStorage func() *packStorage
	root       string // work tree root (absolute), "" for a bare repository
	gitDir     string // this work tree's git dir
	commonDir  string // shared git dir (differs from gitDir in linked worktrees)
	git        string // git binary path, "" when not used
	promisor   string // the promisor remote of a partial clone, else ""
	// fetchFailed: a batched fetch from the promisor remote failed, so
	// reads fetch each missing object on their own (see fetchAbsent).
	fetchFailed atomic.Bool
	// fetchWhy is what git said when that fetch failed (its last
	// "fatal:" line), for the errors about what is then missing.
	fetchWhy atomic.Pointer[string]
	fetchMu  sync.Mutex           // one batched fetch at a time (see fetchAbsent); guards idx
	idx      map[string]packIndex // pack indexes by path (see absent)

	mu      sync.Mutex // serializes go-git object access
	objects objectReader

	treeMu sync.RWMutex
	trees  map[Hash]*tree
	// commits holds commit objects read ahead (PrefetchCommits).
	commitMu sync.Mutex
	commits  map[Hash][]byte

	blobMu    sync.Mutex
	blobs     map[Hash][]byte // filled by Prefetch
	blobBytes int

	cg commitGraph
}

// Open opens the repository containing dir (dir may be any folder inside the
// work tree, or inside a linked worktree).
func Open(dir string, opts Options) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository at %s: %w", dir, err)
	}
	root, dotGit, err := findDotGit(abs)
	if err != nil {
		return nil, err
	}
	gitDir, commonDir, err := gitDirs(dotGit)
	if err != nil {
		return nil, fmt.Errorf("open repository at %s: %w", root, err)
	}
	// The storage is built here rather than by git.PlainOpen, so that
	// go-git's check of the repository's extensions sees them through
	// harmlessExtensions (see there).
	var dot billy.Filesystem = osfs.New(gitDir)
	if commonDir != gitDir {
		dot = dotgit.NewRepositoryFilesystem(dot, osfs.New(commonDir))
	}
	// go-git's default object cache holds up to 96 MiB; panka reads each
	// object about once, so a small cache keeps memory down.
	// KeepDescriptors: go-git otherwise opens and closes the pack file for
	// every object it reads (a 30,000-commit walk: 2.1 s instead of ~1 s);
	// Close releases them.
	objectsDir := filepath.Join(commonDir, "objects")
	dot = withAlternates(dot, objectsDir)
	newStorage := func() *packStorage {
		c := cache.NewObjectLRU(16 * cache.MiByte)
		// AlternatesFS: go-git reads the folders objects/info/alternates
		// names (see withAlternates) through the .git folder's own
		// filesystem by default, where the absolute paths git writes there
		// lie outside it and no object is found.
		return newPackStorage(filesystem.NewStorageWithOptions(dot, c, filesystem.Options{KeepDescriptors: true, AlternatesFS: osfs.New(string(filepath.Separator))}), objectsDir, c)
	}
	st := newStorage()
	r, err := git.Open(harmlessExtensions{st}, osfs.New(root))
	if err != nil {
		st.Close()
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("open repository at %s: %w", dir, ErrNotRepository)
		}
		if strings.Contains(strings.ToLower(err.Error()), "objectformat") {
			return nil, fmt.Errorf("open repository at %s: it uses SHA-256 object ids (extensions.objectFormat), which panka (go-git v5) cannot read: use a SHA-1 repository", root)
		}
		if errors.Is(err, git.ErrUnknownExtension) || errors.Is(err, git.ErrUnsupportedExtensionRepositoryFormatVersion) {
			return nil, fmt.Errorf("open repository at %s: %w: panka (go-git v5) cannot read a repository with that extension (git config --show-origin --get-regexp '^extensions\\.' lists them)", root, err)
		}
		return nil, fmt.Errorf("open repository at %s: %w", root, err)
	}
	repo := &Repo{r: r, st: st, newStorage: newStorage, root: root, gitDir: gitDir, commonDir: commonDir, trees: map[Hash]*tree{}, blobs: map[Hash][]byte{}, commits: map[Hash][]byte{}}
	if !opts.NoGitBinary {
		bin := opts.GitBinary
		if bin == "" {
			bin = "git"
		}
		if p, err := exec.LookPath(bin); err == nil {
			repo.git = p
		}
	}
	repo.promisor = repo.readPromisor()
	repo.objects = &goGitReader{repo: repo}
	if repo.git != "" {
		repo.objects = &catFileReader{repo: repo, fallback: repo.objects}
	}
	return repo, nil
}

// findDotGit walks up from dir to the folder holding .git (a directory, or a
// file with "gitdir: ..." in linked worktrees and submodules).
func findDotGit(dir string) (root, dotGit string, err error) {
	for d := dir; ; {
		p := filepath.Join(d, ".git")
		if _, err := os.Stat(p); err == nil {
			return d, p, nil
		}
		if filepath.Base(d) != ".git" && isBareRepo(d) {
			return "", "", fmt.Errorf("open repository at %s: %w: %s is a bare repository, without a work tree (run panka in a clone with one: git clone %s, or git worktree add)", dir, ErrNotRepository, d, d)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", "", fmt.Errorf("open repository at %s: %w (run panka inside a git work tree, or git init first)", dir, ErrNotRepository)
		}
		d = parent
	}
}

// ConfiguredWorkTree returns the work tree that core.worktree in the
// config file of the git directory gitDir names, made absolute (git reads
// a relative one from gitDir), or "" when it names none: such a git
// directory is not bare although it looks so (IsBareRepo), and it is
// found only through GIT_DIR, which panka does not follow.
func ConfiguredWorkTree(gitDir string) string {
	b, err := os.ReadFile(filepath.Join(gitDir, "config"))
	if err != nil {
		return ""
	}
	cfg := formatcfg.New()
	if err := formatcfg.NewDecoder(bytes.NewReader(b)).Decode(cfg); err != nil {
		return ""
	}
	wt := ""
	for _, sec := range cfg.Sections {
		if strings.EqualFold(sec.Name, "core") {
			for _, o := range sec.Options {
				if strings.EqualFold(o.Key, "worktree") {
					wt = o.Value
				}
			}
		}
	}
	if wt != "" && !filepath.IsAbs(wt) {
		wt = filepath.Join(gitDir, wt)
	}
	return wt
}

// IsBareRepo reports whether d, a folder not named .git, looks like a
// bare repository: one without a work tree to run panka in.
func IsBareRepo(d string) bool { return filepath.Base(d) != ".git" && isBareRepo(d) }

// isBareRepo reports whether d looks like a bare repository (HEAD, objects
// and refs at its top, as git's is_git_directory checks).
func isBareRepo(d string) bool {
	for _, n := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(d, n)); err != nil {
			return false
		}
	}
	return true
}

// GitDirs returns the git directory of the work tree at root (its .git, or
// a linked worktree's folder under the main repository's .git/worktrees)
// and the common directory its worktrees share, which holds the
// repository's config, objects and refs. It reads two small files and
// opens nothing, for callers that need no more than a config file.
func GitDirs(root string) (gitDir, commonDir string, err error) {
	return gitDirs(filepath.Join(root, ".git"))
}

// gitDirs returns the git dir and the common dir for a .git path.
func gitDirs(dotGit string) (gitDir, commonDir string, err error) {
	st, err := os.Stat(dotGit)
	if err != nil {
		return "", "", err
	}
	gitDir = dotGit
	if !st.IsDir() {
		b, err := os.ReadFile(dotGit)
		if err != nil {
			return "", "", err
		}
		line := strings.TrimSpace(string(b))
		if !strings.HasPrefix(line, "gitdir:") {
			return "", "", fmt.Errorf("%s: expected \"gitdir: <path>\"", dotGit)
		}
		gitDir = strings.TrimSpace(strings.TrimPrefix(line, "gitdir:"))
		if !filepath.IsAbs(gitDir) {
			gitDir = filepath.Join(filepath.Dir(dotGit), gitDir)
		}
	}
	commonDir = gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		commonDir = filepath.Clean(c)
	}
	return gitDir, commonDir, nil
}

// Close stops helper processes (git cat-file). The Repo must not be used
// afterwards.
func (r *Repo) Close() error {
	var err error
	objects := r.objects
	if c, ok := objects.(*catFileReader); ok {
		err = c.close()
		objects = c.fallback
	}
	if g, ok := objects.(*goGitReader); ok {
		g.close()
	}
	r.unmapIndexes()
	r.mu.Lock()
	defer r.mu.Unlock()
	if cerr := r.st.Close(); err == nil {
		err = cerr
	}
	if r.cg.index != nil {
		r.cg.index.Close()
		r.cg.index = nil
	}
	return err
}

// Root is the absolute path of the work tree.
func (r *Repo) Root() string { return r.root }

// GitDir is the git directory of this work tree (.git, or the worktree's
// folder under the main repository's .git/worktrees in linked worktrees).
func (r *Repo) GitDir() string { return r.gitDir }

// HasIndex reports whether this work tree has a staging index: a clone
// made with --no-checkout has none (and a new repository until its first
// git add).
func (r *Repo) HasIndex() bool {
	_, err := os.Stat(filepath.Join(r.gitDir, "index"))
	return !errors.Is(err, fs.ErrNotExist)
}

// CommonDir is the git directory shared by all worktrees; panka's caches
// live under CommonDir()/panka.
func (r *Repo) CommonDir() string { return r.commonDir }

// UsesGitBinary reports whether a git binary accelerates this Repo.
func (r *Repo) UsesGitBinary() bool { return r.git != "" }

// Go returns the underlying go-git repository.
func (r *Repo) Go() *git.Repository { return r.r }

// gitCmd runs git in the work tree and returns stdout.
func (r *Repo) gitCmd(ctx context.Context, args ...string) ([]byte, error) {
	cmd, stderr := r.gitCommand(ctx, args...)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// gitCommand is the git command gitCmd runs, in the work tree, never
// prompting, and what it writes on stderr.
func (r *Repo) gitCommand(ctx context.Context, args ...string) (*exec.Cmd, *strings.Builder) {
	cmd := exec.CommandContext(ctx, r.git, args...)
	cmd.Dir = r.root
	cmd.Env = append(r.gitEnv(), "GIT_TERMINAL_PROMPT=0")
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	return cmd, stderr
}

// gitCmdWarn is gitCmd that also returns what git wrote on stderr when it
// succeeds (a warning).
func (r *Repo) gitCmdWarn(ctx context.Context, args ...string) (out []byte, warn string, err error) {
	cmd, stderr := r.gitCommand(ctx, args...)
	out, err = cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, stderr.String(), nil
}

// harmlessExtensions is the repository's storage with the extensions that
// do not change how panka reads it hidden from go-git, which refuses to
// open a repository with an extension it does not implement (and, in
// v5.19, with any extension at all in a repository of format version 0):
// worktreeConfig (per-worktree config files, set by every git
// sparse-checkout), partialClone (objects fetched on demand: a missing one
// is reported as such when read), preciousObjects (objects must not be
// deleted; panka deletes none) and noop. Extensions that do change how the
// repository is read (objectFormat, refStorage) stay visible, so that
// go-git refuses them.
type harmlessExtensions struct{ *packStorage }

var harmless = map[string]bool{"worktreeconfig": true, "partialclone": true, "preciousobjects": true, "noop": true}

// Config implements config.ConfigStorer.
func (s harmlessExtensions) Config() (*config.Config, error) {
	cfg, err := s.packStorage.Config()
	if err != nil || cfg.Raw == nil || !cfg.Raw.HasSection("extensions") {
		return cfg, err
	}
	sec := cfg.Raw.Section("extensions")
	kept := sec.Options[:0:0]
	for _, o := range sec.Options {
		if !harmless[strings.ToLower(o.Key)] {
			kept = append(kept, o)
		}
	}
	sec.Options = kept
	return cfg, nil
}

// repoEnv are the variables by which git finds a repository, its index and
// its objects. go-git reads the repository Open found; the git processes
// that accelerate it must read that one too, not one these variables
// point at (set in the environment, or by git itself for hooks).
var repoEnv = []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE",
	"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
	"GIT_GRAFT_FILE"}

// gitEnv is the environment of the git processes: this process's, with
// the repository named explicitly, and replace refs (git replace) and
// grafts (.git/info/grafts) off: go-git reads the objects as they are, as
// a clone of the repository does (neither refs/replace/ nor the grafts file
// is fetched by default), so the git processes must not swap in another
// commit's parents or tree either. GIT_NO_REPLACE_OBJECTS leaves grafts on;
// GIT_GRAFT_FILE naming a file that does not exist turns them off.
func (r *Repo) gitEnv() []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+4)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(repoEnv, name) {
			out = append(out, kv)
		}
	}
	return append(out, "GIT_DIR="+r.gitDir, "GIT_WORK_TREE="+r.root, "GIT_OPTIONAL_LOCKS=0", "GIT_NO_REPLACE_OBJECTS=1", "GIT_GRAFT_FILE="+filepath.Join(r.gitDir, "panka-no-grafts"), "LC_ALL=C")
}
