package gitops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrObjectMissing is returned (wrapped) when an object is not in the local
// object database (typically a shallow or partial clone).
var ErrObjectMissing = errors.New("object not in the local repository")

// objectMissing is the error for object h (a "commit", "tree" or "blob")
// that could not be found. It wraps ErrObjectMissing, which callers
// explain as history to fetch, unless a pack index lists h: the object is
// there but its pack is damaged, and fetching would not help.
func (r *Repo) objectMissing(kind string, h Hash) error {
	if name := r.st.packListing(h); name != "" {
		return fmt.Errorf("read %s %s: %s.idx lists it but it cannot be read from %s.pack: the pack file is damaged (truncated or overwritten); run git fsck, then restore the pack (re-clone, or fetch into a fresh clone)", kind, h, name, name)
	}
	if r.promisor != "" {
		e := &partialMissingError{kind: kind, h: h, promisor: r.promisor, git: r.git != ""}
		if why := r.fetchWhy.Load(); why != nil {
			e.why = *why
		}
		return e
	}
	return fmt.Errorf("read %s %s: %w", kind, h, ErrObjectMissing)
}

// partialMissingError is an object missing from a partial clone (git
// clone --filter), which git fetches from the promisor remote on demand
// when panka reads through it. It says why that did not happen and what
// to do, and wraps ErrObjectMissing.
type partialMissingError struct {
	kind, promisor string
	h              Hash
	git            bool   // read through the git binary
	why            string // what git fetch said when it failed, if it ran
}

func (e *partialMissingError) Error() string {
	if e.git {
		said := ""
		if e.why != "" {
			said = fmt.Sprintf(" (git fetch %s: %s)", e.promisor, e.why)
		}
		return fmt.Sprintf("read %s %s: not in this partial clone (git clone --filter), and git could not fetch it from its promisor remote %s%s: check that %s can be reached (git fetch %s), or use a full clone (in GitHub Actions, actions/checkout without filter)", e.kind, e.h, e.promisor, said, e.promisor, e.promisor)
	}
	return fmt.Sprintf("read %s %s: not in this partial clone (git clone --filter), and without the git binary (PANKA_GIT_BINARY=false, or no git on PATH) nothing fetches it from its promisor remote %s: put git on PATH and unset PANKA_GIT_BINARY, so that git fetches it on demand, or use a full clone (in GitHub Actions, actions/checkout without filter)", e.kind, e.h, e.promisor)
}

func (e *partialMissingError) Unwrap() error { return ErrObjectMissing }

// TreeEntry is one entry of a git tree.
type TreeEntry struct {
	Name string
	Mode filemode.FileMode
	Hash Hash
}

// IsDir reports whether the entry is a subtree.
func (e TreeEntry) IsDir() bool { return e.Mode == filemode.Dir }

// tree is a decoded tree object with a name index for large trees.
type tree struct {
	entries []TreeEntry
	byName  map[string]int
}

func newTree(entries []TreeEntry) *tree {
	t := &tree{entries: entries}
	if len(entries) > 16 {
		t.byName = make(map[string]int, len(entries))
		for i, e := range entries {
			t.byName[e.Name] = i
		}
	}
	return t
}

func (t *tree) lookup(name string) (TreeEntry, bool) {
	if t.byName != nil {
		i, ok := t.byName[name]
		if !ok {
			return TreeEntry{}, false
		}
		return t.entries[i], true
	}
	for _, e := range t.entries {
		if e.Name == name {
			return e, true
		}
	}
	return TreeEntry{}, false
}

// objectReader reads trees and blobs.
type objectReader interface {
	readTree(h Hash) ([]TreeEntry, error)
	readBlob(h Hash) ([]byte, error)
}

// goGitReader reads objects through go-git's storage, which serializes
// every read (repo.mu). Objects in the pack files are read first through a
// few pack readers of its own, one per concurrent reader: the parallel
// header reads of a far-apart comparison (thousands of stack.yaml blobs,
// environment listings) then use every core, as the git binary's cat-file
// processes do. Anything else (loose objects, alternates, packs written
// since, damaged entries) is read, or reported, by go-git's storage.
type goGitReader struct {
	repo *Repo

	mu     sync.Mutex
	free   []*packStorage // idle pack readers
	made   int
	closed bool
}

