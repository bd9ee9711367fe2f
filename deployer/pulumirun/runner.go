package pulumirun

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/engine"
)

// DefaultProject is the Pulumi project name panka uses.
const DefaultProject = engine.Project

// Options configure a Runner.
type Options struct {
	// Project is the Pulumi project name (default DefaultProject).
	Project string
	// Stack is the Pulumi stack name (see StackName). Required.
	Stack string
	// BackendURL is where Pulumi keeps the stack's state: file://DIR,
	// s3://bucket/prefix?... (see S3Backend.URL), or a Pulumi Cloud URL
	// (then PULUMI_ACCESS_TOKEN must be in Env). Required.
	BackendURL string
	// SecretsProvider encrypts secrets in the state: "" or "passphrase"
	// (PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE must be in
	// Env or the process environment), or awskms://..., or any URL the CLI
	// accepts. It applies when the stack is created.
	SecretsProvider string
	// PulumiCLI is the CLI binary; empty finds `pulumi` on PATH (FindCLI).
	PulumiCLI string
	// PulumiHome is PULUMI_HOME for the CLI (plugins, workspace
	// bookkeeping); empty uses the CLI's default (~/.pulumi).
	PulumiHome string
	// WorkDir is the workspace folder (Pulumi.yaml and stack settings are
	// written there); empty creates a temporary one that Close removes.
	WorkDir string
	// PluginDirs are put in front of PATH for the CLI, so the engine finds
	// ambient plugins such as pulumi-resource-pankalocal there.
	PluginDirs []string
	// Env are extra environment variables for the CLI and the plugins it
	// starts (on top of the inherited environment). The runner always sets
	// PULUMI_SKIP_UPDATE_CHECK=true and
	// PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true (the engine must
	// never try to download a plugin).
	Env map[string]string
	// Program declares the resources (a target's Register, wrapped).
	Program pulumi.RunFunc
	// Parallelism bounds concurrent resource operations (0: engine default).
	Parallelism int
	// Components, when set, are the names of the top-level resources that
	// are panka components; other top-level resources are shared and their
	// events carry no Component. Empty: every top-level resource is one.
	Components []string
	// Log receives the engine's own progress text (default: discarded).
	Log io.Writer
	// CancelGrace is how long a cancelled operation may take to stop
	// gracefully after SIGINT before the CLI is killed (default 30s); a
	// negative value kills it at once, without the interrupt (what a
	// crash leaves behind: tests of the recovery need exactly that).
	CancelGrace time.Duration
	// StallLimit stops a CLI run that made no progress for this long while
	// no resource operation was in flight (see StalledError); 0 is
	// DefaultStallLimit, a negative value turns the watch off.
	StallLimit time.Duration
	// Now is the clock for event times (default time.Now).
	Now func() time.Time
}

// Runner runs Pulumi operations on one stack. Its methods must not be called
// concurrently (the CLI serializes operations on a stack anyway).
type Runner struct {
	opts    Options
	stack   auto.Stack
	tempDir string
	cliCmd  *cliCommand
	// pendingOps reads what the engine's checkpoint records as pending
	// (checkpointPending; nil: it cannot be read).
	pendingOps func(context.Context) (map[string]bool, error)
}

type (
	// Result is the outcome of an operation (see engine.Result).
	Result = engine.Result
	// Output is one stack output.
	Output = engine.Output
)

