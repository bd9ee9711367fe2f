// Package local is panka's `local` target: every component becomes one
// pankalocal:index:Component resource, realized by the
// pulumi-resource-pankalocal provider (deployer/pankalocal, its own Go
// module) as the manifest <directory>/<stack>/<env>/<component>.json.
//
// It owns the mapping of a resolved model to those resources: dependency
// order, ${component.output} references wired as Pulumi outputs (anywhere in
// the spec, whole or embedded in larger strings), secrets as Pulumi secrets
// holding their keyed hash (the manifest never holds a clear secret),
// and the stack outputs. It does not run Pulumi (deployer/pulumirun does)
// and does not import the provider module: the two agree on the type token
// and property names below, and the end-to-end tests prove it.
package local

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target"
	"panka.dev/panka/deployer/target/aws/replace"
	"panka.dev/panka/stacks"
)

// Name is the provider name selecting this target (spec.provider.name).
const Name = "local"

// Token is the resource type the provider serves.
const Token = "pankalocal:index:Component"

// PluginBinary is the provider binary the engine must find on PATH.
const PluginBinary = "pulumi-resource-pankalocal"

// DefaultDirectory is where manifests go when spec.provider.directory is
// not set, relative to the repository root.
const DefaultDirectory = ".panka/local"

// Target implements target.Target for provider.name "local".
type Target struct{}

var _ target.Target = Target{}

// New returns the local target.
func New() Target { return Target{} }

// Name returns "local".
func (Target) Name() string { return Name }

// Directory is the absolute manifest directory of r: Provider.Directory (or
// DefaultDirectory) resolved against repoRoot.
func Directory(r *stacks.Resolved, repoRoot string) (string, error) {
	dir := r.Provider.Directory
	if dir == "" {
		dir = DefaultDirectory
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot, dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("local target: directory %q: %w", dir, err)
	}
	return abs, nil
}

// replaceOnChanges lists the spec fields whose change replaces a
// component: the aws mapping's (deployer/target/aws/replace), so that the
// local target, which the quickstart and the end-to-end tests deploy,
// replaces what AWS would (a Database's engine: a new, empty database) and
// panka's data protection refuses it as it would there. The aws rules
// that depend on the values (a Cache version downgrade, a load-balanced
// MicroService's port: its target group) are not among them: a field
// list cannot say them, and the planner leaves them out for this target
// too. A replacement
// rewrites the manifest at the same path, so it deletes first
// (DeleteBeforeReplace): create-then-delete would remove the new file.
func replaceOnChanges(k stacks.Kind) []string {
	fields := replace.ReplaceFields(k)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = "spec." + f
	}
	return out
}

// ManifestPath is the file the provider writes for a component.
func ManifestPath(dir, stack, env, component string) string {
	return filepath.Join(dir, stack, env, component+".json")
}

// component is the SDK view of a pankalocal:index:Component.
type component struct {
	pulumi.CustomResourceState
	Path    pulumi.StringOutput `pulumi:"path"`
	Outputs pulumi.MapOutput    `pulumi:"outputs"`
}

// Register declares one resource per component, in dependency order, and
// exports every component output as "<component>.<output>". opts.Only does
// not filter here: callers pass the model to converge (deployed specs for
// the components they do not target), since a resource left out of the
// program would be deleted.
func (Target) Register(ctx *pulumi.Context, r *stacks.Resolved, opts target.Options) error {
	dir, err := Directory(r, opts.RepoRoot)
	if err != nil {
		return err
	}
	order, err := Order(r)
	if err != nil {
		return err
	}
	done := map[string]*component{}
	for _, c := range order {
		spec, err := resolveValue("spec", c.Spec, func(ref reference) (pulumi.Output, error) {
			dep, ok := done[ref.component]
			if !ok {
				return nil, fmt.Errorf("reference ${%s.%s}: there is no component %q", ref.component, ref.output, ref.component)
			}
			if !hasOutput(r.Component(ref.component).Kind, ref.output) {
				return nil, fmt.Errorf("reference ${%s.%s}: a %s has no output %q (it has %s)",
					ref.component, ref.output, r.Component(ref.component).Kind, ref.output,
					strings.Join(r.Component(ref.component).Kind.Outputs(), ", "))
			}
			return dep.Outputs.MapIndex(pulumi.String(ref.output)), nil
		})
		if err != nil {
			return fmt.Errorf("local target: component %q of %s/%s: %w", c.Name, r.Stack, r.Environment, err)
		}
		if spec == nil {
			spec = pulumi.Map{}
		}
		var deps []pulumi.Resource
		for _, d := range c.DependsOn {
			dep, ok := done[d]
			if !ok {
				return fmt.Errorf("component %q depends on %q, which is not in stack %s/%s", c.Name, d, r.Stack, r.Environment)
			}
			deps = append(deps, dep)
		}
		res := &component{}
		err = ctx.RegisterResource(Token, c.Name, pulumi.Map{
			"directory":   pulumi.String(dir),
			"stack":       pulumi.String(r.Stack),
			"environment": pulumi.String(r.Environment),
			"component":   pulumi.String(c.Name),
			"kind":        pulumi.String(string(c.Kind)),
			"spec":        spec,
		}, res, pulumi.DependsOn(deps), pulumi.Protect(opts.Protect && c.Kind.HoldsData()),
			pulumi.ReplaceOnChanges(replaceOnChanges(c.Kind)), pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return fmt.Errorf("register component %q: %w", c.Name, err)
		}
		done[c.Name] = res
		for _, o := range c.Kind.Outputs() {
			ctx.Export(target.OutputName(c.Name, o), res.Outputs.MapIndex(pulumi.String(o)))
		}
	}
	return nil
}

