package gitops

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packReader reads objects from a repository's pack files with go-git's
// pack reader, but with an index whose offset-to-id lookup is a binary
// search over a sorted array. go-git's own storage asks the index for the
// id at an offset on every object read and every delta base, and its index
// answers from a map of every object in the pack, built on first use: for
// a 200,000-object pack that is 70 ms before the first object comes out,
// most of the pure go-git cost of a small `panka changed`. Objects that are
// not in these packs (loose, in alternates, in packs written since) are
// left to go-git's storage. Not safe for concurrent use (as go-git's
// storage; packStorage's callers serialize).
type packReader struct {
	packs []*fastPack
}

type fastPack struct {
	name string
	idx  *offsetIndex
	pf   *packfile.Packfile
}

// errNotInPacks says the object is in none of the packs read: ask go-git.
var errNotInPacks = errors.New("not in the pack files read")

// openPackReader opens every pack of packDir that has an index. A pack
// that cannot be read is skipped: go-git's storage then serves its
// objects, or says what is wrong with them.
func openPackReader(packDir string, objCache cache.Object) *packReader {
	ents, err := os.ReadDir(packDir)
	if err != nil {
		return &packReader{}
	}
	pr := &packReader{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pack")
		if !ok || !strings.HasPrefix(name, "pack-") {
			continue
		}
		if p, err := openFastPack(filepath.Join(packDir, name), objCache); err == nil {
			pr.packs = append(pr.packs, p)
		}
	}
	return pr
}

func openFastPack(base string, objCache cache.Object) (*fastPack, error) {
	f, err := os.Open(base + ".idx")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mi := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(mi); err != nil {
		return nil, fmt.Errorf("read %s.idx: %w", base, err)
	}
	pf, err := osfs.Default.Open(base + ".pack")
	if err != nil {
		return nil, err
	}
	idx := &offsetIndex{MemoryIndex: mi}
	// No file system: objects come back whole, in memory (go-git's
	// storage does the same without a large-object threshold).
	return &fastPack{name: filepath.Base(base), idx: idx, pf: packfile.NewPackfileWithCache(idx, nil, pf, objCache, 0)}, nil
}

// object returns the object h from the first pack holding it, or
// errNotInPacks.
func (r *packReader) object(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	for _, p := range r.packs {
		if _, err := p.idx.FindOffset(h); err != nil {
			continue
		}
		o, err := p.pf.Get(h)
		if err != nil {
			return nil, err
		}
		if t != plumbing.AnyObject && o.Type() != t {
			return nil, plumbing.ErrObjectNotFound
		}
		return o, nil
	}
	return nil, errNotInPacks
}

// has reports whether a pack read holds h.
func (r *packReader) has(h plumbing.Hash) bool {
	for _, p := range r.packs {
		if _, err := p.idx.FindOffset(h); err == nil {
			return true
		}
	}
	return false
}

func (r *packReader) close() error {
	var err error
	for _, p := range r.packs {
		if cerr := p.pf.Close(); err == nil {
			err = cerr
		}
	}
	r.packs = nil
	return err
}

// offsetIndex is a pack index whose FindHash searches the objects sorted by
// offset (built on first use: a copy and a sort, several times cheaper
// than go-git's map) and whose FindOffset does not record every offset it
// returns (go-git's does, under a lock, for its FindHash).
type offsetIndex struct {
	*idxfile.MemoryIndex
	once   sync.Once
	err    error
	byOffs []offEntry // sorted by off
}

type offEntry struct {
	off uint64
	pos uint32 // the object's position in the index (sorted by id)
}

// FindOffset implements idxfile.Index.
func (x *offsetIndex) FindOffset(h plumbing.Hash) (int64, error) {
	k := x.FanoutMapping[h[0]]
	if k < 0 {
		return 0, plumbing.ErrObjectNotFound
	}
	names := x.Names[k]
	lo, hi := 0, len(names)/hashLen
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := compareID(h[:], names[m*hashLen:(m+1)*hashLen]); {
		case c == 0:
			off, err := x.offset(k, m)
			return int64(off), err
		case c > 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, plumbing.ErrObjectNotFound
}

const hashLen = 20

func compareID(a, b []byte) int {
	for i := range hashLen {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// offset is the pack offset of the i-th object of bucket k (git's
// pack-format: a 31-bit offset, or an index into the 64-bit table).
func (x *offsetIndex) offset(k, i int) (uint64, error) {
	o := binary.BigEndian.Uint32(x.Offset32[k][i*4:])
	if o&(1<<31) == 0 {
		return uint64(o), nil
	}
	j := 8 * uint64(o&^(1<<31))
	if j+8 > uint64(len(x.Offset64)) {
		return 0, fmt.Errorf("%w: offset64 index out of range", idxfile.ErrMalformedIdxFile)
	}
	return binary.BigEndian.Uint64(x.Offset64[j:]), nil
}

// FindHash implements idxfile.Index.
func (x *offsetIndex) FindHash(o int64) (plumbing.Hash, error) {
	x.once.Do(x.build)
	if x.err != nil {
		return plumbing.ZeroHash, x.err
	}
	i, ok := slices.BinarySearchFunc(x.byOffs, uint64(o), func(e offEntry, o uint64) int {
		switch {
		case e.off < o:
			return -1
		case e.off > o:
			return 1
		}
		return 0
	})
	if !ok {
		return plumbing.ZeroHash, plumbing.ErrObjectNotFound
	}
	return x.id(x.byOffs[i].pos), nil
}

// id is the object id at position pos of the index.
func (x *offsetIndex) id(pos uint32) plumbing.Hash {
	// The first bucket whose cumulative count exceeds pos.
	first, _ := slices.BinarySearch(x.Fanout[:], pos+1)
	start := uint32(0)
	if first > 0 {
		start = x.Fanout[first-1]
	}
	var h plumbing.Hash
	k := x.FanoutMapping[first]
	copy(h[:], x.Names[k][int(pos-start)*hashLen:])
	return h
}

func (x *offsetIndex) build() {
	n := x.Fanout[255]
	ents := make([]offEntry, 0, n)
	pos := uint32(0)
	maxOff := uint64(0)
	for first, end := range x.Fanout {
		k := x.FanoutMapping[first]
		for i := 0; pos < end; i, pos = i+1, pos+1 {
			off, err := x.offset(k, i)
			if err != nil {
				x.err = err
				return
			}
			maxOff = max(maxOff, off)
			ents = append(ents, offEntry{off: off, pos: pos})
		}
	}
	x.byOffs = sortByOffset(ents, maxOff)
}

// sortByOffset sorts ents by offset: a radix sort of the offset bytes
// that vary (3 passes for a pack under 16 MiB), which costs a few
// milliseconds for 200,000 objects where a comparison sort costs 40.
func sortByOffset(ents []offEntry, maxOff uint64) []offEntry {
	tmp := make([]offEntry, len(ents))
	for shift := uint(0); shift < 64 && maxOff>>shift != 0; shift += 8 {
		var count [257]int
		for _, e := range ents {
			count[int(byte(e.off>>shift))+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, e := range ents {
			b := byte(e.off >> shift)
			tmp[count[b]] = e
			count[b]++
		}
		ents, tmp = tmp, ents
	}
	return ents
}
