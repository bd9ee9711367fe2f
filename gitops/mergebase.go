package gitops

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Finding a merge-base without git: go-git's Commit.MergeBase decodes
// every commit of both histories in full (author, message, signature) and
// walks them twice; on a 30,000-commit history that is most of a pure
// go-git far-apart comparison. paintDown is git's own algorithm
// (paint_down_to_common in commit-reach.c): one walk, newest commit first,
// reading only each commit's parents and committer date. It answers when
// it finds exactly one merge-base; anything else (several merge-bases,
// none, an object it cannot read) is left to go-git.

// Flags of paintDown, as git's.
const (
	fromA uint8 = 1 << iota
	fromB
	stale
	result
)

type walkCommit struct {
	id      Hash
	date    int64
	parents []Hash
	flags   uint8
	seq     int // order of discovery: ties of date come out first in, first out (git's prio_queue)
}

// commitQueue is a max-heap by committer date.
type commitQueue []*walkCommit

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	if q[i].date != q[j].date {
		return q[i].date > q[j].date
	}
	return q[i].seq < q[j].seq
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(*walkCommit)) }

// hasNonStale reports whether a commit in the queue is not stale (a
// commit can be in it twice, with the flags it has now: as git's
// queue_has_nonstale).
func (q commitQueue) hasNonStale() bool {
	for _, c := range q {
		if c.flags&stale == 0 {
			return true
		}
	}
	return false
}

func (q *commitQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

// errWalk says paintDown cannot answer: ask go-git.
var errWalk = errors.New("merge-base walk gave no single answer")

// paintDown returns the one merge-base of a and b, or errWalk. links reads
// a commit's committer date and parents (Repo.commitLinks).
func paintDown(links func(Hash) (int64, []Hash, error), a, b Hash) (Hash, error) {
	if a == b {
		return a, nil
	}
	seen := map[Hash]*walkCommit{}
	seq := 0
	load := func(h Hash) (*walkCommit, error) {
		if c, ok := seen[h]; ok {
			return c, nil
		}
		date, parents, err := links(h)
		if err != nil {
			return nil, err
		}
		seq++
		c := &walkCommit{id: h, date: date, parents: parents, seq: seq}
		seen[h] = c
		return c, nil
	}
	ca, err := load(a)
	if err != nil {
		return ZeroHash, err
	}
	cb, err := load(b)
	if err != nil {
		return ZeroHash, err
	}
	ca.flags, cb.flags = fromA, fromB
	q := &commitQueue{ca, cb}
	heap.Init(q)
	var found []*walkCommit
	for q.hasNonStale() {
		c := heap.Pop(q).(*walkCommit)
		flags := c.flags & (fromA | fromB | stale)
		if flags == fromA|fromB {
			if c.flags&result == 0 {
				c.flags |= result
				found = append(found, c)
			}
			flags |= stale // the parents of a common commit are not the best
		}
		for _, ph := range c.parents {
			p, err := load(ph)
			if err != nil {
				return ZeroHash, err
			}
			if p.flags&flags == flags {
				continue
			}
			p.flags |= flags
			heap.Push(q, p)
		}
	}
	var best []*walkCommit
	for _, c := range found {
		if c.flags&stale == 0 {
			best = append(best, c)
		}
	}
	if len(best) != 1 {
		return ZeroHash, errWalk
	}
	return best[0].id, nil
}

// readCommitLinks returns commit h's committer date and parents.
func readCommitLinks(st *packStorage, h Hash) (int64, []Hash, error) {
	o, err := st.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return 0, nil, err
	}
	var data []byte
	if po, ok := o.(*packObject); ok {
		data = po.data
	} else {
		rd, err := o.Reader()
		if err != nil {
			return 0, nil, err
		}
		data, err = io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return 0, nil, err
		}
	}
	var parents []Hash
	date := int64(-1)
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl <= 0 {
			break // the end of the header (or a damaged commit)
		}
		line := data[:nl]
		data = data[nl+1:]
		switch {
		case bytes.HasPrefix(line, []byte("parent ")):
			id := line[len("parent "):]
			if len(id) != 40 || !isHex(id) {
				return 0, nil, errWalk
			}
			parents = append(parents, plumbing.NewHash(string(id)))
		case bytes.HasPrefix(line, []byte("committer ")):
			// committer Name <email> 1700000000 +0000
			gt := bytes.LastIndexByte(line, '>')
			if gt < 0 {
				return 0, nil, errWalk
			}
			f := bytes.Fields(line[gt+1:])
			if len(f) == 0 {
				return 0, nil, errWalk
			}
			if date, err = strconv.ParseInt(string(f[0]), 10, 64); err != nil {
				return 0, nil, errWalk
			}
		}
	}
	if date < 0 {
		return 0, nil, errWalk
	}
	return date, parents, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// DescendantsOf returns which of the commits cs have a as an ancestor (a
// itself is not among them). It walks back from cs, newest first, through
// the commits dated no earlier than a's committer date less slack, and
// then forward from a: a deployment newer than a commit (a pipeline for an
// older commit that runs after a newer one deployed) is found in the few
// commits between them, however long the history below. A descendant
// reached only through a commit dated more than slack before a (a clock
// that far off when it was made) is not found, nor one behind a commit
// that cannot be read (a shallow clone's boundary).
func (r *Repo) DescendantsOf(ctx context.Context, a Hash, cs []Hash, slack time.Duration) (map[Hash]bool, error) {
	st := r.newStorage()
	defer st.Close()
	links := r.commitLinks(st)
	aDate, _, err := links(a)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", a, err)
	}
	cutoff := aDate - int64(slack/time.Second)
	children := map[Hash][]Hash{}
	seen := map[Hash]bool{a: true}
	var pending []Hash
	for _, c := range cs {
		if !seen[c] {
			seen[c] = true
			pending = append(pending, c)
		}
	}
	reached := false
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		date, parents, err := links(h)
		if err != nil || date < cutoff {
			continue
		}
		for _, p := range parents {
			children[p] = append(children[p], h)
			if p == a {
				reached = true
			}
			if !seen[p] {
				seen[p] = true
				pending = append(pending, p)
			}
		}
	}
	out := map[Hash]bool{}
	if !reached {
		return out, nil
	}
	desc := map[Hash]bool{}
	next := []Hash{a}
	for len(next) > 0 {
		h := next[len(next)-1]
		next = next[:len(next)-1]
		for _, ch := range children[h] {
			if !desc[ch] {
				desc[ch] = true
				next = append(next, ch)
			}
		}
	}
	for _, c := range cs {
		if desc[c] {
			out[c] = true
		}
	}
	return out, nil
}