// New prepares a Runner: it finds the CLI, writes the workspace and creates
// or selects the stack.
func New(ctx context.Context, opts Options) (*Runner, error) {
	if opts.Stack == "" || opts.BackendURL == "" || opts.Program == nil {
		return nil, errors.New("pulumirun: Stack, BackendURL and Program are required")
	}
	if opts.Project == "" {
		opts.Project = DefaultProject
	}
	if opts.CancelGrace == 0 {
		opts.CancelGrace = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	cliPath, err := FindCLI(opts.PulumiCLI)
	if err != nil {
		return nil, err
	}
	cli, err := newCLICommand(ctx, cliPath, opts.PluginDirs, opts.CancelGrace)
	if err != nil {
		return nil, err
	}
	r := &Runner{opts: opts, cliCmd: cli}
	cli.stall, cli.backend = r.stallLimit(), redact(opts.BackendURL)
	r.pendingOps = r.checkpointPending()
	workDir := opts.WorkDir
	if workDir == "" {
		if workDir, err = tempWorkspace(opts.Now()); err != nil {
			return nil, err
		}
		r.tempDir = workDir
	} else if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, fmt.Errorf("create Pulumi workspace %s: %w", workDir, err)
	}
	env := map[string]string{
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_BACKEND_URL":                          opts.BackendURL,
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	wsOpts := []auto.LocalWorkspaceOption{
		auto.Pulumi(cli),
		auto.WorkDir(workDir),
		auto.EnvVars(env),
		auto.Project(workspace.Project{
			Name:    tokens.PackageName(opts.Project),
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: opts.BackendURL},
		}),
	}
	if opts.PulumiHome != "" {
		if err := os.MkdirAll(opts.PulumiHome, 0o700); err != nil {
			r.Close()
			return nil, fmt.Errorf("create PULUMI_HOME %s: %w", opts.PulumiHome, err)
		}
		wsOpts = append(wsOpts, auto.PulumiHome(opts.PulumiHome))
	}
	if opts.SecretsProvider != "" {
		wsOpts = append(wsOpts, auto.SecretsProvider(opts.SecretsProvider))
	}
	if dir, ok := fileBackendDir(opts.BackendURL); ok {
		for _, p := range removeBrokenAttrs(dir) {
			fmt.Fprintf(opts.Log, "removed %s: a Pulumi run killed while writing it left it unreadable (it only holds the checkpoint's content type and checksum)\n", p)
		}
	}
	r.stack, err = auto.UpsertStackInlineSource(ctx, opts.Stack, opts.Project, opts.Program, wsOpts...)
	if err != nil {
		r.Close()
		return nil, r.wrap(ctx, fmt.Sprintf("open Pulumi stack %q at %s", opts.Stack, redact(opts.BackendURL)), err, nil)
	}
	return r, nil
}

