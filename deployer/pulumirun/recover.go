package pulumirun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"panka.dev/panka/deployer/engine"
)

type (
	// Recovery reports what RecoverStale cleared (see engine.Recovery).
	Recovery = engine.Recovery
	// StaleLock is one Pulumi DIY lock file.
	StaleLock = engine.StaleLock
	// PendingOperation is an operation that was in flight when a run died.
	PendingOperation = engine.PendingOperation
)

// RecoverStale clears what a killed Pulumi run leaves behind: the DIY
// backend's lock files of this stack (via `pulumi cancel`, which on a DIY
// backend deletes them all; on file:// backends also the temporary file of
// one never renamed into place, see isLockTemp) and the checkpoint's
// pending operations (the
// deployment is exported, the list emptied and imported back). Pending
// creates are dropped: the next up creates those resources again, which
// providers must tolerate (pankalocal overwrites its manifest).
//
// Call it only while holding panka's lease on the stack/environment: the
// lease proves no other panka run is active, and panka is the only writer
// of its Pulumi stacks. On file:// and s3:// backends a lock whose Pulumi
// process still runs on this host is not a killed run's: RecoverStale
// refuses and clears nothing. Calling it when nothing is stale is cheap and
// harmless on file:// backends (nothing runs); elsewhere it always runs
// `pulumi cancel`, and reports Cancelled.
func (r *Runner) RecoverStale(ctx context.Context) (*Recovery, error) {
	rec := &Recovery{}
	cancel := true
	if dir, ok := fileBackendDir(r.opts.BackendURL); ok {
		locks, err := listFileLocks(dir, r.opts.Project, r.opts.Stack)
		if err != nil {
			return nil, err
		}
		rec.Locks = locks
		if err := liveLock(locks, r.opts.Stack); err != nil {
			return nil, err
		}
		cancel = false
		for _, l := range locks {
			if !isLockTemp(l.Path) {
				cancel = true
				continue
			}
			// A lock file that was never renamed into place: removed
			// here, as pulumi cancel only knows finished ones.
			for _, p := range []string{l.Path, l.Path + ".attrs"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return rec, fmt.Errorf("remove the unfinished Pulumi lock file %s of stack %q: %w; remove it by hand and re-run", l.Path, r.opts.Stack, err)
				}
			}
		}
	}
	if b, ok := s3BackendOf(r.opts.BackendURL); ok {
		// As on file:// backends: a lock of a Pulumi that still runs on
		// this host is a live run's (panka killed while its engine
		// stops, a force-unlocked run), and pulumi cancel would remove
		// it and let two engines write the checkpoint and the
		// resources. A listing that fails leaves the recovery as it was.
		if c, err := b.client(ctx, r.opts.Env); err == nil {
			if locks, err := listS3Locks(ctx, c, b, r.opts.Project, r.opts.Stack); err == nil {
				if err := liveLock(locks, r.opts.Stack); err != nil {
					return nil, err
				}
				rec.Locks = locks
			}
		}
	}
	if cancel {
		if err := r.stack.Cancel(ctx); err != nil {
			return rec, r.wrap(ctx, "clear stale Pulumi locks (pulumi cancel)", err, nil)
		}
		rec.Cancelled = true
	}
	dep, doc, err := r.exportState(ctx)
	if err != nil {
		return rec, err
	}
	if doc == nil {
		rec.Resources = new(int)
		return rec, nil
	}
	if rec.Resources, err = countResources(doc["resources"]); err != nil {
		return rec, fmt.Errorf("parse the resources in the Pulumi state of stack %q: %w", r.opts.Stack, err)
	}
	raw, ok := doc["pending_operations"]
	if !ok {
		return rec, nil
	}
	var pending []struct {
		Resource struct {
			URN string `json:"urn"`
		} `json:"resource"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &pending); err != nil {
		return rec, fmt.Errorf("parse pending operations of stack %q: %w", r.opts.Stack, err)
	}
	if len(pending) == 0 {
		return rec, nil
	}
	for _, p := range pending {
		rec.PendingOperations = append(rec.PendingOperations, PendingOperation{Type: p.Type, URN: p.Resource.URN})
	}
	delete(doc, "pending_operations")
	return rec, r.importState(ctx, dep, doc, "import Pulumi state without pending operations")
}

// releaseInterruptedLocks removes the DIY lock of the stack that a Pulumi
// CLI this runner started left behind when the interrupt that stops it
// cleanly ended it outright instead (cliCommand.takeInterrupted): a Ctrl-C
// or SIGTERM landing just as `pulumi up` took its lock. The run was stopped
// cleanly, and panka still holds its lease, so it must not leave the lock
// for the next run to clear as a killed run's. On file:// and s3://
// backends only the lock files (objects) naming such a process (its pid on
// this host) are removed, so a Pulumi run by hand against the same backend
// keeps its lock; on others, which cannot be listed here, `pulumi cancel`
// removes the stack's locks, as RecoverStale does under the lease. Failures
// are reported on the log: the next run clears what is left.
func (r *Runner) releaseInterruptedLocks() {
	if r.cliCmd == nil {
		return
	}
	pids := r.cliCmd.takeInterrupted()
	if len(pids) == 0 {
		return
	}
	if dir, ok := fileBackendDir(r.opts.BackendURL); ok {
		locks, err := listFileLocks(dir, r.opts.Project, r.opts.Stack)
		if err != nil {
			fmt.Fprintf(r.opts.Log, "warning: could not look for the Pulumi lock of the interrupted run (the next run clears it): %v\n", err)
			return
		}
		host, _ := os.Hostname()
		for _, l := range locks {
			if host == "" || l.Hostname != host || !slices.Contains(pids, l.PID) {
				continue
			}
			// The blob store keeps each file's attributes next to it.
			for _, p := range []string{l.Path, l.Path + ".attrs"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(r.opts.Log, "warning: could not remove the Pulumi lock of the interrupted run (the next run clears it): %v\n", err)
				}
			}
			fmt.Fprintf(r.opts.Log, "removed %s: the interrupt ended pulumi (pid %d) before it could release its lock\n", l.Path, l.PID)
		}
		return
	}
	if r.stack.Workspace() == nil {
		return // the stack was not opened (New failed): it took no lock
	}
	// The run's own context is done: work under a fresh one, as panka
	// waits for this answer while it holds the lease.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b, ok := s3BackendOf(r.opts.BackendURL); ok {
		// Only the lock objects naming such a process: `pulumi cancel`
		// would remove every lock of the stack, a Pulumi run by hand
		// against the same backend included.
		c, err := b.client(ctx, r.opts.Env)
		if err != nil {
			fmt.Fprintf(r.opts.Log, "warning: could not look for the Pulumi lock of the interrupted run (the next run clears it): %v\n", err)
			return
		}
		removeS3Locks(ctx, c, b, r.opts.Project, r.opts.Stack, pids, r.opts.Log)
		return
	}
	if err := r.stack.Cancel(ctx); err != nil {
		fmt.Fprintf(r.opts.Log, "warning: could not remove the Pulumi lock of the interrupted run (the next run clears it): %v\n", err)
	}
}

// exportState exports the stack's checkpoint: the untyped deployment and
// its document (nil when the stack has never been updated).
func (r *Runner) exportState(ctx context.Context) (apitype.UntypedDeployment, map[string]json.RawMessage, error) {
	// Export without --show-secrets (which auto.Stack.Export passes): the
	// state round-trips with its secrets still encrypted, never in clear
	// on disk.
	var dep apitype.UntypedDeployment
	out, err := r.cli(ctx, "stack", "export", "--stack", r.opts.Stack)
	if err != nil {
		return dep, nil, r.wrap(ctx, "export Pulumi state", err, nil)
	}
	if err := json.Unmarshal([]byte(out), &dep); err != nil {
		return dep, nil, fmt.Errorf("parse exported Pulumi state of stack %q: %w", r.opts.Stack, err)
	}
	if len(dep.Deployment) == 0 {
		return dep, nil, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(dep.Deployment, &doc); err != nil {
		return dep, nil, fmt.Errorf("parse Pulumi state of stack %q: %w", r.opts.Stack, err)
	}
	return dep, doc, nil
}

// importState imports doc as the stack's checkpoint (dep's version); what
// names the step in errors.
func (r *Runner) importState(ctx context.Context, dep apitype.UntypedDeployment, doc map[string]json.RawMessage, what string) error {
	var err error
	if dep.Deployment, err = json.Marshal(doc); err != nil {
		return fmt.Errorf("encode Pulumi state of stack %q: %w", r.opts.Stack, err)
	}
	b, err := json.Marshal(dep)
	if err != nil {
		return fmt.Errorf("encode Pulumi state of stack %q: %w", r.opts.Stack, err)
	}
	f, err := os.CreateTemp(r.stack.Workspace().WorkDir(), ".import-*.json")
	if err != nil {
		return fmt.Errorf("import Pulumi state: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("import Pulumi state: %w", err)
	}
	if _, err := r.cli(ctx, "stack", "import", "--file", f.Name(), "--stack", r.opts.Stack); err != nil {
		return r.wrap(ctx, what, err, nil)
	}
	return nil
}

// Unprotect clears Pulumi's protect flag on the resources of the
// components which selects in the stack's checkpoint, so that an operation
// panka was allowed to run (--allow-destroy, or --allow-replace of a
// component whose kind changed) can delete them. A component is a
// top-level resource, named as in the program, with every resource below
// it; which is given its name and the top-level resource's type. It returns the components that had protected resources,
// sorted; the checkpoint is rewritten only then. Call it only while
// holding panka's lease, as RecoverStale.
func (r *Runner) Unprotect(ctx context.Context, which func(component, typ string) bool) ([]string, error) {
	return r.editResources(ctx, "clear the protection of components to delete in the Pulumi state",
		func(m map[string]json.RawMessage, urn, component, topType string) bool {
			if !jsonBool(m, "protect") || !which(component, topType) {
				return false
			}
			delete(m, "protect")
			return true
		})
}

// Protect sets Pulumi's protect flag on the resources holding the data of
// the components which selects in the stack's checkpoint: the custom
// resources named as their component (the local target's manifest, the
// aws target's instance, replication group, queue or bucket), not those a
// replacement left to delete. It undoes an --allow-replace update that
// failed midway, whose re-created resources its program registered
// unprotected, without running the program again. It returns the
// components it protected, sorted; the checkpoint is rewritten only then.
// Call it only while holding panka's lease, as RecoverStale.
func (r *Runner) Protect(ctx context.Context, which func(component string) bool) ([]string, error) {
	return r.editResources(ctx, "protect the data components in the Pulumi state",
		func(m map[string]json.RawMessage, urn, component, _ string) bool {
			if urnName(urn) != component || !jsonBool(m, "custom") || jsonBool(m, "delete") || jsonBool(m, "protect") || !which(component) {
				return false
			}
			m["protect"] = json.RawMessage("true")
			return true
		})
}

// editResources rewrites the resources of the stack's checkpoint with
// edit, which is given each resource below a component (a top-level
// resource, named as in the program: its name and type) and reports
// whether it changed it; what names the step in errors. It returns the
// components with a changed resource, sorted; the checkpoint is imported
// again only then.
func (r *Runner) editResources(ctx context.Context, what string, edit func(m map[string]json.RawMessage, urn, component, topType string) bool) ([]string, error) {
	dep, doc, err := r.exportState(ctx)
	if err != nil || doc == nil {
		return nil, err
	}
	var res []map[string]json.RawMessage
	if raw, ok := doc["resources"]; ok {
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("parse the resources in the Pulumi state of stack %q: %w", r.opts.Stack, err)
		}
	}
	str := func(m map[string]json.RawMessage, k string) string {
		var v string
		_ = json.Unmarshal(m[k], &v)
		return v
	}
	// Parents come before their children in a checkpoint.
	type top struct{ name, typ string }
	component := map[string]top{}
	found := map[string]bool{}
	for _, m := range res {
		urn, typ := str(m, "urn"), str(m, "type")
		c := component[str(m, "parent")]
		if c.name == "" && typ != "pulumi:pulumi:Stack" && !strings.HasPrefix(typ, "pulumi:providers:") {
			c = top{urnName(urn), typ}
		}
		component[urn] = c
		if c.name != "" && edit(m, urn, c.name, c.typ) {
			found[c.name] = true
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	if doc["resources"], err = json.Marshal(res); err != nil {
		return nil, fmt.Errorf("encode Pulumi state of stack %q: %w", r.opts.Stack, err)
	}
	if err := r.importState(ctx, dep, doc, what); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(found))
	for c := range found {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// jsonBool reads a boolean field of a checkpoint resource (false when
// missing or not a boolean).
func jsonBool(m map[string]json.RawMessage, k string) bool {
	var v bool
	_ = json.Unmarshal(m[k], &v)
	return v
}

// countResources counts the resources of a checkpoint's "resources" list
// (nil or missing: none), leaving out the stack's root resource and
// providers, which exist in every stack that was ever updated.
func countResources(raw json.RawMessage) (*int, error) {
	var res []struct {
		Type string `json:"type"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, err
		}
	}
	n := 0
	for _, r := range res {
		if r.Type != "pulumi:pulumi:Stack" && !strings.HasPrefix(r.Type, "pulumi:providers:") {
			n++
		}
	}
	return &n, nil
}