// maxPackReaders bounds the pack readers of a goGitReader, each keeping
// its own cache of delta bases, of poolBaseCacheBytes: they read blobs
// and trees one at a time, not the long walks the main reader's cache
// serves (a far-apart comparison stays under 200 MB).
var maxPackReaders = min(runtime.GOMAXPROCS(0), 4)

const poolBaseCacheBytes = 8 << 20

// fromPacks returns the contents of object h of type t when a pack reader
// of its own finds it in the pack files; ok is false otherwise (every
// reader busy, or the object is not one it reads).
func (g *goGitReader) fromPacks(t plumbing.ObjectType, h Hash) (data []byte, ok bool) {
	g.mu.Lock()
	var st *packStorage
	switch {
	case g.closed:
	case len(g.free) > 0:
		st = g.free[len(g.free)-1]
		g.free = g.free[:len(g.free)-1]
	case g.made < maxPackReaders:
		g.made++
		st = g.repo.newStorage()
		st.bases = poolBaseCacheBytes
	}
	g.mu.Unlock()
	if st == nil {
		return nil, false
	}
	o, err := st.reader().object(t, h)
	g.mu.Lock()
	if g.closed {
		st.Close()
	} else {
		g.free = append(g.free, st)
	}
	g.mu.Unlock()
	if po, isPack := o.(*packObject); err == nil && isPack {
		return po.data, true
	}
	return nil, false
}

// close closes the pack readers.
func (g *goGitReader) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, st := range g.free {
		st.Close()
	}
	g.free = nil
}

func (g *goGitReader) readTree(h Hash) ([]TreeEntry, error) {
	if data, ok := g.fromPacks(plumbing.TreeObject, h); ok {
		if entries, err := parseTree(h, data); err == nil {
			return entries, nil
		}
	}
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	t, err := object.GetTree(g.repo.r.Storer, h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, g.repo.objectMissing("tree", h)
		}
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	out := make([]TreeEntry, len(t.Entries))
	for i, e := range t.Entries {
		out[i] = TreeEntry{Name: e.Name, Mode: e.Mode, Hash: e.Hash}
	}
	return out, nil
}

func (g *goGitReader) readBlob(h Hash) ([]byte, error) {
	if data, ok := g.fromPacks(plumbing.BlobObject, h); ok {
		// The pack reader may keep it as a delta base: the caller's own.
		return bytes.Clone(data), nil
	}
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	o, err := g.repo.r.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, g.repo.objectMissing("blob", h)
		}
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer rd.Close()
	b := make([]byte, 0, o.Size())
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, rd); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return buf.Bytes(), nil
}

// catFileReader reads objects through long-running `git cat-file --batch`
// processes; it falls back to go-git if a process cannot be started or
// dies. Single reads use the first process; large batches are split over
// up to catFileProcs processes that run in parallel (object reads are most
// of the cost of a cold change detection on a big repository, and git
// decompresses one object at a time per process).
type catFileReader struct {
	repo     *Repo
	fallback objectReader

	mu     sync.Mutex // guards procs
	procs  []*catFileProc
	closed atomic.Bool

	// buffered: the git binary has `cat-file --batch-command --buffer`
	// (git 2.36+), which answers a batch with a few large writes instead
	// of flushing every object: about a quarter less time per object.
	bufOnce  sync.Once
	buffered bool
}

// batchCommandSince is the first git version with cat-file --batch-command.
var batchCommandSince = [2]int{2, 36}

// gitVersionAtLeast reports whether `git version` output (e.g. "git version
// 2.39.5", "git version 2.45.1.windows.1") names at least version want.
func gitVersionAtLeast(out string, want [2]int) bool {
	f := strings.Fields(out)
	if len(f) < 3 {
		return false
	}
	parts := strings.SplitN(f[2], ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > want[0] || major == want[0] && minor >= want[1]
}

// catFileProcs bounds the cat-file processes of one Repo.
var catFileProcs = min(runtime.GOMAXPROCS(0), 4)

// noBatchCommand forces plain --batch (tests of both protocols).
var noBatchCommand = false

// minSplit is the smallest batch worth spreading over a second process
// (starting one costs a few milliseconds). A variable for tests.
var minSplit = 256

// catFileProc is one `git cat-file --batch` process.
type catFileProc struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	failed bool
}