// tempWorkspace creates a temporary workspace in the temporary folder
// (TMPDIR), after sweeping the ones dead processes left there. A TMPDIR
// that does not exist, is a file or is read-only (a CI runner's, cleaned
// up or mounted read-only) said only "stat /x: no such file or directory":
// the error names the folder and the variable to change.
func tempWorkspace(now time.Time) (string, error) {
	tmp := os.TempDir()
	sweepWorkspaces(tmp, now)
	dir, err := os.MkdirTemp("", fmt.Sprintf("%sp%d-", workspacePrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("create Pulumi workspace in the temporary folder %s: %w: point TMPDIR at a folder that exists and is writable (or unset it for /tmp)", tmp, err)
	}
	return dir, nil
}

// workspacePrefix starts the names of the temporary workspaces New creates:
// panka-pulumi-p<pid>-<random>.
const workspacePrefix = "panka-pulumi-"

// staleWorkspace is how long a workspace whose process is gone stays: a
// process killed (SIGKILL, OOM, power) cannot remove its own. The delay
// leaves alone the workspaces of processes this host cannot see (another
// PID namespace sharing the folder).
const staleWorkspace = time.Hour

// sweepWorkspaces removes, from dir, the temporary workspaces of processes
// that no longer run and that were last written more than staleWorkspace
// ago. Failures are ignored: it is housekeeping.
func sweepWorkspaces(dir string, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, ent := range ents {
		rest, ok := strings.CutPrefix(ent.Name(), workspacePrefix+"p")
		if !ok || !ent.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || engine.ProcessAlive(pid) {
			continue
		}
		if info, err := ent.Info(); err == nil && now.Sub(info.ModTime()) > staleWorkspace {
			_ = os.RemoveAll(filepath.Join(dir, ent.Name()))
		}
	}
}

// Close removes the temporary workspace, if New created one, and the
// settings file the Pulumi CLI keeps for that folder under
// PULUMI_HOME/workspaces: every run has a folder of its own, so each left
// one more file in the user's ~/.pulumi.
func (r *Runner) Close() error {
	if r.tempDir != "" {
		if p := r.workspaceSettings(); p != "" {
			_ = os.Remove(p)
		}
		err := os.RemoveAll(r.tempDir)
		r.tempDir = ""
		return err
	}
	return nil
}

// workspaceSettings is the file in which the Pulumi CLI keeps the settings
// of the temporary workspace (its selected stack): named, as the CLI
// names it, <project>-<sha1 of Pulumi.yaml's path>-workspace.json under
// PULUMI_HOME/workspaces; "" when it cannot be told.
func (r *Runner) workspaceSettings() string {
	project, err := filepath.EvalSymlinks(filepath.Join(r.tempDir, "Pulumi.yaml"))
	if err != nil {
		return ""
	}
	sum := sha1.Sum([]byte(project)) //nolint:gosec // the CLI's file name, not security
	name := r.opts.Project + "-" + hex.EncodeToString(sum[:]) + "-workspace.json"
	home := r.opts.PulumiHome
	if home == "" {
		home = r.opts.Env["PULUMI_HOME"]
	}
	if home != "" {
		return filepath.Join(home, "workspaces", name)
	}
	p, err := workspace.GetPulumiPath("workspaces", name)
	if err != nil {
		return ""
	}
	return p
}

// Stack is the underlying Automation API stack, for operations the runner
// does not wrap.
func (r *Runner) Stack() auto.Stack { return r.stack }

// stream starts the event translation. wait, called once the operation
// returned, lets the remaining events drain: the Automation API closes the
// channel when the CLI's event stream ends, but never if the CLI failed
// before opening it (a locked stack, a bad passphrase), hence the bound.
func (r *Runner) stream(m mode, onEvent func(Event)) (chan events.EngineEvent, *translator, func()) {
	t := newTranslator(r.opts.Components, r.opts.Now, onEvent)
	t.watch = newStallWatch(time.Now())
	ch := make(chan events.EngineEvent, 64)
	done := make(chan struct{})
	stop := make(chan struct{})
	var seen atomic.Bool
	go func() {
		defer close(done)
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					return
				}
				seen.Store(true)
				t.handle(e, m)
			case <-stop:
				return
			}
		}
	}()
	return ch, t, func() {
		bound := 500 * time.Millisecond
		if seen.Load() {
			bound = 10 * time.Second
		}
		select {
		case <-done:
		case <-time.After(bound):
			close(stop)
			<-done
		}
	}
}

// Preview computes what Up would do, without changing anything.
func (r *Runner) Preview(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return r.preview(ctx, onEvent, false)
}

// PreviewRefresh computes what Up would do after a refresh from the real
// resources, without changing anything: how an apply of the program puts
// drifted resources back (an update in place, or a replacement where
// the provider can only re-create them).
func (r *Runner) PreviewRefresh(ctx context.Context, onEvent func(Event)) (*Result, error) {
	return r.preview(ctx, onEvent, true)
}

func (r *Runner) preview(ctx context.Context, onEvent func(Event), refresh bool) (*Result, error) {
	start := time.Now()
	ch, t, wait := r.stream(modePreview, onEvent)
	ctx, stop := r.watchStall(ctx, "pulumi preview", t.watch)
	defer stop()
	opts := []optpreview.Option{optpreview.EventStreams(ch), optpreview.ProgressStreams(r.opts.Log),
		optpreview.ErrorProgressStreams(r.opts.Log)}
	if refresh {
		opts = append(opts, optpreview.Refresh())
	}
	if r.opts.Parallelism > 0 {
		opts = append(opts, optpreview.Parallel(r.opts.Parallelism))
	}
	res, err := r.stack.Preview(ctx, opts...)
	wait()
	if err != nil {
		return nil, r.wrap(ctx, "preview", err, t)
	}
	return &Result{Changes: opChanges(res.ChangeSummary), Steps: t.result(), Duration: time.Since(start)}, nil
}

