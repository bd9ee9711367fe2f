// Package local is the file-system statestore backend: state and history
// under <dir>/state/ (by default <repo>/.panka/state/), in the same layout
// as the S3 backend (SPEC §5). It is the default when no backend is
// configured.
//
// state.json is replaced atomically (temp file, fsync, rename, fsync of the
// directory) under a per-stack/environment lock file (flock), and the
// version token is a SHA-256 of the content, so compare-and-swap holds across
// goroutines and processes on one machine. History records are created with
// a hard link (or O_EXCL), never overwritten. The package writes
// <dir>/.gitignore (`*`) so state never ends up in git.
package local