// proc returns process i, created (not started) on first use.
func (c *catFileReader) proc(i int) *catFileProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.procs) <= i {
		c.procs = append(c.procs, &catFileProc{})
	}
	return c.procs[i]
}

// ensure starts the process if needed; the caller holds p.mu.
func (p *catFileProc) ensure(c *catFileReader) error {
	if p.failed || c.closed.Load() {
		return errCatFileDown
	}
	repo := c.repo
	if p.cmd != nil {
		return nil
	}
	c.bufOnce.Do(func() {
		out, err := exec.Command(repo.git, "version").Output()
		c.buffered = err == nil && gitVersionAtLeast(string(out), batchCommandSince) && !noBatchCommand
	})
	args := []string{"cat-file", "--batch"}
	if c.buffered {
		args = []string{"cat-file", "--batch-command", "--buffer"}
	}
	cmd := exec.Command(repo.git, args...)
	cmd.Dir = repo.root
	cmd.Env = repo.gitEnv()
	in, err := cmd.StdinPipe()
	if err == nil {
		var out io.ReadCloser
		if out, err = cmd.StdoutPipe(); err == nil {
			if err = cmd.Start(); err == nil {
				p.cmd, p.in, p.out = cmd, in, bufio.NewReaderSize(out, 64<<10)
				return nil
			}
		}
	}
	p.failed = true
	return errCatFileDown
}

// Warm starts the object-reading processes in the background, so that the
// first large batch does not wait for them (git binary only).
func (r *Repo) Warm() {
	c, ok := r.objects.(*catFileReader)
	if !ok {
		return
	}
	for i := 0; i < catFileProcs; i++ {
		p := c.proc(i)
		go func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			_ = p.ensure(c) // a failure shows on the first read
		}()
	}
}

func (c *catFileReader) close() error {
	c.closed.Store(true)
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	// Close every input first, so that the processes exit together.
	for _, p := range procs {
		p.mu.Lock()
		if p.cmd != nil {
			p.in.Close()
		}
	}
	var first error
	for _, p := range procs {
		if p.cmd != nil {
			if err := p.cmd.Wait(); err != nil && first == nil {
				first = err
			}
			p.cmd = nil
		}
		p.mu.Unlock()
	}
	return first
}

// stop ends a process whose answers broke the protocol (a git that
// printed something else, or died): it is marked failed (its reader falls
// back to go-git), its input closed, and it is killed and reaped now, so
// that neither a writer blocked on its full input nor Close waiting on a
// process that no longer reads outlives the read. The caller holds p.mu.
func (p *catFileProc) stop() {
	p.failed = true
	if p.cmd == nil {
		return
	}
	p.in.Close()
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	_ = p.cmd.Wait()
	p.cmd = nil
}

// readOne reads the next answer of the process: the object's type and
// content. An object larger than limit (when above 0) is skipped, not held
// in memory: errTooLarge. A broken protocol marks the process failed.
func (p *catFileProc) readOne(limit int) (typ string, body []byte, err error) {
	hdr, err := p.out.ReadSlice('\n')
	if err != nil {
		p.failed = true
		return "", nil, errCatFileDown
	}
	hdr = hdr[:len(hdr)-1]
	if bytes.HasSuffix(hdr, []byte(" missing")) {
		return "", nil, ErrObjectMissing
	}
	// <sha> <type> <size>
	f := bytes.Fields(hdr)
	if len(f) != 3 {
		p.failed = true
		return "", nil, errCatFileDown
	}
	typ = string(f[1]) // hdr points into the reader's buffer
	size, err := strconv.Atoi(string(f[2]))
	if err != nil {
		p.failed = true
		return "", nil, errCatFileDown
	}
	if limit > 0 && size > limit {
		if _, err := p.out.Discard(size + 1); err != nil {
			p.failed = true
			return "", nil, errCatFileDown
		}
		return typ, nil, errTooLarge
	}
	body = make([]byte, size+1) // with the trailing newline
	if _, err := io.ReadFull(p.out, body); err != nil {
		p.failed = true
		return "", nil, errCatFileDown
	}
	return typ, body[:size], nil
}

