package gitops

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	"github.com/klauspost/compress/zlib"
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
	pf   *packfile.Packfile // go-git's reader: the fallback (see read)
	f    io.ReaderAt        // the pack file
	mm   []byte             // the pack file mapped in memory, or nil (read f)
	size int64

	// Reused between reads (reads are serialized).
	zr      io.ReadCloser // a zlib.Resetter
	br      bytes.Reader
	scratch []byte
	bases   objectCache
}

// errNotInPacks says the object is in none of the packs read: ask go-git.
var errNotInPacks = errors.New("not in the pack files read")

// openPackReader opens every pack of packDir that has an index. A pack
// that cannot be read is skipped: go-git's storage then serves its
// objects, or says what is wrong with them.
func openPackReader(packDir string, objCache cache.Object, bases int) *packReader {
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
		if p, err := openFastPack(filepath.Join(packDir, name), objCache, bases); err == nil {
			pr.packs = append(pr.packs, p)
		}
	}
	return pr
}

func openFastPack(base string, objCache cache.Object, bases int) (*fastPack, error) {
	idx, err := openIndex(base + ".idx")
	if err != nil {
		return nil, err
	}
	pf, err := osfs.Default.Open(base + ".pack")
	if err != nil {
		idx.close()
		return nil, err
	}
	fi, err := os.Stat(base + ".pack")
	if err != nil {
		idx.close()
		pf.Close()
		return nil, err
	}
	// No file system: objects come back whole, in memory (go-git's
	// storage does the same without a large-object threshold).
	return &fastPack{name: filepath.Base(base), idx: idx, pf: packfile.NewPackfileWithCache(idx, nil, pf, objCache, 0),
		f: pf, mm: mapShared(base+".pack", fi.Size()), size: fi.Size(), bases: objectCache{max: bases}}, nil
}

// object returns the object h from the first pack holding it, or
// errNotInPacks.
func (r *packReader) object(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	for _, p := range r.packs {
		off, err := p.idx.FindOffset(h)
		if err != nil {
			continue
		}
		var o plumbing.EncodedObject
		if typ, data, err := p.read(off, 0); err == nil {
			o = &packObject{h: h, t: typ, data: data}
		} else if o, err = p.pf.Get(h); err != nil {
			// Whatever the pack reader here did not read (a damaged
			// entry), go-git's says what is wrong with it.
			return nil, err
		}
		if t != plumbing.AnyObject && o.Type() != t {
			return nil, plumbing.ErrObjectNotFound
		}
		return o, nil
	}
	return nil, errNotInPacks
}

// objectSize returns the size of object h from the first pack holding it
// (see fastPack.objectSize); ok is false when no pack read holds it or its
// entry is not one fastPack reads.
func (r *packReader) objectSize(h plumbing.Hash) (size int64, ok bool) {
	for _, p := range r.packs {
		off, err := p.idx.FindOffset(h)
		if err != nil {
			continue
		}
		n, ok := p.objectSize(off)
		return int64(n), ok
	}
	return 0, false
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
		unmapShared(p.mm)
		p.mm = nil
		p.idx.close()
		if cerr := p.pf.Close(); err == nil {
			err = cerr
		}
	}
	r.packs = nil
	return err
}

// offsetIndex is a pack index (version 2, as git has written since 1.5.2)
// read where it lies: the file mapped in memory (or read whole where
// files cannot be mapped), not decoded. go-git's MemoryIndex copies every
// id and offset into per-bucket slices first: 6 ms for a 200,000-object
// pack, paid by every command before its first object read. Its FindHash
// searches the objects sorted by offset (built on first use: a copy and a
// sort, several times cheaper than go-git's map), and its FindOffset does
// not record every offset it returns (go-git's does, under a lock, for its
// FindHash).
type offsetIndex struct {
	data   []byte // the whole file
	mapped bool   // data is mapped (unmap on close)
	fanout [256]uint32
	names  []byte // n ids of hashLen bytes, sorted
	crcs   []byte // n CRC-32s
	off32  []byte // n 4-byte offsets (or indexes into off64)
	off64  []byte

	once   sync.Once
	err    error
	byOffs []offEntry // sorted by off
}

