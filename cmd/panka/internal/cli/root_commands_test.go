package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// readOnlyCommands are the commands that change nothing: one that returns
// after a stop signal ends with an "interrupted" error (Run).
var readOnlyCommands = []string{
	"panka", "panka backend", "panka changed", "panka completion", "panka completion bash", "panka completion fish",
	"panka completion powershell", "panka completion zsh", "panka config", "panka config show", "panka drift",
	"panka help", "panka history", "panka hooks", "panka hooks run", "panka locks", "panka locks list", "panka locks show",
	"panka outputs", "panka plan", "panka show", "panka stack", "panka stack list", "panka state", "panka state list",
	"panka state pull", "panka state show", "panka status", "panka validate", "panka version",
}

// TestEveryCommandSaysWhetherItChanges: each command is in
// changesSomething (root.go) or readOnlyCommands, so a new command cannot
// be left out of the list that decides how a stop signal ends it.
func TestEveryCommandSaysWhetherItChanges(t *testing.T) {
	ios, _, _, _ := Test()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		p := c.CommandPath()
		switch ro := slices.Contains(readOnlyCommands, p); {
		case ro && changesSomething[p]:
			t.Errorf("%s is both in changesSomething and in readOnlyCommands", p)
		case !ro && !changesSomething[p]:
			t.Errorf("%s is new: add it to changesSomething (root.go) if it changes anything (a deployment, a record, files, a lock), else to readOnlyCommands", p)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewRootCmd(NewFactory(ios)))
	for p := range changesSomething {
		if c, _, err := NewRootCmd(NewFactory(ios)).Find(strings.Fields(p)[1:]); err != nil || c.CommandPath() != p {
			t.Errorf("changesSomething names %s, which is no command", p)
		}
	}
}

// TestStackEnvironmentFlagsSameHelp: --stack and --environment read the
// same on every command that acts on one stack/environment; their help
// said "stack name", "stack (metadata.name)" or "stack name (metadata.name
// in stack.yaml)" depending on the command. The commands listed here give
// the flags another meaning (a filter, an extra), said in their help.
func TestStackEnvironmentFlagsSameHelp(t *testing.T) {
	other := map[string]bool{
		"panka fmt --stack": true, "panka validate --stack": true, "panka config show --stack": true,
		"panka status --environment": true, "panka validate --environment": true,
	}
	ios, _, _, _ := Test()
	seen := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, want := range map[string]string{"stack": stackFlagUsage, "environment": environmentFlagUsage} {
			fl := c.LocalFlags().Lookup(name)
			if fl == nil || fl.Value.Type() != "string" || other[c.CommandPath()+" --"+name] {
				continue
			}
			seen++
			if fl.Usage != want {
				t.Errorf("%s --%s: help %q, want %q (stackEnvFlags)", c.CommandPath(), name, fl.Usage, want)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewRootCmd(NewFactory(ios)))
	if seen < 20 {
		t.Errorf("checked %d --stack/--environment flags, want the ones of every stack/environment command (20 or more)", seen)
	}
}
