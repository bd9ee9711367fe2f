package cli

import (
	"cmp"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	slocal "panka.dev/panka/statestore/local"
	s3store "panka.dev/panka/statestore/s3"
)

// pulumiBackendURL is the DIY backend of a stack/environment, under the same
// prefix as its state (SPEC §5): <prefix>stacks/<stack>/<env>/pulumi. In
// S3 it names the endpoint and addressing panka's own client uses (the
// engine's SDK would find the AWS profile's endpoint_url itself, not that
// such a server wants path-style requests).
func (f *Factory) pulumiBackendURL(ctx context.Context, cfg *config.Resolved, key statestore.Key) (string, error) {
	if cfg.Pulumi.Backend != "" && cfg.Pulumi.Backend != "s3" && cfg.Pulumi.Backend != "diy" {
		return cfg.Pulumi.Backend, nil
	}
	rel, err := pulumiDir(cfg, key)
	if err != nil {
		return "", err
	}
	switch cfg.Backend.Type {
	case "s3":
		ac, err := f.AWSConfig(ctx, cfg)
		if err != nil {
			return "", err
		}
		ep := f.endpointOf(ctx, cfg, ac, "backend.endpoint", "S3")
		return engine.S3Backend{Bucket: cfg.Backend.Bucket, Prefix: rel,
			Region: cfg.Backend.Region, Endpoint: ep.URL, PathStyle: s3PathStyle(cfg, ep)}.URL(), nil
	default:
		dir, err := f.localDir(cfg)
		if err != nil {
			return "", err
		}
		full := filepath.Join(dir, "state", filepath.FromSlash(rel))
		if err := os.MkdirAll(full, 0o755); err != nil {
			return "", fmt.Errorf("create the Pulumi backend folder %s: %w", full, err)
		}
		return engine.FileBackendURL(full), nil
	}
}

