package gitops

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"panka.dev/panka/gitops/gittest"
)

// deltaRepo is a repository whose one pack holds many deltas (one file
// edited line by line over many commits), and its pack's base path.
func deltaRepo(t *testing.T) (*gittest.Repo, string) {
	t.Helper()
	g := gittest.New(t)
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("line %d: %s", i, strings.Repeat("x", 40)))
		g.Write("stacks/a/stack.yaml", strings.Join(lines, "\n"))
		g.Write(fmt.Sprintf("stacks/b%d/env.yaml", i%7), strings.Join(lines[len(lines)/2:], "\n"))
		g.Commit(fmt.Sprintf("commit %d", i))
	}
	g.Git("gc", "-q", "--aggressive", "--prune=now")
	packs, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "objects", "pack", "pack-*.pack"))
	if len(packs) != 1 {
		t.Fatalf("want one pack after gc, have %v", packs)
	}
	base := strings.TrimSuffix(packs[0], ".pack")
	// verify-pack -v lists a delta with its depth and base (7 fields).
	deltas := 0
	for _, l := range strings.Split(g.Git("verify-pack", "-v", base+".idx"), "\n") {
		if len(strings.Fields(l)) == 7 {
			deltas++
		}
	}
	if deltas < 20 {
		t.Fatalf("only %d deltas in the pack", deltas)
	}
	return g, base
}

// TestOffsetIndexAgreesWithGoGit: every object's offset and id, both ways,
// as go-git's own index says.
func TestOffsetIndexAgreesWithGoGit(t *testing.T) {
	_, base := deltaRepo(t)
	b, err := os.ReadFile(base + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	mi := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(bytes.NewReader(b)).Decode(mi); err != nil {
		t.Fatal(err)
	}
	checkOffsetIndex(t, b, mi)
	x, err := openIndex(base + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := x.Count()
	if n < 2 {
		t.Fatalf("openIndex: %d objects", n)
	}
	e, _ := mi.Entries()
	first, _ := e.Next()
	x.close()
	if _, err := x.FindOffset(first.Hash); err != plumbing.ErrObjectNotFound {
		t.Errorf("FindOffset after close: %v, want ErrObjectNotFound", err)
	}
	if _, err := x.FindHash(int64(first.Offset)); err != plumbing.ErrObjectNotFound {
		t.Errorf("FindHash after close: %v, want ErrObjectNotFound", err)
	}
}

// checkOffsetIndex checks the index read from file b against go-git's
// decoding of it, mi: every object's offset, id and CRC-32, both ways, and
// both entry listings.
func checkOffsetIndex(t *testing.T, b []byte, mi *idxfile.MemoryIndex) {
	t.Helper()
	x, err := indexOf(b)
	if err != nil {
		t.Fatal(err)
	}
	entries := func(it idxfile.EntryIter, err error) []idxfile.Entry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var es []idxfile.Entry
		for {
			e, err := it.Next()
			if err == io.EOF {
				return es
			}
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, *e)
		}
	}
	want := entries(mi.Entries())
	if got := entries(x.Entries()); !slices.Equal(got, want) {
		t.Fatalf("Entries: %d entries, differ from go-git's %d", len(got), len(want))
	}
	if got, want := entries(x.EntriesByOffset()), entries(mi.EntriesByOffset()); !slices.Equal(got, want) {
		t.Fatalf("EntriesByOffset: %d entries, differ from go-git's %d", len(got), len(want))
	}
	if n, _ := x.Count(); n != int64(len(want)) {
		t.Fatalf("Count = %d, want %d", n, len(want))
	}
	for _, e := range want {
		off, err := x.FindOffset(e.Hash)
		if err != nil || uint64(off) != e.Offset {
			t.Fatalf("FindOffset(%s) = %d, %v; go-git's index says %d", e.Hash, off, err, e.Offset)
		}
		h, err := x.FindHash(int64(e.Offset))
		if err != nil || h != e.Hash {
			t.Fatalf("FindHash(%d) = %s, %v; go-git's index says %s", e.Offset, h, err, e.Hash)
		}
		if crc, err := x.FindCRC32(e.Hash); err != nil || crc != e.CRC32 {
			t.Fatalf("FindCRC32(%s) = %08x, %v; go-git's index says %08x", e.Hash, crc, err, e.CRC32)
		}
		if ok, _ := x.Contains(e.Hash); !ok {
			t.Fatalf("Contains(%s) = false", e.Hash)
		}
	}
	if len(want) < 2 {
		t.Fatalf("only %d objects in the index", len(want))
	}
	if _, err := x.FindHash(1); err != plumbing.ErrObjectNotFound {
		t.Errorf("FindHash of an offset no object starts at: %v, want ErrObjectNotFound", err)
	}
	if _, err := x.FindOffset(plumbing.NewHash("ffffffffffffffffffffffffffffffffffffffff")); err != plumbing.ErrObjectNotFound {
		t.Errorf("FindOffset of an unknown id: %v, want ErrObjectNotFound", err)
	}
}

