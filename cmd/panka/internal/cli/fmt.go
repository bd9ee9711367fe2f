package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"panka.dev/panka/gitops/osfile"
	"panka.dev/panka/stacks"
)

func init() { register(newCmdFmt) }

// FmtOptions are the inputs of `panka fmt`.
type FmtOptions struct {
	F     *Factory
	Check bool
	Stack string
}

func newCmdFmt(f *Factory) *cobra.Command {
	opts := &FmtOptions{F: f}
	cmd := &cobra.Command{
		Use:   "fmt",
		Short: "Rewrite stack YAML files in the canonical layout (comments are kept)",
		Long: `fmt rewrites every YAML file under the stacks root (or of --stack) in the
canonical layout: two-space indentation, apiVersion/kind/metadata/spec first,
comments kept. With --check nothing is written: the files that would change are
listed and the exit status is 1 when there are any.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return fmtRun(c.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.Check, "check", false, "list files that are not formatted and exit 1 if any; write nothing")
	cmd.Flags().StringVarP(&opts.Stack, "stack", "s", "", "only this stack (metadata.name)")
	return cmd
}

// fmtResult is `panka fmt -o json` (fields are stable).
type fmtResult struct {
	Changed []string     `json:"changed"`
	Errors  []fmtProblem `json:"errors,omitempty"`
}

type fmtProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// formatProblem is file p's Format error, with its position apart.
func formatProblem(p string, err error) fmtProblem {
	var fe *stacks.FormatError
	if errors.As(err, &fe) {
		return fmtProblem{File: p, Line: fe.Line, Column: fe.Column, Message: fe.Msg}
	}
	return fmtProblem{File: p, Message: err.Error()}
}

// badNameProblem says that the name of file or folder p is not UTF-8, as
// validate does.
func badNameProblem(p string) fmtProblem {
	return fmtProblem{File: p, Message: fmt.Sprintf("the name %q is not valid UTF-8, which panka cannot read: rename it (git mv) to a UTF-8 name", path.Base(p))}
}

// String is the problem as file:line:column: message (a file name that
// is not UTF-8 with its bad bytes as \xNN).
func (p fmtProblem) String() string {
	where := stacks.EscapeInvalid(p.File)
	if p.Line > 0 {
		where += fmt.Sprintf(":%d", p.Line)
		if p.Column > 0 {
			where += fmt.Sprintf(":%d", p.Column)
		}
	}
	return where + ": " + p.Message
}

// fmtOutcome is what fmt did with one file: changed (it is not in the
// canonical layout: rewritten, or listed by --check), or the problem that
// kept it from being formatted.
type fmtOutcome struct {
	changed bool
	problem *fmtProblem
}

// fmtFile formats file p (slash-separated, relative to dir) and, unless
// check, rewrites it in place (a temporary file renamed over it). Only a
// failed write is an error: the file's own problems are its outcome's.
func fmtFile(dir, p string, check bool) (fmtOutcome, error) {
	full := filepath.Join(dir, filepath.FromSlash(p))
	problem := func(msg string) (fmtOutcome, error) {
		return fmtOutcome{problem: &fmtProblem{File: p, Message: msg}}, nil
	}
	// open, fstat, read, close: a monorepo has tens of thousands of files
	src, ok := osfile.Read(full, osfile.Options{Max: stacks.MaxFileSize})
	if !ok {
		// read the ordinary way, for the exact error
		st, err := os.Stat(full)
		if err != nil {
			return problem(err.Error())
		}
		if st.Size() > stacks.MaxFileSize {
			return problem(fmt.Sprintf("file is more than the %d MB limit for stack files", stacks.MaxFileSize>>20))
		}
		if src, err = os.ReadFile(full); err != nil {
			return problem(err.Error())
		}
	}
	out, err := stacks.Format(src)
	if err != nil {
		fp := formatProblem(p, err)
		return fmtOutcome{problem: &fp}, nil
	}
	if bytes.Equal(out, src) {
		return fmtOutcome{}, nil
	}
	if check {
		return fmtOutcome{changed: true}, nil
	}
	st, err := os.Stat(full)
	if err != nil {
		return fmtOutcome{}, fmt.Errorf("fmt: write %s: %w", p, err)
	}
	// A temporary file of this run's own: two fmt runs at once (an
	// editor formatting on save, a pre-commit hook) shared one name, so
	// one renamed the other's file away ("rename ...: no such file or
	// directory") or could rename it while it was being written.
	tf, err := os.CreateTemp(filepath.Dir(full), filepath.Base(full)+".*.panka-fmt")
	if err != nil {
		return fmtOutcome{}, fmt.Errorf("fmt: write %s: %w", p, err)
	}
	tmp := tf.Name()
	_, err = tf.Write(out)
	if err == nil {
		err = tf.Chmod(st.Mode().Perm())
	}
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmtOutcome{}, fmt.Errorf("fmt: write %s: %w", p, err)
	}
	if err := os.Rename(tmp, full); err != nil {
		os.Remove(tmp)
		return fmtOutcome{}, fmt.Errorf("fmt: replace %s: %w", p, err)
	}
	return fmtOutcome{changed: true}, nil
}

func fmtRun(ctx context.Context, opts *FmtOptions) error {
	f := opts.F
	repo, err := openStackRepo(f)
	if err != nil {
		return err
	}
	defer repo.close()
	// fmt rewrites files on disk: it reads the disk only, not the staged
	// version of files outside a sparse checkout. Untracked files git
	// ignores are no part of a stack (as for validate, and as in CI, which
	// has none): fmt --check does not fail on them, fmt does not rewrite
	// them, and close says which it left out.
	repo.fsys = stacks.DirFS(repo.dir)
	if repo.ignores != nil {
		repo.fsys = stacks.DirFSHiding(repo.dir, repo.ignores)
	}
	// A root that names no folder left fmt --check nothing to check, and
	// it passed (validate says so; so does fmt).
	if err := repo.configuredRootMissing(); err != nil {
		return err
	}
	if st, err := fs.Stat(repo.fsys, repo.stacksRoot); err == nil && !st.IsDir() {
		return fmt.Errorf("%s: %s", repo.stacksRoot, stacks.RootFileMessage)
	}
	root := repo.stacksRoot
	if opts.Stack != "" {
		disc, err := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
		var es *stacks.Errors
		if err != nil && !errors.As(err, &es) {
			return err
		}
		r, err := findStack(disc, opts.Stack, repo.stacksRoot)
		if err != nil {
			if len(disc.Refs) == 0 && es == nil {
				if werr := repo.whyNoStacks(f); werr != nil {
					return werr
				}
			}
			return err
		}
		root = r.Path
	}
	relaxGC(f) // a monorepo has tens of thousands of files, each garbage once read
	var files []string
	var special []fmtProblem // YAML-named files that are not plain files
	err = fs.WalkDir(repo.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			if p != root && stacks.SkipDir(d.Name()) {
				return fs.SkipDir
			}
			if p != root && !utf8.ValidString(d.Name()) {
				// io/fs cannot list it ("readdir ...: invalid
				// argument", fmt --check failing without a word of
				// why): say what validate says, and go on.
				special = append(special, badNameProblem(p))
				return fs.SkipDir
			}
			return nil
		}
		n := d.Name()
		if path.Ext(n) != ".yaml" && path.Ext(n) != ".yml" {
			return nil
		}
		if !utf8.ValidString(n) {
			// validate refuses it; fmt --check passed it (or fmt
			// rewrote it and printed its raw bytes).
			special = append(special, badNameProblem(p))
			return nil
		}
		switch {
		case d.Type().IsRegular():
			files = append(files, p)
		case d.Type()&fs.ModeSymlink != 0:
			// A link to a file of the stack: that file is formatted
			// itself (validate reports any other link).
		default:
			// A named pipe would block the read for ever: say what it
			// is, as validate does, rather than pass it over.
			if msg := stacks.NotPlainFile(d.Type()); msg != "" {
				special = append(special, fmtProblem{File: p, Message: msg})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fmt: list files under %s: %w", root, err)
	}
	if len(files) == 0 && len(special) == 0 {
		// A clone made with --no-checkout has nothing to format: fmt
		// --check passed (a CI check that forgot the checkout), as
		// validate did before it said so.
		if err := repo.whyNoStacks(f); err != nil {
			return err
		}
	}
	sort.Strings(files)
	// Files are formatted in parallel (a monorepo has tens of thousands)
	// and reported in order.
	done := make([]fmtOutcome, len(files))
	err = forEach(ctx, runtime.GOMAXPROCS(0), len(files), func(_ context.Context, i int) error {
		var err error
		done[i], err = fmtFile(repo.dir, files[i], opts.Check)
		return err // a write failed: stop
	})
	if err != nil {
		return err
	}
	res := fmtResult{Changed: []string{}, Errors: special}
	for i, o := range done {
		switch {
		case o.problem != nil:
			res.Errors = append(res.Errors, *o.problem)
		case o.changed:
			res.Changed = append(res.Changed, files[i])
		}
	}
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].File < res.Errors[j].File })
	if f.JSON() {
		if err := f.PrintJSON(res); err != nil {
			return err
		}
	} else {
		for _, p := range res.Changed {
			fmt.Fprintln(f.IO.Out, p)
		}
		for _, e := range res.Errors {
			if f.jsonLog != nil {
				f.jsonLog.Error().Msg(e.String())
				continue
			}
			fmt.Fprintln(f.IO.ErrOut, e.String())
		}
	}
	var failed []string
	if len(res.Errors) > 0 {
		failed = append(failed, countNoun(len(res.Errors), "file")+" could not be formatted")
	}
	if opts.Check && len(res.Changed) > 0 {
		msg := countNoun(len(res.Changed), "file") + " not formatted: run `panka fmt`"
		if !f.JSON() && f.jsonLog == nil {
			fmt.Fprintln(f.IO.ErrOut, msg)
		}
		failed = append(failed, msg)
	}
	if len(failed) > 0 {
		return &ExitCodeError{Code: ExitError, Msg: strings.Join(failed, "; ")}
	}
	return nil
}
