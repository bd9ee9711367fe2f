// Package gitops reads a git repository for panka: it opens a repository
// from any folder inside it (linked worktrees too), resolves refs, finds the
// remote default branch and merge-bases, lists the paths changed between two
// commits, serves a commit's tree as an fs.FS (so the stacks package can load
// any commit without a checkout), reports commit metadata, dirty work trees
// and shallow clones.
//
// go-git (v5) is the engine and gives complete answers on its own. When a
// git binary is on PATH (and Options.NoGitBinary is false) the hot paths are
// accelerated with it: `git diff-tree -z` for changed paths, `git cat-file
// --batch` for commit, tree and blob reads (pipelined in batches),
// `git rev-parse` / `git merge-base` / `git rev-list` for refs and history,
// and `git status --porcelain -z` for work-tree changes. Both paths give the
// same results (errors are always classified by go-git). Both paths give the
// same results; the tests run both on the same repositories. go-git's slow
// paths (path-filtered Log, Worktree.Status, Patch) are never used.
//
// The package never prints, never reads flags or environment variables and
// never writes to the repository, except Cache* helpers that write under
// <git-common-dir>/panka/.
package gitops
