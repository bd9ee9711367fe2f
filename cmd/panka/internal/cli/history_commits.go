package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// maxHistoryCommits bounds the commits listed per deployment (a first
// deployment includes the whole history before it).
const maxHistoryCommits = 50

// HistoryCommit is a commit included in (or undone by) a deployment.
type HistoryCommit struct {
	Commit  string    `json:"commit"`
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Date    time.Time `json:"date"`
}

// HistoryEntry is one deployment of `history --commits -o json`.
type HistoryEntry struct {
	Deployment *statestore.Deployment `json:"deployment"`
	// Previous is the commit deployed before this deployment ("" for the
	// first deployment); after a destroy, the one deployed before that.
	Previous string `json:"previousCommit,omitempty"`
	// AfterDestroy is the serial of the destroy this deployment follows
	// (it deployed everything again), 0 when none came between it and
	// the deployment before.
	AfterDestroy int64 `json:"afterDestroy,omitempty"`
	// Commits are the commits this deployment brought in: reachable from
	// its commit and not from Previous, newest first.
	Commits []HistoryCommit `json:"commits"`
	// Undone are the commits it took out (a rollback): reachable from
	// Previous and not from its commit.
	Undone []HistoryCommit `json:"undone,omitempty"`
	// More counts commits left out of Commits/Undone (maxHistoryCommits each).
	More int `json:"more,omitempty"`
	// StackPath is the stack's folder when Commits and Undone list only
	// the commits that changed the stack (a file in StackPath, or one its
	// spec.watch globs match; before a commit that moved the stack there,
	// a file in the folder it came from); empty when they list every
	// commit (the stack is not in the work tree, or not in that folder at
	// the newest commit of a list).
	StackPath string `json:"stackPath,omitempty"`
	// AllCommits counts every commit between the two deployments, in both
	// directions, those that did not change the stack included.
	AllCommits int `json:"allCommits"`
	// Unexamined counts the older commits in between that were not
	// compared (past the newest 1,000 each way): some may have changed
	// the stack.
	Unexamined int `json:"unexamined,omitempty"`
	// Note says why commits could not be listed (not in this clone, the
	// record before it cannot be read).
	Note string `json:"note,omitempty"`
	// previousSerial is the serial of the deployment of Previous.
	previousSerial int64
}

// historyEntries joins deployment records (newest first, the page to show)
// with git: the commits between each one and the deployment before it, taken
// from all (the whole history, newest first).
// With stack (the stack's folder and watch globs in the work tree; nil when
// it is not there) only the commits that changed the stack are listed.
func historyEntries(ctx context.Context, repo *gitops.Repo, stack *stacks.Header, page, all []*statestore.Deployment) ([]*HistoryEntry, error) {
	out := make([]*HistoryEntry, 0, len(page))
	fetch := missingCommitHint(repo)
	if repo != nil {
		// The deployed commits in one pipelined read, not a git
		// cat-file round trip each (two per record).
		var ids []gitops.Hash
		for _, d := range all {
			if h, ok := gitops.FullID(d.Commit); ok {
				ids = append(ids, h)
			}
		}
		repo.PrefetchCommits(ids)
	}
	for _, d := range page {
		e := &HistoryEntry{Deployment: d, Commits: []HistoryCommit{}}
		out = append(out, e)
		for _, p := range all {
			if p.Serial >= d.Serial {
				continue
			}
			if p.Operation == statestore.OpDestroy && p.Result == statestore.ResultSucceeded && e.AfterDestroy == 0 {
				e.AfterDestroy = p.Serial
			}
			if isDeployment(p) && p.Commit != "" {
				e.Previous, e.previousSerial = p.Commit, p.Serial
				break
			}
		}
		if d.Commit == "" || d.Operation == statestore.OpDestroy || repo == nil {
			continue
		}
		to, err := repo.ResolveRef(d.Commit)
		if err != nil {
			e.Note = fmt.Sprintf("commit %s is not in this clone (%s)", short(d.Commit), fetch)
			continue
		}
		from := gitops.ZeroHash
		if e.Previous != "" {
			if from, err = repo.ResolveRef(e.Previous); err != nil {
				e.Note = fmt.Sprintf("the previously deployed commit %s is not in this clone (%s)", short(e.Previous), fetch)
				continue
			}
		}
		// Each list is filtered from its newest commit back (following
		// the stack through moves): the commits brought in from to, those
		// taken out (a rollback) from from.
		filter := stackTouches(repo, stack, to)
		filterUndone := filter
		if !from.IsZero() && from != to {
			filterUndone = stackTouches(repo, stack, from)
		}
		err = deploymentCommits(ctx, repo, e, filter, filterUndone, from, to)
		if errors.Is(err, errMixedFilter) {
			// One list with commits could not be filtered (the stack is
			// not at its newest commit in the work tree's folder): list
			// every commit in both, not half of them.
			err = deploymentCommits(ctx, repo, e, nil, nil, from, to)
		}
		if errors.Is(err, gitops.ErrShallowHistory) {
			e.Commits, e.Undone, e.More, e.AllCommits, e.Unexamined, e.StackPath = []HistoryCommit{}, nil, 0, 0, 0, ""
			e.Note = fmt.Sprintf("the history between %s and the previously deployed commit %s is cut off by this shallow clone (git fetch --unshallow)", short(d.Commit), short(e.Previous))
			continue
		} else if err != nil {
			return nil, fmt.Errorf("deployment %d: %w", d.Serial, err)
		}
	}
	return out, nil
}