// liveLock returns an error when one of a stack's lock files was written
// by a Pulumi process that still runs on this host: that run is not killed
// but still deploying (or stopping, which waits for the operations in
// flight), and clearing its lock would let two engines write the stack's
// checkpoint, the later one undoing what the other recorded. Locks from
// other hosts cannot be checked.
func liveLock(locks []StaleLock, stack string) error {
	host, _ := os.Hostname()
	for _, l := range locks {
		if host == "" || l.Hostname != host || l.PID == os.Getpid() || !engine.HolderAlive(l.PID, l.Created) {
			continue
		}
		return &engine.PulumiBusyError{Stack: stack, PID: l.PID, Since: l.Created, Lock: l.Path}
	}
	return nil
}

// cli runs the Pulumi CLI in the runner's workspace, with its environment.
func (r *Runner) cli(ctx context.Context, args ...string) (string, error) {
	ws := r.stack.Workspace()
	var env []string
	for k, v := range ws.GetEnvVars() {
		env = append(env, k+"="+v)
	}
	if home := ws.PulumiHome(); home != "" {
		env = append(env, "PULUMI_HOME="+home)
	}
	stdout, stderr, code, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), nil, nil, nil, env, args...)
	if err != nil {
		return "", fmt.Errorf("pulumi %s (exit %d): %s: %w", strings.Join(args, " "), code, strings.TrimSpace(stderr), err)
	}
	return stdout, nil
}