// Up applies the program. onEvent (may be nil) sees per-resource progress.
// Cancelling ctx interrupts the engine gracefully (see Options.CancelGrace).
func (r *Runner) Up(ctx context.Context, onEvent func(Event)) (*Result, error) {
	start := time.Now()
	ch, t, wait := r.stream(modeApply, onEvent)
	ctx, stop := r.watchStall(ctx, "pulumi up", t.watch)
	defer stop()
	opts := []optup.Option{optup.EventStreams(ch), optup.ProgressStreams(r.opts.Log),
		optup.ErrorProgressStreams(r.opts.Log)}
	if r.opts.Parallelism > 0 {
		opts = append(opts, optup.Parallel(r.opts.Parallelism))
	}
	res, err := r.stack.Up(ctx, opts...)
	wait()
	if err != nil {
		// What the engine did before it failed, from its summary event.
		changes := t.changes()
		return &Result{Changes: changes, Summarized: changes != nil, RootOp: t.root(), Steps: t.result(), Duration: time.Since(start)}, r.wrap(ctx, "pulumi up", err, t)
	}
	out := &Result{Steps: t.result(), Outputs: outputs(res.Outputs), Duration: time.Since(start)}
	if res.Summary.ResourceChanges != nil {
		out.Changes, out.RootOp = *res.Summary.ResourceChanges, t.root()
	}
	return out, nil
}

// Destroy deletes every resource of the stack (the stack itself stays).
func (r *Runner) Destroy(ctx context.Context, onEvent func(Event)) (*Result, error) {
	start := time.Now()
	ch, t, wait := r.stream(modeApply, onEvent)
	ctx, stop := r.watchStall(ctx, "pulumi destroy", t.watch)
	defer stop()
	opts := []optdestroy.Option{optdestroy.EventStreams(ch), optdestroy.ProgressStreams(r.opts.Log),
		optdestroy.ErrorProgressStreams(r.opts.Log)}
	if r.opts.Parallelism > 0 {
		opts = append(opts, optdestroy.Parallel(r.opts.Parallelism))
	}
	res, err := r.stack.Destroy(ctx, opts...)
	wait()
	if err != nil {
		changes := t.changes()
		return &Result{Changes: changes, Summarized: changes != nil, RootOp: t.root(), Steps: t.result(), Duration: time.Since(start)}, r.wrap(ctx, "pulumi destroy", err, t)
	}
	out := &Result{Steps: t.result(), Duration: time.Since(start)}
	if res.Summary.ResourceChanges != nil {
		out.Changes, out.RootOp = *res.Summary.ResourceChanges, t.root()
	}
	return out, nil
}

// RefreshPreview detects drift: it refreshes in preview mode (reading every
// resource from its provider without writing the state) and returns the
// drifted resources as Steps (Op "update" for changed properties, listed in
// Diffs; "delete" for resources that are gone).
func (r *Runner) RefreshPreview(ctx context.Context, onEvent func(Event)) (*Result, error) {
	start := time.Now()
	ch, t, wait := r.stream(modeRefreshPreview, onEvent)
	ctx, stop := r.watchStall(ctx, "pulumi refresh --preview-only", t.watch)
	defer stop()
	opts := []optrefresh.Option{optrefresh.EventStreams(ch), optrefresh.ProgressStreams(r.opts.Log),
		optrefresh.ErrorProgressStreams(r.opts.Log)}
	if r.opts.Parallelism > 0 {
		opts = append(opts, optrefresh.Parallel(r.opts.Parallelism))
	}
	res, err := r.stack.PreviewRefresh(ctx, opts...)
	wait()
	if err != nil {
		return nil, r.wrap(ctx, "pulumi refresh --preview-only", err, t)
	}
	return &Result{Changes: opChanges(res.ChangeSummary), Steps: t.result(), Duration: time.Since(start)}, nil
}

