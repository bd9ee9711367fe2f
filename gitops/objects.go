package gitops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrObjectMissing is returned (wrapped) when an object is not in the local
// object database (typically a shallow or partial clone).
var ErrObjectMissing = errors.New("object not in the local repository")

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

// goGitReader reads objects through go-git's storage.
type goGitReader struct{ repo *Repo }

func (g *goGitReader) readTree(h Hash) ([]TreeEntry, error) {
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	t, err := object.GetTree(g.repo.r.Storer, h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("read tree %s: %w", h, ErrObjectMissing)
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
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	o, err := g.repo.r.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("read blob %s: %w", h, ErrObjectMissing)
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

// catFileReader reads objects through one long-running `git cat-file
// --batch`; it falls back to go-git if the process cannot be started or dies.
type catFileReader struct {
	repo     *Repo
	fallback objectReader

	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	failed bool
}

func (c *catFileReader) start() error {
	cmd := exec.Command(c.repo.git, "cat-file", "--batch")
	cmd.Dir = c.repo.root
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.cmd, c.in, c.out = cmd, in, bufio.NewReaderSize(out, 64<<10)
	return nil
}

func (c *catFileReader) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	c.in.Close()
	err := c.cmd.Wait()
	c.cmd = nil
	return err
}

// read returns the object's type and content.
func (c *catFileReader) read(h Hash) (string, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed {
		return "", nil, errCatFileDown
	}
	if c.cmd == nil {
		if err := c.start(); err != nil {
			c.failed = true
			return "", nil, errCatFileDown
		}
	}
	var line [41]byte
	hex := h.String()
	copy(line[:], hex)
	line[40] = '\n'
	if _, err := c.in.Write(line[:]); err != nil {
		c.failed = true
		return "", nil, errCatFileDown
	}
	hdr, err := c.out.ReadSlice('\n')
	if err != nil {
		c.failed = true
		return "", nil, errCatFileDown
	}
	hdr = hdr[:len(hdr)-1]
	if bytes.HasSuffix(hdr, []byte(" missing")) {
		return "", nil, ErrObjectMissing
	}
	// <sha> <type> <size>
	f := bytes.Fields(hdr)
	if len(f) != 3 {
		c.failed = true
		return "", nil, errCatFileDown
	}
	typ := string(f[1])
	size, err := strconv.Atoi(string(f[2]))
	if err != nil {
		c.failed = true
		return "", nil, errCatFileDown
	}
	body := make([]byte, size+1)
	if _, err := io.ReadFull(c.out, body); err != nil {
		c.failed = true
		return "", nil, errCatFileDown
	}
	return typ, body[:size], nil
}

var errCatFileDown = errors.New("git cat-file is not available")

func (c *catFileReader) readTree(h Hash) ([]TreeEntry, error) {
	typ, body, err := c.read(h)
	if errors.Is(err, errCatFileDown) {
		return c.fallback.readTree(h)
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
func (r *Repo) Blob(h Hash) ([]byte, error) { return r.objects.readBlob(h) }

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

// ListFiles returns every non-tree entry under the tree at dir (recursively)
// in commit's tree whose base name equals name, with paths relative to the
// repository root. It reads trees only, never blobs; with the git binary it
// uses one `git ls-tree -r`.
func (r *Repo) ListFiles(ctx context.Context, treeHash Hash, dir, name string) (map[string]Hash, error) {
	out := map[string]Hash{}
	e, err := r.PathEntry(treeHash, dir)
	if errors.Is(err, errNotExist) || (err == nil && !e.IsDir()) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := ""
	if dir != "" && dir != "." {
		prefix = dir + "/"
	}
	if r.git != "" {
		b, err := r.gitCmd(ctx, "ls-tree", "-r", "-z", "--full-tree", e.Hash.String())
		if err == nil {
			for len(b) > 0 {
				nul := bytes.IndexByte(b, 0)
				if nul < 0 {
					break
				}
				rec := b[:nul]
				b = b[nul+1:]
				// <mode> SP <type> SP <hash> TAB <path>
				tab := bytes.IndexByte(rec, '\t')
				if tab < 0 || tab < 41 {
					continue
				}
				p := string(rec[tab+1:])
				base := p
				if i := bytes.LastIndexByte(rec[tab+1:], '/'); i >= 0 {
					base = p[i+1:]
				}
				if base != name || !bytes.Contains(rec[:tab], []byte(" blob ")) {
					continue
				}
				h := plumbing.NewHash(string(rec[tab-40 : tab]))
				out[prefix+p] = h
			}
			return out, nil
		}
	}
	var walk func(h Hash, p string) error
	walk = func(h Hash, p string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := r.tree(h)
		if err != nil {
			return err
		}
		for _, e := range t.entries {
			if e.IsDir() {
				if err := walk(e.Hash, p+e.Name+"/"); err != nil {
					return err
				}
			} else if e.Name == name && e.Mode != filemode.Submodule {
				out[p+e.Name] = e.Hash
			}
		}
		return nil
	}
	if err := walk(e.Hash, prefix); err != nil {
		return nil, err
	}
	return out, nil
}