// errMixedFilter is deploymentCommits' answer when one list was filtered
// and the other, holding commits, could not be.
var errMixedFilter = errors.New("one list filtered, the other not")

// deploymentCommits fills e's Commits (reachable from to and not from
// from, compared with filter) and Undone (the other way, with
// filterUndone; none when from is ZeroHash), their counts and StackPath.
func deploymentCommits(ctx context.Context, repo *gitops.Repo, e *HistoryEntry, filter, filterUndone *changes.Touches, from, to gitops.Hash) error {
	cl, err := historyCommitList(ctx, repo, filter, from, to)
	if err != nil {
		return fmt.Errorf("list its commits: %w", err)
	}
	e.Commits, e.Undone, e.More, e.AllCommits, e.Unexamined, e.StackPath = cl.list, nil, cl.more, cl.all, cl.unexamined, ""
	filtered, unfiltered := filter != nil, filter == nil && cl.all > 0
	if filter != nil {
		e.StackPath = filter.Dir()
	}
	if !from.IsZero() && from != to {
		cl, err := historyCommitList(ctx, repo, filterUndone, to, from)
		if err != nil {
			return fmt.Errorf("list the commits it undid: %w", err)
		}
		e.Undone = cl.list
		e.More += cl.more
		e.AllCommits += cl.all
		e.Unexamined += cl.unexamined
		if filterUndone != nil {
			filtered = true
			e.StackPath = filterUndone.Dir()
		} else if cl.all > 0 {
			unfiltered = true
		}
	}
	if filtered && unfiltered {
		return errMixedFilter
	}
	if !filtered {
		e.StackPath = ""
	}
	return nil
}

// missingCommitHint says how to get a deployed commit that is not in the
// clone: fetching from origin does not deepen a shallow clone (a CI
// checkout), and in a full clone a commit no remote has any more (force-
// pushed away, its branch deleted) cannot be fetched at all ("git fetch
// --unshallow" fails there: "on a complete repository does not make
// sense").
func missingCommitHint(repo *gitops.Repo) string {
	if repo != nil {
		if shallow, err := repo.IsShallow(); err == nil && shallow {
			return "a shallow clone: git fetch --unshallow"
		}
	}
	return "git fetch origin; one no remote has any more, force-pushed away or its branch deleted, cannot be fetched: deploy a commit of this history"
}

// historyBefore returns page followed by the records older than it (page
// is the history up to start, the records read of it), as far back as
// historyEntries looks for the deployment before each record of page:
// through the first successful deployment older than the page, not the
// whole history, which on S3 is a read per record (a stack deployed for
// years has thousands). Records newer than the page are never anyone's
// previous deployment, and the page is not read again, so historyEntries
// finds the same deployment it would in the whole history. It also returns
// the records older than the page that cannot be read.
func historyBefore(ctx context.Context, store statestore.Store, key statestore.Key, page []*statestore.Deployment, start int) ([]*statestore.Deployment, []statestore.UnreadableRecord, error) {
	recs := slices.Clip(page)
	if previousFound(page, recs) {
		return recs, nil, nil
	}
	var unread []statestore.UnreadableRecord
	for n := 20; ; n *= 2 {
		more, err := store.History(ctx, key, start, n)
		bad, err := statestore.Unreadable(err)
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, more...)
		unread = append(unread, bad...)
		start += len(more) + len(bad)
		if len(more)+len(bad) < n || previousFound(page, recs) {
			return recs, unread, nil
		}
	}
}

