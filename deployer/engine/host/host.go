// Package host is the panka-engine side of the engine protocol (see package
// engine): it reads a Request and commands on stdin, runs them through
// pulumirun with the stack's target, and writes events and results on
// stdout. It is the only part of panka that links the Pulumi SDK and the
// target mappings.
package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/health"
	"panka.dev/panka/deployer/pulumirun"
	"panka.dev/panka/deployer/target"
	awstarget "panka.dev/panka/deployer/target/aws"
	localtarget "panka.dev/panka/deployer/target/local"
	"panka.dev/panka/stacks"
)

// Main runs panka-engine on the process's streams and returns its exit code.
func Main() int {
	// SIGTERM comes from panka (or, on Linux, from the kernel when panka
	// dies: engine.StartChild): both cancel like Ctrl-C, so Pulumi stops
	// cleanly and writes a whole checkpoint.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A dead panka closes stdout; writing to it must fail (and be ignored)
	// rather than kill the engine by SIGPIPE in the middle of that
	// cancellation, which would leave Pulumi to be killed while it writes
	// its checkpoint.
	signal.Ignore(syscall.SIGPIPE)
	if st, err := os.Stdin.Stat(); len(os.Args) > 1 || err == nil && st.Mode()&os.ModeCharDevice != 0 {
		// Run by hand (--help, on a terminal): it would wait for a
		// request on stdin and say nothing.
		fmt.Fprintln(os.Stderr, "panka-engine:", notByHand)
		return 1
	}
	if err := Serve(ctx, os.Stdin, os.Stdout, lossyWriter{os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, "panka-engine:", err)
		return 1
	}
	return 0
}

// notByHand says what panka-engine is to someone who ran it.
const notByHand = "panka-engine runs deployments for panka: panka apply, destroy, rollback, promote, drift detect and " +
	"outputs --show-secrets start it and talk to it on stdin/stdout; it takes no arguments and is not meant to be run by hand"

// lossyWriter passes writes on and reports success whatever happens. The
// engine's diagnostics go to panka's stderr and carry Pulumi's output; once
// panka is gone a failing write would make os/exec stop draining Pulumi's
// output and close the pipe, and Pulumi would die of SIGPIPE in the middle
// of its cancellation, perhaps while writing its checkpoint.
type lossyWriter struct{ w io.Writer }

func (l lossyWriter) Write(p []byte) (int, error) {
	_, _ = l.w.Write(p)
	return len(p), nil
}

// TargetFor returns the deployment target named by a model's provider.
func TargetFor(r *stacks.Resolved) (target.Target, error) {
	switch r.Provider.Name {
	case localtarget.Name:
		return localtarget.New(), nil
	case "aws", "":
		return awstarget.New(), nil
	}
	return nil, fmt.Errorf("stack %s: spec.provider.name %q is not a known target (aws or local)", r.Stack, r.Provider.Name)
}

