package gitops

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		why := fetchError(stderr.String())
		if why == "" {
			why = err.Error()
		}
		r.fetchWhy.Store(&why)
		r.fetchFailed.Store(true)
	}
}

// fetchError is the line of a failed git fetch's stderr that says why
// (the first "fatal:" one: "'/srv/repo' does not appear to be a git
// repository", "unable to access ...: Could not resolve host"), without
// the prefix; else its first line. Credentials in a URL (git anonymizes
// most, but not every message) are left out.
func fetchError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	why := strings.TrimSpace(lines[0])
	for _, l := range lines {
		if w, ok := strings.CutPrefix(strings.TrimSpace(l), "fatal: "); ok {
			why = w
			break
		}
	}
	return urlUserinfoRe.ReplaceAllString(why, "://")
}

// urlUserinfoRe matches the user[:password]@ of a URL.
var urlUserinfoRe = regexp.MustCompile(`://[^/@\s]+@`)

// absent returns those of hashes (deduplicated) that no pack index lists
// and that are not loose objects, in the clone's object folder or in
// those of the repositories it borrows from (objects/info/alternates: git
// clone --reference, --shared), which git reads before fetching: objects
// of an alternate were fetched again from the promisor remote, a CI
// runner's reference cache saving nothing. The pack indexes are looked up
// mapped in memory as git writes them (idxHas), not decoded: in a partial
// clone of a big repository that would read millions of ids to look up a
// few on every run, a small push included. The caller holds fetchMu.
func (r *Repo) absent(hashes []Hash) []Hash {
	objects := filepath.Join(r.commonDir, "objects")
	dirs := append([]string{objects}, alternateDirs(objects)...)
	r.mapIndexes(dirs)
	var out []Hash
	seen := make(map[Hash]bool, len(hashes))
	for _, h := range hashes {
		if seen[h] {
			continue
		}
		seen[h] = true
		if r.indexed(h) || slices.ContainsFunc(dirs, func(d string) bool { return isLoose(d, h) }) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// packIndex is a pack index file (.idx) in memory, for absent.
type packIndex struct {
	b      []byte
	mapped bool // b is mapped (unmap it), not read
}

// mapIndexes maps the pack indexes of the pack folders of the object
// folders dirs not mapped yet (packs fetched since), and unmaps those of
// packs deleted since (a repack). The caller holds fetchMu.
func (r *Repo) mapIndexes(dirs []string) {
	if r.idx == nil {
		r.idx = map[string]packIndex{}
	}
	now := map[string]bool{}
	for _, dir := range dirs {
		packDir := filepath.Join(dir, "pack")
		ents, err := os.ReadDir(packDir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".idx") {
				continue
			}
			p := filepath.Join(packDir, e.Name())
			now[p] = true
			if _, ok := r.idx[p]; ok {
				continue // named by its contents: the same file
			}
			x := packIndex{}
			if fi, err := e.Info(); err == nil {
				x.b = mapFile(p, fi.Size())
				x.mapped = x.b != nil
			}
			if x.b == nil {
				if x.b, err = os.ReadFile(p); err != nil {
					continue
				}
			}
			r.idx[p] = x
		}
	}
	for name, x := range r.idx {
		if !now[name] {
			if x.mapped {
				unmapFile(x.b)
			}
			delete(r.idx, name)
		}
	}
}

// unmapIndexes releases what mapIndexes mapped (Close).
func (r *Repo) unmapIndexes() {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	for name, x := range r.idx {
		if x.mapped {
			unmapFile(x.b)
		}
		delete(r.idx, name)
	}
}

// indexed reports whether a mapped pack index lists h.
func (r *Repo) indexed(h Hash) bool {
	for _, x := range r.idx {
		if idxHas(x.b, h) {
			return true
		}
	}
	return false
}

// idxHas reports whether the pack index idx (version 2: a 256-entry
// fan-out table of cumulative counts by first byte, then the sorted ids)
// lists h. Another version, or a damaged index, lists nothing here.
func idxHas(idx []byte, h Hash) bool {
	const fanout = 8
	if len(idx) < fanout+256*4 || string(idx[:4]) != "\xfftOc" || binary.BigEndian.Uint32(idx[4:8]) != 2 {
		return false
	}
	n := int(binary.BigEndian.Uint32(idx[fanout+255*4:]))
	ids := idx[fanout+256*4:]
	if n < 0 || len(ids)/hashLen < n {
		return false
	}
	lo, hi := 0, int(binary.BigEndian.Uint32(idx[fanout+int(h[0])*4:]))
	if h[0] > 0 {
		lo = int(binary.BigEndian.Uint32(idx[fanout+(int(h[0])-1)*4:]))
	}
	if hi > n || lo > hi {
		return false
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := compareID(h[:], ids[m*hashLen:(m+1)*hashLen]); {
		case c == 0:
			return true
		case c > 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}

// isLoose reports whether h is a loose object file of the objects folder.
func isLoose(objects string, h Hash) bool {
	hx := h.String()
	_, err := os.Stat(filepath.Join(objects, hx[:2], hx[2:]))
	return err == nil
}
