package gitops

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops/osfile"
)

// maxWorktreeRead bounds the work-tree files read in place of blobs.
const maxWorktreeRead = maxPrefetchBlob

// IndexEntry is one file of the staging index.
type IndexEntry struct {
	Path string
	Mode filemode.FileMode
	Hash Hash
}

// IndexedTree lists the files of tree t from the staging index
// (.git/index) instead of reading trees, when the index holds exactly that
// tree: its cache-tree extension is valid at the root and names t. That is
// what `git clone`, `git checkout` and `git reset --hard` leave, so a
// checked-out commit's listing costs one file read instead of thousands of
// tree reads. Only paths for which want returns true are returned (want
// must not keep its argument).
//
// ok is false — and the caller reads trees — whenever the index cannot
// answer: no index, a staged change, a format it does not know (split or
// sparse index, versions other than 2–4), or anything malformed. It never
// returns a partial answer.
func (r *Repo) IndexedTree(t Hash, want func(path []byte) bool) (entries []IndexEntry, ok bool) {
	if t.IsZero() {
		return nil, false
	}
	entries, tree, ok := r.StagedTree(want)
	if !ok || tree != t {
		return nil, false
	}
	return entries, true
}

// StagedTree is IndexedTree without knowing the tree yet: it lists the
// staging index's files (those want keeps) and returns the tree id its
// cache-tree extension names at the root, which they are exactly the
// listing of. ok is false whenever IndexedTree would be for any tree.
func (r *Repo) StagedTree(want func(path []byte) bool) (entries []IndexEntry, tree Hash, ok bool) {
	if r.root == "" {
		return nil, ZeroHash, false
	}
	b, err := os.ReadFile(filepath.Join(r.gitDir, "index"))
	if err != nil || len(b) < 12+20 || string(b[:4]) != "DIRC" {
		return nil, ZeroHash, false
	}
	end := len(b) - 20 // trailing checksum, all zeros with index.skipHash
	if sum := b[end:]; !bytes.Equal(sum, make([]byte, 20)) {
		if got := sha1.Sum(b[:end]); !bytes.Equal(got[:], sum) {
			return nil, ZeroHash, false // damaged: git itself would refuse it
		}
	}
	n := int(binary.BigEndian.Uint32(b[8:12]))
	matched := false
	ok = walkIndex(b, func(e *rawIndexEntry) bool {
		switch {
		case e.xflags&(1<<13) != 0: // intent-to-add: not a tree's entry
			return false
		case e.flags&0x3000 != 0: // a conflict stage: no tree matches the index
			return false
		case e.mode>>12 == 0o04: // a directory entry: sparse index
			return false
		}
		if want(e.path) {
			entries = append(entries, IndexEntry{Path: string(e.path), Mode: filemode.FileMode(e.mode), Hash: e.id})
		}
		return true
	}, func(sig string, data []byte) bool {
		// The cache tree must be valid at the root and name t; a split
		// index ("link") or sparse index ("sdir") lists other entries.
		switch sig {
		case "link", "sdir":
			return false
		case "TREE":
			// "<path>\0<entry count> <subtrees>\n<id>" with the root first.
			nl := bytes.IndexByte(data, '\n')
			if bytes.IndexByte(data, 0) != 0 || nl < 0 {
				return false
			}
			sp := bytes.IndexByte(data[:nl], ' ')
			if sp < 0 {
				return false
			}
			count, err := strconv.Atoi(string(data[1:sp]))
			if err != nil || count != n || len(data) < nl+1+20 {
				return false // -1: invalidated by a staged change
			}
			copy(tree[:], data[nl+1:nl+21])
			matched = true
		}
		return true
	})
	if !ok || !matched {
		return nil, ZeroHash, false
	}
	return entries, tree, true
}

// rawIndexEntry is one entry of a staging index file as walkIndex reads
// it; path is only valid until the next entry.
type rawIndexEntry struct {
	mode          uint32
	id            Hash
	flags, xflags uint16
	path          []byte
}

