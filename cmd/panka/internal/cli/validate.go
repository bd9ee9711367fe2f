package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	awsmodel "panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

func init() { register(newCmdValidate) }

// ValidateOptions are the inputs of `panka validate`.
type ValidateOptions struct {
	F           *Factory
	Stack       string
	Environment string
	VarFlags    varFlags
}

// Problem is one entry of `panka validate -o json` (fields are stable).
type Problem struct {
	File         string   `json:"file"`
	Line         int      `json:"line,omitempty"`
	Column       int      `json:"column,omitempty"`
	Key          string   `json:"key,omitempty"`
	Message      string   `json:"message"`
	Stack        string   `json:"stack,omitempty"`
	Environment  string   `json:"environment,omitempty"`
	Environments []string `json:"environments,omitempty"`
}

// context is " [stack S, environment E]" for a problem of a stack, else
// "".
func (p Problem) context() string {
	if p.Stack == "" {
		return ""
	}
	ctx := " [stack " + p.Stack
	if len(p.Environments) > 0 {
		ctx += ", environment"
		if len(p.Environments) > 1 {
			ctx += "s"
		}
		ctx += " " + strings.Join(p.Environments, ", ")
	} else if p.Environment != "" {
		ctx += ", environment " + p.Environment
	}
	return ctx + "]"
}

func (p Problem) location() string {
	return (&stacks.Error{File: p.File, Line: p.Line, Column: p.Column, Key: p.Key, Msg: p.Message}).Error()
}

// validateResult is `panka validate -o json` (fields are stable).
type validateResult struct {
	Valid    bool             `json:"valid"`
	Stacks   []validatedStack `json:"stacks"`
	Problems []Problem        `json:"problems"`
	// Warnings are what the user should know that does not make a stack
	// invalid (two stacks routing one host and path on a listener).
	Warnings []Problem `json:"warnings"`
}

type validatedStack struct {
	// Stack is Name under the key every other command's -o json gives
	// a stack's name (docs/json.md); name stays for existing readers.
	Stack        string   `json:"stack"`
	Name         string   `json:"name"`
	Path         string   `json:"path"`
	Environments []string `json:"environments"`
	Valid        bool     `json:"valid"`

	// unchecked lists the environments on the aws target whose checks
	// against the target's own rules did not run, as "stack/env", and
	// the variables that had no value there.
	unchecked     []string
	uncheckedVars []string
}

