package gitops

import (
	"os"
	"sync/atomic"
)

// SetCatFileSplit makes batches of at least n objects spread over procs
// cat-file processes, for tests; it returns a function restoring the
// defaults.
func SetCatFileSplit(n, procs int) func() {
	oldN, oldP := minSplit, catFileProcs
	minSplit, catFileProcs = n, procs
	return func() { minSplit, catFileProcs = oldN, oldP }
}

// SetPlainBatch makes new cat-file readers use plain --batch even where
// git has --batch-command --buffer, for tests of both protocols; it
// returns a function restoring the default.
func SetPlainBatch(plain bool) func() {
	old := noBatchCommand
	noBatchCommand = plain
	return func() { noBatchCommand = old }
}

// GitVersionAtLeast exposes the version check to tests.
func GitVersionAtLeast(out string, major, minor int) bool {
	return gitVersionAtLeast(out, [2]int{major, minor})
}

// PaintDown runs the pure Go merge-base walk alone (no fallback), for
// tests; ok is false when it leaves the answer to go-git.
func (r *Repo) PaintDown(a, b Hash) (Hash, bool) {
	st := r.newStorage()
	defer st.Close()
	h, err := paintDown(r.commitLinks(st), a, b)
	return h, err == nil
}

// UsesCommitGraph reports whether history walks read the repository's
// commit-graph.
func (r *Repo) UsesCommitGraph() bool { return r.graph() != nil }

// CountWorktreeReads makes the go-git status count the work-tree folders
// it reads and the tracked files it stats; it returns the counter and a
// function restoring the defaults.
func CountWorktreeReads() (*atomic.Int64, func()) {
	var n atomic.Int64
	oldDir, oldStat := readDir, lstat
	readDir = func(name string) ([]os.DirEntry, error) { n.Add(1); return oldDir(name) }
	lstat = func(name string) (os.FileInfo, error) { n.Add(1); return oldStat(name) }
	return &n, func() { readDir, lstat = oldDir, oldStat }
}

// LooksBinary exposes git's binary guess (text=auto, core.autocrlf) to tests.
func LooksBinary(content []byte) bool { return looksBinary(content) }

// EnvConfig exposes the reading of git's configuration from the
// environment (GIT_CONFIG_COUNT, GIT_CONFIG_PARAMETERS) to tests.
func EnvConfig(name string) (string, bool) {
	var v string
	var found bool
	envConfig(name, &v, &found)
	return v, found
}

// Absent exposes the lookup of the objects a partial clone lacks.
func (r *Repo) Absent(hashes []Hash) []Hash {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	return r.absent(hashes)
}

// FetchError exposes fetchError.
var FetchError = fetchError
