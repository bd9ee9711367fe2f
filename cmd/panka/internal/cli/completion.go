package cli

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"panka.dev/panka/stacks"
)

// registerCompletions gives shell completion the values of -o/--output
// (the formats the command accepts), of every --stack (the stacks'
// metadata.name) and of every environment flag (--environment, promote's
// --from/--to: the environments of --stack, or of every stack). Without
// them cobra completes file names, which are never right there.
func registerCompletions(root *cobra.Command, f *Factory) {
	_ = root.RegisterFlagCompletionFunc("output", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return outputFormats(cmd), cobra.ShellCompDirectiveNoFileComp
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if fl := c.LocalNonPersistentFlags().Lookup("stack"); fl != nil && fl.Value.Type() != "bool" {
			_ = c.RegisterFlagCompletionFunc("stack", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return completeStacks(f), cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, name := range []string{"environment", "from", "to"} {
			if fl := c.LocalNonPersistentFlags().Lookup(name); fl != nil && fl.Value.Type() != "bool" {
				_ = c.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
					stack := ""
					if s := cmd.Flags().Lookup("stack"); s != nil {
						stack = strings.Trim(s.Value.String(), "[]")
					}
					return completeEnvironments(f, stack), cobra.ShellCompDirectiveNoFileComp
				})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeStacks lists the stack names of the work tree; nothing when they
// cannot be read (completion never prints errors).
func completeStacks(f *Factory) []string {
	var out []string
	for _, r := range workTreeRefs(f) {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// workTreeRefs lists the stacks of the work tree; nothing when they cannot
// be read (for hints and completion, which never print errors).
func workTreeRefs(f *Factory) []stacks.Ref {
	repo, err := openStackRepo(f)
	if err != nil {
		return nil
	}
	defer repo.close()
	disc, _ := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
	if disc == nil {
		return nil
	}
	return disc.Refs
}

// completeEnvironments lists the environments of stack ("" or several
// comma-separated: of every stack named, or of all stacks).
func completeEnvironments(f *Factory, stack string) []string {
	repo, err := openStackRepo(f)
	if err != nil {
		return nil
	}
	defer repo.close()
	disc, _ := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
	want := map[string]bool{}
	for _, s := range strings.Split(stack, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range disc.Refs {
		if len(want) > 0 && !want[r.Name] {
			continue
		}
		h, err := stacks.ReadHeader(repo.fsys, r.Path)
		if err != nil {
			continue
		}
		for _, e := range h.Environments {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	sort.Strings(out)
	return out
}