// read returns the object's type and content.
func (c *catFileReader) read(h Hash) (string, []byte, error) {
	p := c.proc(0)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensure(c); err != nil {
		return "", nil, err
	}
	var line []byte
	if c.buffered {
		line = append(append(append(line, "contents "...), h.String()...), "\nflush\n"...)
	} else {
		line = append(append(line, h.String()...), '\n')
	}
	if _, err := p.in.Write(line); err != nil {
		p.stop()
		return "", nil, errCatFileDown
	}
	typ, body, err := p.readOne(0)
	if errors.Is(err, errCatFileDown) {
		p.stop()
	}
	return typ, body, err
}

var errCatFileDown = errors.New("git cat-file is not available")

// errTooLarge says an object was skipped for its size (see readOne).
var errTooLarge = errors.New("object larger than the limit")

// readMany pipelines requests for objects of type want. Large batches are
// split in contiguous parts read by parallel processes; fn is called once
// per object, never concurrently, in order within a part (in order overall
// when ordered is set, which keeps the batch on one process).
// Objects larger than limit (when above 0) are skipped: fn is not called
// for them.
func (c *catFileReader) readMany(hashes []Hash, want string, ordered bool, limit int, fn func(Hash, []byte) error) error {
	var fnMu sync.Mutex
	return c.readManyConcurrent(hashes, want, ordered, limit, func(h Hash, b []byte) error {
		fnMu.Lock()
		defer fnMu.Unlock()
		return fn(h, b)
	})
}

// readManyConcurrent is readMany with fn called concurrently from the
// parts of a split batch (still in order within a part): fn does its own
// locking, so that work on one object (parsing a tree) does not hold up the
// other processes' answers.
func (c *catFileReader) readManyConcurrent(hashes []Hash, want string, ordered bool, limit int, fn func(Hash, []byte) error) error {
	if want != "commit" {
		// A partial clone fetches what it lacks in one request, not one
		// per object as cat-file would.
		c.repo.fetchAbsent(hashes)
	}
	parts := 1
	if !ordered {
		parts = max(1, min(catFileProcs, len(hashes)/minSplit))
	}
	if parts == 1 {
		return c.readPart(c.proc(0), hashes, want, limit, fn)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := 0; i < parts; i++ {
		lo, hi := len(hashes)*i/parts, len(hashes)*(i+1)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.readPart(c.proc(i), hashes[lo:hi], want, limit, fn)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, errCatFileDown) {
			return err
		}
	}
	return errors.Join(errs...)
}

// readPart pipelines hashes through one process: a goroutine writes the
// requests while the answers are read in order, so the pipe never fills up
// on both sides.
func (c *catFileReader) readPart(p *catFileProc, hashes []Hash, want string, limit int, fn func(Hash, []byte) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensure(c); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(p.in, 64<<10)
		prefix := ""
		if c.buffered {
			prefix = "contents " // --batch-command
		}
		line := make([]byte, len(prefix)+41)
		copy(line, prefix)
		line[len(line)-1] = '\n'
		for _, h := range hashes {
			hex.Encode(line[len(prefix):len(prefix)+40], h[:])
			if _, err := bw.Write(line); err != nil {
				werr <- err
				return
			}
		}
		if c.buffered {
			// --buffer runs the queued commands on flush.
			if _, err := bw.WriteString("flush\n"); err != nil {
				werr <- err
				return
			}
		}
		werr <- bw.Flush()
	}()
	var ferr error
	for _, h := range hashes {
		typ, body, err := p.readOne(limit)
		if errors.Is(err, errCatFileDown) {
			// The writer may be blocked on the input of a process that
			// no longer reads: stopping it ends the write.
			p.stop()
			<-werr
			return err
		}
		if errors.Is(err, errTooLarge) {
			continue
		}
		if err != nil {
			if ferr == nil {
				ferr = fmt.Errorf("read %s %s: %w", want, h, err)
			}
			continue
		}
		if ferr == nil && typ != want {
			ferr = fmt.Errorf("read %s %s: object is a %s", want, h, typ)
		}
		if ferr == nil {
			ferr = fn(h, body)
		}
	}
	if err := <-werr; err != nil {
		p.stop()
		return errCatFileDown
	}
	return ferr
}

func (c *catFileReader) readTree(h Hash) ([]TreeEntry, error) {
	typ, body, err := c.read(h)
	if errors.Is(err, errCatFileDown) {
		return c.fallback.readTree(h)
	}
	if errors.Is(err, ErrObjectMissing) {
		return nil, c.repo.objectMissing("tree", h)
	}
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	if typ != "tree" {
		return nil, fmt.Errorf("read tree %s: object is a %s", h, typ)
	}
	return parseTree(h, body)
}