// Serve runs one session. ctx cancellation (SIGINT from panka) cancels the
// running operation; the session then answers with a Canceled error.
func Serve(ctx context.Context, in io.Reader, out io.Writer, log io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	write := func(m engine.Message) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	if !sc.Scan() {
		return errors.New("no request on stdin")
	}
	var req engine.Request
	if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
		return fmt.Errorf("read the request: %w", err)
	}
	if req.Protocol != engine.ProtocolVersion {
		write(engine.Message{Done: true, Error: fmt.Sprintf("panka-engine speaks protocol %d, panka sent %d: install panka and panka-engine from the same build", engine.ProtocolVersion, req.Protocol)})
		return nil
	}
	desired, err := decodeDesired(req)
	if err != nil {
		write(engine.Message{Done: true, Error: err.Error()})
		return nil
	}
	// protect is what the program gives target.Options.Protect: set
	// unless --allow-replace, and set again for the run that restores the
	// protection after an --allow-replace update (reprotect).
	protect := !req.AllowReplace
	runner, err := newRunner(ctx, req, desired, &protect, log)
	if err != nil {
		write(engine.Message{Done: true, Error: err.Error(), Canceled: ctx.Err() != nil})
		return nil
	}
	defer runner.Close()
	write(engine.Message{Ready: true})
	onEvent := func(e engine.Event) { write(engine.Message{Event: &e}) }
	for sc.Scan() {
		var cmd engine.Command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			write(engine.Message{Done: true, Error: "bad command: " + err.Error()})
			continue
		}
		m := engine.Message{Done: true}
		var err error
		switch cmd.Op {
		case engine.OpRecover:
			m.Recovery, err = runner.RecoverStale(ctx)
		case engine.OpUp:
			if err = unprotect(ctx, runner, req, desired, log); err == nil {
				m.Result, err = runner.Up(ctx, onEvent)
				switch {
				case err == nil && !protect && desired != nil:
					reprotect(ctx, runner, &protect, log)
				case err != nil && !protect && desired != nil:
					protectFailed(ctx, runner, desired, log)
				}
			}
		case engine.OpDestroy:
			if err = unprotect(ctx, runner, req, nil, log); err == nil {
				m.Result, err = runner.Destroy(ctx, onEvent)
			}
		case engine.OpPreview:
			m.Result, err = runner.Preview(ctx, onEvent)
		case engine.OpPreviewRefresh:
			m.Result, err = runner.PreviewRefresh(ctx, onEvent)
		case engine.OpRefreshPreview:
			m.Result, err = runner.RefreshPreview(ctx, onEvent)
		case engine.OpRefresh:
			m.Result, err = runner.Refresh(ctx, onEvent)
		case engine.OpHealth:
			err = checkHealth(ctx, runner, desired, req, log)
		case engine.OpOutputs:
			m.Outputs, err = runner.Outputs(ctx)
		default:
			err = fmt.Errorf("unknown operation %q", cmd.Op)
		}
		if err != nil {
			m.Error = err.Error()
			m.Canceled = ctx.Err() != nil || errors.Is(err, context.Canceled)
			var pe *engine.ProtectedError
			if errors.As(err, &pe) {
				m.Protected = pe
			}
			var mp *engine.MissingPluginError
			if errors.As(err, &mp) {
				m.MissingPlugin = mp
			}
			var pp *engine.PassphraseError
			if errors.As(err, &pp) {
				m.Passphrase = pp
			}
			var pb *engine.PulumiBusyError
			if errors.As(err, &pb) {
				m.PulumiBusy = pb
			}
		}
		write(m)
	}
	return sc.Err()
}

// reprotect protects again, in the engine's state, the data-holding
// resources an --allow-replace update left unprotected: the engine refuses
// to replace or delete only what its state marks protected, so a Database
// that run created (or kept) without protection would otherwise be
// replaced by the next plain apply whose change the provider can only make
// by re-creating it (SPEC §7: never without --allow-replace). It runs the
// same program again with protection on: the update just made leaves
// nothing else to change, so the engine only records the protection. A
// failure is reported on the log, not as the run's: the deployment is
// done; the next apply without --allow-replace protects what it keeps.
func reprotect(ctx context.Context, runner *pulumirun.Runner, protect *bool, log io.Writer) {
	*protect = true
	if _, err := runner.Up(ctx, nil); err != nil {
		fmt.Fprintf(log, "warning: the deployment succeeded, but protecting the data components again in the engine's state failed (the next panka apply without --allow-replace protects them): %v\n", err)
	}
}