// Refresh refreshes the state from the providers (writing it).
func (r *Runner) Refresh(ctx context.Context, onEvent func(Event)) (*Result, error) {
	start := time.Now()
	ch, t, wait := r.stream(modeRefresh, onEvent)
	ctx, stop := r.watchStall(ctx, "pulumi refresh", t.watch)
	defer stop()
	opts := []optrefresh.Option{optrefresh.EventStreams(ch), optrefresh.ProgressStreams(r.opts.Log),
		optrefresh.ErrorProgressStreams(r.opts.Log)}
	if r.opts.Parallelism > 0 {
		opts = append(opts, optrefresh.Parallel(r.opts.Parallelism))
	}
	res, err := r.stack.Refresh(ctx, opts...)
	wait()
	if err != nil {
		return nil, r.wrap(ctx, "pulumi refresh", err, t)
	}
	out := &Result{Steps: t.result(), Duration: time.Since(start)}
	if res.Summary.ResourceChanges != nil {
		out.Changes = *res.Summary.ResourceChanges
	}
	return out, nil
}

// Outputs returns the stack outputs (secret values included, flagged).
func (r *Runner) Outputs(ctx context.Context) (map[string]Output, error) {
	res, err := r.stack.Outputs(ctx)
	if err != nil {
		return nil, r.wrap(ctx, "read stack outputs", err, nil)
	}
	return outputs(res), nil
}

func outputs(m auto.OutputMap) map[string]Output {
	out := make(map[string]Output, len(m))
	for k, v := range m {
		out[k] = Output{Value: v.Value, Secret: v.Secret}
	}
	return out
}

