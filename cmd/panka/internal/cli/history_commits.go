package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"panka.dev/panka/gitops"
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
	// Note says why commits could not be listed (not in this clone).
	Note string `json:"note,omitempty"`
}

// historyEntries joins deployment records (newest first, the page to show)
// with git: the commits between each one and the deployment before it, taken
// from all (the whole history, newest first).
func historyEntries(ctx context.Context, repo *gitops.Repo, page, all []*statestore.Deployment) ([]*HistoryEntry, error) {
	out := make([]*HistoryEntry, 0, len(page))
	// How to get a commit that is not in the clone: fetching from origin
	// does not deepen a shallow clone (a CI checkout).
	fetch := "git fetch origin"
	if repo != nil {
		if shallow, err := repo.IsShallow(); err == nil && shallow {
			fetch = "a shallow clone: git fetch --unshallow"
		}
	}
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
				e.Previous = p.Commit
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
		if e.Commits, e.More, err = historyCommitList(ctx, repo, from, to); errors.Is(err, gitops.ErrShallowHistory) {
			e.Commits, e.Note = []HistoryCommit{}, fmt.Sprintf("the history between %s and the previously deployed commit %s is cut off by this shallow clone (git fetch --unshallow)", short(d.Commit), short(e.Previous))
			continue
		} else if err != nil {
			return nil, fmt.Errorf("list the commits of deployment %d: %w", d.Serial, err)
		}
		if !from.IsZero() && from != to {
			var more int
			if e.Undone, more, err = historyCommitList(ctx, repo, to, from); errors.Is(err, gitops.ErrShallowHistory) {
				e.Commits, e.Undone, e.More = []HistoryCommit{}, nil, 0
				e.Note = fmt.Sprintf("the history between %s and the previously deployed commit %s is cut off by this shallow clone (git fetch --unshallow)", short(d.Commit), short(e.Previous))
				continue
			} else if err != nil {
				return nil, fmt.Errorf("list the commits undone by deployment %d: %w", d.Serial, err)
			}
			e.More += more
		}
	}
	return out, nil
}

// historyBefore returns page followed by the records older than it (page
// is the history from offset on), as far back as historyEntries looks for
// the deployment before each record of page: through the first successful
// deployment older than the page, not the whole history, which on S3 is a
// read per record (a stack deployed for years has thousands). Records newer
// than the page are never anyone's previous deployment, and the page is
// not read again, so historyEntries finds the same deployment it would in
// the whole history.
func historyBefore(ctx context.Context, store statestore.Store, key statestore.Key, page []*statestore.Deployment, offset int) ([]*statestore.Deployment, error) {
	recs := slices.Clip(page)
	if previousFound(page, recs) {
		return recs, nil
	}
	start := offset + len(page)
	for n := 20; ; n *= 2 {
		more, err := store.History(ctx, key, start, n)
		if err != nil {
			return nil, err
		}
		recs = append(recs, more...)
		start += len(more)
		if len(more) < n || previousFound(page, recs) {
			return recs, nil
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

// historyCommitList lists the commits reachable from to and not from from,
// newest first: at most maxHistoryCommits, and how many more there are.
func historyCommitList(ctx context.Context, repo *gitops.Repo, from, to gitops.Hash) ([]HistoryCommit, int, error) {
	if from == to {
		return []HistoryCommit{}, 0, nil
	}
	// Against a deployed commit, the answer must not stop at a shallow
	// clone's boundary (it listed the commit before as taken out); a
	// first deployment lists what the clone has.
	complete := !from.IsZero()
	cs, err := repo.Log(ctx, from, to, gitops.LogOptions{Limit: maxHistoryCommits, Complete: complete})
	if err != nil {
		return nil, 0, err
	}
	more := 0
	if len(cs) == maxHistoryCommits {
		n, err := repo.CountCommits(ctx, from, to, gitops.LogOptions{Complete: complete})
		if err != nil {
			return nil, 0, err
		}
		more = n - maxHistoryCommits
	}
	out := make([]HistoryCommit, 0, len(cs))
	for _, c := range cs {
		out = append(out, HistoryCommit{Commit: c.SHA(), Subject: c.Subject(), Author: c.Author, Date: c.AuthorDate.UTC()})
	}
	return out, more, nil
}

// historyCommitsRun prints `history --commits` for the records of page
// (the records from offset on).
func historyCommitsRun(ctx context.Context, f *Factory, store statestore.Store, key statestore.Key, page []*statestore.Deployment, offset int) error {
	all, err := historyBefore(ctx, store, key, page, offset)
	if err != nil {
		return fmt.Errorf("read the history of %s: %w", key, err)
	}
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
	entries, err := historyEntries(ctx, repo, page, all)
	if err != nil {
		return err
	}
	if f.JSON() {
		for _, e := range entries {
			e.Deployment = shownDeployment(e.Deployment)
		}
		return f.PrintJSON(entries)
	}
	writeHistoryCommits(f.IO.Out, entries)
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
		what = d.Operation + " " + commit7(d.Commit)
	}
	if d.Dirty {
		what += "+dirty"
	}
	s := fmt.Sprintf("%d  %s  %s  %s", d.Serial, t.UTC().Format(time.DateTime+"Z"), what, d.Result)
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
			case len(e.Commits)+len(e.Undone) == 0:
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
		switch {
		case e.Note != "":
			fmt.Fprintf(w, "    (%s)\n", e.Note)
		case len(e.Commits)+len(e.Undone) == 0 && e.Deployment.Operation != statestore.OpDestroy && e.Previous != "" && e.AfterDestroy == 0:
			fmt.Fprintln(w, "    (same commit as the deployment before)")
		}
	}
}
