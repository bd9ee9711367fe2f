package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Test hooks, read from the provider's environment (the engine passes the
// environment of the Pulumi CLI, and panka's runner sets it per run). They
// exist so the end-to-end tests can make the real engine fail or run slowly
// at a chosen component. Only EnvReplace, which shapes the diff, applies
// to previews.
const (
	// EnvFail lists component names (comma-separated) whose Create and
	// Update fail with an error.
	EnvFail = "PANKALOCAL_FAIL_COMPONENT"
	// EnvDelay is a Go duration slept (cancellably) before every Create,
	// Update and Delete.
	EnvDelay = "PANKALOCAL_DELAY"
	// EnvGate is a file path: every Create, Update and Delete waits
	// (cancellably) until that file exists, so a test holds a deployment
	// in flight for exactly as long as it needs.
	EnvGate = "PANKALOCAL_GATE"
	// EnvReplace lists (comma-separated) spec fields whose change the
	// provider treats as a replacement (tests only: a provider rule that
	// panka's planner does not know).
	EnvReplace = "PANKALOCAL_REPLACE_FIELDS"
)

// EnvDirectory is set by panka to the absolute manifest directory of the
// checkout that runs the engine (panka's engine.EnvLocalDirectory). The
// engine state names the folder of the checkout that last wrote each
// manifest; when that manifest is not there (the checkout moved, or
// another clone applies), Read and Delete use the one in this checkout.
const EnvDirectory = "PANKALOCAL_DIRECTORY"

// recordedPath is the manifest path the engine state holds (computed from
// the inputs for states written before Path was recorded).
func (s ComponentState) recordedPath() string {
	if s.Path != "" {
		return s.Path
	}
	return s.args().path()
}

// locate is where the manifest of st is: the same manifest in this
// checkout's directory (EnvDirectory) when that exists, else its recorded
// path. This checkout's comes first: the recorded one may be another
// checkout's (a copy, or another clone sharing the state) that refresh
// must not read and a destroy here must not delete.
func locate(st ComponentState) string {
	path := st.recordedPath()
	dir := os.Getenv(EnvDirectory)
	if dir == "" || !filepath.IsAbs(dir) || dir == st.Directory {
		return path
	}
	here := st.args()
	here.Directory = dir
	if _, err := os.Lstat(here.path()); err == nil {
		return here.path()
	}
	return path
}

// newProvider assembles the provider. One resource type serves every panka
// kind: the manifest has the same shape for all of them and the per-kind
// differences are only the outputs. A type per kind would multiply the
// schema by eight without giving the engine anything it can use, and would
// turn a kind change into a type change (a replace with a new URN).
func newProvider() (p.Provider, error) {
	return infer.NewProviderBuilder().
		WithDisplayName("panka local").
		WithDescription("Realizes panka components as JSON manifest files (panka's local target).").
		WithResources(infer.Resource(&Component{})).
		Build()
}

// Component is the pankalocal:index:Component resource: one manifest file
// <directory>/<stack>/<environment>/<component>.json.
type Component struct{}

// ComponentArgs are the inputs. Spec is the component's resolved spec with
// every ${component.output} reference already replaced by its value; secret
// values inside it arrive as Pulumi secrets holding the keyed hash of the
// secret (never the clear value) and stay secret in the state.
type ComponentArgs struct {
	Directory   string         `pulumi:"directory"`
	Stack       string         `pulumi:"stack"`
	Environment string         `pulumi:"environment"`
	Component   string         `pulumi:"component"`
	Kind        string         `pulumi:"kind"`
	Spec        map[string]any `pulumi:"spec,optional"`
}

// ComponentState is the checkpointed state: the inputs (so Diff and Read can
// compare), the manifest path and the outputs panka references.
type ComponentState struct {
	Directory   string         `pulumi:"directory"`
	Stack       string         `pulumi:"stack"`
	Environment string         `pulumi:"environment"`
	Component   string         `pulumi:"component"`
	Kind        string         `pulumi:"kind"`
	Spec        map[string]any `pulumi:"spec,optional"`
	Path        string         `pulumi:"path"`
	Outputs     map[string]any `pulumi:"outputs"`
}