func (c *catFileReader) readBlob(h Hash) ([]byte, error) {
	typ, body, err := c.read(h)
	if errors.Is(err, errCatFileDown) {
		return c.fallback.readBlob(h)
	}
	if errors.Is(err, ErrObjectMissing) {
		return nil, c.repo.objectMissing("blob", h)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	if typ != "blob" {
		return nil, fmt.Errorf("read blob %s: object is a %s", h, typ)
	}
	return body, nil
}

// parseTree decodes the raw tree format: "<octal mode> <name>\0<20-byte id>"*.
func parseTree(h Hash, b []byte) ([]TreeEntry, error) {
	var out []TreeEntry
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("read tree %s: malformed entry", h)
		}
		mode, err := strconv.ParseUint(string(b[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("read tree %s: bad mode %q", h, b[:sp])
		}
		b = b[sp+1:]
		nul := bytes.IndexByte(b, 0)
		if nul < 0 || len(b) < nul+21 {
			return nil, fmt.Errorf("read tree %s: malformed entry", h)
		}
		e := TreeEntry{Name: string(b[:nul]), Mode: filemode.FileMode(mode)}
		copy(e.Hash[:], b[nul+1:nul+21])
		out = append(out, e)
		b = b[nul+21:]
	}
	return out, nil
}

// Blobs reads many blobs at once, calling fn for each in order. With the
// git binary the requests are pipelined through git cat-file --batch; fn
// must not read objects from r itself.
func (r *Repo) Blobs(hashes []Hash, fn func(Hash, []byte) error) error {
	if c, ok := r.objects.(*catFileReader); ok && len(hashes) > 1 {
		// fn is called once per blob: when the process breaks part way,
		// go-git reads the blobs from the first it did not deliver.
		done := 0
		err := c.readMany(hashes, "blob", true, 0, func(h Hash, b []byte) error {
			done++
			return fn(h, b)
		})
		if !errors.Is(err, errCatFileDown) {
			return err
		}
		hashes = hashes[done:]
	}
	for _, h := range hashes {
		b, err := r.Blob(h)
		if err != nil {
			return err
		}
		if err := fn(h, b); err != nil {
			return err
		}
	}
	return nil
}

// Tree returns the entries of tree h (cached; trees are immutable).
func (r *Repo) Tree(h Hash) ([]TreeEntry, error) {
	t, err := r.tree(h)
	if err != nil {
		return nil, err
	}
	return t.entries, nil
}

func (r *Repo) tree(h Hash) (*tree, error) {
	r.treeMu.RLock()
	t, ok := r.trees[h]
	r.treeMu.RUnlock()
	if ok {
		return t, nil
	}
	entries, err := r.objects.readTree(h)
	if err != nil {
		return nil, err
	}
	t = newTree(entries)
	r.treeMu.Lock()
	r.trees[h] = t
	r.treeMu.Unlock()
	return t, nil
}

// Blob returns the content of blob h.
func (r *Repo) Blob(h Hash) ([]byte, error) {
	r.blobMu.Lock()
	b, ok := r.blobs[h]
	r.blobMu.Unlock()
	if ok {
		return b, nil
	}
	return r.objects.readBlob(h)
}

// BlobSize returns the size of blob h without reading its contents when
// it can (the header of its pack entry, or of its loose object): a file's
// size is asked before it is read (the stack loader refuses files above
// its limit), and a 2 GB file committed by mistake must not be read
// into memory to learn that it is too large.
func (r *Repo) BlobSize(h Hash) (int64, error) {
	r.blobMu.Lock()
	b, ok := r.blobs[h]
	r.blobMu.Unlock()
	if ok {
		return int64(len(b)), nil
	}
	r.mu.Lock()
	n, ok := r.st.reader().objectSize(h)
	if !ok {
		var err error
		n, err = r.st.EncodedObjectSize(h)
		ok = err == nil
	}
	r.mu.Unlock()
	if ok {
		return n, nil
	}
	// Whatever it is, reading it says what is wrong.
	b, err := r.Blob(h)
	if err != nil {
		return 0, err
	}
	return int64(len(b)), nil
}

// PrefetchBlobs reads blobs in one pipelined batch into the cache that
// Blob and TreeFS read from (git binary only; an optimisation).
func (r *Repo) PrefetchBlobs(hashes []Hash) error {
	c, ok := r.objects.(*catFileReader)
	if !ok {
		return nil
	}
	return r.fillBlobs(c, hashes)
}

// maxBlobCache bounds the memory Prefetch may hold.
const maxBlobCache = 96 << 20

// maxPrefetchBlob is the largest blob a prefetch keeps: a larger one (a
// data file next to the YAML, a YAML file far above the stack loader's
// limit) is skipped as it streams by, and read on demand if at all.
const maxPrefetchBlob = 4 << 20

// Prefetch reads the trees and blobs below the given trees that want
// selects (want gets the slash-separated path relative to its root and the
// entry; a tree that is not wanted is not descended into), in one pipelined
// batch per tree level plus one for the blobs, so that later reads through
// TreeFS are served from memory. It is an optimisation only: without the
// git binary it does nothing, and reads stay correct whatever it fetched.
func (r *Repo) Prefetch(ctx context.Context, roots []Hash, want func(rel string, e TreeEntry) bool) error {
	c, ok := r.objects.(*catFileReader)
	if !ok {
		return nil
	}
	type node struct {
		rel  string
		hash Hash
	}
	var level []node
	for _, h := range roots {
		if !h.IsZero() {
			level = append(level, node{"", h})
		}
	}
	var blobs []Hash
	seen := map[Hash]bool{}
	// The same tree at the same place (roots of nearby commits share most
	// of their subtrees) is walked once.
	walked := map[node]bool{}
	for len(level) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		hs := make([]Hash, len(level))
		for i, n := range level {
			hs[i] = n.hash
		}
		if err := r.prefetchTrees(hs); err != nil {
			return err
		}
		var next []node
		for _, n := range level {
			t, err := r.tree(n.hash)
			if err != nil {
				return err
			}
			for _, e := range t.entries {
				rel := n.rel + e.Name
				if want != nil && !want(rel, e) {
					continue
				}
				switch {
				case e.IsDir():
					if n := (node{rel + "/", e.Hash}); !walked[n] {
						walked[n] = true
						next = append(next, n)
					}
				case e.Mode != filemode.Submodule && !seen[e.Hash]:
					seen[e.Hash] = true
					blobs = append(blobs, e.Hash)
				}
			}
		}
		level = next
	}
	return r.fillBlobs(c, blobs)
}

