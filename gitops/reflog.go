package gitops

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// reflogRef resolves the reflog forms of a revision as git does:
// "<ref>@{N}" (where <ref> was N moves ago: HEAD@{1} after a pull is what
// the pull started from; "@{N}" is the checked-out branch's) and "@{-N}"
// (the Nth branch checked out before this one), each optionally followed
// by ~N / ^N. go-git's ResolveRevision drops the @{...} part and answers
// the ref itself, so "what did my pull bring in" (--base HEAD@{1}) read
// "nothing changed". ok is false when rev has no reflog selector; dates
// (@{yesterday}) are only understood by git, with a clear error here.
func (r *Repo) reflogRef(ref, rev string) (h Hash, ok bool, err error) {
	at := strings.Index(rev, "@{")
	if at < 0 {
		return ZeroHash, false, nil
	}
	end := strings.IndexByte(rev[at:], '}')
	if end < 0 {
		return ZeroHash, false, nil
	}
	name, sel, suffix := rev[:at], rev[at+2:at+end], rev[at+end+1:]
	if strings.Contains(name, "@{") || strings.ContainsAny(name, "~^") {
		return ZeroHash, false, nil
	}
	var target string
	previous := 0 // N of @{-N}
	if n, convErr := strconv.Atoi(strings.TrimPrefix(sel, "-")); strings.HasPrefix(sel, "-") && convErr == nil && n > 0 && name == "" {
		target, err = r.previousCheckout(n)
		if err != nil {
			return ZeroHash, true, &RefError{Ref: ref, Err: err}
		}
		previous = n
	} else if n, convErr := strconv.Atoi(sel); convErr == nil && n >= 0 && !strings.HasPrefix(sel, "+") {
		id, err := r.reflogEntry(name, n)
		switch {
		case err == nil:
			target = id.String()
		case n == 0:
			// @{0} is the ref's current value when its reflog is there
			// but empty (git reflog expire), as in git.
			full, file, ferr := r.reflogFile(name)
			if ferr != nil {
				return ZeroHash, true, &RefError{Ref: ref, Err: err}
			}
			if _, serr := os.Stat(file); serr != nil {
				return ZeroHash, true, &RefError{Ref: ref, Err: err}
			}
			if _, rerr := r.ResolveRef(full); rerr != nil {
				return ZeroHash, true, &RefError{Ref: ref, Err: err}
			}
			target = full
		default:
			return ZeroHash, true, &RefError{Ref: ref, Err: err}
		}
	} else {
		why := "panka reads reflog dates only through the git binary, which is off (PANKA_GIT_BINARY=false) or not on PATH"
		if r.git != "" {
			why = "git could not resolve it here"
		}
		return ZeroHash, true, &RefError{Ref: ref, Err: fmt.Errorf("the reflog selector @{%s} (a date, or a form git does not know): %s; pass @{N} (N moves ago), a branch, or a commit id (git reflog %s)", sel, why, strings.TrimSuffix(name, "@"))}
	}
	if suffix == "" {
		if len(target) == 40 && hexRe.MatchString(target) {
			h := plumbing.NewHash(target)
			if _, err := r.commit(h); err != nil {
				if nc := r.notCommitID(ref, h); nc != nil {
					return ZeroHash, true, nc
				}
				return ZeroHash, true, r.missing(ref, err)
			}
			return h, true, nil
		}
	}
	h, err = r.ResolveRef(target + suffix)
	if err != nil {
		var re *RefError
		if errors.As(err, &re) {
			re.Ref = ref
			if previous > 0 && errors.Is(err, ErrRefNotFound) {
				if _, terr := r.ResolveRef(target); terr != nil {
					// The branch checked out then is gone: "not found: no
					// branch ... has that name" did not say which name.
					re.Err = fmt.Errorf("%w: @{-%d} is %q, checked out %d branch switch(es) ago, and no branch, tag or commit has that name here any more (deleted since?): pass a branch or a commit id (git reflog shows the commits HEAD was on)", ErrRefNotFound, previous, target, previous)
				}
			}
		}
		return ZeroHash, true, err
	}
	return h, true, nil
}