// TestOffsetIndexLargeOffsets: a pack over 2 GiB lists offsets in the
// 64-bit table (git's pack-format); built here by hand, as no test can
// write such a pack.
func TestOffsetIndexLargeOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []plumbing.Hash
	for range 3000 {
		var h plumbing.Hash
		for i := range h {
			h[i] = byte(rng.IntN(256))
		}
		ids = append(ids, h)
	}
	slices.SortFunc(ids, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	mi := idxfile.NewMemoryIndex()
	for i := range mi.FanoutMapping {
		mi.FanoutMapping[i] = -1
	}
	for i, h := range ids {
		k := int(h[0])
		if mi.FanoutMapping[k] < 0 {
			mi.FanoutMapping[k] = len(mi.Names)
			mi.Names = append(mi.Names, nil)
			mi.Offset32 = append(mi.Offset32, nil)
			mi.CRC32 = append(mi.CRC32, nil)
		}
		m := mi.FanoutMapping[k]
		mi.Names[m] = append(mi.Names[m], h[:]...)
		// Distinct offsets, every third above 4 GiB.
		off := uint64(rng.IntN(1<<20))<<12 | uint64(i)
		var o32 uint32
		if i%3 == 0 {
			off += 5 << 30
			o32 = 1<<31 | uint32(len(mi.Offset64)/8)
			mi.Offset64 = binary.BigEndian.AppendUint64(mi.Offset64, off)
		} else {
			o32 = uint32(off & (1<<31 - 1))
		}
		mi.Offset32[m] = binary.BigEndian.AppendUint32(mi.Offset32[m], o32)
		mi.CRC32[m] = binary.BigEndian.AppendUint32(mi.CRC32[m], 0)
	}
	for i, h := range ids {
		for k := int(h[0]); k < 256; k++ {
			mi.Fanout[k] = uint32(i + 1)
		}
	}
	mi.Version = idxfile.VersionSupported
	var buf bytes.Buffer
	if _, err := idxfile.NewEncoder(&buf).Encode(mi); err != nil {
		t.Fatal(err)
	}
	checkOffsetIndex(t, buf.Bytes(), mi)
}

func TestSortByOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, maxOff := range []uint64{0, 200, 1 << 20, 1 << 40, 1<<64 - 1} {
		var ents []offEntry
		top := uint64(0)
		for i := range 5000 {
			off := rng.Uint64()
			if maxOff < 1<<64-1 {
				off %= maxOff + 1
			}
			top = max(top, off)
			ents = append(ents, offEntry{off: off, pos: uint32(i)})
		}
		want := slices.Clone(ents)
		slices.SortStableFunc(want, func(a, b offEntry) int {
			switch {
			case a.off < b.off:
				return -1
			case a.off > b.off:
				return 1
			}
			return 0
		})
		if got := sortByOffset(ents, top); !slices.Equal(got, want) {
			t.Errorf("max offset %d: radix sort differs from a stable sort", maxOff)
		}
	}
}