// protectFailed protects again, in the engine's state, the data-holding
// components of desired after an --allow-replace update that failed (or
// was stopped) midway: what it re-created is recorded unprotected, and the
// next apply without --allow-replace could replace it again (SPEC §7).
// The program is not run again; the checkpoint is edited, as the state
// already lists the resources. Components not in desired are left as they
// are: only --allow-destroy deletes them. A failure is a warning on the
// log: the run's own error is what panka reports.
func protectFailed(ctx context.Context, runner *pulumirun.Runner, desired *stacks.Resolved, log io.Writer) {
	kinds := map[string]stacks.Kind{}
	for _, c := range desired.Components {
		kinds[c.Name] = c.Kind
	}
	// A stopped run's context is done; the edit is short and must still
	// happen while panka holds the lease and waits for this answer.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	done, err := runner.Protect(pctx, func(component string) bool { return kinds[component].HoldsData() })
	if err != nil {
		fmt.Fprintf(log, "warning: the --allow-replace update failed, and protecting the data components again in the engine's state failed too "+
			"(what it re-created may be replaced by a later apply even without --allow-replace: re-run this apply until it succeeds): %v\n", err)
		return
	}
	if len(done) > 0 {
		fmt.Fprintf(log, "--allow-replace: the update failed; protected %s again in the engine's state\n", strings.Join(done, ", "))
	}
}

// unprotect clears the engine's protection of the components the run may
// delete (unprotected).
func unprotect(ctx context.Context, runner *pulumirun.Runner, req engine.Request, desired *stacks.Resolved, log io.Writer) error {
	which := unprotected(req, desired)
	if which == nil {
		return nil
	}
	done, err := runner.Unprotect(ctx, which)
	if err != nil {
		return err
	}
	if len(done) > 0 {
		fmt.Fprintf(log, "%s: cleared the engine's protection of %s, which this run deletes\n", allowFlags(req), strings.Join(done, ", "))
	}
	return nil
}

// unprotected selects the components whose deployed resources a run may
// delete: with req.AllowDestroy those not in desired (every one for a
// destroy, desired nil); with req.AllowReplace those whose kind changed
// where the target gives each kind its own top-level resource type (the
// aws target's panka:aws:<Kind>): the engine deletes the old kind's
// resources rather than replacing them, and the plan showed that as a
// replace, which --allow-replace allowed. Without it, their protection
// made the engine refuse the delete, and --allow-destroy did not clear it
// either, since the component is still desired. nil when it can select
// none (the checkpoint is then not read).
func unprotected(req engine.Request, desired *stacks.Resolved) func(component, typ string) bool {
	kinds := map[string]stacks.Kind{}
	awsTarget := false
	if desired != nil {
		for _, c := range desired.Components {
			kinds[c.Name] = c.Kind
		}
		awsTarget = desired.Provider.Name == "aws" || desired.Provider.Name == ""
	}
	if !req.AllowDestroy && !(req.AllowReplace && awsTarget) {
		return nil
	}
	return func(component, typ string) bool {
		kind, ok := kinds[component]
		if !ok {
			return req.AllowDestroy
		}
		return req.AllowReplace && awsTarget && typ != awstarget.ComponentType(kind)
	}
}

// allowFlags names the run's data permissions, for messages.
func allowFlags(req engine.Request) string {
	var f []string
	if req.AllowDestroy {
		f = append(f, "--allow-destroy")
	}
	if req.AllowReplace {
		f = append(f, "--allow-replace")
	}
	return strings.Join(f, " ")
}

func decodeDesired(req engine.Request) (*stacks.Resolved, error) {
	if req.Desired == nil {
		return nil, nil
	}
	return req.Desired.Decode()
}

// checkHealth checks what Up deployed: the local target reads every manifest
// back; the aws target waits for the ECS services to reach a steady state.
func checkHealth(ctx context.Context, runner *pulumirun.Runner, desired *stacks.Resolved, req engine.Request, log io.Writer) error {
	if desired == nil {
		return nil
	}
	switch desired.Provider.Name {
	case localtarget.Name:
		return localHealth(desired, req.RepoRoot)
	case "aws", "":
		return awsHealth(ctx, runner, desired, req, log)
	}
	return nil
}