// unknownPrevious gives the entries whose deployment before them cannot be
// told, because a record between (of bad) cannot be read, a note instead
// of commits: listed from the readable deployment before it, they could
// hold the commits the unreadable one brought in, or miss those it took
// out.
func unknownPrevious(entries []*HistoryEntry, bad []statestore.UnreadableRecord) {
	for _, e := range entries {
		for _, b := range bad {
			if b.Serial < e.Deployment.Serial && b.Serial > e.previousSerial {
				*e = HistoryEntry{Deployment: e.Deployment, Commits: []HistoryCommit{},
					Note: fmt.Sprintf("history record %d before it cannot be read, so the deployment before it is not known; see the warning about it", b.Serial)}
				break
			}
		}
	}
}

// previousFound reports whether recs holds, for every record of page, a
// deployment before it (see historyEntries).
func previousFound(page, recs []*statestore.Deployment) bool {
	for _, d := range page {
		if !slices.ContainsFunc(recs, func(p *statestore.Deployment) bool {
			return p.Serial < d.Serial && isDeployment(p) && p.Commit != ""
		}) {
			return false
		}
	}
	return true
}

// stackTouches is the filter of the commits that changed stack, listed
// from commit newest back: nil, for every commit, when the stack is not in
// the work tree, or newest does not hold it in the work tree's folder.
// Older commits are compared where the stack was then (touchingCommits
// follows it through moves).
func stackTouches(repo *gitops.Repo, stack *stacks.Header, newest gitops.Hash) *changes.Touches {
	if stack == nil {
		return nil
	}
	tree, err := repo.CommitTree(newest)
	if err != nil {
		return nil
	}
	if _, err := repo.PathEntry(tree, path.Join(stack.Path, stacks.StackFile)); err != nil {
		return nil
	}
	return changes.NewTouches(repo, stack.Path, stack.Watch)
}

// maxExaminedCommits bounds the commits history --commits compares with
// their first parent for each deployment, newest first: a first
// deployment brings in the whole history (tens of thousands of commits in
// a monorepo), and each comparison reads trees.
const maxExaminedCommits = 1000

// commitList is what historyCommitList finds between two commits.
type commitList struct {
	list []HistoryCommit
	// more counts the commits listed past maxHistoryCommits; all every
	// commit in between; unexamined those past maxExaminedCommits, not
	// compared (filtered lists only).
	more, all, unexamined int
}

// historyCommitList lists the commits reachable from to and not from from,
// newest first: at most maxHistoryCommits, how many more there are, and
// how many commits there are in all. With touches, only the commits that
// changed the stack are listed and counted in more (each compared with its
// first parent, as git log --first-parent -p shows a merge), among the
// newest maxExaminedCommits; all counts every one.
func historyCommitList(ctx context.Context, repo *gitops.Repo, touches *changes.Touches, from, to gitops.Hash) (commitList, error) {
	if from == to {
		return commitList{list: []HistoryCommit{}}, nil
	}
	// Against a deployed commit, the answer must not stop at a shallow
	// clone's boundary (it listed the commit before as taken out); a
	// first deployment lists what the clone has.
	complete := !from.IsZero()
	limit := maxHistoryCommits
	if touches != nil {
		limit = maxExaminedCommits // filtered below
	}
	cs, err := repo.Log(ctx, from, to, gitops.LogOptions{Limit: limit, Complete: complete})
	if err != nil {
		return commitList{}, err
	}
	var r commitList
	r.all = len(cs)
	if len(cs) == limit {
		if r.all, err = repo.CountCommits(ctx, from, to, gitops.LogOptions{Complete: complete}); err != nil {
			return commitList{}, err
		}
	}
	listed := r.all // what cs would hold without the limit
	if touches != nil {
		r.unexamined = r.all - len(cs)
		if cs, err = touchingCommits(ctx, repo, touches, cs); err != nil {
			return commitList{}, err
		}
		listed = len(cs)
	}
	if len(cs) > maxHistoryCommits {
		cs = cs[:maxHistoryCommits]
	}
	r.more = listed - len(cs)
	r.list = make([]HistoryCommit, 0, len(cs))
	for _, c := range cs {
		r.list = append(r.list, HistoryCommit{Commit: c.SHA(), Subject: c.Subject(), Author: c.Author, Date: c.AuthorDate.UTC()})
	}
	return r, nil
}