// PrefetchPaths reads, for each root tree, the trees on the way to each of
// its paths (paths[i] for roots[i]; not the trees at the paths themselves),
// in one pipelined batch per tree level, so that PathEntry and TreeFS
// lookups of those paths are then answered from memory. Unlike Prefetch it
// reads only the trees each root needs: many commits, a few paths each.
// It is an optimisation only (git binary only; reads stay correct).
func (r *Repo) PrefetchPaths(ctx context.Context, roots []Hash, paths [][]string) error {
	if _, ok := r.objects.(*catFileReader); !ok {
		return nil
	}
	type walk struct {
		tree Hash
		rest string // path below tree
	}
	var level []walk
	for i, root := range roots {
		if root.IsZero() {
			continue
		}
		for _, p := range paths[i] {
			if p != "" && p != "." {
				level = append(level, walk{root, p})
			}
		}
	}
	for len(level) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		hs := make([]Hash, len(level))
		for i, w := range level {
			hs[i] = w.tree
		}
		if err := r.prefetchTrees(hs); err != nil {
			return err
		}
		var next []walk
		seen := map[walk]bool{}
		for _, w := range level {
			name, rest, more := strings.Cut(w.rest, "/")
			if !more {
				continue // the tree holding the path is read
			}
			t, err := r.tree(w.tree)
			if err != nil {
				return nil // reads on demand report it
			}
			if e, ok := t.lookup(name); ok && e.IsDir() {
				if n := (walk{e.Hash, rest}); !seen[n] {
					seen[n] = true
					next = append(next, n)
				}
			}
		}
		level = next
	}
	return nil
}

