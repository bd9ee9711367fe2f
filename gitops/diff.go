package gitops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Action is what happened to a path.
type Action string

// Actions of a Change.
const (
	Added    Action = "added"
	Deleted  Action = "deleted"
	Modified Action = "modified"
	Renamed  Action = "renamed"
)

// Change is one changed path between two trees. Renames are exact: a path
// deleted and another added with the same blob id (content unchanged).
type Change struct {
	Action Action
	// Path is the path at head (at base for deletions).
	Path string
	// OldPath is the path at base for renames.
	OldPath string
	// OldHash and NewHash are the blob ids at base and head (zero when absent).
	OldHash, NewHash Hash
	// OldMode and NewMode are the file modes (zero when absent).
	OldMode, NewMode filemode.FileMode
}

// ChangedPaths lists the files that differ between the trees of commits base
// and head: adds, deletes, modifications (content or mode) and exact renames,
// sorted by Path. Identical subtrees are skipped by comparing tree ids, so
// the cost follows the size of the change, not of the repository.
func (r *Repo) ChangedPaths(ctx context.Context, base, head Hash) ([]Change, error) {
	bt, err := r.commitTree(base)
	if err != nil {
		return nil, err
	}
	ht, err := r.commitTree(head)
	if err != nil {
		return nil, err
	}
	return r.DiffTrees(ctx, bt, ht)
}

// DiffTrees is ChangedPaths for two tree ids (ZeroHash is the empty tree).
func (r *Repo) DiffTrees(ctx context.Context, baseTree, headTree Hash) ([]Change, error) {
	var raw []Change
	var err error
	if r.git != "" && !(baseTree.IsZero() && headTree.IsZero()) {
		a, b := baseTree, headTree
		if a.IsZero() {
			a = EmptyTree
		}
		if b.IsZero() {
			b = EmptyTree
		}
		raw, err = r.diffTreeGit(ctx, a, b)
		if err != nil {
			raw, err = nil, nil
		}
	}
	if raw == nil {
		if err := r.diffTree(ctx, baseTree, headTree, "", &raw); err != nil {
			return nil, err
		}
	}
	return PairRenames(raw), nil
}

func (r *Repo) commitTree(h Hash) (Hash, error) {
	c, err := r.commit(h)
	if err != nil {
		return ZeroHash, err
	}
	return c.TreeHash, nil
}

// CommitTree returns the root tree id of commit h.
func (r *Repo) CommitTree(h Hash) (Hash, error) { return r.commitTree(h) }

func (r *Repo) entries(h Hash) ([]TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	t, err := r.tree(h)
	if err != nil {
		return nil, err
	}
	return t.entries, nil
}

// diffTree merge-joins two sorted trees, recursing only into subtrees whose
// ids differ. Git orders entries by name with "/" appended to tree names,
// so a file and a tree of the same name are distinct keys, as they should be.
func (r *Repo) diffTree(ctx context.Context, a, b Hash, prefix string, out *[]Change) error {
	return r.diffTreeOf(ctx, a, b, prefix, false, out)
}

