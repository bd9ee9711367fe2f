package gitops

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"

	commitgraph "github.com/go-git/go-git/v5/plumbing/format/commitgraph/v2"
)

// Walks of history (merge-base, descendants) read each commit's parents and
// date. A repository git has maintained (git gc, git maintenance, git
// commit-graph write) keeps them for every commit in a commit-graph file:
// read there, a walk of 30,000 commits needs no object decompression at
// all. Commits the graph does not hold (made since it was written) are read
// from their objects, as without one.

// graphFile is a mapped commit-graph file, as go-git's index reads it.
type graphFile struct {
	*bytes.Reader
	data []byte
}

func (g *graphFile) Close() error {
	unmapFile(g.data)
	return nil
}

// openGraphFile maps path for commitgraph.OpenFileIndex.
func openGraphFile(path string) (*graphFile, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	b := mapFile(path, fi.Size())
	if b == nil {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, false
		}
		return &graphFile{Reader: bytes.NewReader(data)}, true
	}
	return &graphFile{Reader: bytes.NewReader(b), data: b}, true
}

// commitGraph is the repository's commit-graph, opened on first use.
type commitGraph struct {
	once  sync.Once
	index commitgraph.Index // nil: none, or not usable
}

// graph returns the commit-graph index, nil when the repository has none,
// or one git itself would not trust: in a shallow clone, or with grafts or
// replace refs, which change parents the graph records.
func (r *Repo) graph() commitgraph.Index {
	r.cg.once.Do(func() {
		if r.noCommitGraph() {
			return
		}
		r.cg.index = openCommitGraph(filepath.Join(r.commonDir, "objects", "info"))
	})
	return r.cg.index
}

func (r *Repo) noCommitGraph() bool {
	for _, p := range []string{"shallow", filepath.Join("info", "grafts"), filepath.Join("refs", "replace")} {
		if _, err := os.Stat(filepath.Join(r.commonDir, p)); err == nil {
			return true
		}
	}
	packed, err := os.ReadFile(filepath.Join(r.commonDir, "packed-refs"))
	return err == nil && bytes.Contains(packed, []byte(" refs/replace/"))
}

// openCommitGraph opens info/commit-graph, else the split graph chain
// info/commit-graphs/commit-graph-chain (base graphs first), or nil.
func openCommitGraph(info string) commitgraph.Index {
	if f, ok := openGraphFile(filepath.Join(info, "commit-graph")); ok {
		ix, err := commitgraph.OpenFileIndex(f)
		if err != nil {
			f.Close()
			return nil
		}
		return ix
	}
	chain, err := os.Open(filepath.Join(info, "commit-graphs", "commit-graph-chain"))
	if err != nil {
		return nil
	}
	defer chain.Close()
	var ix commitgraph.Index
	sc := bufio.NewScanner(chain)
	for sc.Scan() {
		h := strings.TrimSpace(sc.Text())
		if h == "" {
			continue
		}
		f, ok := openGraphFile(filepath.Join(info, "commit-graphs", "graph-"+h+".graph"))
		if !ok {
			if ix != nil {
				ix.Close()
			}
			return nil
		}
		next, err := commitgraph.OpenFileIndexWithParent(f, ix)
		if err != nil {
			f.Close()
			if ix != nil {
				ix.Close()
			}
			return nil
		}
		ix = next
	}
	if sc.Err() != nil {
		if ix != nil {
			ix.Close()
		}
		return nil
	}
	return ix
}

// commitLinks returns a reader of commits' committer dates and parents:
// from the commit-graph where it holds the commit, else from the object in
// st.
func (r *Repo) commitLinks(st *packStorage) func(h Hash) (int64, []Hash, error) {
	g := r.graph()
	return func(h Hash) (int64, []Hash, error) {
		if g != nil {
			if i, err := g.GetIndexByHash(h); err == nil {
				if d, err := g.GetCommitDataByIndex(i); err == nil {
					return d.When.Unix(), d.ParentHashes, nil
				}
			}
		}
		return readCommitLinks(st, h)
	}
}