func opChanges[K ~string](m map[K]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

// LockedError reports that Pulumi's own DIY lock on the stack is held
// (another pulumi process, or a killed one: see RecoverStale).
type LockedError struct {
	Stack  string
	Detail string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("pulumi stack %q is locked by another Pulumi run (%s); if no run is active "+
		"(panka holds the stack's lease), the next apply clears it", e.Stack, e.Detail)
}

// wrap turns an Automation API error into one that says what failed, with
// the engine's error diagnostics (not the whole CLI output).
func (r *Runner) wrap(ctx context.Context, what string, err error, t *translator) error {
	if err == nil {
		return nil
	}
	if se := stalledCause(ctx); se != nil {
		return se
	}
	var se *StalledError
	if errors.As(err, &se) {
		return fmt.Errorf("%s on stack %q: %w", what, r.opts.Stack, se)
	}
	if cerr := ctx.Err(); cerr != nil {
		r.releaseInterruptedLocks()
		return &interruptedError{what: what, stack: r.opts.Stack, cause: cerr}
	}
	msg := err.Error()
	if i := strings.Index(msg, "the stack is currently locked"); i >= 0 {
		detail := msg[i:]
		if j := strings.Index(detail, "\n"); j >= 0 {
			rest := strings.TrimSpace(detail[j:])
			if k := strings.Index(rest, "\n"); k >= 0 {
				rest = rest[:k]
			}
			detail = rest
		}
		return fmt.Errorf("%s: %w", what, &LockedError{Stack: r.opts.Stack, Detail: detail})
	}
	var diags []string
	if t != nil {
		diags = t.errors()
	}
	if m := missingPlugin.FindStringSubmatch(msg + "\n" + strings.Join(diags, "\n")); m != nil {
		return fmt.Errorf("%s on stack %q: %w: %w", what, r.opts.Stack, &engine.MissingPluginError{Plugin: m[1], Hint: pluginHint(m[1])}, errShort(err))
	}
	if strings.Contains(msg, "incorrect passphrase") {
		// Set, but not the one the stack's secrets were encrypted with:
		// asking to set it would send the user looking in the wrong place.
		return fmt.Errorf("%s: %w: %w", what, &engine.PassphraseError{Stack: r.opts.Stack}, errShort(err))
	}
	if strings.Contains(msg, "passphrase must be set") || strings.Contains(msg, "PULUMI_CONFIG_PASSPHRASE") {
		return fmt.Errorf("%s on stack %q: Pulumi needs the secrets passphrase: set PULUMI_CONFIG_PASSPHRASE "+
			"(or pulumi.secretsProvider to awskms://...): %w", what, r.opts.Stack, err)
	}
	if hint := stateObjectError(msg+"\n"+strings.Join(diags, "\n"), r.opts.BackendURL); hint != "" {
		return fmt.Errorf("%s on stack %q failed: %s: %w", what, r.opts.Stack, hint, errShort(err))
	}
	if perr := protectedError(msg + "\n" + strings.Join(diags, "\n")); perr != nil {
		return fmt.Errorf("%s on stack %q: %w: %w", what, r.opts.Stack, perr, errShort(err))
	}
	if len(diags) > 0 {
		return fmt.Errorf("%s on stack %q failed: %s: %w", what, r.opts.Stack, strings.Join(diags, "; "), errShort(err))
	}
	return fmt.Errorf("%s on stack %q: %w", what, r.opts.Stack, err)
}

// interruptedError is a run cancelled by Ctrl-C/SIGTERM (errors.Is
// context.Canceled). Its text is what the user and the history record
// read: that the run was interrupted, not Go's "context canceled" nor the
// exit status Pulumi's cancellation ends with.
type interruptedError struct {
	what, stack string
	cause       error
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("%s on stack %q interrupted (Ctrl-C or a stop signal)", e.what, e.stack)
}
func (e *interruptedError) Unwrap() error { return e.cause }

// ProtectedError is an operation the engine refused because it would have
// replaced or deleted resources that panka marks protected (it crosses the
// engine protocol, so it lives in package engine).
type ProtectedError = engine.ProtectedError

var (
	protectedReplace = regexp.MustCompile(`unable to replace resource "([^"]+)"\s+as it is currently marked for protection`)
	protectedDelete  = regexp.MustCompile(`resource "([^"]+)" cannot be deleted\s+because it is protected`)
)

// protectedError finds the engine's refusals to replace or delete a
// protected resource in its output; nil when there are none.
func protectedError(out string) *ProtectedError {
	e := &ProtectedError{}
	for _, x := range []struct {
		re   *regexp.Regexp
		into *[]string
	}{{protectedReplace, &e.Replace}, {protectedDelete, &e.Delete}} {
		seen := map[string]bool{}
		for _, m := range x.re.FindAllStringSubmatch(out, -1) {
			if name := urnName(m[1]); !seen[name] {
				seen[name] = true
				*x.into = append(*x.into, name)
			}
		}
		sort.Strings(*x.into)
	}
	if len(e.Replace)+len(e.Delete) == 0 {
		return nil
	}
	return e
}

// pluginHint says how to provide provider plugin bin (pulumi-resource-NAME):
// the pankalocal one ships with panka; another one is installed with the
// version of its SDK this build uses, when the build says which.
func pluginHint(bin string) string {
	name := strings.TrimPrefix(bin, "pulumi-resource-")
	if name == "pankalocal" {
		return "`make build` puts it in bin/ next to panka; keep it next to the panka binary or on PATH"
	}
	install := "pulumi plugin install resource " + name
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.HasPrefix(d.Path, "github.com/pulumi/pulumi-"+name+"/sdk") {
				install += " " + strings.TrimPrefix(d.Version, "v")
				break
			}
		}
	}
	return fmt.Sprintf("install it (%s, into PULUMI_HOME's plugins) or put %s on PATH or next to the panka binary", install, bin)
}

// s3BlobError is how the CLI's DIY backend (gocloud.dev blob on the AWS
// SDK) reports a failed request for one of its objects in an s3:// backend.
var s3BlobError = regexp.MustCompile(`blob \(key "([^"]*)"\) \(code=[A-Za-z]+\): operation error S3: (\w+), ` +
	`(?:exceeded maximum number of attempts, (\d+), )?https response error StatusCode: (\d+), RequestID: [^,]*, HostID: [^,]*, (?:api error )?([A-Za-z]+): `)