// engineCheckpointFunc returns deploy.Runtime.EngineCheckpoint for a
// stack/environment whose Pulumi state is in panka's own backend: the
// checkpoint's content (nil when there is none). nil for another Pulumi
// backend (Pulumi Cloud), which is not read.
func (f *Factory) engineCheckpointFunc(cfg *config.Resolved, key statestore.Key) func(context.Context) ([]byte, error) {
	if cfg.Pulumi.Backend != "" && cfg.Pulumi.Backend != "s3" && cfg.Pulumi.Backend != "diy" {
		return nil
	}
	pdir, err := pulumiDir(cfg, key)
	if err != nil {
		return nil
	}
	rel := path.Join(pdir, engine.CheckpointPath(engine.StackName(key.Stack, key.Environment)))
	if cfg.Backend.Type == "s3" {
		return func(ctx context.Context) ([]byte, error) {
			c, err := f.S3Client(ctx, cfg)
			if err != nil {
				return nil, err
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Backend.Bucket), Key: aws.String(rel)})
			if s3store.IsNotFound(err) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			defer out.Body.Close()
			return io.ReadAll(out.Body)
		}
	}
	return func(context.Context) ([]byte, error) {
		dir, err := f.localDir(cfg)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(dir, "state", filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
}

// checkPassphrase refuses, before anything is locked, planned or run, a
// secrets passphrase that is not the one key's last engine run encrypted
// its secrets with (engine.PassphraseMatches): Pulumi fails on it only
// when it decrypts a secret, so a stack that holds none was deployed, and
// its engine state re-keyed, under a mistyped passphrase without a word,
// and plan showed every secret variable as changed. nil when there is
// nothing to check: another secrets provider, no passphrase given (Pulumi
// says that itself), Pulumi state elsewhere, or never deployed.
func (f *Factory) checkPassphrase(ctx context.Context, cfg *config.Resolved, key statestore.Key) error {
	if sp := cfg.Pulumi.SecretsProvider; sp != "" && sp != "passphrase" {
		return nil
	}
	passphrase, err := f.passphrase()
	if err != nil || passphrase == "" && !f.emptyPassphrase() {
		return nil
	}
	read := f.engineCheckpointFunc(cfg, key)
	if read == nil {
		return nil
	}
	b, err := read(ctx)
	if err != nil {
		return nil // the run reads it again, and says what is wrong
	}
	if match, ok := engine.PassphraseMatches(b, passphrase); ok && !match {
		from := "PULUMI_CONFIG_PASSPHRASE"
		if f.Getenv("PULUMI_CONFIG_PASSPHRASE") == "" && f.passphraseFile() != "" {
			from = "PULUMI_CONFIG_PASSPHRASE_FILE (" + f.passphraseFile() + ")"
		}
		return fmt.Errorf("the secrets passphrase given by %s is not the one the last deployment of %s encrypted its secrets with (incorrect passphrase: its Pulumi state keeps a check value): "+
			"set it to the passphrase its earlier deployments used (changing it on purpose: apply once with --new-passphrase; docs/plan.md, \"Changing the passphrase\")",
			from, key)
	}
	return nil
}

// engineStateFunc returns deploy.Runtime.EngineState for a stack/environment
// whose Pulumi state is in panka's own backend: the checkpoint's ETag in
// S3, a hash of its file locally. Asked for the form of a token recorded
// by the other backend, it computes that form when it can (the SHA-256 of
// the object's content in S3; locally the MD5 an S3 ETag of a single-part
// upload is), so a checkpoint copied byte for byte when switching backends
// (docs/state.md) is not taken for one written since. nil for another
// Pulumi backend (Pulumi Cloud), which is not read.
//
// A checkpoint that differs from the recorded one while the stack has no
// update in its history gives no token (unknown, not a change): it was
// written by setting the stack up in a backend where Pulumi's state was
// never copied (a run that refused, state.json moved without pulumi/), not
// by a run that recorded nothing. Taken for one, it let the next destroy
// delete nothing and record everything destroyed.
func (f *Factory) engineStateFunc(cfg *config.Resolved, key statestore.Key) func(context.Context, string) (string, error) {
	if cfg.Pulumi.Backend != "" && cfg.Pulumi.Backend != "s3" && cfg.Pulumi.Backend != "diy" {
		return nil
	}
	pdir, err := pulumiDir(cfg, key)
	if err != nil {
		return func(context.Context, string) (string, error) { return "", err }
	}
	token, hasHistory := f.engineStateToken(cfg, pdir, key)
	return func(ctx context.Context, recorded string) (string, error) {
		cur, err := token(ctx, recorded)
		if err != nil || recorded == "" || cur == "" || cur == recorded {
			return cur, err
		}
		if ok, err := hasHistory(ctx); err == nil && !ok {
			return "", nil
		}
		return cur, nil
	}
}

// engineRanUnrecorded reports whether Pulumi's state of key holds an update
// although panka recorded nothing there (no state.json, no history): a
// first deployment whose record could not be written (the state server
// failed after the engine ran), or one that was killed. Its resources may
// exist while status says "not deployed" and plan lists them as creates.
// A first run killed partway has written no update yet: its checkpoint
// holding components, or operations in flight, counts too.
// False when it cannot tell (another Pulumi backend, an error).
func (f *Factory) engineRanUnrecorded(ctx context.Context, cfg *config.Resolved, key statestore.Key) bool {
	if cfg.Pulumi.Backend != "" && cfg.Pulumi.Backend != "s3" && cfg.Pulumi.Backend != "diy" {
		return false
	}
	pdir, err := pulumiDir(cfg, key)
	if err != nil {
		return false
	}
	token, hasHistory := f.engineStateToken(cfg, pdir, key)
	if cur, err := token(ctx, ""); err != nil || cur == "" {
		return false
	}
	if ran, err := hasHistory(ctx); err != nil || ran {
		return err == nil
	}
	// No update finished (the engine writes its history at the end): a
	// run killed partway left what it had made, and the operations it had
	// in flight, in the checkpoint only. A run that set the stack up and
	// stopped before any step leaves none of either.
	read := f.engineCheckpointFunc(cfg, key)
	if read == nil {
		return false
	}
	b, err := read(ctx)
	if err != nil || b == nil {
		return false
	}
	_, touched, ok := engine.ComponentsTouched(b, time.Time{})
	return ok && len(touched) > 0
}

// engineStateToken returns engineStateFunc's token of the checkpoint under
// pdir, and whether the stack's update history holds anything.
func (f *Factory) engineStateToken(cfg *config.Resolved, pdir string, key statestore.Key) (token func(context.Context, string) (string, error), hasHistory func(context.Context) (bool, error)) {
	name := engine.StackName(key.Stack, key.Environment)
	rel := path.Join(pdir, engine.CheckpointPath(name))
	hist := path.Join(pdir, engine.HistoryPath(name)) + "/"
	if cfg.Backend.Type == "s3" {
		hasHistory = func(ctx context.Context) (bool, error) {
			c, err := f.S3Client(ctx, cfg)
			if err != nil {
				return false, err
			}
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Backend.Bucket), Prefix: aws.String(hist), MaxKeys: aws.Int32(1)})
			if err != nil {
				return false, err
			}
			return len(out.Contents) > 0, nil
		}
		token = func(ctx context.Context, recorded string) (string, error) {
			c, err := f.S3Client(ctx, cfg)
			if err != nil {
				return "", err
			}
			in := &s3.GetObjectInput{Bucket: aws.String(cfg.Backend.Bucket), Key: aws.String(rel)}
			if strings.HasPrefix(recorded, "sha256:") {
				out, err := c.GetObject(ctx, in)
				if s3store.IsNotFound(err) {
					return "", nil
				}
				if err != nil {
					return "", err
				}
				defer out.Body.Close()
				h := sha256.New()
				if _, err := io.Copy(h, out.Body); err != nil {
					return "", err
				}
				return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
			}
			out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key})
			if s3store.IsNotFound(err) {
				return "", nil
			}
			if err != nil {
				return "", err
			}
			return "etag:" + aws.ToString(out.ETag), nil
		}
		return token, hasHistory
	}
	hasHistory = func(context.Context) (bool, error) {
		dir, err := f.localDir(cfg)
		if err != nil {
			return false, err
		}
		entries, err := os.ReadDir(filepath.Join(dir, "state", filepath.FromSlash(hist)))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return len(entries) > 0, err
	}
	token = func(_ context.Context, recorded string) (string, error) {
		dir, err := f.localDir(cfg)
		if err != nil {
			return "", err
		}
		b, err := os.ReadFile(filepath.Join(dir, "state", filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(recorded, "etag:") {
			sum := md5.Sum(b)
			return `etag:"` + hex.EncodeToString(sum[:]) + `"`, nil
		}
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	}
	return token, hasHistory
}

// pulumiDir is "<prefix>stacks/<stack>/<env>/pulumi" with the prefix
// normalised as the state store does it (statestore.NormalizePrefix):
// backend.prefix "team-a" must put Pulumi's files under "team-a/", next to
// the state, not under "team-astacks/".
func pulumiDir(cfg *config.Resolved, key statestore.Key) (string, error) {
	prefix, err := statestore.NormalizePrefix(cfg.Backend.Prefix)
	if err != nil {
		return "", fmt.Errorf("backend.prefix: %w", err)
	}
	return strings.TrimSuffix(statestore.PulumiPrefix(prefix, key), "/"), nil
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
	// AllowDestroy and AllowReplace are the run's permissions for data
	// (engine.Request).
	AllowDestroy, AllowReplace bool
	// Deployed is the deployed model, when known: with no desired model
	// (destroy, drift) it says where this checkout keeps the local
	// target's manifests; its components are those the engine's events
	// name besides the desired ones (engine.Request.Deployed).
	Deployed *stacks.Resolved
}

// engineFactory returns deploy.Runtime.NewEngine for one stack/environment:
// a session with the panka-engine helper (see package deployer/engine).
func (f *Factory) engineFactory(cfg *config.Resolved, key statestore.Key, eo engineOptions) func(ctx context.Context, desired, deployed *stacks.Resolved) (deploy.Engine, error) {
	return func(ctx context.Context, desired, deployed *stacks.Resolved) (deploy.Engine, error) {
		eo.Deployed = deployed
		return f.startEngine(ctx, cfg, key, desired, eo)
	}
}

// startEngine opens a panka-engine session for a stack/environment.
func (f *Factory) startEngine(ctx context.Context, cfg *config.Resolved, key statestore.Key, desired *stacks.Resolved, eo engineOptions) (*engine.Client, error) {
	backendURL, err := f.pulumiBackendURL(ctx, cfg, key)
	if err != nil {
		return nil, err
	}
	root, err := f.RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := keepManifestsOutOfGit(root, desired); err != nil {
		return nil, err
	}
	model, err := engine.EncodeModel(desired)
	if err != nil {
		return nil, err
	}
	env := map[string]string{"PULUMI_SKIP_UPDATE_CHECK": "true"}
	if cfg.Pulumi.AccessToken != "" {
		env["PULUMI_ACCESS_TOKEN"] = cfg.Pulumi.AccessToken
	}
	if p := f.passphraseFile(); p != "" {
		// Pulumi runs in its own workspace folder: a relative name would
		// be read there (another file, or none), not where panka read it.
		env["PULUMI_CONFIG_PASSPHRASE_FILE"] = p
	}
	if cfg.Backend.Type == "s3" && cfg.Backend.Region != "" && f.Getenv("AWS_REGION") == "" {
		env["AWS_REGION"] = cfg.Backend.Region
	}
	if cfg.AWS.Profile != "" && f.Getenv("AWS_PROFILE") == "" {
		env["AWS_PROFILE"] = cfg.AWS.Profile
	}
	// The local target's manifests belong to this checkout: tell its
	// provider where they are here, so a refresh or destroy from a moved
	// checkout (whose engine state names the old folder) finds them.
	if m := cmp.Or(desired, eo.Deployed); m != nil && m.Provider.Name == "local" {
		env[engine.EnvLocalDirectory] = localManifestDir(root, m)
	}
	if err := f.enginePrerequisites(cfg).Check(); err != nil {
		return nil, err
	}
	sp := cfg.Pulumi.SecretsProvider
	if sp == "" {
		sp = "passphrase"
	}
	var pluginDirs []string
	if exe, err := os.Executable(); err == nil {
		pluginDirs = append(pluginDirs, filepath.Dir(exe))
	}
	req := engine.Request{Stack: engine.StackName(key.Stack, key.Environment), BackendURL: backendURL, SecretsProvider: sp,
		PulumiCLI: cfg.Pulumi.CLI, PluginDirs: pluginDirs, Env: env, Parallelism: eo.Parallelism,
		RepoRoot: root, Desired: model, AllowDestroy: eo.AllowDestroy, AllowReplace: eo.AllowReplace,
		StallLimit: cfg.Pulumi.StallTimeout.D()}
	if eo.Deployed != nil {
		for _, c := range eo.Deployed.Components {
			req.Deployed = append(req.Deployed, c.Name)
		}
	}
	return engine.Start(ctx, req, engine.Options{Stderr: eo.Log, Env: f.engineEnviron()})
}

// keepManifestsOutOfGit writes .panka/.gitignore in the repository at root
// when desired deploys to the local target's manifest folder inside .panka
// (the default .panka/local). The local state store writes it too, but with
// state in S3 nothing did: the manifests showed up in git status, and a
// `git add -A` committed them.
func keepManifestsOutOfGit(root string, desired *stacks.Resolved) error {
	if desired == nil || desired.Provider.Name != "local" {
		return nil
	}
	dir := localManifestDir(root, desired)
	work := filepath.Join(root, ".panka")
	rel, err := filepath.Rel(work, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil // manifests outside .panka: where the user put them
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", work, err)
	}
	return slocal.WriteGitIgnore(work)
}

// localManifestDir is where the local target of model m writes its
// manifests in the checkout at root (spec.provider.directory, resolved
// against root; the model carries the default).
func localManifestDir(root string, m *stacks.Resolved) string {
	dir := m.Provider.Directory
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return filepath.Clean(dir)
}

// enginePrerequisites are what startEngine needs on this machine; a
// deployment checks them before it takes its lease (see runDeployment).
func (f *Factory) enginePrerequisites(cfg *config.Resolved) engine.Prerequisites {
	return engine.Prerequisites{PulumiCLI: cfg.Pulumi.CLI, SecretsProvider: cfg.Pulumi.SecretsProvider, Environ: f.engineEnviron()}
}
