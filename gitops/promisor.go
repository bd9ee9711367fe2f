package gitops

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
)

// fetchAbsent fetches, in one `git fetch` from the promisor remote, those
// of hashes (trees and blobs) that this partial clone (git clone --filter)
// does not hold, before a batch reads them: git cat-file fetches a missing
// object on its own when asked for it, but one fetch process (and one
// round trip to the remote) per object — reading the stack files of a
// commit that is not checked out took minutes where one fetch takes a
// second. The fetch is git's own lazy fetch (promisor-remote.c) given
// every id at once. It is an optimisation only: when it fails (the remote
// cannot be reached, does not serve objects by id), the reads fetch each
// object as before and report what is missing, and no other batch tries
// again.
func (r *Repo) fetchAbsent(hashes []Hash) {
	if r.promisor == "" || r.git == "" || len(hashes) < 2 || r.fetchFailed.Load() {
		return
	}
	// Concurrent batches (the parts of a change detection) wait for the
	// fetch of another, which may have fetched what they lack.
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if r.fetchFailed.Load() {
		return
	}
	absent := r.absent(hashes)
	if len(absent) < 2 {
		return // one object: cat-file's own fetch is the same
	}
	var in bytes.Buffer
	line := make([]byte, 41)
	line[40] = '\n'
	for _, h := range absent {
		hex.Encode(line[:40], h[:])
		in.Write(line)
	}
	cmd := exec.Command(r.git, "-c", "fetch.negotiationAlgorithm=noop", "fetch", r.promisor,
		"--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin")
	cmd.Dir = r.root
	cmd.Env = append(r.gitEnv(), "GIT_TERMINAL_PROMPT=0")
	cmd.Stdin = &in
	if err := cmd.Run(); err != nil {
		r.fetchFailed.Store(true)
	}
}

// absent returns those of hashes (deduplicated) that are neither in a pack
// nor loose in the object store. An object of an alternate repository
// counts as absent: it is fetched again, which costs time, not answers.
func (r *Repo) absent(hashes []Hash) []Hash {
	r.mu.Lock()
	defer r.mu.Unlock()
	find := func() []Hash {
		var out []Hash
		seen := make(map[Hash]bool, len(hashes))
		pr := r.st.reader()
		for _, h := range hashes {
			if seen[h] {
				continue
			}
			seen[h] = true
			if !pr.has(h) && !r.st.hasLoose(h) {
				out = append(out, h)
			}
		}
		return out
	}
	out := find()
	// Packs written since they were read (objects git fetched): look
	// again once, not once per object.
	if len(out) > 0 && r.st.rescan(plumbing.ErrObjectNotFound) {
		out = find()
	}
	return out
}

// hasLoose reports whether h is a loose object file.
func (s *packStorage) hasLoose(h Hash) bool {
	hx := h.String()
	_, err := os.Stat(filepath.Join(filepath.Dir(s.packDir), hx[:2], hx[2:]))
	return err == nil
}
