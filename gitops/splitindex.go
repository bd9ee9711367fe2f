package gitops

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// readIndex reads this work tree's staging index with go-git, including a
// split index (core.splitIndex, which go-git does not read by itself): the
// entries of .git/index are then changes over a shared index file. A
// missing index is an empty one.
func (r *Repo) readIndex() (*index.Index, error) {
	p := filepath.Join(r.gitDir, "index")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &index.Index{Version: 2}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the git index %s: %w", p, err)
	}
	// index.skipHash (the default with feature.manyFiles since git 2.40)
	// writes no checksum: its trailer is all zeros, which go-git's
	// decoder refused as "invalid checksum" (git never checks it). Give
	// the decoder the checksum it wants.
	if len(b) >= 12+20 && bytes.Equal(b[len(b)-20:], make([]byte, 20)) {
		sum := sha1.Sum(b[:len(b)-20])
		copy(b[len(b)-20:], sum[:])
	}
	idx := &index.Index{}
	err = index.NewDecoder(bytes.NewReader(b)).Decode(idx)
	if err == nil {
		return idx, nil
	}
	if errors.Is(err, index.ErrUnsupportedVersion) {
		return nil, fmt.Errorf("read the git index %s: %w", p, err)
	}
	if !errors.Is(err, index.ErrUnknownExtension) {
		return nil, fmt.Errorf("read the git index %s: the file is damaged (%v): rebuild it from HEAD with `rm %s && git reset` (the work tree is kept; staged changes must be added again)", p, err, p)
	}
	link, ok := indexExtension(b, "link")
	if !ok {
		if _, sparse := indexExtension(b, "sdir"); sparse {
			// git sparse-checkout disable would check out every file of a
			// monorepo to get there; reapply keeps the cone.
			return nil, fmt.Errorf("read the git index %s: it is a sparse index (git sparse-checkout --sparse-index, or index.sparse), which go-git cannot read: put git on PATH (unset PANKA_GIT_BINARY), or turn it into a full index that keeps the sparse checkout: git sparse-checkout reapply --no-sparse-index", p)
		}
		return nil, fmt.Errorf("read the git index %s: it uses an index extension go-git cannot read: put git on PATH (unset PANKA_GIT_BINARY)", p)
	}
	merged, err := r.mergeSplitIndex(idx, link)
	if err != nil {
		return nil, fmt.Errorf("read the git index %s (split index, core.splitIndex): %w; put git on PATH (unset PANKA_GIT_BINARY), or run git update-index --no-split-index", p, err)
	}
	return merged, nil
}