// reflogEntry returns the value ref had n moves ago, read from its reflog
// (logs/<full ref name>; HEAD's is per work tree).
func (r *Repo) reflogEntry(name string, n int) (Hash, error) {
	full, file, err := r.reflogFile(name)
	if err != nil {
		return ZeroHash, err
	}
	entries, err := readReflog(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ZeroHash, fmt.Errorf("%s has no reflog here (git records one only for moves made in this clone): pass a commit id", full)
		}
		return ZeroHash, fmt.Errorf("read the reflog of %s: %w", full, err)
	}
	if n < len(entries) {
		return entries[len(entries)-1-n].new, nil
	}
	if n == len(entries) && len(entries) > 0 && !entries[0].old.IsZero() {
		return entries[0].old, nil
	}
	return ZeroHash, fmt.Errorf("the reflog of %s only has %d entries (git reflog %s): pass a smaller @{N} or a commit id", full, len(entries), plumbing.ReferenceName(full).Short())
}

// reflogFile finds the full ref name and reflog path that name stands for
// as git's reflog lookup does: "" is the checked-out branch (HEAD when
// detached), HEAD is this work tree's, and a short name is tried as a
// ref, a tag, a branch, a remote branch and a remote's HEAD.
func (r *Repo) reflogFile(name string) (full, file string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		head, err := r.r.Storer.Reference(plumbing.HEAD)
		if err == nil && head.Type() == plumbing.SymbolicReference {
			name = head.Target().String()
		} else {
			name = "HEAD"
		}
	}
	if name == "HEAD" || name == "@" {
		file := filepath.Join(r.gitDir, "logs", "HEAD")
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			// Without a reflog of HEAD, git reads that of the branch
			// HEAD points at (git's dwim_log).
			if head, err := r.r.Storer.Reference(plumbing.HEAD); err == nil && head.Type() == plumbing.SymbolicReference {
				branch := head.Target().String()
				bf := filepath.Join(r.commonDir, "logs", filepath.FromSlash(branch))
				if _, err := os.Stat(bf); err == nil {
					return branch, bf, nil
				}
			}
		}
		return "HEAD", file, nil
	}
	candidates := []string{name, "refs/" + name, "refs/tags/" + name, "refs/heads/" + name, "refs/remotes/" + name, "refs/remotes/" + name + "/HEAD"}
	if strings.HasPrefix(name, "refs/") {
		candidates = candidates[:1]
	}
	for _, c := range candidates {
		if !strings.HasPrefix(c, "refs/") {
			continue
		}
		file := filepath.Join(r.commonDir, "logs", filepath.FromSlash(c))
		if _, err := r.r.Storer.Reference(plumbing.ReferenceName(c)); err == nil {
			return c, file, nil
		}
		if _, err := os.Stat(file); err == nil {
			return c, file, nil
		}
	}
	return "", "", fmt.Errorf("%w: no branch, tag or remote branch %q has a reflog here", ErrRefNotFound, name)
}

// previousCheckout returns the branch (or commit id) checked out before
// the current one n checkouts ago, read from HEAD's reflog ("checkout:
// moving from A to B" records), as git's @{-N} does.
func (r *Repo) previousCheckout(n int) (string, error) {
	entries, err := readReflog(filepath.Join(r.gitDir, "logs", "HEAD"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the reflog of HEAD: %w", err)
	}
	seen := 0
	for i := len(entries) - 1; i >= 0; i-- {
		msg, ok := strings.CutPrefix(entries[i].msg, "checkout: moving from ")
		if !ok {
			continue
		}
		from, _, ok := strings.Cut(msg, " to ")
		if !ok {
			continue
		}
		if seen++; seen == n {
			return from, nil
		}
	}
	return "", fmt.Errorf("%w: only %d branch switch(es) are recorded in HEAD's reflog, so @{-%d} names nothing: pass the branch or a commit id", ErrRefNotFound, seen, n)
}

type reflogLine struct {
	old, new Hash
	msg      string
}

// readReflog reads a reflog file, oldest entry first: each line is
// "<old> <new> <committer> <time> <tz>\t<message>".
func readReflog(file string) ([]reflogLine, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []reflogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 82 || line[40] != ' ' || line[81] != ' ' || !hexRe.MatchString(line[:40]) || !hexRe.MatchString(line[41:81]) {
			continue
		}
		e := reflogLine{old: plumbing.NewHash(line[:40]), new: plumbing.NewHash(line[41:81])}
		if _, msg, ok := strings.Cut(line, "\t"); ok {
			e.msg = msg
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