// touchingCommits keeps those of cs (a log, newest first) that changed the
// stack against their first parent.
func touchingCommits(ctx context.Context, repo *gitops.Repo, touches *changes.Touches, cs []*gitops.Commit) ([]*gitops.Commit, error) {
	trees := make(map[gitops.Hash]gitops.Hash, len(cs))
	for _, c := range cs {
		trees[c.Hash] = c.Tree
	}
	// The trees on the way to the compared folders, in pipelined batches
	// rather than a read each.
	roots := make([]gitops.Hash, 0, len(cs)+1)
	for _, c := range cs {
		roots = append(roots, c.Tree)
	}
	if n := len(cs); n > 0 && len(cs[n-1].Parents) > 0 {
		if t, err := repo.CommitTree(cs[n-1].Parents[0]); err == nil {
			roots = append(roots, t)
		}
	}
	paths := make([][]string, len(roots))
	for i := range paths {
		paths[i] = touches.Paths()
	}
	if err := repo.PrefetchPaths(ctx, roots, paths); err != nil {
		return nil, err
	}
	var out []*gitops.Commit
	for _, c := range cs {
		parent := gitops.ZeroHash // a root commit: against the empty tree
		if len(c.Parents) > 0 {
			var ok bool
			if parent, ok = trees[c.Parents[0]]; !ok {
				t, err := repo.CommitTree(c.Parents[0])
				if err != nil {
					// A shallow clone's boundary: git log shows such a
					// commit as adding everything, and so does this.
					if shallow, serr := repo.IsShallow(); serr != nil || !shallow {
						return nil, fmt.Errorf("read the parent of commit %s: %w", c.Hash, err)
					}
				}
				parent = t
			}
		}
		changed, err := touches.Changed(ctx, parent, c.Tree)
		if err != nil {
			return nil, fmt.Errorf("compare commit %s with its parent: %w", c.Hash, err)
		}
		if changed {
			out = append(out, c)
			// A commit that moved the stack into its folder: the older
			// ones changed the folder it came from.
			if touches, err = touches.Before(ctx, parent, c.Tree); err != nil {
				return nil, fmt.Errorf("follow the stack through commit %s: %w", c.Hash, err)
			}
		}
	}
	return out, nil
}

// historyCommitsRun prints `history --commits` for the records of page
// (the records from offset on).
func historyCommitsRun(ctx context.Context, f *Factory, store statestore.Store, key statestore.Key, rows []historyRow, offset int) error {
	var page []*statestore.Deployment
	var bad []statestore.UnreadableRecord
	for _, r := range rows {
		if r.bad != nil {
			bad = append(bad, *r.bad)
		} else {
			page = append(page, r.d)
		}
	}
	all, older, err := historyBefore(ctx, store, key, page, offset+len(rows))
	if err != nil {
		return fmt.Errorf("read the history of %s: %w", key, err)
	}
	// (The records of the page that cannot be read were warned about.)
	warnUnreadable(f, key, older)
	root, err := f.RepoRoot()
	if err != nil {
		return err
	}
	repo, err := gitops.Open(root, f.GitOptions())
	switch {
	case errors.Is(err, gitops.ErrNotRepository):
		repo = nil
		f.Log.Warn().Msg("not in a git repository: the commits of each deployment cannot be listed")
	case err != nil:
		return err
	default:
		defer repo.Close()
	}
	var stack *stacks.Header
	if repo != nil {
		// The stack's folder and watch globs as they are now; a stack no
		// longer in the work tree lists every commit.
		stack, _ = f.findHeaderQuiet(key.Stack)
	}
	entries, err := historyEntries(ctx, repo, stack, page, all)
	if err != nil {
		return err
	}
	unknownPrevious(entries, append(bad, older...))
	if f.JSON() {
		shown := make([]any, 0, len(rows))
		for _, r := range rows {
			if r.bad != nil {
				shown = append(shown, struct {
					Deployment any             `json:"deployment"`
					Commits    []HistoryCommit `json:"commits"`
				}{r.shown(key), []HistoryCommit{}})
				continue
			}
			e := entries[0]
			entries = entries[1:]
			e.Deployment = shownDeployment(e.Deployment)
			shown = append(shown, e)
		}
		return f.PrintJSON(shown)
	}
	for _, r := range rows {
		if r.bad != nil {
			fmt.Fprintf(f.IO.Out, "%d  %s  unreadable record\n    (see the warning about it)\n", r.bad.Serial, r.bad.Named.UTC().Format(time.DateTime+"Z"))
			continue
		}
		writeHistoryCommits(f.IO.Out, entries[:1])
		entries = entries[1:]
	}
	return nil
}