// stateObjectError explains the engine failing to read or write its own
// state in an s3:// backend (the state server throttling, failing or
// denying the request): which object, what the server answered and what
// to do, instead of only the SDK's text deep in Pulumi's. "" when out
// holds no such failure.
func stateObjectError(out, backendURL string) string {
	if hint := fileStateError(out, backendURL); hint != "" {
		return hint
	}
	m := s3BlobError.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	key, op, attempts, status, code := m[1], m[2], m[3], m[4], m[5]
	where := key
	if u, err := url.Parse(backendURL); err == nil && u.Scheme == "s3" {
		where = "s3://" + u.Host + "/" + strings.TrimPrefix(path.Join(u.Path, key), "/")
	}
	answer := fmt.Sprintf("%s (HTTP %s)", code, status)
	if attempts != "" {
		answer += ", still after " + attempts + " attempts"
	}
	next := "check the state server and backend.endpoint, then re-run"
	switch n, _ := strconv.Atoi(status); {
	case n == http.StatusForbidden:
		next = "check that the AWS credentials (aws.profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, aws.assumeRole) may read and write the state bucket, then re-run"
	case n == http.StatusTooManyRequests || n >= 500 || code == "SlowDown" || code == "Throttling":
		next = "the server is throttling or failing: wait and re-run (and if it goes on, check its health, backend.endpoint for an S3-compatible server)"
	}
	return fmt.Sprintf("the engine's %s of its own state %s failed: the S3 server answered %s; %s; the next run goes on from the last state the engine saved",
		op, where, answer, next)
}

// fileBlobError is how the CLI's DIY backend (gocloud.dev fileblob)
// reports a file system error on one of its files in a file:// backend
// (the embedded default's .panka/state): "blob (key "K") (code=Unknown):
// write /path/K.123.tmp: no space left on device"; a copy names "A -> B".
var fileBlobError = regexp.MustCompile(`blob \(key "([^"]*)"\) \(code=[A-Za-z]+\): (?:open|write|sync|close|rename|mkdir|remove) [^:]*: ` +
	`(no space left on device|disk quota exceeded|read-only file system|permission denied)`)

// fileStateError explains the engine failing to write its own state in a
// file:// backend because of the file system (a full disk, a read-only
// mount, a folder it may not write): the CLI's failure came wrapped in its
// whole output, with no word on what to do. "" when out holds no such
// failure.
func fileStateError(out, backendURL string) string {
	m := fileBlobError.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	key, cause := m[1], m[2]
	if _, to, ok := strings.Cut(key, " -> "); ok {
		key = to
	}
	where := key
	dir, ok := fileBackendDir(backendURL)
	if ok {
		where = filepath.Join(dir, filepath.FromSlash(key))
	}
	var next string
	switch cause {
	case "no space left on device", "disk quota exceeded":
		next = "the disk (or your quota) is full: free some space and re-run"
	case "read-only file system":
		next = "the file system is read-only: run panka from a writable checkout, or keep state in S3 (backend.type: s3)"
	default:
		next = fmt.Sprintf("check the owner and mode of %s and the folders above it: whoever runs panka must be able to write there (a .panka/ folder created with sudo or by a container belongs to root; chown it back), then re-run", cmp.Or(dir, filepath.Dir(where)))
	}
	return fmt.Sprintf("the engine could not write its own state %s: %s; %s; the next run goes on from the last state the engine saved",
		where, cause, next)
}

var missingPlugin = regexp.MustCompile(`no resource plugin '(pulumi-resource-[A-Za-z0-9_-]+)' found`)

// errShort keeps the error chain (errors.Is/As still work) but not the
// CLI's full stdout/stderr, which the diagnostics already summarize.
type shortErr struct{ err error }

func (e shortErr) Error() string {
	msg := e.err.Error()
	// The Automation API appends "\ncode: N\nstdout: ...\nstderr: ...".
	for _, tail := range []string{"\ncode:", "\nstdout:"} {
		if i := strings.Index(msg, tail); i >= 0 {
			msg = msg[:i]
		}
	}
	return msg
}
func (e shortErr) Unwrap() error { return e.err }

func errShort(err error) error { return shortErr{err} }

// redact hides credentials in a backend URL for messages: up to the last
// "@", as a password may hold one unescaped (Go's url.Parse, and so the
// login, reads it so too); the first left the rest of it in the message.
func redact(u string) string {
	if i := strings.LastIndex(u, "@"); i >= 0 && strings.Contains(u[:i], "://") {
		return u[:strings.Index(u, "://")+3] + "****" + u[i:]
	}
	return u
}
