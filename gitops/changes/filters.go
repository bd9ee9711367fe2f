package changes

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"panka.dev/panka/stacks"
)

// unknown collects the literal --stack and --environment names (not globs)
// that no stack answered yet. A typo in either would otherwise read as
// "nothing changed" and silently turn off a pipeline's deploys. A --stack
// glob that matches no stack at all is a valid question but most often a
// typo too (a CI matrix silently empty): it is warned about, not refused,
// and so is an --environment glob that matches no environment of the
// selected stacks.
type unknown struct {
	stacks, envs map[string]bool
	// globs are the --stack globs that matched no stack name yet, and
	// envGlobs the --environment globs that matched no environment of a
	// selected stack yet.
	globs, envGlobs map[string]bool
	selected        bool // some stack matched --stack
	// broken lists the untouched stack.yaml files that do not load: their
	// names are unknown, so one of them may be the name asked for.
	broken []string
	// names and envNames are every stack name seen and the environments
	// of the selected ones, for a "did you mean" on a name left unknown.
	names, envNames map[string]bool
}

func (e *engine) literalFilters() *unknown {
	literal := func(p string) bool { return !strings.ContainsAny(p, `*?[\`) }
	u := &unknown{stacks: map[string]bool{}, envs: map[string]bool{}, globs: map[string]bool{}, envGlobs: map[string]bool{}}
	if !e.opts.StrictNames {
		return u
	}
	for _, s := range e.opts.Stacks {
		if literal(s) {
			u.stacks[s] = true
		} else {
			u.globs[s] = true
		}
	}
	for _, x := range e.opts.Environments {
		if literal(x) {
			u.envs[x] = true
		} else {
			u.envGlobs[x] = true
		}
	}
	return u
}

func (u *unknown) done() bool {
	return len(u.stacks) == 0 && len(u.envs) == 0 && len(u.globs) == 0 && len(u.envGlobs) == 0
}

// seeGlobs answers the --stack globs that match name (a stack's name, or
// a folder's: most often the same, and known without a read).
func (u *unknown) seeGlobs(name string) {
	for g := range u.globs {
		if matchName(g, name) {
			delete(u.globs, g)
		}
	}
}

// warnings says which --stack globs matched no stack, and which
// --environment globs no environment of a selected stack, where.
func (u *unknown) warnings(e *engine, where string) []error {
	var ws []error
	for _, g := range sortedKeys(u.globs) {
		ws = append(ws, fmt.Errorf("--stack %q matches no stack %s: nothing is listed for it; check the pattern (panka stack list shows the stacks)", g, where))
	}
	if !u.selected && len(e.opts.Stacks) > 0 {
		return ws // --stack matched nothing: no environment to match
	}
	what := "of any stack"
	if len(e.opts.Stacks) > 0 {
		what = "of the selected stacks"
	}
	for _, g := range sortedKeys(u.envGlobs) {
		ws = append(ws, fmt.Errorf("--environment %q matches no environment %s %s: nothing is listed for it; check the pattern (panka stack list shows the stacks and their environments)", g, what, where))
	}
	return ws
}

// see records a stack and its environments; the environments count only
// for a selected stack.
func (u *unknown) see(e *engine, name string, envs []string) {
	delete(u.stacks, name)
	u.seeGlobs(name)
	if u.names == nil {
		u.names, u.envNames = map[string]bool{}, map[string]bool{}
	}
	if name != "" {
		u.names[name] = true
	}
	if !e.selected(name) {
		return
	}
	u.selected = true
	for _, env := range envs {
		delete(u.envs, env)
		u.envNames[env] = true
		for g := range u.envGlobs {
			if matchName(g, env) {
				delete(u.envGlobs, g)
			}
		}
	}
}

// err says which names matched nothing, where.
func (u *unknown) err(e *engine, where string) error {
	if !u.selected && len(e.opts.Stacks) > 0 {
		u.envs = nil // --stack matched nothing: no environment to check
	}
	if len(u.stacks) == 0 && len(u.envs) == 0 {
		return nil
	}
	var parts []string
	for _, s := range sortedKeys(u.stacks) {
		hint := meant(s, u.names)
		if hint == "" && e.repo != nil {
			// panka changed --stack main: a branch, meant as the base.
			if _, err := e.repo.ResolveRef(s); err == nil {
				hint = fmt.Sprintf(" (%s names a commit of this repository: to compare from it, pass --base %s)", s, s)
			}
		}
		parts = append(parts, fmt.Sprintf("--stack %q: no stack of that name %s%s", s, where, hint))
	}
	what := "no stack"
	if len(e.opts.Stacks) > 0 {
		what = "no selected stack"
	}
	for _, x := range sortedKeys(u.envs) {
		parts = append(parts, fmt.Sprintf("--environment %q: %s has that environment %s%s", x, what, where, meant(x, u.envNames)))
	}
	msg := fmt.Sprintf("%s: check the spelling (panka stack list shows the stacks and their environments)", strings.Join(parts, "; "))
	if len(u.broken) > 0 {
		sort.Strings(u.broken)
		n := len(u.broken)
		more := ""
		if n > 3 {
			more = fmt.Sprintf(" and %d more", n-3)
			u.broken = u.broken[:3]
		}
		msg += fmt.Sprintf("; %s%s %s not load, so the name of %s stack is unknown: fix %s (panka validate says what is wrong)",
			strings.Join(u.broken, ", "), more, plural(n, "does", "do"), plural(n, "its", "their"), plural(n, "it", "them"))
	}
	return errors.New(msg)
}

// unknownFilters checks the literal --stack and --environment names against
// the stacks of a comparison: the touched ones first, then the folders the
// change did not touch (same at base and head), whose headers are read only
// when a name is still unanswered. The --stack globs that match no stack
// come back as warnings.
func (e *engine) unknownFilters(ctx context.Context, base, head *side, atHead map[string]*touched, idents map[string]*ident) ([]error, error) {
	u := e.literalFilters()
	if u.done() {
		return nil, nil
	}
	for _, id := range idents {
		for _, h := range []*stacks.Header{id.bh, id.hh} {
			if h != nil {
				u.see(e, id.name, h.Environments)
			}
		}
		u.see(e, id.name, nil)
	}
	if u.done() {
		return nil, nil
	}
	var rest []string
	for d := range head.index.Stacks {
		if _, ok := atHead[d]; !ok {
			rest = append(rest, d)
			// A glob that matches a folder's name matches a stack: a read
			// of every header to warn about nothing would be wasted.
			u.seeGlobs(path.Base(d))
		}
	}
	sort.Strings(rest)
	where := eitherWhere(base, head)
	fail := func(err error) ([]error, error) {
		if err != nil {
			return nil, err
		}
		if err := u.err(e, where); err != nil {
			return nil, err
		}
		return u.warnings(e, where), nil
	}
	// Without --stack every stack is selected, and the index most often
	// knows the environments without a read.
	if len(e.opts.Stacks) == 0 {
		var left []string
		for _, d := range rest {
			if en := head.index.Stacks[d]; en != nil && en.EnvsKnown && !head.worktree {
				u.see(e, "", en.Envs)
			} else {
				left = append(left, d)
			}
		}
		if u.done() {
			return nil, nil
		}
		rest = left
	} else {
		// Folders are most often named after their stack: those first.
		var named, other []string
		for _, d := range rest {
			if e.selected(path.Base(d)) {
				named = append(named, d)
			} else {
				other = append(other, d)
			}
		}
		if err := e.seeHeaders(ctx, head, named, u); err != nil || u.done() {
			return fail(err)
		}
		rest = other
	}
	return fail(e.seeHeaders(ctx, head, rest, u))
}

// seeHeaders reads the headers of dirs on side s into u. A stack.yaml that
// does not load answers nothing (validate reports it).
func (e *engine) seeHeaders(ctx context.Context, s *side, dirs []string, u *unknown) error {
	if len(dirs) == 0 {
		return nil
	}
	e.prefetchHeaderReads(s, dirs, true, nil)
	if err := e.prefetchFor(ctx, s, dirs, true); err != nil {
		return err
	}
	hs := make([]*stacks.Header, len(dirs))
	e.parallel(len(dirs), func(i int) { hs[i], _ = e.header(s, dirs[i]) })
	for i, h := range hs {
		if h != nil {
			u.see(e, h.Name, h.Environments)
		} else {
			u.see(e, path.Base(dirs[i]), nil) // broken: the folder most often names it
			if s.worktree {
				u.broken = append(u.broken, path.Join(dirs[i], stacks.StackFile)+" (work tree)")
			} else {
				u.broken = append(u.broken, path.Join(dirs[i], stacks.StackFile)+" at head "+shortID(s.commit))
			}
		}
	}
	return ctx.Err()
}

// meant is " (did you mean "x"?)" for the names closest to name, "" when
// none is close.
func meant(name string, names map[string]bool) string {
	if dym := stacks.DidYouMean(name, sortedKeys(names)); dym != "" {
		return " (" + dym + ")"
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