// openIndex opens the pack index file at path.
func openIndex(path string) (*offsetIndex, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	x := &offsetIndex{}
	if x.data = mapShared(path, fi.Size()); x.data != nil {
		x.mapped = true
	} else if x.data, err = os.ReadFile(path); err != nil {
		return nil, err
	}
	if err := x.parse(); err != nil {
		x.close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return x, nil
}

// indexOf reads the pack index held in b.
func indexOf(b []byte) (*offsetIndex, error) {
	x := &offsetIndex{data: b}
	if err := x.parse(); err != nil {
		return nil, err
	}
	return x, nil
}

// parse checks the layout of a version-2 index (git's pack-format: magic,
// version, 256-entry fanout, ids, CRC-32s, 4-byte offsets, 8-byte offsets,
// two trailing checksums) and finds its tables.
func (x *offsetIndex) parse() error {
	const head = 8 + 256*4
	b := x.data
	if len(b) < head+2*hashLen || string(b[:4]) != "\xfftOc" {
		return idxfile.ErrMalformedIdxFile
	}
	if v := binary.BigEndian.Uint32(b[4:8]); v != idxfile.VersionSupported {
		return fmt.Errorf("%w: version %d", idxfile.ErrUnsupportedVersion, v)
	}
	prev := uint32(0)
	for i := range x.fanout {
		x.fanout[i] = binary.BigEndian.Uint32(b[8+i*4:])
		if x.fanout[i] < prev {
			return idxfile.ErrMalformedIdxFile
		}
		prev = x.fanout[i]
	}
	n := uint64(x.fanout[255])
	tables := head + n*(hashLen+4+4)
	if tables+2*hashLen > uint64(len(b)) || (uint64(len(b))-tables-2*hashLen)%8 != 0 {
		return idxfile.ErrMalformedIdxFile
	}
	x.names = b[head : head+n*hashLen]
	x.crcs = b[head+n*hashLen : head+n*(hashLen+4)]
	x.off32 = b[head+n*(hashLen+4) : tables]
	x.off64 = b[tables : uint64(len(b))-2*hashLen]
	return nil
}

// close unmaps the file; the index then holds no object (a lookup says
// not found, as the pack reader's closed file does).
func (x *offsetIndex) close() {
	x.once.Do(func() {}) // no build after close
	if x.mapped {
		unmapShared(x.data)
	}
	x.data, x.names, x.crcs, x.off32, x.off64, x.byOffs = nil, nil, nil, nil, nil, nil
	x.fanout = [256]uint32{}
}

type offEntry struct {
	off uint64
	pos uint32 // the object's position in the index (sorted by id)
}

// find returns the position of h in the index.
func (x *offsetIndex) find(h plumbing.Hash) (int, bool) {
	lo, hi := 0, int(x.fanout[h[0]])
	if h[0] > 0 {
		lo = int(x.fanout[h[0]-1])
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := compareID(h[:], x.names[m*hashLen:(m+1)*hashLen]); {
		case c == 0:
			return m, true
		case c > 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

// FindOffset implements idxfile.Index.
func (x *offsetIndex) FindOffset(h plumbing.Hash) (int64, error) {
	pos, ok := x.find(h)
	if !ok {
		return 0, plumbing.ErrObjectNotFound
	}
	off, err := x.offset(pos)
	return int64(off), err
}

// Contains implements idxfile.Index.
func (x *offsetIndex) Contains(h plumbing.Hash) (bool, error) {
	_, ok := x.find(h)
	return ok, nil
}

// FindCRC32 implements idxfile.Index.
func (x *offsetIndex) FindCRC32(h plumbing.Hash) (uint32, error) {
	pos, ok := x.find(h)
	if !ok {
		return 0, plumbing.ErrObjectNotFound
	}
	return binary.BigEndian.Uint32(x.crcs[pos*4:]), nil
}

// Count implements idxfile.Index.
func (x *offsetIndex) Count() (int64, error) { return int64(x.fanout[255]), nil }

// Entries implements idxfile.Index: every object, by id.
func (x *offsetIndex) Entries() (idxfile.EntryIter, error) {
	return &indexEntries{x: x, n: int(x.fanout[255]), at: func(i int) uint32 { return uint32(i) }}, nil
}

// EntriesByOffset implements idxfile.Index: every object, by offset.
func (x *offsetIndex) EntriesByOffset() (idxfile.EntryIter, error) {
	x.once.Do(x.build)
	if x.err != nil {
		return nil, x.err
	}
	return &indexEntries{x: x, n: len(x.byOffs), at: func(i int) uint32 { return x.byOffs[i].pos }}, nil
}

// indexEntries iterates over n objects of an index, the i-th at position
// at(i).
type indexEntries struct {
	x  *offsetIndex
	n  int
	i  int
	at func(int) uint32
}

func (it *indexEntries) Next() (*idxfile.Entry, error) {
	if it.i >= it.n {
		return nil, io.EOF
	}
	pos := it.at(it.i)
	it.i++
	off, err := it.x.offset(int(pos))
	if err != nil {
		return nil, err
	}
	return &idxfile.Entry{Hash: it.x.id(pos), CRC32: binary.BigEndian.Uint32(it.x.crcs[pos*4:]), Offset: off}, nil
}

func (it *indexEntries) Close() error { return nil }

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

// offset is the pack offset of the object at position pos (git's
// pack-format: a 31-bit offset, or an index into the 64-bit table).
func (x *offsetIndex) offset(pos int) (uint64, error) {
	o := binary.BigEndian.Uint32(x.off32[pos*4:])
	if o&(1<<31) == 0 {
		return uint64(o), nil
	}
	j := 8 * uint64(o&^(1<<31))
	if j+8 > uint64(len(x.off64)) {
		return 0, fmt.Errorf("%w: offset64 index out of range", idxfile.ErrMalformedIdxFile)
	}
	return binary.BigEndian.Uint64(x.off64[j:]), nil
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
	var h plumbing.Hash
	copy(h[:], x.names[int(pos)*hashLen:])
	return h
}

func (x *offsetIndex) build() {
	n := int(x.fanout[255])
	ents := make([]offEntry, n)
	maxOff := uint64(0)
	for pos := range n {
		off, err := x.offset(pos)
		if err != nil {
			x.err = err
			return
		}
		maxOff = max(maxOff, off)
		ents[pos] = offEntry{off: off, pos: uint32(pos)}
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

// Reading objects. go-git's pack reader costs several times the inflate
// itself per object (a scanner, buffers and a cache entry each time): most
// of a pure go-git tree diff or history walk. read does what git does: one
// pread of the entry, one inflate with a reused zlib reader, and deltas
// applied to bases kept in a small cache. Anything it does not expect is
// left to go-git's reader, which says what is wrong.

// baseCacheBytes bounds the delta bases a pack keeps.
const baseCacheBytes = 32 << 20

// maxDeltaDepth bounds a delta chain (git writes at most 4095).
const maxDeltaDepth = 10000

// errPackEntry says an entry is not one read expects.
var errPackEntry = errors.New("unexpected pack entry")

// read returns the type and contents of the object at offset off, from
// the cache when it is there.
func (p *fastPack) read(off int64, depth int) (plumbing.ObjectType, []byte, error) {
	if depth > maxDeltaDepth {
		return 0, nil, fmt.Errorf("%w: delta chain longer than %d", errPackEntry, maxDeltaDepth)
	}
	if e, ok := p.bases.get(off); ok {
		return e.t, e.data, nil
	}
	hdr, typ, size, i, err := p.header(off)
	if err != nil {
		return 0, nil, err
	}
	n := min(len(hdr), 32)
	var c byte
	var data []byte
	switch typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
		if data, err = p.inflate(off+int64(i), size, hdr[i:]); err != nil {
			return 0, nil, err
		}
	case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
		var baseOff int64
		if typ == plumbing.OFSDeltaObject {
			// git's offset encoding: big-endian 7-bit groups, each but the
			// last adding one.
			if i >= n {
				return 0, nil, fmt.Errorf("%w: offset %d: base offset", errPackEntry, off)
			}
			c = hdr[i]
			i++
			rel := int64(c & 0x7f)
			for c&0x80 != 0 {
				if i >= n || rel > 1<<55 {
					return 0, nil, fmt.Errorf("%w: offset %d: base offset", errPackEntry, off)
				}
				c = hdr[i]
				i++
				rel = (rel+1)<<7 | int64(c&0x7f)
			}
			baseOff = off - rel
			if rel <= 0 || baseOff < 0 {
				return 0, nil, fmt.Errorf("%w: offset %d: base offset", errPackEntry, off)
			}
		} else {
			if i+hashLen > n {
				return 0, nil, fmt.Errorf("%w: offset %d: base id", errPackEntry, off)
			}
			var bh plumbing.Hash
			copy(bh[:], hdr[i:i+hashLen])
			i += hashLen
			if baseOff, err = p.idx.FindOffset(bh); err != nil {
				return 0, nil, fmt.Errorf("%w: offset %d: base %s not in this pack", errPackEntry, off, bh)
			}
		}
		delta, err := p.inflate(off+int64(i), size, hdr[i:])
		if err != nil {
			return 0, nil, err
		}
		var base []byte
		if typ, base, err = p.read(baseOff, depth+1); err != nil {
			return 0, nil, err
		}
		if data, err = packfile.PatchDelta(base, delta); err != nil {
			return 0, nil, fmt.Errorf("%w: offset %d: %v", errPackEntry, off, err)
		}
	default:
		return 0, nil, fmt.Errorf("%w: offset %d: type %d", errPackEntry, off, typ)
	}
	if depth > 0 || typ == plumbing.TreeObject {
		// A base of a delta, or a tree (the commonest base of the next
		// read: a tree diff reads both sides' trees).
		p.bases.put(off, typ, data)
	}
	return typ, data, nil
}

// header reads the start of the entry at off: one read for the header
// and, for most objects, the whole entry (with the pack mapped: the rest
// of the pack). It returns what was read, the entry's type and size (of a
// delta: of the delta) and where its data (of a delta: the base) starts.
func (p *fastPack) header(off int64) (hdr []byte, typ plumbing.ObjectType, size uint64, i int, err error) {
	var n int
	if p.mm != nil {
		if off < 0 || off >= int64(len(p.mm)) {
			return nil, 0, 0, 0, fmt.Errorf("%w: offset %d beyond the pack", errPackEntry, off)
		}
		hdr = p.mm[off:]
		n = len(hdr)
	} else {
		if cap(p.scratch) < firstRead {
			p.scratch = make([]byte, firstRead)
		}
		hdr = p.scratch[:firstRead]
		n, err = p.f.ReadAt(hdr, off)
		if n == 0 {
			return nil, 0, 0, 0, fmt.Errorf("%w: offset %d: %v", errPackEntry, off, err)
		}
		hdr = hdr[:n]
	}
	n = min(n, 32)
	c := hdr[0]
	typ = plumbing.ObjectType((c >> 4) & 7)
	size = uint64(c & 15)
	i, shift := 1, 4
	for c&0x80 != 0 {
		if i >= n || shift > 60 {
			return nil, 0, 0, 0, fmt.Errorf("%w: offset %d: size", errPackEntry, off)
		}
		c = hdr[i]
		i++
		size |= uint64(c&0x7f) << shift
		shift += 7
	}
	return hdr, typ, size, i, nil
}

// objectSize returns the size of the object at offset off without
// inflating its contents: a whole object's size is in its header, a
// delta's result size at the start of the delta, so only that is
// inflated. ok is false when the entry is not one it expects (read, or
// go-git, says what is wrong).
func (p *fastPack) objectSize(off int64) (size uint64, ok bool) {
	if e, ok := p.bases.get(off); ok {
		return uint64(len(e.data)), true
	}
	hdr, typ, size, i, err := p.header(off)
	if err != nil {
		return 0, false
	}
	switch typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
		return size, true
	case plumbing.OFSDeltaObject:
		for i < len(hdr) && i < 32 && hdr[i]&0x80 != 0 {
			i++
		}
		i++
	case plumbing.REFDeltaObject:
		i += hashLen
	default:
		return 0, false
	}
	if i >= len(hdr) {
		return 0, false
	}
	// The delta starts with the base's size and the result's, each a
	// little-endian base-128 number of at most 10 bytes.
	start := hdr[i:]
	if p.mm == nil {
		start = append([]byte(nil), start...) // inflate may reuse scratch
	}
	prefix, err := p.inflatePrefix(start, min(size, 20))
	if err != nil {
		return 0, false
	}
	var n [2]uint64
	k := 0
	for j := range n {
		for shift := 0; ; shift += 7 {
			if k >= len(prefix) || shift > 63 {
				return 0, false
			}
			c := prefix[k]
			k++
			n[j] |= uint64(c&0x7f) << shift
			if c&0x80 == 0 {
				break
			}
		}
	}
	return n[1], true
}

// inflatePrefix returns the first want bytes the zlib stream starting with
// have inflates to (have holds at least its start).
func (p *fastPack) inflatePrefix(have []byte, want uint64) ([]byte, error) {
	p.br.Reset(have)
	var err error
	if p.zr == nil {
		p.zr, err = zlib.NewReader(&p.br)
	} else {
		err = p.zr.(zlib.Resetter).Reset(&p.br, nil)
	}
	if err != nil {
		return nil, err
	}
	out := make([]byte, want)
	if _, err := io.ReadFull(p.zr, out); err != nil {
		return nil, err
	}
	return out, nil
}

// firstRead is how much of an entry read reads at once: the whole of
// most commits, trees and deltas.
const firstRead = 2048

// inflate returns the size bytes that the zlib stream at pos inflates to;
// have is what was read from pos already.
func (p *fastPack) inflate(pos int64, size uint64, have []byte) ([]byte, error) {
	if pos >= p.size || size > uint64(p.size)*1032 { // zlib's best ratio is about 1032:1
		return nil, fmt.Errorf("%w: offset %d: size %d", errPackEntry, pos, size)
	}
	out := make([]byte, size)
	// The compressed stream is about as long as its contents at most,
	// plus its headers; read more if that was not enough.
	want := min(int64(size)+int64(size>>3)+64, p.size-pos)
	for {
		// What was read already first: compressed, it often holds all.
		buf := have
		if len(have) == 0 {
			if cap(p.scratch) < int(want) {
				p.scratch = make([]byte, want)
			}
			buf = p.scratch[:want]
			n, err := p.f.ReadAt(buf, pos)
			if n < len(buf) && err != nil && err != io.EOF {
				return nil, err
			}
			buf = buf[:n]
		}
		p.br.Reset(buf)
		var err error
		if p.zr == nil {
			p.zr, err = zlib.NewReader(&p.br)
		} else {
			err = p.zr.(zlib.Resetter).Reset(&p.br, nil)
		}
		if err == nil {
			_, err = io.ReadFull(p.zr, out)
		}
		if err == nil {
			// The end of the stream, where zlib checks its checksum:
			// damaged data is an error, never wrong contents.
			var one [1]byte
			n, end := p.zr.Read(one[:])
			if n == 0 && end == io.EOF {
				return out, nil
			}
			if end == nil || n > 0 {
				end = errors.New("more data than the entry's size")
			}
			err = end
		}
		if (err == io.ErrUnexpectedEOF || err == io.EOF) && int64(len(buf)) < p.size-pos {
			if have == nil {
				want = min(2*want+4096, p.size-pos)
			}
			have = nil
			continue
		}
		return nil, fmt.Errorf("%w: offset %d: %v", errPackEntry, pos, err)
	}
}

// packObject is an object read from a pack, its id known.
type packObject struct {
	h    plumbing.Hash
	t    plumbing.ObjectType
	data []byte
}

func (o *packObject) Hash() plumbing.Hash           { return o.h }
func (o *packObject) Type() plumbing.ObjectType     { return o.t }
func (o *packObject) SetType(t plumbing.ObjectType) { o.t = t }
func (o *packObject) Size() int64                   { return int64(len(o.data)) }
func (o *packObject) SetSize(int64)                 {}
func (o *packObject) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(o.data)), nil
}
func (o *packObject) Writer() (io.WriteCloser, error) {
	return nil, errors.New("an object read from a pack cannot be written")
}

// objectCache keeps recently read objects by pack offset, up to max bytes
// (least recently used first out). Objects are never modified once read,
// so callers share them.
type objectCache struct {
	max, used int
	byOff     map[int64]*list.Element
	order     list.List // of *cachedObject, most recent first
}

type cachedObject struct {
	off  int64
	t    plumbing.ObjectType
	data []byte
}

func (c *objectCache) get(off int64) (*cachedObject, bool) {
	e, ok := c.byOff[off]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedObject), true
}

func (c *objectCache) put(off int64, t plumbing.ObjectType, data []byte) {
	if len(data) > c.max/4 {
		return
	}
	if c.byOff == nil {
		c.byOff = map[int64]*list.Element{}
	}
	if _, ok := c.byOff[off]; ok {
		return
	}
	c.byOff[off] = c.order.PushFront(&cachedObject{off: off, t: t, data: data})
	c.used += len(data)
	for c.used > c.max {
		last := c.order.Back()
		o := c.order.Remove(last).(*cachedObject)
		delete(c.byOff, o.off)
		c.used -= len(o.data)
	}
}
