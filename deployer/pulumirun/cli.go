package pulumirun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"panka.dev/panka/deployer/engine"
)

// ErrCLINotFound is returned (wrapped) when the Pulumi CLI cannot be found.
var ErrCLINotFound = engine.ErrPulumiNotFound

// MinCLIVersion is the oldest Pulumi CLI the runner accepts (preview-only
// refresh and the gRPC event stream need recent versions; v3.274.1 is the
// version panka is tested with).
var MinCLIVersion = semver.MustParse("3.206.0")

// FindCLI returns the Pulumi CLI to use: configured (the pulumi.cli config
// key) when set, else `pulumi` from PATH. panka checks the same with
// engine.FindPulumi before it starts a deployment.
func FindCLI(configured string) (string, error) {
	return engine.FindPulumi(configured, os.Environ())
}

var versions sync.Map // CLI path -> semver.Version

// cliCommand implements auto.PulumiCommand for a CLI at any path (auto's
// own implementation insists on <root>/bin/pulumi). It runs the CLI in its
// own process group, so a terminal's Ctrl-C reaches panka only, and on
// context cancellation sends it SIGINT, which makes the engine stop
// gracefully (finish in-flight steps, write the checkpoint, release its
// lock); after grace it is killed.
type cliCommand struct {
	path    string
	version semver.Version
	// prepend are folders put in front of PATH (plugin folders and the
	// CLI's own folder).
	prepend []string
	grace   time.Duration
	// stall bounds a command that runs no engine operation (stack
	// select, config, export, ...): it only reads and writes the state
	// backend (see StalledError); 0: no bound. backend names the backend
	// for its error.
	stall   time.Duration
	backend string

	// mu guards interrupted.
	mu sync.Mutex
	// interrupted are the pids of CLI processes that the interrupt Cancel
	// sends ended outright (see takeInterrupted).
	interrupted []int
}

var _ auto.PulumiCommand = (*cliCommand)(nil)

func newCLICommand(ctx context.Context, path string, prepend []string, grace time.Duration) (*cliCommand, error) {
	c := &cliCommand{path: path, prepend: prepend, grace: grace}
	if v, ok := versions.Load(path); ok {
		c.version = v.(semver.Version)
		return c, nil
	}
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.Output()
	if err != nil && ctx.Err() != nil {
		// Killed by the cancellation: "signal: killed" would read as a crash.
		return nil, fmt.Errorf("run `%s version`: interrupted (Ctrl-C or a stop signal): %w", path, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("run `%s version`: %w", path, err)
	}
	raw := strings.TrimSpace(string(out))
	v, err := semver.ParseTolerant(strings.TrimPrefix(raw, "v"))
	if err != nil {
		return nil, fmt.Errorf("pulumi CLI %s reports version %q: %w", path, raw, err)
	}
	if v.LT(MinCLIVersion) {
		return nil, fmt.Errorf("pulumi CLI %s is %s, panka needs >= %s: run `make tools` to build v3.274.1", path, v, MinCLIVersion)
	}
	versions.Store(path, v)
	c.version = v
	return c, nil
}

func (c *cliCommand) Version() semver.Version { return c.version }

func (c *cliCommand) Run(ctx context.Context, workdir string, stdin io.Reader,
	additionalOutput, additionalErrorOutput []io.Writer, additionalEnv []string, args ...string,
) (_, _ string, _ int, err error) {
	if !slices.Contains(args, "--non-interactive") {
		args = append([]string{"--non-interactive"}, args...)
	}
	if c.stall > 0 && !engineCommand(args) {
		// An engine operation is watched by the Runner, from its events.
		what := "pulumi " + strings.Join(subcommand(args), " ")
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.stall, &StalledError{What: what, Backend: c.backend, Limit: c.stall, Command: true})
		defer cancel()
		defer func() {
			if se := stalledCause(ctx); se != nil && err != nil {
				err = fmt.Errorf("%w: %w", se, err)
			}
		}()
	}
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = workdir
	env := append(os.Environ(), additionalEnv...)
	env = append(env, "PULUMI_AUTOMATION_API=true", "PATH="+c.pathEnv(env))
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(additionalOutput, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(additionalErrorOutput, &stderr)...)
	cmd.Stdin = stdin
	exited := make(chan struct{})
	cmd.Cancel = func() error {
		if c.grace < 0 {
			_ = cmd.Process.Kill()
			return nil
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			_ = cmd.Process.Kill()
			return nil
		}
		p := cmd.Process
		time.AfterFunc(c.grace, func() {
			select {
			case <-exited:
			default:
				_ = p.Kill()
			}
		})
		return nil
	}
	// WaitDelay only bounds waiting for output pipes that a leftover child
	// keeps open after the CLI exited (or was killed).
	cmd.WaitDelay = max(c.grace, 0) + 10*time.Second
	defer close(exited)
	code := -2
	// Its own process group (panka's Ctrl-C handling decides when the CLI is
	// interrupted) and, on Linux, SIGKILL when this engine dies.
	err = engine.StartChild(cmd, syscall.SIGKILL)
	if err == nil {
		err = cmd.Wait()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
			c.mu.Lock()
			c.interrupted = append(c.interrupted, cmd.Process.Pid)
			c.mu.Unlock()
		}
	} else if err == nil {
		code = 0
	}
	return stdout.String(), stderr.String(), code, err
}

// subcommand returns the CLI command words of args, e.g. ["stack",
// "select"]: the Automation API puts them first (after the flags Run adds).
func subcommand(args []string) []string {
	var out []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			if len(out) > 0 {
				break
			}
			continue
		}
		out = append(out, a)
		if len(out) == 2 || a != "stack" && a != "config" && a != "plugin" {
			break
		}
	}
	return out
}

// engineCommand reports a CLI command that may run an engine operation,
// whose resources a provider may take long over. It errs on that side: any
// argument that names one counts.
func engineCommand(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		switch a {
		case "up", "update", "destroy", "refresh", "preview", "import", "watch":
			return true
		}
		return false
	})
}

// takeInterrupted returns, and forgets, the pids of the CLI processes that
// the SIGINT of a cancellation killed instead of stopping them cleanly. The
// CLI handles SIGINT only while an engine operation runs; one that arrives
// just before (the stack's DIY lock already taken, "Updating (stack):"
// printed) or just after ends it at once, by Go's default action, and its
// lock stays behind although the run was stopped cleanly.
func (c *cliCommand) takeInterrupted() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := c.interrupted
	c.interrupted = nil
	return pids
}

// pathEnv is PATH for the CLI: the plugin folders, the CLI's folder, then
// the PATH the environment already has (the last PATH= entry wins).
func (c *cliCommand) pathEnv(env []string) string {
	base := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			base = v
		}
	}
	parts := append([]string{}, c.prepend...)
	parts = append(parts, filepath.Dir(c.path))
	if base != "" {
		parts = append(parts, base)
	}
	return strings.Join(parts, string(os.PathListSeparator))
}