// mergeSplitIndex applies split, the entries of a split index, to the
// shared index its "link" extension names (git's split-index.c): entries
// marked in the delete bitmap go, those marked in the replace bitmap take
// the next split entries in order (their names are the shared entries'),
// and the remaining split entries are additions.
func (r *Repo) mergeSplitIndex(split *index.Index, link []byte) (*index.Index, error) {
	if len(link) < 20 {
		return nil, errors.New("malformed link extension")
	}
	id := hex.EncodeToString(link[:20])
	var sb []byte
	var err error
	for _, dir := range []string{r.gitDir, r.commonDir} {
		if sb, err = os.ReadFile(filepath.Join(dir, "sharedindex."+id)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("shared index sharedindex.%s: %w", id, err)
	}
	shared := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(sb)).Decode(shared); err != nil {
		return nil, fmt.Errorf("shared index sharedindex.%s: %w", id, err)
	}
	n := len(shared.Entries)
	del, rest, err := readEWAH(link[20:], n)
	if err != nil {
		return nil, fmt.Errorf("delete bitmap: %w", err)
	}
	rep, _, err := readEWAH(rest, n)
	if err != nil {
		return nil, fmt.Errorf("replace bitmap: %w", err)
	}
	out := &index.Index{Version: split.Version}
	next := 0
	for i, e := range shared.Entries {
		switch {
		case del[i]:
			continue
		case rep[i]:
			if next >= len(split.Entries) {
				return nil, errors.New("more replaced entries than the split index holds")
			}
			ne := *split.Entries[next]
			next++
			ne.Name = e.Name
			out.Entries = append(out.Entries, &ne)
		default:
			out.Entries = append(out.Entries, e)
		}
	}
	out.Entries = append(out.Entries, split.Entries[next:]...)
	sort.SliceStable(out.Entries, func(i, j int) bool {
		a, b := out.Entries[i], out.Entries[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Stage < b.Stage
	})
	return out, nil
}

// indexExtension returns the payload of the extension named sig of the
// index file b (versions 2–4), after its entries.
func indexExtension(b []byte, sig string) (data []byte, found bool) {
	walkIndex(b, func(*rawIndexEntry) bool { return true }, func(name string, d []byte) bool {
		if name == sig {
			data, found = d, true
			return false
		}
		return true
	})
	return data, found
}

// readEWAH decodes one EWAH-compressed bitmap (git's ewah_io.c) into its
// first n bits, and returns the bytes after it.
func readEWAH(b []byte, n int) ([]bool, []byte, error) {
	if len(b) < 8 {
		return nil, nil, errors.New("truncated")
	}
	words := int(binary.BigEndian.Uint32(b[4:8]))
	if words < 0 || len(b) < 8+8*words+4 {
		return nil, nil, errors.New("truncated")
	}
	bits := make([]bool, n)
	w := func(i int) uint64 { return binary.BigEndian.Uint64(b[8+8*i:]) }
	pos := 0
	for i := 0; i < words && pos < n; {
		rlw := w(i)
		i++
		run, literals := int((rlw>>1)&0xffffffff), int(rlw>>33)
		for k := 0; k < run*64 && pos+k < n; k++ {
			bits[pos+k] = rlw&1 != 0
		}
		pos += run * 64
		for j := 0; j < literals && i < words; j++ {
			lw := w(i)
			i++
			for k := 0; k < 64 && pos+k < n; k++ {
				bits[pos+k] = lw>>k&1 != 0
			}
			pos += 64
		}
	}
	return bits, b[8+8*words+4:], nil
}

// indexRecord is one entry of the staging index with the flags go-git's
// decoder does not keep.
type indexRecord struct {
	path  string
	mode  filemode.FileMode // filemode.Dir: a folder of a sparse index
	id    Hash
	stage int
	// assumeValid is git update-index --assume-unchanged; skipWorktree is
	// set outside the cone of a sparse checkout (and on every folder entry
	// of a sparse index); intentToAdd is git add -N.
	assumeValid, skipWorktree, intentToAdd bool
}

func newIndexRecord(e *rawIndexEntry) indexRecord {
	return indexRecord{
		path: string(e.path), mode: filemode.FileMode(e.mode), id: e.id, stage: int(e.flags>>12) & 3,
		assumeValid: e.flags&0x8000 != 0, skipWorktree: e.xflags&0x4000 != 0, intentToAdd: e.xflags&0x2000 != 0,
	}
}

// indexRecords reads the entries of this work tree's staging index for
// which keep returns true, sorted by path and stage, from the file itself:
// a split index (core.splitIndex) is merged with its shared index as
// readIndex does, and a sparse index (index.sparse) gives its folder
// entries. keep must not keep its argument. A missing index has no
// entries.
func (r *Repo) indexRecords(keep func(*rawIndexEntry) bool) ([]indexRecord, error) {
	p := filepath.Join(r.gitDir, "index")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the git index %s: %w", p, err)
	}
	malformed := fmt.Errorf("read the git index %s: the file is damaged (truncated or overwritten): rebuild it from HEAD with `rm %s && git reset` (the work tree is kept; staged changes must be added again)", p, p)
	var out []indexRecord
	link, split := indexExtension(b, "link")
	if !split {
		if !walkIndex(b, func(e *rawIndexEntry) bool {
			if keep(e) {
				out = append(out, newIndexRecord(e))
			}
			return true
		}, func(string, []byte) bool { return true }) {
			return nil, malformed
		}
		return out, nil
	}
	// A split index: this file's entries replace (in order) or add to
	// those of the shared index; see mergeSplitIndex.
	var own []rawIndexEntry
	if !walkIndex(b, func(e *rawIndexEntry) bool {
		c := *e
		c.path = bytes.Clone(e.path)
		own = append(own, c)
		return true
	}, func(string, []byte) bool { return true }) || len(link) < 20 {
		return nil, malformed
	}
	id := hex.EncodeToString(link[:20])
	var sb []byte
	for _, dir := range []string{r.gitDir, r.commonDir} {
		if sb, err = os.ReadFile(filepath.Join(dir, "sharedindex."+id)); err == nil {
			break
		}
	}
	if err != nil || len(sb) < 12 {
		return nil, fmt.Errorf("read the git index %s: shared index sharedindex.%s: %v", p, id, err)
	}
	n := int(binary.BigEndian.Uint32(sb[8:12]))
	del, rest, err := readEWAH(link[20:], n)
	if err != nil {
		return nil, fmt.Errorf("read the git index %s: delete bitmap: %w", p, err)
	}
	rep, _, err := readEWAH(rest, n)
	if err != nil {
		return nil, fmt.Errorf("read the git index %s: replace bitmap: %w", p, err)
	}
	i, next := 0, 0
	if !walkIndex(sb, func(e *rawIndexEntry) bool {
		defer func() { i++ }()
		switch {
		case i >= n:
			return false
		case del[i]:
			return true
		case rep[i]:
			if next >= len(own) {
				return false
			}
			ne := own[next]
			next++
			ne.path = e.path // a replacing entry is stored without its name
			e = &ne
		}
		if keep(e) {
			out = append(out, newIndexRecord(e))
		}
		return true
	}, func(string, []byte) bool { return true }) {
		return nil, malformed
	}
	for k := range own[next:] {
		if keep(&own[next+k]) {
			out = append(out, newIndexRecord(&own[next+k]))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].stage < out[j].stage
	})
	return out, nil
}
