package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"panka.dev/panka/stacks"
)

func init() { register(newCmdShow) }

// ShowOptions are the inputs of `panka show`.
type ShowOptions struct {
	F           *Factory
	Stack       string
	Environment string
	Component   string
	VarFlags    varFlags
}

func newCmdShow(f *Factory) *cobra.Command {
	opts := &ShowOptions{F: f}
	cmd := &cobra.Command{
		Use:   "show --stack S --environment E [--component C]",
		Short: "Print the resolved model of a stack in an environment (YAML, or -o json)",
		Long: `show prints what plan and apply work from: the stack with the environment's
overlay merged, variables substituted, defaults filled in and references to
other components' outputs kept symbolic. Secret values print as (sensitive).
Required variables must have values (--var, --var-file, PANKA_VAR_<NAME>).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.Stack == "" || opts.Environment == "" {
				return Usagef("--stack and --environment are required")
			}
			return showRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Stack, "stack", "s", "", "stack (metadata.name)")
	cmd.Flags().StringVarP(&opts.Environment, "environment", "e", "", "environment")
	cmd.Flags().StringVarP(&opts.Component, "component", "c", "", "only this component")
	opts.VarFlags.register(cmd)
	return cmd
}

func showRun(opts *ShowOptions) error {
	f := opts.F
	vars, err := opts.VarFlags.values(f)
	if err != nil {
		return err
	}
	repo, err := openStackRepo(f)
	if err != nil {
		return err
	}
	res, err := loadResolved(f, repo, opts.Stack, opts.Environment, stacks.ResolveOptions{Vars: vars})
	if err != nil {
		return err
	}
	var v any = res
	if opts.Component != "" {
		c := res.Component(opts.Component)
		if c == nil {
			names := make([]string, len(res.Components))
			for i, c := range res.Components {
				names[i] = c.Name
			}
			return fmt.Errorf("stack %q has no component %q (components: %s)", opts.Stack, opts.Component, strings.Join(names, ", "))
		}
		v = c
	}
	out, err := masked(v)
	if err != nil {
		return err
	}
	if f.JSON() {
		return f.PrintJSON(out)
	}
	enc := yaml.NewEncoder(f.IO.Out)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return err
	}
	return enc.Close()
}

// loadResolved finds, loads and resolves one stack/environment, checking
// the configuration with the stack's backend settings on the way.
func loadResolved(f *Factory, repo *stackRepo, stack, env string, ro stacks.ResolveOptions) (*stacks.Resolved, error) {
	refs, err := stacks.Discover(repo.fsys, repo.stacksRoot)
	ref, ferr := findStack(refs, stack, repo.stacksRoot)
	if ferr != nil {
		if err != nil {
			return nil, err
		}
		return nil, ferr
	}
	s, err := stacks.Load(repo.fsys, ref.Path)
	if err != nil {
		return nil, withHint(err, "run `panka validate --stack "+stack+"` to list every problem")
	}
	if _, err := f.ConfigForStack(s.Header().Backend, s.File()); err != nil {
		return nil, err
	}
	if !slices.Contains(s.Environments(), env) {
		return nil, fmt.Errorf("stack %q has no environment %q (environments: %s); an environment exists iff %s/%s/%s.yaml exists",
			stack, env, strings.Join(s.Environments(), ", "), ref.Path, stacks.EnvironmentsDir, env)
	}
	res, err := s.Resolve(env, ro)
	if err != nil {
		return nil, fmt.Errorf("resolve stack %q in %s:\n%w", stack, env, err)
	}
	return res, nil
}

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() + "\n" + h.hint }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return &hinted{err, hint} }

// masked turns v into plain data with every sensitive value replaced by
// "(sensitive)".
func masked(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return maskValue(out), nil
}

func maskValue(v any) any {
	switch x := v.(type) {
	case string:
		if stacks.IsSensitive(x) {
			return "(sensitive)"
		}
	case map[string]any:
		for k, e := range x {
			x[k] = maskValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = maskValue(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}