func hasOutput(k stacks.Kind, name string) bool {
	for _, o := range k.Outputs() {
		if o == name {
			return true
		}
	}
	return false
}

// Order returns the components of r so that each comes after everything it
// depends on (ties broken by name, so the order is deterministic). A cycle
// is an error naming its members.
func Order(r *stacks.Resolved) ([]*stacks.Component, error) {
	byName := map[string]*stacks.Component{}
	names := make([]string, 0, len(r.Components))
	for i := range r.Components {
		c := &r.Components[i]
		byName[c.Name] = c
		names = append(names, c.Name)
	}
	sort.Strings(names)
	deps := map[string][]string{}
	for _, n := range names {
		c := byName[n]
		seen := map[string]bool{}
		add := func(d string) {
			if d != n && !seen[d] {
				seen[d] = true
				deps[n] = append(deps[n], d)
			}
		}
		for _, d := range c.DependsOn {
			add(d)
		}
		for _, ref := range references(c.Spec) {
			add(ref.component)
		}
		for _, d := range deps[n] {
			if byName[d] == nil {
				return nil, fmt.Errorf("component %q depends on %q, which is not in stack %s/%s", n, d, r.Stack, r.Environment)
			}
		}
	}
	var out []*stacks.Component
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("components depend on each other in a cycle: %s", strings.Join(append(path, n), " -> "))
		}
		state[n] = 1
		ds := append([]string(nil), deps[n]...)
		sort.Strings(ds)
		for _, d := range ds {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reference is one ${component.output} in a spec string.
type reference struct {
	component, output string
	start, end        int // byte offsets in the string
}

// reservedScopes are ${scope.name} forms that are not component references.
var reservedScopes = map[string]bool{"var": true, "env": true, "secret": true, "ssm": true, "secretsmanager": true}

func findRefs(s string) []reference {
	var out []reference
	for _, r := range stacks.FindRefs(s) {
		if reservedScopes[r.Component] {
			continue
		}
		out = append(out, reference{component: r.Component, output: r.Output, start: r.Start, end: r.End})
	}
	return out
}

// references lists every component reference anywhere in v.
func references(v any) []reference {
	var out []reference
	switch x := v.(type) {
	case string:
		out = append(out, findRefs(x)...)
	case map[string]any:
		for _, e := range x {
			out = append(out, references(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, references(e)...)
		}
	}
	return out
}

// manifestSecret is what the manifest holds for a secret: its keyed hash
// (SPEC §3: a secret is never written in clear outside Pulumi's encrypted
// state; a manifest stands for a deployed configuration, and the hash
// still changes when the secret does). It stays a Pulumi secret.
func manifestSecret(path string, x stacks.Sensitive) pulumi.Input {
	h := x.Hash
	if h == "" {
		h = stacks.HashSensitive(nil, path, x.Clear).Hash
	}
	return pulumi.ToSecret(pulumi.String(h))
}

// resolveValue converts a spec value to a Pulumi input, replacing
// references by the referenced outputs: a string that is exactly one
// reference takes the output's value (and type); references inside a
// larger string are formatted into it. Sensitive values become secrets
// (of their keyed hash).
func resolveValue(path string, v any, lookup func(reference) (pulumi.Output, error)) (pulumi.Input, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case stacks.Sensitive:
		return manifestSecret(path, x), nil
	case *stacks.Sensitive:
		return manifestSecret(path, *x), nil
	case string:
		if stacks.IsSensitive(x) {
			// A model read back from state or a plan keeps only the
			// keyed hash of a secret: deploying it would write the hash.
			return nil, fmt.Errorf("%s: the secret is only known by its hash here (a model read back from state or a plan): resolve the stack from the repository, with its secrets, to deploy it", path)
		}
		refs := findRefs(x)
		if len(refs) == 0 {
			return pulumi.String(stacks.Unescape(x)), nil
		}
		outs := make([]any, len(refs))
		for i, ref := range refs {
			o, err := lookup(ref)
			if err != nil {
				return nil, err
			}
			outs[i] = o
		}
		if len(refs) == 1 && refs[0].start == 0 && refs[0].end == len(x) {
			return outs[0].(pulumi.Output), nil
		}
		return pulumi.All(outs...).ApplyT(func(vals []any) string {
			// A reference of a reserved scope stays as the text it is
			// (findRefs leaves it out of refs and vals).
			i := 0
			s, _ := stacks.Interpolate(x, func(r stacks.RefSpan) (string, bool) {
				if reservedScopes[r.Component] {
					return x[r.Start:r.End], true
				}
				i++
				return fmt.Sprint(vals[i-1]), true
			})
			return s
		}).(pulumi.StringOutput), nil
	case map[string]any:
		m := pulumi.Map{}
		for k, e := range x {
			in, err := resolveValue(path+"."+k, e, lookup)
			if err != nil {
				return nil, err
			}
			if in == nil {
				continue
			}
			m[k] = in
		}
		return m, nil
	case []any:
		a := make(pulumi.Array, 0, len(x))
		for i, e := range x {
			in, err := resolveValue(fmt.Sprintf("%s[%d]", path, i), e, lookup)
			if err != nil {
				return nil, err
			}
			if in == nil {
				in = pulumi.Any(nil)
			}
			a = append(a, in)
		}
		return a, nil
	case bool:
		return pulumi.Bool(x), nil
	case int:
		return pulumi.Float64(float64(x)), nil
	case int64:
		return pulumi.Float64(float64(x)), nil
	case float64:
		return pulumi.Float64(x), nil
	}
	return pulumi.Any(v), nil
}