// removeBrokenAttrs removes the unreadable attribute files of a file://
// DIY backend's stacks (.pulumi/stacks/**/*.attrs) and returns their
// paths. The backend (gocloud's fileblob) writes them in place, after the
// checkpoint's temporary file and before renaming it, so a Pulumi killed
// at that moment leaves one empty or cut short; opening the stack then
// fails ("failed to load checkpoint: EOF") before any recovery can run.
// A missing attribute file is read as no attributes, so removing a broken
// one loses nothing. Racing a writer is harmless for the same reason.
func removeBrokenAttrs(dir string) []string {
	var removed []string
	root := filepath.Join(dir, ".pulumi", "stacks")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".attrs") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || json.Valid(b) {
			return nil
		}
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
		return nil
	})
	return removed
}

func fileBackendDir(backendURL string) (string, bool) {
	u, err := url.Parse(backendURL)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	p := u.Path
	if u.Host != "" && u.Host != "localhost" {
		p = u.Host + p
	}
	if strings.HasPrefix(p, "~") {
		return "", false
	}
	return filepath.FromSlash(p), true
}

// listFileLocks reads the lock files of the stack under a file:// DIY
// backend: .pulumi/locks/<org>/<project>/<stack>/*.json for project-scoped
// stacks, .pulumi/locks/<stack>/*.json for legacy ones.
func listFileLocks(dir, project, stack string) ([]StaleLock, error) {
	root := filepath.Join(dir, ".pulumi", "locks")
	var out []StaleLock
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") && !isLockTemp(p) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if !lockOfStack(filepath.ToSlash(rel), project, stack) {
			return nil
		}
		l := StaleLock{Path: p}
		if b, err := os.ReadFile(p); err == nil {
			readLock(&l, b)
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list Pulumi lock files under %s: %w", root, err)
	}
	return out, nil
}