// historyHeadline describes a deployment on one line; rollbacks show as
// "rollback <from> → <to>", or "rollback to <to>" when nothing was deployed.
func historyHeadline(d *statestore.Deployment) string {
	t := d.StartedAt
	if t.IsZero() {
		t = d.EndedAt
	}
	var what string
	switch {
	case d.Operation == statestore.OpRollback && d.FromCommit != "":
		what = fmt.Sprintf("rollback %s → %s", commit7(d.FromCommit), commit7(d.Commit))
	case d.Operation == statestore.OpRollback:
		// Nothing was deployed before it (a rollback after a destroy).
		what = "rollback to " + commit7(d.Commit)
	case d.Operation == statestore.OpPromote && d.FromEnvironment != "":
		what = fmt.Sprintf("promote %s from %s", commit7(d.Commit), d.FromEnvironment)
	case d.Operation == statestore.OpDestroy:
		what = "destroy"
	default:
		what = orUnknown(d.Operation) + " " + commit7(d.Commit)
	}
	if d.Dirty {
		what += "+dirty"
	}
	what += partialNote(d)
	s := fmt.Sprintf("%d  %s  %s  %s", d.Serial, t.UTC().Format(time.DateTime+"Z"), what, orUnknown(d.Result))
	if done := doneBeforeStop(d.Result, d.ChangesFrom, d.Changes); done != "" {
		s += " (" + done + ")"
	}
	if d.User != "" {
		s += "  by " + d.User
	}
	return s
}

func writeHistoryCommits(w io.Writer, entries []*HistoryEntry) {
	for _, e := range entries {
		fmt.Fprintln(w, historyHeadline(e.Deployment))
		if e.AfterDestroy != 0 && e.Deployment.Operation != statestore.OpDestroy {
			switch {
			case e.Note != "" || e.Previous == "":
				fmt.Fprintf(w, "    (re-deployed after the destroy at serial %d)\n", e.AfterDestroy)
			case e.AllCommits == 0:
				fmt.Fprintf(w, "    (re-deployed after the destroy at serial %d, at the commit deployed before it)\n", e.AfterDestroy)
			default:
				fmt.Fprintf(w, "    (re-deployed after the destroy at serial %d; commits since the one deployed before it:)\n", e.AfterDestroy)
			}
		}
		for _, c := range e.Commits {
			fmt.Fprintf(w, "    + %s %s (%s)\n", commit7(c.Commit), c.Subject, authorName(c.Author))
		}
		for _, c := range e.Undone {
			fmt.Fprintf(w, "    - %s %s (%s)\n", commit7(c.Commit), c.Subject, authorName(c.Author))
		}
		if e.More > 0 {
			fmt.Fprintf(w, "    ... and %d more\n", e.More)
		}
		listed := len(e.Commits) + len(e.Undone) + e.More
		// The commits from the one deployed before; for the first
		// deployment, the whole history up to its commit.
		span := "in between"
		if e.Previous == "" {
			span = "up to it"
		}
		switch {
		case e.Note != "":
			fmt.Fprintf(w, "    (%s)\n", e.Note)
		case e.AllCommits == 0 && e.Deployment.Operation != statestore.OpDestroy && e.Previous != "" && e.AfterDestroy == 0:
			fmt.Fprintln(w, "    (same commit as the deployment before)")
		case e.StackPath != "" && e.Unexamined > 0:
			fmt.Fprintf(w, "    (%d of the %d newest of %s %s changed %s or a file it watches; the %d older ones were not examined: git log -- %s lists those that did)\n",
				listed, e.AllCommits-e.Unexamined, plural(e.AllCommits, "commit"), span, e.StackPath, e.Unexamined, e.StackPath)
		case e.StackPath != "" && listed == 0 && e.AllCommits == 1:
			fmt.Fprintf(w, "    (the commit in between did not change %s or a file it watches)\n", e.StackPath)
		case e.StackPath != "" && listed == 0:
			fmt.Fprintf(w, "    (none of the %d commits %s changed %s or a file it watches)\n", e.AllCommits, span, e.StackPath)
		case e.StackPath != "" && listed < e.AllCommits:
			fmt.Fprintf(w, "    (%d of %s %s changed %s or a file it watches; the rest are not listed)\n", listed, plural(e.AllCommits, "commit"), span, e.StackPath)
		}
	}
}