// walkIndex reads the staging index file b (versions 2–4; the trailing
// checksum is not checked), calling entry for each entry, then ext for
// each extension. It reports false when b is malformed, does not end
// exactly after its extensions, or a callback returned false.
func walkIndex(b []byte, entry func(*rawIndexEntry) bool, ext func(sig string, data []byte) bool) bool {
	if len(b) < 12+20 || string(b[:4]) != "DIRC" {
		return false
	}
	version := binary.BigEndian.Uint32(b[4:8])
	if version < 2 || version > 4 {
		return false
	}
	n := int(binary.BigEndian.Uint32(b[8:12]))
	end := len(b) - 20
	off := 12
	var e rawIndexEntry
	var prev []byte // v4: the previous path
	for i := 0; i < n; i++ {
		start := off
		if off+62 > end {
			return false
		}
		e.mode = binary.BigEndian.Uint32(b[off+24 : off+28])
		copy(e.id[:], b[off+40:off+60])
		e.flags, e.xflags = binary.BigEndian.Uint16(b[off+60:off+62]), 0
		off += 62
		if e.flags&0x4000 != 0 { // extended flags (v3+)
			if version < 3 || off+2 > end {
				return false
			}
			e.xflags = binary.BigEndian.Uint16(b[off : off+2])
			off += 2
		}
		if version == 4 {
			strip, k := offsetVarint(b[off:end])
			if k <= 0 || strip > len(prev) {
				return false
			}
			off += k
			nul := bytes.IndexByte(b[off:end], 0)
			if nul < 0 {
				return false
			}
			e.path = append(append(e.path[:0], prev[:len(prev)-int(strip)]...), b[off:off+nul]...)
			off += nul + 1
			prev = append(prev[:0], e.path...)
		} else {
			nul := bytes.IndexByte(b[off:end], 0)
			if nul < 0 {
				return false
			}
			e.path = b[off : off+nul]
			// Entries are padded with 1–8 NULs to a multiple of 8 bytes.
			off = start + (off-start+nul+8)&^7
		}
		if !entry(&e) {
			return false
		}
	}
	for off+8 <= end {
		sig := string(b[off : off+4])
		size := int(binary.BigEndian.Uint32(b[off+4 : off+8]))
		off += 8
		if size < 0 || off+size > end {
			return false
		}
		if !ext(sig, b[off:off+size]) {
			return false
		}
		off += size
	}
	return off == end
}

// PrefetchWorktreeBlobs fills the blob cache with the given blobs, each
// read from the work-tree file at its path when that file's content hashes
// to the blob's id (a checked-out file is there already; reading it costs
// less than asking git for it), and from the object store otherwise. Like
// PrefetchBlobs it is an optimisation: reads stay correct whatever it
// fetched.
func (r *Repo) PrefetchWorktreeBlobs(paths []string, ids []Hash) error {
	if r.root == "" || len(paths) != len(ids) {
		return r.PrefetchBlobs(ids)
	}
	// Only what is not in memory yet.
	r.blobMu.Lock()
	var ps []string
	var hs []Hash
	for i, h := range ids {
		if _, ok := r.blobs[h]; !ok {
			ps, hs = append(ps, paths[i]), append(hs, h)
		}
	}
	r.blobMu.Unlock()
	paths, ids = ps, hs
	got := make([][]byte, len(paths))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), 4, (len(paths)+63)/64)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hdr []byte
			tried, hits := 0, 0
			for i := w; i < len(paths); i += workers {
				// Where the work tree does not hold these contents (another
				// commit, nothing checked out), stop trying after a sample
				// and leave the rest to git.
				if tried >= 32 && hits*2 < tried {
					break
				}
				tried++
				data, ok := osfile.Read(filepath.Join(r.root, filepath.FromSlash(paths[i])), osfile.Options{Max: maxWorktreeRead, NoFollow: true})
				if !ok {
					continue
				}
				hdr = append(append(hdr[:0], "blob "...), strconv.Itoa(len(data))...)
				hdr = append(hdr, 0)
				h := sha1.New()
				h.Write(hdr)
				h.Write(data)
				var sum plumbing.Hash
				copy(sum[:], h.Sum(nil))
				if sum == ids[i] {
					got[i] = data
					hits++
				}
			}
		}()
	}
	wg.Wait()
	var missing []Hash
	r.blobMu.Lock()
	for i, data := range got {
		if data == nil {
			missing = append(missing, ids[i])
			continue
		}
		if _, ok := r.blobs[ids[i]]; !ok && r.blobBytes < maxBlobCache {
			r.blobs[ids[i]] = data
			r.blobBytes += len(data)
		}
	}
	r.blobMu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	if c, ok := r.objects.(*catFileReader); ok {
		return r.fillBlobs(c, missing)
	}
	return nil
}

// offsetVarint decodes git's variable-length integer (varint.c: big-endian
// groups of 7 bits, each continuation adding one). k is 0 when b ends
// first or the value overflows.
func offsetVarint(b []byte) (v, k int) {
	for i, c := range b {
		if i > 0 {
			v++
		}
		if v > 1<<24 {
			return 0, 0
		}
		v = v<<7 | int(c&0x7f)
		if c&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