// isLockTemp reports whether p is the temporary file of a lock file that
// the file:// backend (gocloud's fileblob) writes next to it and renames
// into place: "<lock>.json.<hex nanoseconds>.tmp". A Pulumi killed while
// writing it, or a full disk, leaves it behind, empty or cut short, and
// the backend lists it as a lock: every later run of the stack failed
// with "error: unexpected end of JSON input".
func isLockTemp(p string) bool {
	base, ok := strings.CutSuffix(p, ".tmp")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(base, '.')
	if i < 0 || !strings.HasSuffix(base[:i], ".json") || i+1 == len(base) {
		return false
	}
	_, err := strconv.ParseUint(base[i+1:], 16, 64)
	return err == nil
}

// lockOfStack reports whether rel, the path of a DIY lock file below
// .pulumi/locks/, is one of the stack's: <org>/<project>/<stack>/*.json
// for project-scoped stacks, <stack>/*.json for legacy ones.
func lockOfStack(rel, project, stack string) bool {
	stackDir := path.Dir(rel)
	return stackDir == stack || strings.HasSuffix(stackDir, "/"+project+"/"+stack)
}

// readLock fills l from b, the content of a DIY lock file (who wrote it
// and when); unreadable content leaves l as it is.
func readLock(l *StaleLock, b []byte) {
	var c struct {
		PID       int       `json:"pid"`
		Username  string    `json:"username"`
		Hostname  string    `json:"hostname"`
		Timestamp time.Time `json:"timestamp"`
	}
	if json.Unmarshal(b, &c) == nil {
		l.PID, l.Username, l.Hostname, l.Created = c.PID, c.Username, c.Hostname, c.Timestamp
	}
}