// Manifest is the file written for a component (SPEC §7).
type Manifest struct {
	Stack       string         `json:"stack"`
	Environment string         `json:"environment"`
	Component   string         `json:"component"`
	Kind        string         `json:"kind"`
	Spec        map[string]any `json:"spec"`
}

// Annotate documents the resource in the schema.
func (c *Component) Annotate(a infer.Annotator) {
	a.Describe(&c, "A panka component realized as the JSON manifest <directory>/<stack>/<environment>/<component>.json.")
}

// Annotate documents the inputs.
func (a *ComponentArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Directory, "Absolute directory that holds the manifests.")
	an.Describe(&a.Spec, "The resolved spec, references replaced by their values.")
}

// WireDependencies declares that path and outputs depend only on the
// component's identity, so they are known during previews and dependent
// components see real reference values in a preview.
func (c *Component) WireDependencies(f infer.FieldSelector, args *ComponentArgs, state *ComponentState) {
	f.OutputField(&state.Outputs).AlwaysKnown()
	f.OutputField(&state.Path).AlwaysKnown()
}

func (a ComponentArgs) validate() error {
	for _, f := range []struct{ name, v string }{
		{"directory", a.Directory}, {"stack", a.Stack}, {"environment", a.Environment},
		{"component", a.Component}, {"kind", a.Kind},
	} {
		if f.v == "" {
			return fmt.Errorf("pankalocal: input %q is empty", f.name)
		}
		if f.name != "directory" && (strings.ContainsAny(f.v, `/\`) || f.v == "." || f.v == "..") {
			return fmt.Errorf("pankalocal: input %q (%q) must be a single path element", f.name, f.v)
		}
	}
	if !filepath.IsAbs(a.Directory) {
		return fmt.Errorf("pankalocal: directory %q must be absolute", a.Directory)
	}
	return nil
}

func (a ComponentArgs) path() string {
	return filepath.Join(a.Directory, a.Stack, a.Environment, a.Component+".json")
}

func (a ComponentArgs) id() string { return a.Stack + "/" + a.Environment + "/" + a.Component }

func (a ComponentArgs) state() ComponentState {
	return ComponentState{
		Directory: a.Directory, Stack: a.Stack, Environment: a.Environment,
		Component: a.Component, Kind: a.Kind, Spec: a.Spec,
		Path: a.path(), Outputs: outputs(a),
	}
}

func (s ComponentState) args() ComponentArgs {
	return ComponentArgs{
		Directory: s.Directory, Stack: s.Stack, Environment: s.Environment,
		Component: s.Component, Kind: s.Kind, Spec: s.Spec,
	}
}

// outputs are the synthetic equivalents of the aws target's outputs, one
// per name in stacks.Kind.Outputs(). planner.localOutput mirrors them (a
// plan tells from it whether a reader of a re-created component changes):
// keep the two in step.
func outputs(a ComponentArgs) map[string]any {
	host := a.Component + "." + a.Environment + "." + a.Stack + ".local"
	name := a.Stack + "-" + a.Environment + "-" + a.Component
	local := "local://" + a.Stack + "/" + a.Environment + "/" + a.Component
	switch a.Kind {
	case "MicroService":
		return map[string]any{"url": "http://" + host, "serviceName": name}
	case "Worker":
		return map[string]any{"serviceName": name}
	case "CronJob":
		return map[string]any{"ruleName": name}
	case "Database":
		port := databasePort(a.Spec)
		return map[string]any{
			"endpoint":  fmt.Sprintf("%s:%d", host, port),
			"address":   host,
			"port":      port,
			"secretArn": local + "/secret",
		}
	case "Cache":
		return map[string]any{"endpoint": host + ":6379", "port": 6379}
	case "Queue":
		qname := name
		if fifo, _ := a.Spec["fifo"].(bool); fifo {
			qname += ".fifo"
		}
		return map[string]any{
			"url":  local,
			"arn":  "arn:local:sqs:local:000000000000:" + qname,
			"name": qname,
		}
	case "Bucket":
		return map[string]any{"name": name, "arn": "arn:local:s3:::" + name}
	case "Topic":
		return map[string]any{"arn": "arn:local:sns:local:000000000000:" + name}
	}
	return map[string]any{}
}

func databasePort(spec map[string]any) int {
	engine, _ := spec["engine"].(string)
	if strings.Contains(engine, "mysql") || strings.Contains(engine, "mariadb") {
		return 3306
	}
	return 5432
}

// Create writes the manifest (not in previews).
func (c *Component) Create(ctx context.Context, req infer.CreateRequest[ComponentArgs]) (infer.CreateResponse[ComponentState], error) {
	a := req.Inputs
	if err := a.validate(); err != nil {
		return infer.CreateResponse[ComponentState]{}, err
	}
	if !req.DryRun {
		if err := apply(ctx, a); err != nil {
			return infer.CreateResponse[ComponentState]{}, err
		}
	}
	return infer.CreateResponse[ComponentState]{ID: a.id(), Output: a.state()}, nil
}

// Update rewrites the manifest (not in previews). A new directory (the
// checkout moved, or spec.provider.directory changed) moves the manifest:
// it is written at the new path, then the old one is removed - unless this
// checkout already had its own manifest there (a copy of the checkout, or
// another clone sharing the state: the old file is that checkout's). The
// component stays the same resource, so a moved checkout is not a
// replacement of its Databases and Queues.
func (c *Component) Update(ctx context.Context, req infer.UpdateRequest[ComponentArgs, ComponentState]) (infer.UpdateResponse[ComponentState], error) {
	a := req.Inputs
	if err := a.validate(); err != nil {
		return infer.UpdateResponse[ComponentState]{}, err
	}
	if !req.DryRun {
		_, err := os.Lstat(a.path())
		own := err == nil
		if err := apply(ctx, a); err != nil {
			return infer.UpdateResponse[ComponentState]{}, err
		}
		old := req.State.recordedPath()
		if !own && old != a.path() && !sameFile(old, a.path()) {
			if err := removeManifest(old); err != nil {
				return infer.UpdateResponse[ComponentState]{}, err
			}
		}
	}
	return infer.UpdateResponse[ComponentState]{Output: a.state()}, nil
}

// sameFile reports whether paths a and b name one file: the same checkout
// reached through a symbolic link (a CI workspace linked into place, macOS's
// /tmp and /private/tmp) spells its directory differently, and removing
// the "old" path would remove the manifest just written.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// removeManifest removes a manifest and its environment and stack folders
// once they are empty. A manifest already gone is not an error.
func removeManifest(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pankalocal: delete manifest %s: %w", path, err)
	}
	envDir := filepath.Dir(path)
	sweepTemps(envDir, time.Now())
	if os.Remove(envDir) == nil {
		_ = os.Remove(filepath.Dir(envDir))
	}
	return nil
}

// Delete removes the manifest and the environment and stack folders once
// they are empty. A manifest already gone is not an error.
func (c *Component) Delete(ctx context.Context, req infer.DeleteRequest[ComponentState]) (infer.DeleteResponse, error) {
	if err := hooks(ctx, req.State.Component, false); err != nil {
		return infer.DeleteResponse{}, err
	}
	return infer.DeleteResponse{}, removeManifest(locate(req.State))
}

// Read re-reads the manifest so `pulumi refresh` sees manual edits (the spec
// read from the file becomes the state and the inputs, so the next up
// restores the desired spec) and deletions (an empty ID drops the resource).
func (c *Component) Read(ctx context.Context, req infer.ReadRequest[ComponentArgs, ComponentState]) (infer.ReadResponse[ComponentArgs, ComponentState], error) {
	st := req.State
	recorded := st.recordedPath()
	path := locate(st)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return infer.ReadResponse[ComponentArgs, ComponentState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[ComponentArgs, ComponentState]{}, fmt.Errorf("pankalocal: read manifest %s: %w", path, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		// Not ours any more: keep the content visible as drift so an up
		// rewrites the file.
		m = Manifest{Stack: st.Stack, Environment: st.Environment, Component: st.Component, Kind: st.Kind,
			Spec: map[string]any{"pankalocal:unparseable": string(raw)}}
	}
	st.Spec = m.Spec
	if m.Kind != "" {
		st.Kind = m.Kind
	}
	// The outputs and ID are those of the component the engine knows: a
	// manifest edited to name another stack, environment or component does
	// not rename the resource (its URN holds the name); it is drift, a
	// manifest to rewrite.
	st.Outputs = outputs(st.args())
	id := req.ID
	if id == "" {
		id = st.args().id()
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&st.Stack, m.Stack}, {&st.Environment, m.Environment}, {&st.Component, m.Component}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	// The recorded location stays: a manifest found in this checkout is
	// not drift (the next update moves the record here).
	st.Path = recorded
	return infer.ReadResponse[ComponentArgs, ComponentState]{ID: id, Inputs: st.args(), State: st}, nil
}

// Diff compares the inputs with the checkpointed state. A change of the
// manifest's identity (stack, environment, component) that moves it is a
// replace (create the new file, then delete the old one: the paths
// differ, so the order is safe); one read from a manifest edited in place
// (its path, where the engine recorded it, stays) is an update that
// rewrites it, as is anything else, a new directory included - unless the
// manifest moved there with its checkout (movedWithCheckout).
// A kind change replaces (deleting first: the path stays): on aws another
// kind is other resources, the old deleted and the new created, and the
// plan says replace; the local target stands in for aws, so its engine
// re-creates the component too (and, with it, its readers whose kind has
// replacement-forcing fields), as the plan says.
// Spec fields named in PANKALOCAL_REPLACE_FIELDS also replace: tests use it
// to stand for a provider rule panka's planner does not know.
func (c *Component) Diff(ctx context.Context, req infer.DiffRequest[ComponentArgs, ComponentState]) (infer.DiffResponse, error) {
	old, news := req.State, req.Inputs
	samePath := old.recordedPath() == news.path()
	d := map[string]p.PropertyDiff{}
	newDir := news.Directory
	if newDir != old.Directory && movedWithCheckout(old, news) {
		newDir = old.Directory
	}
	for _, f := range []struct {
		name     string
		old, new string
		replace  bool
	}{
		{"directory", old.Directory, newDir, false},
		{"stack", old.Stack, news.Stack, !samePath},
		{"environment", old.Environment, news.Environment, !samePath},
		{"component", old.Component, news.Component, !samePath},
		{"kind", old.Kind, news.Kind, true},
	} {
		if f.old == f.new {
			continue
		}
		kind := p.Update
		if f.replace {
			kind = p.UpdateReplace
		}
		d[f.name] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}
	keys := map[string]bool{}
	for k := range old.Spec {
		keys[k] = true
	}
	for k := range news.Spec {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		ov, inOld := old.Spec[k]
		nv, inNew := news.Spec[k]
		switch {
		case !inOld:
			d["spec."+k] = p.PropertyDiff{Kind: p.Add, InputDiff: true}
		case !inNew:
			d["spec."+k] = p.PropertyDiff{Kind: p.Delete, InputDiff: true}
		case !reflect.DeepEqual(normalize(ov), normalize(nv)):
			kind := p.Update
			if slices.Contains(strings.Split(os.Getenv(EnvReplace), ","), k) {
				kind = p.UpdateReplace
			}
			d["spec."+k] = p.PropertyDiff{Kind: kind, InputDiff: true}
		}
	}
	// A replacement at the same path must delete first: the default
	// create-then-delete would remove the new manifest.
	replaces := false
	for _, pd := range d {
		replaces = replaces || pd.Kind == p.UpdateReplace
	}
	return infer.DiffResponse{HasChanges: len(d) > 0, DetailedDiff: d, DeleteBeforeReplace: replaces && samePath}, nil
}

// movedWithCheckout reports a manifest that is already at the path the new
// inputs give: the repository was moved or renamed with its .panka/local
// (the folder the engine state names is gone), or copied (cp -r: the copy
// has its own manifests, and its own local state, naming the original's
// folder). There is nothing to move, so a new directory is no change there
// (Read and Delete use the manifest in this checkout, see locate; the next
// update of the component records the new path and leaves the other
// checkout's file alone): panka's plan, which keeps the directory as
// written in stack.yaml, shows none either. A directory changed in
// stack.yaml, or another clone with no manifests applying with the same
// state, still moves the manifest there.
func movedWithCheckout(old ComponentState, news ComponentArgs) bool {
	_, err := os.Lstat(news.path())
	return err == nil
}

// normalize maps numbers to float64 so values read back from a manifest
// compare equal to values decoded from the engine.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// apply runs the test hooks and writes the manifest.
func apply(ctx context.Context, a ComponentArgs) error {
	if err := hooks(ctx, a.Component, true); err != nil {
		return err
	}
	spec := a.Spec
	if spec == nil {
		spec = map[string]any{}
	}
	b, err := json.MarshalIndent(Manifest{
		Stack: a.Stack, Environment: a.Environment, Component: a.Component, Kind: a.Kind, Spec: spec,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("pankalocal: encode manifest of %s: %w", a.id(), err)
	}
	return writeAtomic(a.path(), append(b, '\n'))
}

func hooks(ctx context.Context, component string, canFail bool) error {
	if d := os.Getenv(EnvDelay); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return fmt.Errorf("pankalocal: %s=%q: %w", EnvDelay, d, err)
		}
		t := time.NewTimer(dur)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if gate := os.Getenv(EnvGate); gate != "" {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(gate); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
	if !canFail {
		return nil
	}
	for _, name := range strings.Split(os.Getenv(EnvFail), ",") {
		if strings.TrimSpace(name) == component && component != "" {
			return fmt.Errorf("pankalocal: injected failure for component %q (%s)", component, EnvFail)
		}
	}
	return nil
}

// tempPattern names writeAtomic's temporary files (os.CreateTemp's "*").
const tempPattern = ".manifest-*.tmp"

// staleTemp is the age after which a temporary manifest is a killed
// writer's: a write lasts milliseconds.
const staleTemp = time.Minute

// sweepTemps removes from dir the temporary manifests older than staleTemp:
// a provider killed (SIGKILL, OOM, power) between creating one and renaming
// it left it there, and each such kill added one for good (a destroy then
// kept the environment folder too). Failures are ignored: housekeeping.
func sweepTemps(dir string, now time.Time) {
	names, err := filepath.Glob(filepath.Join(dir, tempPattern))
	if err != nil {
		return
	}
	for _, n := range names {
		if info, err := os.Lstat(n); err == nil && info.Mode().IsRegular() && now.Sub(info.ModTime()) > staleTemp {
			_ = os.Remove(n)
		}
	}
}

// writeAtomic writes data to path through a temporary file in the same
// folder and a rename, so readers never see a partial manifest.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	sweepTemps(dir, time.Now())
	var f *os.File
	var err error
	// Two attempts: a concurrent Delete may remove the (empty) folder
	// between MkdirAll and CreateTemp.
	for range 2 {
		if err = os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("pankalocal: create %s: %w", dir, err)
		}
		if f, err = os.CreateTemp(dir, tempPattern); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("pankalocal: write manifest %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pankalocal: write manifest %s: %w", path, werr)
	}
	return nil
}
