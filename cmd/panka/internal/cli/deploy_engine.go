package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/pulumirun"
	"panka.dev/panka/deployer/target"
	awstarget "panka.dev/panka/deployer/target/aws"
	localtarget "panka.dev/panka/deployer/target/local"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// targetFor returns the deployment target named by a model's provider.
func targetFor(r *stacks.Resolved) (target.Target, error) {
	switch r.Provider.Name {
	case localtarget.Name:
		return localtarget.New(), nil
	case "aws", "":
		return awstarget.New(), nil
	}
	return nil, fmt.Errorf("stack %s: spec.provider.name %q is not a known target (aws or local)", r.Stack, r.Provider.Name)
}

// pulumiBackendURL is the DIY backend of a stack/environment, under the same
// prefix as its state (SPEC §5): <prefix>stacks/<stack>/<env>/pulumi.
func (f *Factory) pulumiBackendURL(cfg *config.Resolved, key statestore.Key) (string, error) {
	if cfg.Pulumi.Backend != "" && cfg.Pulumi.Backend != "s3" && cfg.Pulumi.Backend != "diy" {
		return cfg.Pulumi.Backend, nil
	}
	rel := path.Join("stacks", key.Stack, key.Environment, "pulumi")
	switch cfg.Backend.Type {
	case "s3":
		endpoint := cfg.Backend.Endpoint
		if endpoint == "" {
			endpoint = f.Getenv("AWS_ENDPOINT_URL_S3")
		}
		return pulumirun.S3Backend{Bucket: cfg.Backend.Bucket, Prefix: cfg.Backend.Prefix + rel,
			Region: cfg.Backend.Region, Endpoint: endpoint, PathStyle: cfg.Backend.UsePathStyle}.URL(), nil
	default:
		dir, err := f.localDir(cfg)
		if err != nil {
			return "", err
		}
		full := filepath.Join(dir, "state", filepath.FromSlash(cfg.Backend.Prefix+rel))
		if err := os.MkdirAll(full, 0o755); err != nil {
			return "", fmt.Errorf("create the Pulumi backend folder %s: %w", full, err)
		}
		return pulumirun.FileBackendURL(full), nil
	}
}

// localDir is the embedded default's folder (.panka in the repository).
func (f *Factory) localDir(cfg *config.Resolved) (string, error) {
	root, err := f.RepoRoot()
	if err != nil {
		return "", err
	}
	dir := cfg.Backend.Directory
	switch {
	case dir == "":
		dir = filepath.Join(root, ".panka")
	case !filepath.IsAbs(dir):
		dir = filepath.Join(root, dir)
	}
	return dir, nil
}

// engineOptions are the per-run engine settings from flags.
type engineOptions struct {
	Parallelism int
	Log         io.Writer
}

// engineFactory returns deploy.Runtime.NewEngine for one stack/environment.
func (f *Factory) engineFactory(cfg *config.Resolved, key statestore.Key, eo engineOptions) func(ctx context.Context, desired *stacks.Resolved) (deploy.Engine, error) {
	return func(ctx context.Context, desired *stacks.Resolved) (deploy.Engine, error) {
		backendURL, err := f.pulumiBackendURL(cfg, key)
		if err != nil {
			return nil, err
		}
		root, err := f.RepoRoot()
		if err != nil {
			return nil, err
		}
		var program pulumi.RunFunc
		var components []string
		if desired == nil {
			program = func(*pulumi.Context) error { return nil }
		} else {
			tgt, err := targetFor(desired)
			if err != nil {
				return nil, err
			}
			program = func(pctx *pulumi.Context) error {
				return tgt.Register(pctx, desired, target.Options{RepoRoot: root})
			}
			for _, c := range desired.Components {
				components = append(components, c.Name)
			}
		}
		env := map[string]string{"PULUMI_SKIP_UPDATE_CHECK": "true"}
		if cfg.Pulumi.AccessToken != "" {
			env["PULUMI_ACCESS_TOKEN"] = cfg.Pulumi.AccessToken
		}
		if cfg.Backend.Type == "s3" && cfg.Backend.Region != "" && f.Getenv("AWS_REGION") == "" {
			env["AWS_REGION"] = cfg.Backend.Region
		}
		if cfg.AWS.Profile != "" && f.Getenv("AWS_PROFILE") == "" {
			env["AWS_PROFILE"] = cfg.AWS.Profile
		}
		sp := cfg.Pulumi.SecretsProvider
		if sp == "" || sp == "passphrase" {
			if _, ok := lookupEnv(f.Environ(), "PULUMI_CONFIG_PASSPHRASE"); !ok {
				if _, ok := lookupEnv(f.Environ(), "PULUMI_CONFIG_PASSPHRASE_FILE"); !ok {
					return nil, errors.New("the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): export it, the same value on every run, or set pulumi.secretsProvider to an awskms:// key")
				}
			}
			sp = "passphrase"
		}
		var pluginDirs []string
		if exe, err := os.Executable(); err == nil {
			pluginDirs = append(pluginDirs, filepath.Dir(exe))
		}
		return pulumirun.New(ctx, pulumirun.Options{
			Stack: pulumirun.StackName(key.Stack, key.Environment), BackendURL: backendURL,
			SecretsProvider: sp, PulumiCLI: cfg.Pulumi.CLI, PluginDirs: pluginDirs, Env: env,
			Program: program, Parallelism: eo.Parallelism, Components: components, Log: eo.Log,
		})
	}
}

func lookupEnv(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, name+"=") {
			return kv[len(name)+1:], true
		}
	}
	return "", false
}

// localHealthCheck reads back every manifest the local target wrote.
func localHealthCheck(repoRoot string) func(ctx context.Context, desired *stacks.Resolved, _ map[string]map[string]any) error {
	return func(ctx context.Context, desired *stacks.Resolved, _ map[string]map[string]any) error {
		if desired.Provider.Name != localtarget.Name {
			return nil
		}
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
			return fmt.Errorf("manifests missing or wrong after apply: %s", strings.Join(problems, "; "))
		}
		return nil
	}
}

// progress prints engine events on stderr: one line per component step.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start map[string]time.Time
	now   func() time.Time
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	return &progress{w: w, start: map[string]time.Time{}, now: now}
}

func (p *progress) event(e pulumirun.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := e.Component
	if name == "" {
		return
	}
	switch e.Status {
	case pulumirun.StatusCreating, pulumirun.StatusUpdating, pulumirun.StatusDeleting, pulumirun.StatusReplacing:
		if e.Name != name {
			return
		}
		p.start[e.URN] = p.now()
		fmt.Fprintf(p.w, "  %s: %s (%s)...\n", name, e.Status, e.Type)
	case pulumirun.StatusDone:
		if e.Name != name {
			return
		}
		fmt.Fprintf(p.w, "  %s: %s done in %s\n", name, e.Op, e.Elapsed.Round(10*time.Millisecond))
	case pulumirun.StatusFailed:
		fmt.Fprintf(p.w, "  %s: FAILED (%s): %s\n", name, e.Type, strings.TrimSpace(e.Message))
	}
}