// diffTreeOf is diffTree; baseOnly does not descend into folders only b
// has (see DiffPathBase).
func (r *Repo) diffTreeOf(ctx context.Context, a, b Hash, prefix string, baseOnly bool, out *[]Change) error {
	if a == b {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ea, err := r.entries(a)
	if err != nil {
		return err
	}
	eb, err := r.entries(b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ea) || j < len(eb) {
		var c int
		switch {
		case i >= len(ea):
			c = 1
		case j >= len(eb):
			c = -1
		default:
			c = compareEntries(ea[i], eb[j])
		}
		switch {
		case c < 0:
			if err := r.emitOf(ctx, ea[i], prefix, Deleted, baseOnly, out); err != nil {
				return err
			}
			i++
		case c > 0:
			if err := r.emitOf(ctx, eb[j], prefix, Added, baseOnly, out); err != nil {
				return err
			}
			j++
		default:
			x, y := ea[i], eb[j]
			i++
			j++
			if x.Hash == y.Hash && x.Mode == y.Mode {
				continue
			}
			if x.IsDir() {
				if err := r.diffTreeOf(ctx, x.Hash, y.Hash, prefix+x.Name+"/", baseOnly, out); err != nil {
					return err
				}
				continue
			}
			*out = append(*out, Change{Action: Modified, Path: prefix + x.Name, OldHash: x.Hash, NewHash: y.Hash, OldMode: x.Mode, NewMode: y.Mode})
		}
	}
	return nil
}

// emitOf reports an entry (recursively for trees, but for a tree added
// when baseOnly) as added or deleted.
func (r *Repo) emitOf(ctx context.Context, e TreeEntry, prefix string, act Action, baseOnly bool, out *[]Change) error {
	if e.IsDir() && !(baseOnly && act == Added) {
		if act == Added {
			return r.diffTree(ctx, ZeroHash, e.Hash, prefix+e.Name+"/", out)
		}
		return r.diffTreeOf(ctx, e.Hash, ZeroHash, prefix+e.Name+"/", baseOnly, out)
	}
	c := Change{Action: act, Path: prefix + e.Name}
	if act == Added {
		c.NewHash, c.NewMode = e.Hash, e.Mode
	} else {
		c.OldHash, c.OldMode = e.Hash, e.Mode
	}
	*out = append(*out, c)
	return nil
}

func compareEntries(a, b TreeEntry) int {
	an, bn := a.Name, b.Name
	if a.IsDir() {
		an += "/"
	}
	if b.IsDir() {
		bn += "/"
	}
	switch {
	case an < bn:
		return -1
	case an > bn:
		return 1
	}
	return 0
}

// diffTreeGit runs `git diff-tree -r -z --no-renames` (renames are paired
// by PairRenames on both paths, so both paths agree exactly), reading its
// output as it comes.
func (r *Repo) diffTreeGit(ctx context.Context, a, b Hash) (res []Change, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{"diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", "--raw", "--full-index", a.String(), b.String()}
	cmd, stderr := r.gitCommand(ctx, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res, perr := parseDiffTree(bufio.NewReaderSize(stdout, 64<<10))
	if perr != nil {
		cancel() // git stops; its exit status does not matter any more
	}
	werr := cmd.Wait()
	switch {
	case perr != nil:
		return nil, perr
	case werr != nil:
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), werr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// parseDiffTree reads the output of `git diff-tree -r -z --raw
// --full-index --no-renames` from rd.
func parseDiffTree(rd *bufio.Reader) ([]Change, error) {
	res := []Change{}
	for {
		// :<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0
		head, err := rd.ReadSlice(0)
		if err == io.EOF && len(head) == 0 {
			return res, nil
		}
		if err != nil || head[0] != ':' {
			return nil, fmt.Errorf("git diff-tree: unexpected output %q (%v)", head, err)
		}
		f := bytes.Fields(head[1 : len(head)-1])
		if len(f) != 5 || len(f[4]) == 0 {
			return nil, fmt.Errorf("git diff-tree: unexpected output %q", head)
		}
		om, _ := filemode.New(string(f[0]))
		nm, _ := filemode.New(string(f[1]))
		c := Change{OldHash: plumbing.NewHash(string(f[2])), NewHash: plumbing.NewHash(string(f[3])), OldMode: om, NewMode: nm}
		switch f[4][0] {
		case 'A':
			c.Action, c.OldMode = Added, 0
		case 'D':
			c.Action, c.NewMode = Deleted, 0
		default:
			c.Action = Modified
		}
		p, err := rd.ReadBytes(0)
		if err != nil {
			return nil, fmt.Errorf("git diff-tree: unexpected end of output")
		}
		c.Path = string(p[:len(p)-1])
		res = append(res, c)
	}
}

// PairRenames turns a deletion and an addition of the same blob id into a
// rename and sorts the result by path. Where several files share the
// content, each addition (in path order) takes, as git's exact rename
// detection does, a deletion with the same file name if there is one,
// else the first in path order. The committed diffs pair with it; changes
// built otherwise (the work tree folded into a diff) pair with it too, so
// both read the same.
func PairRenames(in []Change) []Change {
	deleted := map[Hash][]int{}
	for i, c := range in {
		if c.Action == Deleted && !c.OldHash.IsZero() && c.OldMode != filemode.Submodule {
			deleted[c.OldHash] = append(deleted[c.OldHash], i)
		}
	}
	drop := map[int]bool{}
	if len(deleted) > 0 {
		for _, list := range deleted {
			sort.Slice(list, func(a, b int) bool { return in[list[a]].Path < in[list[b]].Path })
		}
		idx := make([]int, 0)
		for i, c := range in {
			if c.Action == Added {
				idx = append(idx, i)
			}
		}
		sort.Slice(idx, func(a, b int) bool { return in[idx[a]].Path < in[idx[b]].Path })
		for _, i := range idx {
			list := deleted[in[i].NewHash]
			if len(list) == 0 {
				continue
			}
			k := 0
			if len(list) > 1 {
				name := path.Base(in[i].Path)
				for j, d := range list {
					if path.Base(in[d].Path) == name {
						k = j
						break
					}
				}
			}
			d := list[k]
			deleted[in[i].NewHash] = append(list[:k:k], list[k+1:]...)
			in[i].Action = Renamed
			in[i].OldPath = in[d].Path
			in[i].OldHash = in[d].OldHash
			in[i].OldMode = in[d].OldMode
			drop[d] = true
		}
	}
	out := make([]Change, 0, len(in)-len(drop))
	for i, c := range in {
		if !drop[i] {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out
}

// DiffPath is DiffTrees limited to what lies at path p (a file, or a
// folder and everything below it; "" for the whole tree) in two root
// trees (ZeroHash is the empty tree): the changes are those DiffTrees would list under p, renames paired
// among them only. The walk is in-process over trees read through the
// object cache (no process per call), so many small comparisons of
// different commits stay cheap.
func (r *Repo) DiffPath(ctx context.Context, baseRoot, headRoot Hash, p string) ([]Change, error) {
	return r.diffPathOf(ctx, baseRoot, headRoot, p, false)
}

// DiffPathBase is DiffPath for what base holds: a folder only head has is
// one Added change of the folder itself (its mode a tree), not descended
// into, so a rename from base into it is listed as the Deleted file it
// was at base. A walk back over history that looks at earlier versions
// of files so skips reading every tree of a commit that added a large
// folder (the first import of a monorepo).
func (r *Repo) DiffPathBase(ctx context.Context, baseRoot, headRoot Hash, p string) ([]Change, error) {
	return r.diffPathOf(ctx, baseRoot, headRoot, p, true)
}

func (r *Repo) diffPathOf(ctx context.Context, baseRoot, headRoot Hash, p string, baseOnly bool) ([]Change, error) {
	if p == "" || p == "." {
		// The whole tree, in process (DiffTrees may start a git process).
		var raw []Change
		if err := r.diffTreeOf(ctx, baseRoot, headRoot, "", baseOnly, &raw); err != nil {
			return nil, err
		}
		return PairRenames(raw), nil
	}
	a, aok, err := r.entryAt(baseRoot, p)
	if err != nil {
		return nil, err
	}
	b, bok, err := r.entryAt(headRoot, p)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		prefix = p[:i+1]
	}
	var raw []Change
	switch {
	case aok && bok && a.IsDir() == b.IsDir():
		if a.Hash == b.Hash && a.Mode == b.Mode {
			return nil, nil
		}
		if a.IsDir() {
			err = r.diffTreeOf(ctx, a.Hash, b.Hash, p+"/", baseOnly, &raw)
		} else {
			raw = append(raw, Change{Action: Modified, Path: p, OldHash: a.Hash, NewHash: b.Hash, OldMode: a.Mode, NewMode: b.Mode})
		}
	default:
		// A file and a folder of the same name are distinct entries, as
		// in diffTree.
		if aok {
			err = r.emitOf(ctx, a, prefix, Deleted, baseOnly, &raw)
		}
		if err == nil && bok {
			err = r.emitOf(ctx, b, prefix, Added, baseOnly, &raw)
		}
	}
	if err != nil {
		return nil, err
	}
	return PairRenames(raw), nil
}

// entryAt returns the entry at p in the root tree (ok false when there is
// none, or the root is the empty tree).
func (r *Repo) entryAt(root Hash, p string) (TreeEntry, bool, error) {
	if root.IsZero() {
		return TreeEntry{}, false, nil
	}
	e, err := r.PathEntry(root, p)
	if errors.Is(err, errNotExist) {
		return TreeEntry{}, false, nil
	}
	if err != nil {
		return TreeEntry{}, false, err
	}
	return e, true, nil
}