// TestPackReaderObjects: every object of a delta-heavy pack comes out of
// the pack reader as git cat-file prints it.
func TestPackReaderObjects(t *testing.T) {
	g, base := deltaRepo(t)
	pr := openPackReader(filepath.Dir(base), cache.NewObjectLRU(cache.MiByte), baseCacheBytes)
	defer pr.close()
	if len(pr.packs) != 1 {
		t.Fatalf("packs read: %d, want 1", len(pr.packs))
	}
	list := g.Git("cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		id, typ, _ := strings.Cut(line, " ")
		h := plumbing.NewHash(id)
		o, err := pr.object(plumbing.AnyObject, h)
		if err != nil {
			t.Fatalf("%s %s: %v", typ, id, err)
		}
		if o.Type().String() != typ || o.Hash() != h {
			t.Fatalf("%s: type %s hash %s, want %s", id, o.Type(), o.Hash(), typ)
		}
		rd, err := o.Reader()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		// (Git trims the output's trailing white space.)
		if want := g.Git("cat-file", typ, id); strings.TrimSpace(string(got)) != want {
			t.Fatalf("%s %s: contents differ from git cat-file", typ, id)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d objects checked", n)
	}
	// A type asked for that the object does not have is "not found", as
	// go-git's storage says; an id in no pack is left to go-git.
	if _, err := pr.object(plumbing.BlobObject, g.Head()); err != plumbing.ErrObjectNotFound {
		t.Errorf("commit read as a blob: %v, want ErrObjectNotFound", err)
	}
	if _, err := pr.object(plumbing.AnyObject, plumbing.NewHash("1111111111111111111111111111111111111111")); err != errNotInPacks {
		t.Errorf("unknown id: %v, want errNotInPacks", err)
	}
}

// TestPackReaderLargeObjects: objects larger than the first read, both
// incompressible (the compressed stream is longer than the object) and
// very compressible, whole and as deltas, and an empty blob, read
// byte for byte as git cat-file gives them; and the base cache stays
// within its bound.
func TestPackReaderLargeObjects(t *testing.T) {
	g := gittest.New(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 300<<10)
	for i := range noise {
		noise[i] = byte(rnd.IntN(256))
	}
	text := strings.Repeat("key: value with some words\n", 80000)
	for i := range 4 {
		// Each version differs a little: git stores deltas.
		noise[i*1000] ^= 0xff
		g.Write("noise.bin", string(noise))
		g.Write("text.yaml", text+fmt.Sprintf("version: %d\n", i))
		g.Write("small.yaml", fmt.Sprintf("v: %d\n", i))
		g.Write("empty", "")
		g.Commit(fmt.Sprintf("version %d", i))
	}
	g.Git("gc", "-q", "--prune=now")
	packs, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "objects", "pack", "pack-*.pack"))
	if len(packs) != 1 {
		t.Fatalf("want one pack after gc, have %v", packs)
	}
	for _, mapped := range []bool{true, false} {
		t.Run(fmt.Sprint("mapped=", mapped), func(t *testing.T) {
			pr := openPackReader(filepath.Dir(packs[0]), cache.NewObjectLRU(cache.MiByte), baseCacheBytes)
			defer pr.close()
			if !mapped {
				unmapFile(pr.packs[0].mm) // read with ReadAt, as where files are not mapped
				pr.packs[0].mm = nil
			}
			checkLargeObjects(t, g, pr)
		})
	}
}

func checkLargeObjects(t *testing.T, g *gittest.Repo, pr *packReader) {
	pr.packs[0].bases.max = 1 << 20 // small, so that entries are evicted
	list := g.Git("cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)")
	big := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		h := plumbing.NewHash(f[0])
		o, err := pr.object(plumbing.AnyObject, h)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		rd, _ := o.Reader()
		got, _ := io.ReadAll(rd)
		cmd := exec.Command("git", "cat-file", f[1], f[0])
		cmd.Dir = g.Dir
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || o.Type().String() != f[1] || o.Size() != int64(len(want)) {
			t.Fatalf("%s: read %d bytes of type %s, differ from git cat-file's %d", line, len(got), o.Type(), len(want))
		}
		if len(want) > firstRead {
			big++
		}
	}
	if big < 8 {
		t.Fatalf("only %d objects larger than the first read", big)
	}
	if c := &pr.packs[0].bases; c.used > c.max {
		t.Errorf("base cache holds %d bytes, bound %d", c.used, c.max)
	}
}

// TestPackReaderDamagedEntry: an entry whose compressed data is damaged is
// an error (from go-git's reader, which says what is wrong), never wrong
// contents.
func TestPackReaderDamagedEntry(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.yaml", strings.Repeat("some text\n", 500))
	g.Commit("one")
	g.Git("gc", "-q", "--prune=now")
	packs, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "objects", "pack", "pack-*.pack"))
	blob := plumbing.NewHash(g.Git("rev-parse", "HEAD:a.yaml"))
	pr := openPackReader(filepath.Dir(packs[0]), cache.NewObjectLRU(cache.MiByte), baseCacheBytes)
	idx := pr.packs[0].idx
	off, err := idx.FindOffset(blob)
	if err != nil {
		t.Fatal(err)
	}
	// The entry ends where the next begins (or at the pack's checksum).
	end := pr.packs[0].size - 20
	idx.once.Do(idx.build)
	for _, e := range idx.byOffs {
		if int64(e.off) > off {
			end = min(end, int64(e.off))
		}
	}
	pr.close()
	pristine, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(packs[0], 0o644)
	// A bit flipped in the deflate data, and one in zlib's checksum (the
	// contents inflate as before: only the checksum tells).
	for _, at := range []int64{off + 10, end - 1} {
		data := slices.Clone(pristine)
		data[at] ^= 0x01
		if err := os.WriteFile(packs[0], data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mapped := range []bool{true, false} {
			pr = openPackReader(filepath.Dir(packs[0]), cache.NewObjectLRU(cache.MiByte), baseCacheBytes)
			p := pr.packs[0]
			if !mapped {
				unmapShared(p.mm)
				p.mm = nil
			}
			if _, _, err := p.read(off, 0); err == nil {
				t.Errorf("byte %d of the entry at %d damaged (mapped %v): read without error", at-off, off, mapped)
			}
			pr.close()
		}
	}
}