// localHealth reads back what the local target wrote: every component's
// manifest must exist and describe it.
func localHealth(desired *stacks.Resolved, repoRoot string) error {
	dir, err := localtarget.Directory(desired, repoRoot)
	if err != nil {
		return err
	}
	var problems []string
	for _, c := range desired.Components {
		p := localtarget.ManifestPath(dir, desired.Stack, desired.Environment, c.Name)
		b, err := os.ReadFile(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", c.Name, err))
			continue
		}
		var m struct {
			Component string `json:"component"`
			Kind      string `json:"kind"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Component != c.Name || m.Kind != string(c.Kind) {
			problems = append(problems, fmt.Sprintf("%s: manifest %s does not describe this component", c.Name, p))
		}
	}
	if len(problems) > 0 {
		// The engine rewrites only what its state says differs: a manifest
		// deleted or edited outside panka since the last apply stays so
		// (every apply failed alike) until a refresh shows it.
		return fmt.Errorf("manifests missing or wrong after apply: %s; changed or removed outside panka since they were deployed, which the engine does not see without a refresh: "+
			"run panka drift detect --stack %s --environment %s, then apply again (it refreshes them first and puts them back)",
			strings.Join(problems, "; "), desired.Stack, desired.Environment)
	}
	return nil
}

// awsHealth waits for every MicroService and Worker's ECS service.
func awsHealth(ctx context.Context, runner *pulumirun.Runner, desired *stacks.Resolved, req engine.Request, log io.Writer) error {
	var services []string
	outs, err := runner.Outputs(ctx)
	if err != nil {
		return err
	}
	for _, c := range desired.Components {
		if c.Kind != stacks.KindMicroService && c.Kind != stacks.KindWorker {
			continue
		}
		if o, ok := outs[target.OutputName(c.Name, "serviceName")]; ok {
			if name, ok := o.Value.(string); ok && name != "" {
				services = append(services, name)
			}
		}
	}
	if len(services) == 0 {
		return nil
	}
	opts := []func(*awsconfig.LoadOptions) error{}
	if desired.Provider.Region != "" {
		opts = append(opts, awsconfig.WithRegion(desired.Provider.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("AWS credentials for the ECS health check: %w", err)
	}
	if desired.Provider.AssumeRole != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), desired.Provider.AssumeRole))
	}
	cluster := awstarget.ClusterName(desired.Stack, desired.Environment)
	return health.WaitECSSteady(ctx, ecs.NewFromConfig(cfg), cluster, services, health.Options{
		Timeout: req.HealthTimeout,
		Progress: func(pending []string) {
			fmt.Fprintf(log, "waiting for ECS services to settle: %s\n", strings.Join(pending, ", "))
		},
	})
}

func newRunner(ctx context.Context, req engine.Request, desired *stacks.Resolved, protect *bool, log io.Writer) (*pulumirun.Runner, error) {
	program := pulumi.RunFunc(func(*pulumi.Context) error { return nil })
	if desired != nil {
		tgt, err := TargetFor(desired)
		if err != nil {
			return nil, err
		}
		program = func(pctx *pulumi.Context) error {
			return tgt.Register(pctx, desired, target.Options{RepoRoot: req.RepoRoot, Protect: *protect})
		}
	}
	return pulumirun.New(ctx, pulumirun.Options{
		Stack: req.Stack, BackendURL: req.BackendURL, SecretsProvider: req.SecretsProvider,
		PulumiCLI: req.PulumiCLI, PulumiHome: req.PulumiHome, PluginDirs: req.PluginDirs,
		Env: req.Env, Program: program, Parallelism: req.Parallelism, Components: runnerComponents(req, desired),
		Log: log, StallLimit: req.StallLimit,
	})
}

// runnerComponents names the top-level resources that are components, for
// the events (pulumirun.Options.Components): the desired ones and those
// deployed (req.Deployed), whose resources an up deletes when the YAML no
// longer has them. Named from desired alone, such a delete's events named
// no component, and apply's progress never showed the delete the plan
// listed. nil for a destroy (desired nil): every top-level resource is one.
func runnerComponents(req engine.Request, desired *stacks.Resolved) []string {
	if desired == nil {
		return nil
	}
	var out []string
	for _, c := range desired.Components {
		out = append(out, c.Name)
	}
	for _, n := range req.Deployed {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