// s3Backend is an s3:// DIY backend URL's parts (see engine.S3Backend).
type s3Backend struct {
	bucket, prefix, region, endpoint string
	pathStyle                        bool
}

// s3BackendOf parses an s3:// backend URL (see engine.S3Backend.URL).
func s3BackendOf(backendURL string) (s3Backend, bool) {
	u, err := url.Parse(backendURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return s3Backend{}, false
	}
	q := u.Query()
	ps, _ := strconv.ParseBool(q.Get("use_path_style"))
	return s3Backend{bucket: u.Host, prefix: strings.Trim(u.Path, "/"), region: q.Get("region"), endpoint: q.Get("endpoint"), pathStyle: ps}, true
}

// client returns an S3 client for b with the credentials the Pulumi CLI
// uses: the process environment, with the profile and region of env (the
// runner's Env) when set there.
func (b s3Backend) client(ctx context.Context, env map[string]string) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if p := env["AWS_PROFILE"]; p != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(p))
	}
	region := b.region
	if region == "" {
		region = env["AWS_REGION"]
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for s3://%s: %w", b.bucket, err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if b.endpoint != "" {
			o.BaseEndpoint = aws.String(b.endpoint)
		}
		o.UsePathStyle = b.pathStyle
	}), nil
}

// removeS3Locks removes the lock objects of the stack under the s3:// DIY
// backend b that a Pulumi process of pids on this host wrote, and no
// other; what it removes and what fails go to log.
func removeS3Locks(ctx context.Context, c *s3.Client, b s3Backend, project, stack string, pids []int, log io.Writer) {
	locks, err := listS3Locks(ctx, c, b, project, stack)
	if err != nil {
		fmt.Fprintf(log, "warning: could not look for the Pulumi lock of the interrupted run (the next run clears it): %v\n", err)
		return
	}
	host, _ := os.Hostname()
	for _, l := range locks {
		if host == "" || l.Hostname != host || !slices.Contains(pids, l.PID) {
			continue
		}
		key := strings.TrimPrefix(l.Path, "s3://"+b.bucket+"/")
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)}); err != nil {
			fmt.Fprintf(log, "warning: could not remove the Pulumi lock of the interrupted run (the next run clears it): %v\n", err)
			continue
		}
		fmt.Fprintf(log, "removed %s: the interrupt ended pulumi (pid %d) before it could release its lock\n", l.Path, l.PID)
	}
}

// listS3Locks reads the lock objects of the stack under the s3:// DIY
// backend b, as listFileLocks does for file:// ones; each Path is
// s3://bucket/key.
func listS3Locks(ctx context.Context, c *s3.Client, b s3Backend, project, stack string) ([]StaleLock, error) {
	root := ".pulumi/locks/"
	if b.prefix != "" {
		root = b.prefix + "/" + root
	}
	var out []StaleLock
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(root)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list Pulumi lock objects under s3://%s/%s: %w", b.bucket, root, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.HasSuffix(key, ".json") || !lockOfStack(strings.TrimPrefix(key, root), project, stack) {
				continue
			}
			l := StaleLock{Path: "s3://" + b.bucket + "/" + key}
			if g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)}); err == nil {
				body, rerr := io.ReadAll(io.LimitReader(g.Body, 1<<16))
				g.Body.Close()
				if rerr == nil {
					readLock(&l, body)
				}
			}
			out = append(out, l)
		}
	}
	return out, nil
}