// PrefetchDiffs reads the trees that DiffPath(ctx, roots[i+1], roots[i], p)
// descends into, for each consecutive pair of roots (a first-parent
// history, newest first: each commit against its parent), in one pipelined
// batch per tree level, so that those comparisons are then answered from
// memory: hundreds of commits that changed a file or two each cost a few
// batches, not a request per tree. Subtrees only one side has (a folder
// added or removed) are left to be read on demand. It is an optimisation
// only (git binary only; reads stay correct).
func (r *Repo) PrefetchDiffs(ctx context.Context, roots []Hash, p string) error {
	if _, ok := r.objects.(*catFileReader); !ok {
		return nil
	}
	if p == "." {
		p = ""
	}
	if p != "" {
		on := make([][]string, len(roots))
		for i := range on {
			on[i] = []string{p}
		}
		if err := r.PrefetchPaths(ctx, roots, on); err != nil {
			return err
		}
	}
	type pair struct{ a, b Hash }
	var level []pair
	seen := map[pair]bool{}
	for i := 0; i+1 < len(roots); i++ {
		a, b := roots[i+1], roots[i]
		if p != "" {
			ea, aok, err := r.entryAt(a, p)
			if err != nil {
				return nil // reads on demand report it
			}
			eb, bok, err := r.entryAt(b, p)
			if err != nil {
				return nil
			}
			if !aok || !bok || !ea.IsDir() || !eb.IsDir() {
				continue
			}
			a, b = ea.Hash, eb.Hash
		}
		if n := (pair{a, b}); a != b && !a.IsZero() && !b.IsZero() && !seen[n] {
			seen[n] = true
			level = append(level, n)
		}
	}
	for len(level) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		hs := make([]Hash, 0, 2*len(level))
		for _, l := range level {
			hs = append(hs, l.a, l.b)
		}
		if err := r.prefetchTrees(hs); err != nil {
			return err
		}
		var next []pair
		for _, l := range level {
			ta, err := r.tree(l.a)
			if err != nil {
				return nil
			}
			tb, err := r.tree(l.b)
			if err != nil {
				return nil
			}
			for _, e := range ta.entries {
				if !e.IsDir() {
					continue
				}
				if o, ok := tb.lookup(e.Name); ok && o.IsDir() && o.Hash != e.Hash {
					if n := (pair{e.Hash, o.Hash}); !seen[n] {
						seen[n] = true
						next = append(next, n)
					}
				}
			}
		}
		level = next
	}
	return nil
}

func (r *Repo) fillBlobs(c *catFileReader, blobs []Hash) error {
	r.blobMu.Lock()
	var missing []Hash
	for _, h := range blobs {
		if _, ok := r.blobs[h]; !ok {
			missing = append(missing, h)
		}
	}
	full := r.blobBytes >= maxBlobCache
	r.blobMu.Unlock()
	if full || len(missing) == 0 {
		return nil
	}
	got := map[Hash][]byte{}
	size := 0
	err := c.readMany(missing, "blob", false, maxPrefetchBlob, func(h Hash, b []byte) error {
		if size < maxBlobCache {
			got[h] = b
			size += len(b)
		}
		return nil
	})
	if errors.Is(err, errCatFileDown) || errors.Is(err, ErrObjectMissing) {
		return nil // reads on demand will report it
	}
	if err != nil {
		return err
	}
	r.blobMu.Lock()
	for h, b := range got {
		if r.blobBytes >= maxBlobCache {
			break
		}
		r.blobs[h] = b
		r.blobBytes += len(b)
	}
	r.blobMu.Unlock()
	return nil
}

// PathEntry returns the tree entry at a slash-separated path inside tree
// root ("" or "." is the root itself, returned as a Dir entry).
func (r *Repo) PathEntry(root Hash, path string) (TreeEntry, error) {
	e := TreeEntry{Mode: filemode.Dir, Hash: root}
	if path == "" || path == "." {
		return e, nil
	}
	for len(path) > 0 {
		name := path
		rest := ""
		if i := indexSlash(path); i >= 0 {
			name, rest = path[:i], path[i+1:]
		}
		if !e.IsDir() {
			return TreeEntry{}, errNotExist
		}
		t, err := r.tree(e.Hash)
		if err != nil {
			return TreeEntry{}, err
		}
		ne, ok := t.lookup(name)
		if !ok {
			return TreeEntry{}, errNotExist
		}
		e = ne
		path = rest
	}
	return e, nil
}

