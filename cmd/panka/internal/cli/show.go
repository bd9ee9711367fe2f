package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
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
other components' outputs kept symbolic. Secret values and secret references
(spec.secrets, {secret: <ref>}) print as (sensitive).
Required variables must have values (--var, --var-file, PANKA_VAR_<NAME>).`,
		// The text is YAML: -o yaml, which the description invites, is
		// the same (it was refused as an unknown format).
		Annotations: map[string]string{annotationOutputs: "yaml"},
		Args:        cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			// Nothing is deployed: a ${NAME:?message} for a deploy
			// secret is checked by the commands that deploy.
			opts.F.notRequired = true
			return showRun(c.Context(), opts)
		},
	}
	stackEnvFlags(cmd.Flags(), &opts.Stack, &opts.Environment)
	markRequired(cmd, "", "stack", "environment")
	cmd.Flags().StringVarP(&opts.Component, "component", "c", "", "only this component")
	opts.VarFlags.register(cmd)
	return cmd
}

func showRun(ctx context.Context, opts *ShowOptions) error {
	f := opts.F
	vars, err := opts.VarFlags.values(ctx, f)
	if err != nil {
		return err
	}
	repo, err := openStackRepo(f)
	if err != nil {
		return err
	}
	defer repo.close()
	res, err := loadResolved(ctx, f, repo, opts.Stack, opts.Environment, stacks.ResolveOptions{Vars: vars})
	if err != nil {
		return err
	}
	warnUndeclared(f, vars, [][]stacks.ResolvedVar{res.Variables})
	var v any = res
	if opts.Component != "" {
		c := res.Component(opts.Component)
		if c == nil {
			names := make([]string, len(res.Components))
			for i, c := range res.Components {
				names[i] = c.Name
			}
			return fmt.Errorf("stack %q has no component %q (components: %s%s)", opts.Stack, opts.Component, strings.Join(names, ", "), withSemi(didYouMean(opts.Component, names)))
		}
		v = c
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// JSON is YAML: parsing it into a node keeps the field order of the
	// model for both renderings.
	var doc yaml.Node
	if err := yaml.Unmarshal(yamlSafeJSON(b), &doc); err != nil {
		return err
	}
	maskNode(&doc, "", false)
	if f.JSON() {
		return printOrderedJSON(f, &doc)
	}
	// Written into a buffer: the yaml encoder flattens a write error into
	// text, and Run must see a closed stdout (`panka show | head`) as one.
	var buf bytes.Buffer
	if err := writeYAMLNode(&buf, &doc); err != nil {
		if !errors.Is(err, errYAMLShape) {
			return err
		}
		buf.Reset()
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
	}
	_, err = f.IO.Out.Write(buf.Bytes())
	return err
}

// yamlSafeJSON escapes, in the JSON text b, the characters encoding/json
// writes raw inside strings that YAML cannot read back as themselves: DEL,
// the C1 controls and U+FFFE/U+FFFF, which yaml.v3 refuses ("control
// characters are not allowed": show failed on a value that validate
// takes, such as "\u009b" or "\x7f"), and NEL (U+0085), which YAML reads
// as a line break. YAML's \uXXXX escape means the same character.
func yamlSafeJSON(b []byte) []byte {
	unsafe := func(r rune) bool { return r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfffe || r == 0xffff }
	if !bytes.ContainsFunc(b, unsafe) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for _, r := range string(b) {
		if unsafe(r) {
			out = fmt.Appendf(out, "\\u%04x", r)
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// maskNode replaces sensitive values with "(sensitive)" and switches the
// node tree to block style; key is the mapping key n is the value of. Every
// value of a component's spec.secrets is masked (all): SSM / Secrets
// Manager references are never printed (SPEC §3).
func maskNode(n *yaml.Node, key string, all bool) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && (all || stacks.IsSensitive(n.Value)) {
		n.Value = "(sensitive)"
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && yaml11Special(n.Value) {
		// yaml.v3 writes a node's "no" plain (a string in YAML 1.2), and
		// a YAML 1.1 reader of show's output (PyYAML, yaml.v2, Ruby)
		// read false; "=" made PyYAML fail. Quoted, as yaml.v3 quotes
		// such a Go string.
		n.Style = yaml.DoubleQuotedStyle
	}
	for i, c := range n.Content {
		switch {
		case n.Kind != yaml.MappingNode:
			maskNode(c, "", all)
		case i%2 == 0:
			maskNode(c, "", false) // a key
		default:
			k := n.Content[i-1].Value
			maskNode(c, k, all || key == "spec" && k == "secrets")
		}
	}
}

// yaml11Special reports a string YAML 1.1 reads as something else when
// written plain: a boolean (yes, Off, y, ...), a base-60 number (1:20),
// the value key "=" or the merge key "<<".
func yaml11Special(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "=", "<<":
		return true
	}
	return base60.MatchString(s)
}

// base60 is YAML 1.1's sexagesimal number (190:20:30, 1:20.5).
var base60 = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// printOrderedJSON writes a node tree as indented JSON, keys in node order.
func printOrderedJSON(f *Factory, doc *yaml.Node) error {
	var buf bytes.Buffer
	writeJSONNode(&buf, doc, "")
	buf.WriteByte('\n')
	_, err := f.IO.Out.Write(buf.Bytes())
	return err
}

func writeJSONNode(buf *bytes.Buffer, n *yaml.Node, indent string) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			writeJSONNode(buf, n.Content[0], indent)
		}
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			buf.WriteString("{}")
			return
		}
		buf.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			buf.WriteString(indent + "  ")
			writeJSONString(buf, n.Content[i].Value)
			buf.WriteString(": ")
			writeJSONNode(buf, n.Content[i+1], indent+"  ")
			if i+2 < len(n.Content) {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "}")
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			buf.WriteString("[]")
			return
		}
		buf.WriteString("[\n")
		for i, c := range n.Content {
			buf.WriteString(indent + "  ")
			writeJSONNode(buf, c, indent+"  ")
			if i+1 < len(n.Content) {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "]")
	default:
		switch n.Tag {
		case "!!str":
			writeJSONString(buf, n.Value)
		default: // numbers, booleans and null as written by encoding/json
			buf.WriteString(n.Value)
		}
	}
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

// loadResolved finds, loads and resolves one stack/environment, checking
// the configuration with the stack's backend settings on the way.
func loadResolved(ctx context.Context, f *Factory, repo *stackRepo, stack, env string, ro stacks.ResolveOptions) (*stacks.Resolved, error) {
	// The stacks are discovered (every stack.yaml read) unless the
	// record of the names says where this one is, and no --var needs
	// every stack's secret declarations (disc.SecretVars below).
	var disc *stacks.Discovery
	ref, ok := stacks.Ref{}, false
	if ro.SecretVars != nil || len(givenNames(ro.Vars)) == 0 {
		ref, ok = quickStack(f, repo.dir, repo.gitDir, repo.stacksRoot, stack)
	}
	if !ok {
		var err, ferr error
		disc, err = stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
		saveStackNames(f, repo, disc, err)
		ref, ferr = findStack(disc, stack, repo.stacksRoot)
		if ferr != nil {
			if rerr := repo.configuredRootMissing(); rerr != nil {
				return nil, rerr
			}
			if err != nil && disc.Duplicates[stack] == nil {
				return nil, err
			}
			if len(disc.Refs) == 0 {
				if werr := repo.whyNoStacks(f); werr != nil {
					return nil, werr
				}
			}
			return nil, ferr
		}
	}
	s, err := stacks.Load(repo.fsys, ref.Path)
	if err != nil {
		return nil, withHint(err, "run `panka validate --stack "+stack+"` to list every problem")
	}
	cfg, err := f.configForHeader(s.Header(), s.File())
	if err != nil {
		return nil, err
	}
	if !slices.Contains(s.Environments(), env) {
		return nil, fmt.Errorf("stack %q has no environment %q (environments: %s%s); an environment exists iff %s/%s/%s.yaml exists",
			stack, env, strings.Join(s.Environments(), ", "), withSemi(didYouMean(env, s.Environments())), ref.Path, stacks.EnvironmentsDir, env)
	}
	if ro.SecretVars == nil {
		// As plan and apply: a --var another stack declares secret is
		// secret here too.
		ro.SecretVars = disc.SecretVars(givenNames(ro.Vars))
		// And one that what is deployed to stack/env holds as secret,
		// after its declaration dropped secret: true.
		if ds := deployedSecretVars(ctx, f.Store, cfg, statestore.Key{Stack: stack, Environment: env}, ro.Vars); len(ds) > 0 {
			ro.SecretVars = maps.Clone(ro.SecretVars)
			if ro.SecretVars == nil {
				ro.SecretVars = map[string]bool{}
			}
			maps.Copy(ro.SecretVars, ds)
		}
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

// warnUndeclared warns about --var and --var-file names that no stack
// declares (usually a typo); PANKA_VAR_ ones are shared by many stacks and
// not reported.
func warnUndeclared(f *Factory, vars stacks.VarValues, declared [][]stacks.ResolvedVar) {
	known := map[string]bool{}
	for _, vs := range declared {
		for _, v := range vs {
			known[v.Name] = true
		}
	}
	var names []string
	hidden := 0
	for _, m := range []map[string]string{vars.Flags, vars.File} {
		for k, v := range m {
			switch {
			case known[k] || slices.Contains(names, k):
			case maybeSecretName(k, v):
				hidden++
			default:
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	declaredNames := slices.Sorted(maps.Keys(known))
	for _, n := range names {
		hint := ""
		if i := slices.IndexFunc(declaredNames, func(d string) bool { return strings.EqualFold(d, n) }); i >= 0 {
			hint = fmt.Sprintf(" (did you mean %q? variable names are case-sensitive)", declaredNames[i])
		} else if dym := didYouMean(n, declaredNames); dym != "" {
			hint = " (" + dym + ")"
		}
		f.Warnf("variable %s is not declared in spec.variables of any stack checked%s; it has no effect", n, hint)
	}
	if hidden > 0 {
		f.Warnf("%d --var or --var-file entries set no variable any stack checked declares and are not named here: each has an empty value or a name no variable can have, so it may be a secret given without NAME= (e.g. --var \"$TOKEN\" with a base64 value ending in \"=\"); write NAME=VALUE", hidden)
	}
}

// maybeSecretName reports whether an undeclared variable given as
// name=value may be a secret value given without its NAME= (--var
// "$TOKEN"): the text before "=" is then most of the secret, e.g. a
// base64 value whose "=" padding left value empty or only "=", or it
// holds characters no variable name has. Such a name is not printed.
func maybeSecretName(name, value string) bool {
	if strings.Trim(value, "=") == "" {
		return true
	}
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return true
		}
	}
	return name == ""
}