func newCmdValidate(f *Factory) *cobra.Command {
	opts := &ValidateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check every stack and environment: structure, names, variables, references, cycles",
		Long: `Validate loads every stack (or --stack) and resolves every environment (or
--environment) without needing secret or required variable values, so a pre-push
hook can run it anywhere. Values given with --var, --var-file or PANKA_VAR_<NAME>
are checked too; when every variable has a value, a stack on the aws target
is also checked against the target's own rules (provider settings such as
spec.provider.network.listenerArn, AWS names and limits), as apply checks it;
a note on stderr names the environments left unchecked for want of values.
Stacks and environments on the aws target that would give their resources the
same AWS names in one account (stack "orders" environment "eu-prod" and stack
"orders-eu" environment "prod"), or load-balanced services of different stacks
that take the same rule priority on one listener, are reported too; services
that route the same host and path on one listener are a warning (the rule of
lower priority gets the traffic), listed under "warnings" in -o json.
Works outside git and in a repository without commits.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// Nothing is deployed: a ${NAME:?message} for a deploy
			// secret is checked by the commands that deploy.
			opts.F.notRequired = true
			return validateRun(c.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Stack, "stack", "s", "", "only this stack (metadata.name)")
	cmd.Flags().StringVarP(&opts.Environment, "environment", "e", "", "only this environment")
	opts.VarFlags.register(cmd)
	return cmd
}

func validateRun(ctx context.Context, opts *ValidateOptions) error {
	f := opts.F
	relaxGC(f)
	vars, err := opts.VarFlags.values(ctx, f)
	if err != nil {
		return err
	}
	repo, err := openStackRepo(f)
	if err != nil {
		return err
	}
	defer repo.close()
	res := validateResult{Stacks: []validatedStack{}, Problems: []Problem{}, Warnings: []Problem{}}
	// Discovery keeps what it read (stack.yaml files, folder listings) so
	// loading each stack does not read it again.
	disc, err := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
	refs := disc.Refs
	if len(refs) == 0 {
		// A configured root that is a file fails discovery itself:
		// the setting, and where it came from, is what to fix.
		if err := repo.configuredRootMissing(); err != nil {
			return err
		}
	}
	if len(refs) == 0 && err == nil {
		if err := repo.whyNoStacks(f); err != nil {
			return err
		}
	}
	if err != nil {
		var es *stacks.Errors
		if !errors.As(err, &es) {
			return err
		}
		res.Problems = append(res.Problems, problemsOf(es, "", "")...)
	}
	if opts.Stack != "" {
		// A duplicate name is one of the problems reported: check the
		// first folder with it, as a validation of every stack does.
		r, err := findRef(refs, opts.Stack, repo.stacksRoot)
		if err != nil {
			if nerr := disc.NestedStack(opts.Stack); nerr != nil {
				return &nestedStackError{name: opts.Stack, err: nerr}
			}
			return withUnnamed(err, disc, opts.Stack)
		}
		refs = []stacks.Ref{r}
	} else {
		for _, e := range stacks.Strays(repo.fsys, repo.stacksRoot, refs) {
			res.Problems = append(res.Problems, Problem{File: e.File, Line: e.Line, Column: e.Column, Key: e.Key, Message: e.Msg})
		}
	}
	// Stacks are independent: check them in parallel, report in name order.
	type outcome struct {
		st       validatedStack
		problems []Problem
		envErr   *noEnvironmentError
		declared []stacks.ResolvedVar
		aws      []awsDeployment
		watch    stackWatch
	}
	outs := make([]outcome, len(refs))
	// As plan and apply resolve them: a value given for a variable any
	// stack declares secret is secret in every stack.
	secret := disc.SecretVars(givenNames(vars))
	disc.ReadAhead(refs) // in a partial clone, one fetch for every stack's files
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, r := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i].st, outs[i].problems, outs[i].declared, outs[i].envErr, outs[i].aws, outs[i].watch = validateStack(disc, r, opts.Environment, vars, secret)
		}()
	}
	wg.Wait()
	envCount := 0
	var declared [][]stacks.ResolvedVar
	var missing []*noEnvironmentError // stacks without --environment
	for _, o := range outs {
		declared = append(declared, o.declared)
		if o.envErr != nil {
			if opts.Stack != "" {
				return o.envErr
			}
			missing = append(missing, o.envErr)
			continue // a stack without the environment has nothing to check
		}
		res.Stacks = append(res.Stacks, o.st)
		res.Problems = append(res.Problems, o.problems...)
		envCount += len(o.st.Environments)
	}
	var aws []awsDeployment
	for _, o := range outs {
		aws = append(aws, o.aws...)
	}
	collisions, warnings := awsCollisions(aws)
	res.Problems = append(res.Problems, collisions...)
	res.Warnings = append(res.Warnings, warnings...)
	sortProblems(res.Problems)
	sortProblems(res.Warnings)
	res.Valid = len(res.Problems) == 0
	if len(res.Stacks) == 0 && len(missing) > 0 {
		// A mistyped --environment must not pass by checking nothing.
		var envs []string
		for _, m := range missing {
			for _, e := range m.envs {
				if !slices.Contains(envs, e) {
					envs = append(envs, e)
				}
			}
		}
		slices.Sort(envs)
		return fmt.Errorf("no stack has environment %q (environments: %s%s); an environment exists iff <stack>/%s/%s.yaml exists", opts.Environment, strings.Join(envs, ", "), withSemi(didYouMean(opts.Environment, envs)), stacks.EnvironmentsDir, opts.Environment)
	}
	if res.Valid {
		warnUndeclared(f, vars, declared)
	}
	var watched []stackWatch
	for _, o := range outs {
		if len(o.watch.globs) > 0 {
			watched = append(watched, o.watch)
		}
	}
	warnUnmatchedWatch(f, repo.dir, watched)
	if f.JSON() {
		if err := f.PrintJSON(res); err != nil {
			return err
		}
	} else {
		printProblems(f, res.Problems)
		for _, w := range res.Warnings {
			f.Warnf("%s%s", w.location(), w.context())
		}
		if res.Valid {
			fmt.Fprintf(f.IO.Out, "%s and %s valid\n", countNoun(len(res.Stacks), "stack"), countNoun(envCount, "environment"))
			noteUnchecked(f, res.Stacks)
			if len(res.Stacks) == 0 {
				fmt.Fprintf(f.Notices(), "no stacks under %s/ in %s (create one with `panka stack init NAME`, or set stacks.root)\n", repo.stacksRoot, repo.dir)
			}
		}
	}
	if !res.Valid {
		msg := countNoun(len(res.Problems), "problem") + " found"
		if !f.JSON() && f.jsonLog == nil {
			fmt.Fprintln(f.IO.ErrOut, msg)
		}
		return &ExitCodeError{Code: ExitError, Msg: msg}
	}
	return nil
}

// noteUnchecked says which environments on the aws target were not
// checked against the target's own rules (AWS names and limits), for want
// of variable values: "valid" alone read as if they had been.
func noteUnchecked(f *Factory, sts []validatedStack) {
	var envs, vars []string
	for _, st := range sts {
		envs = append(envs, st.unchecked...)
		for _, v := range st.uncheckedVars {
			if !slices.Contains(vars, v) {
				vars = append(vars, v)
			}
		}
	}
	if len(envs) == 0 {
		return
	}
	slices.Sort(vars)
	listed := envs
	if len(listed) > 5 {
		listed = append(slices.Clone(listed[:5]), fmt.Sprintf("and %d more", len(envs)-5))
	}
	fmt.Fprintf(f.Notices(), "not checked against the aws target's rules (AWS names and limits): %s, where %s no value; give %s with --var or --var-file (plan and apply check them)\n",
		strings.Join(listed, ", "), pluralVerb(vars, "variable %s has", "variables %s have"), pluralVerb(vars, "it", "them"))
}

// pluralVerb formats one or the other form with the names joined.
func pluralVerb(names []string, one, many string) string {
	form := one
	if len(names) > 1 {
		form = many
	}
	if !strings.Contains(form, "%s") {
		return form
	}
	return fmt.Sprintf(form, strings.Join(names, ", "))
}

// noEnvironmentError is a stack that does not have the environment asked for.
type noEnvironmentError struct {
	stack, path, env string
	envs             []string // the stack's environments
}

func (e *noEnvironmentError) Error() string {
	return fmt.Sprintf("stack %q has no environment %q (environments: %s%s); an environment exists iff %s/%s/%s.yaml exists",
		e.stack, e.env, strings.Join(e.envs, ", "), withSemi(didYouMean(e.env, e.envs)), e.path, stacks.EnvironmentsDir, e.env)
}

// validateStack loads one stack and resolves its environments leniently.
// envErr is set when env is given and the stack does not have it.
// validateStack also returns the stack's environments on the aws target
// (awsDeployments), for the name collisions between them.
func validateStack(disc *stacks.Discovery, r stacks.Ref, env string, vars stacks.VarValues, secret map[string]bool) (validatedStack, []Problem, []stacks.ResolvedVar, *noEnvironmentError, []awsDeployment, stackWatch) {
	st := validatedStack{Name: r.Name, Stack: r.Name, Path: r.Path, Environments: []string{}}
	s, err := disc.Load(r)
	if err != nil {
		var es *stacks.Errors
		if !errors.As(err, &es) {
			return st, []Problem{{File: r.Path, Message: err.Error(), Stack: r.Name}}, nil, nil, nil, stackWatch{}
		}
		return st, problemsOf(es, r.Name, ""), nil, nil, nil, stackWatch{}
	}
	watch := stackWatch{stack: r.Name, file: s.File(), globs: s.WatchGlobs()}
	envs := s.Environments()
	if env != "" {
		if !slices.Contains(envs, env) {
			return st, nil, nil, &noEnvironmentError{stack: r.Name, path: r.Path, env: env, envs: envs}, nil, watch
		}
		envs = []string{env}
	}
	st.Environments = append(st.Environments, envs...)
	if len(envs) == 0 {
		envs = []string{""} // still check the components without an overlay
	}
	var probs []Problem
	var declared []stacks.ResolvedVar
	var deps []awsDeployment
	index := map[string]int{}
	for _, e := range envs {
		res, err := s.Resolve(e, stacks.ResolveOptions{Vars: vars, Lenient: true, SecretVars: secret})
		var found []Problem
		if err == nil {
			declared = res.Variables
			// Without an environment nothing deploys (an environment
			// exists iff its file does), and the target cannot check a
			// model it has no environment for: a new stack.yaml with no
			// environments/ yet failed "aws target: stack and environment
			// names are required".
			if e != "" {
				if unset := unsetVariables(res); res.Provider.Name == "aws" && len(unset) > 0 {
					st.unchecked = append(st.unchecked, r.Name+"/"+e)
					st.uncheckedVars = append(st.uncheckedVars, unset...)
				}
				var prog *awsmodel.Program
				found, prog = targetProblems(res, s, r.Name, e)
				if res.Provider.Name == "aws" {
					deps = append(deps, newAWSDeployment(res, s.File(), prog))
				}
			}
		} else {
			var es *stacks.Errors
			if !errors.As(err, &es) {
				probs = append(probs, Problem{File: s.File(), Message: err.Error(), Stack: r.Name, Environment: e})
				continue
			}
			found = problemsOf(es, r.Name, e)
		}
		// The same problem in a shared file shows up in every environment:
		// report it once, listing the environments.
		for _, p := range found {
			k := p.location()
			if i, ok := index[k]; ok {
				probs[i].Environments = append(probs[i].Environments, e)
				continue
			}
			if e != "" {
				p.Environments = []string{e}
			}
			index[k] = len(probs)
			probs = append(probs, p)
		}
	}
	if env == "" && len(st.Environments) > 0 {
		// What every environment overrides is read by none of them.
		var es *stacks.Errors
		if err := s.CheckOverridden(stacks.ResolveOptions{Vars: vars, Lenient: true, SecretVars: secret}); errors.As(err, &es) {
			probs = append(probs, problemsOf(es, r.Name, "")...)
		}
	}
	st.Valid = len(probs) == 0
	return st, probs, declared, nil, deps, watch
}

func problemsOf(es *stacks.Errors, stack, env string) []Problem {
	out := make([]Problem, 0, len(es.List))
	for _, e := range es.List {
		out = append(out, Problem{File: e.File, Line: e.Line, Column: e.Column, Key: e.Key, Message: e.Msg, Stack: stack, Environment: env})
	}
	return out
}

// sortProblems orders problems by file, line, column, then key and
// message: problems are found stack by stack, component by component and
// check by check, and that order jumps about in a file; sorted, the output
// is stable and reads top to bottom.
func sortProblems(probs []Problem) {
	slices.SortStableFunc(probs, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Column != b.Column {
			return a.Column - b.Column
		}
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

// printProblems writes one problem a line to stderr.
func printProblems(f *Factory, probs []Problem) {
	for _, p := range probs {
		ctx := p.context()
		if f.jsonLog != nil {
			// --log-format json: stderr holds nothing but JSON lines.
			f.jsonLog.Error().Msg(p.location() + ctx)
			continue
		}
		fmt.Fprintf(f.IO.ErrOut, "%s%s\n", p.location(), ctx)
	}
}

// relaxGC makes the garbage collector run less often for the rest of this
// short-lived process, unless GOGC is set: loading thousands of stacks
// allocates much short-lived memory over a small live heap, and collecting
// at the default rate costs about as much CPU as the work itself. A soft
// memory limit (unless GOMEMLIMIT is set) keeps the heap from growing to
// five times a large live heap: past it the collector runs as often as it
// needs to. The limit follows the live heap (adaptMemoryLimit): a live heap
// near a fixed limit would have the collector run without end (a stack of
// 20,000 components: changed took three times the CPU).
func relaxGC(f *Factory) {
	if f.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
		if f.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(relaxedMemoryLimit)
			adaptMemoryLimit(relaxedMemoryLimit)
		}
	}
}

// relaxedMemoryLimit is the soft heap limit relaxGC sets.
const relaxedMemoryLimit = 120 << 20

// adaptMemoryLimit raises the soft memory limit, after each collection, to
// twice the live heap when that is above floor: the collector then runs
// when the heap doubles, as with GOGC=100, rather than all the time.
func adaptMemoryLimit(floor int64) {
	// A sentinel whose finalizer runs after each collection; 16 bytes and
	// a pointer keep it out of the tiny allocator, whose objects may never
	// be finalized.
	type sentinel struct {
		p   *int
		pad [8]byte
	}
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			if limit := 2 * int64(s[0].Value.Uint64()); limit > floor && limit > debug.SetMemoryLimit(-1) {
				debug.SetMemoryLimit(limit)
			}
		}
		adaptMemoryLimit(floor)
	})
}

// countNoun returns "1 stack", "2 stacks".
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// awsDeployment is a stack/environment on the aws target and its
// stack.yaml, for awsCollisions.
type awsDeployment struct {
	awsmodel.Deployment
	file string
}

// newAWSDeployment describes m; prog is its program when the target
// validated it (its listener rules), else nil.
func newAWSDeployment(m *stacks.Resolved, file string, prog *awsmodel.Program) awsDeployment {
	d := awsDeployment{Deployment: awsmodel.Deployment{Stack: m.Stack, Environment: m.Environment, Account: m.Provider.AssumeRole, Components: map[string]stacks.Kind{}}, file: file}
	if prog != nil {
		d.Routes = prog.Routes()
	}
	for _, c := range m.Components {
		d.Components[c.Name] = c.Kind
	}
	return d
}

// awsCollisions reports the stacks/environments validated here that
// would deploy AWS resources of the same name to one account (see
// awsmodel.NameCollisions): each deployment alone is valid, so apply
// found out only when AWS refused the second one's resources, or, for an
// SQS queue or an ECS cluster, which AWS hands back when asked to create
// one that exists, when the second shared the first one's. So for the
// load-balanced MicroServices that share a listener and take the same
// rule priority (awsmodel.RouteCollisions). Each is reported at the
// second one's stack.yaml, a route at its component's file. Two that
// route the same host and path are warnings: AWS accepts them (the rule
// of lower priority gets the traffic), as a service moving between
// stacks needs for a moment.
func awsCollisions(ds []awsDeployment) (problems, warnings []Problem) {
	plain := make([]awsmodel.Deployment, len(ds))
	file := map[[2]string]string{}
	for i, d := range ds {
		plain[i] = d.Deployment
		file[[2]string{d.Stack, d.Environment}] = d.file
	}
	add := func(to *[]Problem, b awsmodel.Deployment, at string, err error) {
		if at == "" {
			at = file[[2]string{b.Stack, b.Environment}]
		}
		*to = append(*to, Problem{File: at, Message: "aws target: " + err.Error(), Stack: b.Stack, Environment: b.Environment})
	}
	for _, c := range awsmodel.NameCollisions(plain) {
		add(&problems, c.B, "", c)
	}
	for _, c := range awsmodel.RouteCollisions(plain) {
		if c.SameRoute() {
			add(&warnings, c.B, c.File, c)
		} else {
			add(&problems, c.B, c.File, c)
		}
	}
	return problems, warnings
}