var errNotExist = errors.New("no such path in tree")

func indexSlash(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// FindDirs returns the folders under dir (itself included) in tree root
// that hold a file called name, with that file's blob id, keyed by the
// file's repo-relative path. It reads trees only, never blobs, and does not
// descend into a folder that holds name (stacks do not nest) nor into
// folders for which skip returns true. With the git binary each level of
// the walk is one pipelined batch of cat-file requests.
func (r *Repo) FindDirs(ctx context.Context, root Hash, dir, name string, skip func(folder string) bool) (map[string]Hash, error) {
	out := map[string]Hash{}
	e, err := r.PathEntry(root, dir)
	if errors.Is(err, errNotExist) || (err == nil && !e.IsDir()) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	type node struct {
		path string
		hash Hash
	}
	prefix := ""
	if dir != "" && dir != "." {
		prefix = dir + "/"
	}
	level := []node{{prefix, e.Hash}}
	for len(level) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hashes := make([]Hash, 0, len(level))
		for _, n := range level {
			hashes = append(hashes, n.hash)
		}
		if err := r.prefetchTrees(hashes); err != nil {
			return nil, err
		}
		var next []node
		for _, n := range level {
			t, err := r.tree(n.hash)
			if err != nil {
				return nil, err
			}
			if f, ok := t.lookup(name); ok && !f.IsDir() && f.Mode != filemode.Submodule {
				out[n.path+name] = f.Hash
				continue
			}
			for _, c := range t.entries {
				if c.IsDir() && (skip == nil || !skip(c.Name)) {
					next = append(next, node{n.path + c.Name + "/", c.Hash})
				}
			}
		}
		level = next
	}
	return out, nil
}

// PrefetchDirs reads, in one pipelined batch per level, the trees on the
// way to the given folders of tree root (not the folders' own trees), so
// that path lookups below root are served from memory. It is an
// optimisation only (git binary only), like Prefetch.
func (r *Repo) PrefetchDirs(root Hash, dirs []string) error {
	if _, ok := r.objects.(*catFileReader); !ok || len(dirs) < 2 {
		return nil
	}
	type node struct {
		path string
		hash Hash
	}
	level := map[string]Hash{"": root}
	for depth := 0; len(level) > 0; depth++ {
		hs := make([]Hash, 0, len(level))
		for _, h := range level {
			hs = append(hs, h)
		}
		if err := r.prefetchTrees(hs); err != nil {
			return err
		}
		next := map[string]Hash{}
		for _, d := range dirs {
			parts := strings.Split(d, "/")
			if len(parts) <= depth+1 {
				continue // the folder itself, or above it
			}
			parent := strings.Join(parts[:depth], "/")
			h, ok := level[parent]
			if !ok {
				continue
			}
			t, err := r.tree(h)
			if err != nil {
				return err
			}
			e, ok := t.lookup(parts[depth])
			if !ok || !e.IsDir() {
				continue
			}
			next[strings.Join(parts[:depth+1], "/")] = e.Hash
		}
		level = next
	}
	return nil
}

// prefetchTrees loads trees that are not cached yet in one pipelined batch
// (git binary only; go-git reads them on demand).
func (r *Repo) prefetchTrees(hashes []Hash) error {
	c, ok := r.objects.(*catFileReader)
	if !ok {
		return nil
	}
	var missing []Hash
	asked := make(map[Hash]bool, len(hashes))
	r.treeMu.RLock()
	for _, h := range hashes {
		if _, ok := r.trees[h]; !ok && !asked[h] {
			asked[h] = true
			missing = append(missing, h)
		}
	}
	r.treeMu.RUnlock()
	if len(missing) < 2 {
		return nil
	}
	parsed := make(map[Hash]*tree, len(missing))
	var mu sync.Mutex
	err := c.readManyConcurrent(missing, "tree", false, 0, func(h Hash, b []byte) error {
		entries, err := parseTree(h, b)
		if err != nil {
			return err
		}
		t := newTree(entries)
		mu.Lock()
		parsed[h] = t
		mu.Unlock()
		return nil
	})
	if errors.Is(err, errCatFileDown) {
		return nil
	}
	if err != nil {
		return err
	}
	r.treeMu.Lock()
	for h, t := range parsed {
		r.trees[h] = t
	}
	r.treeMu.Unlock()
	return nil
}
