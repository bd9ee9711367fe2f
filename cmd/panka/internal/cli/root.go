package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// Main runs panka with the process's arguments and streams and returns the exit code.
func Main() int {
	// A hangup (the terminal or SSH session went away) stops a run like
	// Ctrl-C: Pulumi cancelled cleanly, the run recorded, the lease
	// released. Unless it is ignored (nohup): handling it would undo that.
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	f := NewFactory(System())
	ctx, stop := interruptContext(f.interrupted, sigs...)
	defer stop()
	// A closed stdout or stderr (`panka apply | head`, a CI log pipe that
	// went away) must make writes fail, not kill panka by SIGPIPE while it
	// holds a lease, between a deployment and its record. Notify rather
	// than Ignore: an ignored signal would be inherited by the commands
	// panka starts (git, lifecycle hooks), a handled one is not.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return Run(ctx, f, os.Args[1:])
}

// interruptContext is cancelled by the first of sigs (the run then stops
// cleanly: Pulumi cancelled, the run recorded, the lease released). A
// second one ends panka at once, for a run that does not stop (a hung
// server, a read that never returns): what it leaves (its lease, Pulumi's
// lock) is what a killed run leaves, which the next run recognises. say
// tells the user, at once, what each signal does (Factory.interrupted).
//
// The same SIGTERM or SIGHUP again within sameSignalWindow of the first
// is not a second one: GNU timeout (`timeout 30m panka apply`) and CI
// runners that stop a job send SIGTERM to panka and to its process group
// (a closing terminal and the shell send SIGHUP alike), so panka gets it
// twice at once, and took the copy as the second: it ended at once,
// leaving its lease and Pulumi's lock, instead of stopping cleanly. A
// terminal sends Ctrl-C once: a quick second one is the user's.
func interruptContext(say func(s os.Signal, second bool), sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		var first os.Signal
		var at time.Time
		select {
		case first = <-ch:
			at = time.Now()
			say(first, false)
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case s := <-ch:
				if s == first && s != os.Interrupt && time.Since(at) < sameSignalWindow {
					continue
				}
				say(s, true)
				exitNow(130)
				return
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// sameSignalWindow is how soon after the first signal the same one again
// counts as a copy of it (interruptContext), not as a second.
const sameSignalWindow = 250 * time.Millisecond

// exitNow ends the process at a second signal (a variable for tests).
var exitNow = os.Exit

// sigName names a signal as users know it (Ctrl-C for an interrupt).
func sigName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "Ctrl-C"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// changesSomething are the commands that change something (a deployment,
// a record, files, a lock): one that returns without error after a stop
// signal made its change, which exit 0 reports truthfully; those that
// stop early return their own error. Every other command that returns
// after a stop signal ends with an "interrupted" error (Run). Every command
// is here or in readOnlyCommands (TestEveryCommandSaysWhetherItChanges).
var changesSomething = map[string]bool{
	"panka apply": true, "panka destroy": true, "panka rollback": true, "panka promote": true,
	"panka drift detect": true, "panka unlock": true, "panka backend create": true,
	"panka init": true, "panka fmt": true, "panka hooks install": true, "panka hooks uninstall": true,
	"panka stack init": true, "panka state push": true, "panka state rm": true,
}

// Run runs panka with args and returns the exit code; errors are printed here, once.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	var held *heldOut
	if c, _, err := root.Find(args); err == nil && !changesSomething[c.CommandPath()] {
		// Its result goes out once it has returned, uninterrupted.
		out := f.IO.Out
		held = &heldOut{w: out}
		f.IO.Out = held
		defer func() { f.IO.Out = out }()
	}
	// Help asked for (--help, panka help) and completion scripts are what
	// the user ran the command for: stdout, so `panka completion bash > f`
	// and `panka --help | less` work. Usage after an error goes to stderr
	// (below).
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	f.closeHeaders()
	f.closeStackHistory()
	// A stop signal that arrives from here on, while the result is
	// written, interrupts nothing: the command has finished.
	interrupted := ctx.Err() != nil
	if held != nil {
		held.release(!interrupted || changesSomething[cmd.CommandPath()])
	}
	var ec *ExitCodeError
	outputLost := false
	if werr := f.IO.stdoutFailed(); werr != nil && !stdoutClosed(werr) && (err == nil || errors.As(err, &ec) && ec.Code == ExitChanges) {
		// The command ran to its end but its results did not all reach
		// stdout (a full disk): an exit 0 (or 2, changes present) would
		// pass on output that is not there. A reader that went away
		// (`panka apply | head`) took what it wanted: that is no failure
		// of a command that ignores its write errors.
		err = fmt.Errorf("%s ran to its end but its output was not all written: %w", cmd.CommandPath(), werr)
		outputLost = true
	}
	if err == nil && interrupted && !changesSomething[cmd.CommandPath()] {
		// A stop signal arrived and the command still returned: a read
		// that does not see the signal (--var-file - from a pipe, a
		// pre-push hook's stdin) ended early or was cut, and what was
		// checked from it is not to be trusted. `timeout 30 panka
		// validate` must not pass. Its output was held back (heldOut):
		// no result is printed with this exit code.
		err = fmt.Errorf("interrupted: %s was stopped by a signal before it was known to have finished, so its result is not trusted; run it again", cmd.CommandPath())
	}
	if err == nil {
		return ExitOK
	}
	if errors.As(err, &ec) {
		if ec.Msg != "" && f.fileLog != nil {
			f.fileLog.Error().Int("exitCode", ec.Code).Msg(ec.Msg)
		}
		if ec.Msg != "" && f.jsonLog != nil {
			f.jsonLog.Error().Int("exitCode", ec.Code).Msg(ec.Msg)
		}
		return ec.Code
	}
	if stdoutClosed(err) {
		// The reader went away (`panka history | head -1`): nobody is
		// left to read an error either.
		return ExitError
	}
	err = withFSAdvice(err)
	err = f.withStoreSource(err)
	err = withSingleDashHint(cmd, args, err)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) && strings.Contains(err.Error(), "context canceled") {
		// A stop signal cancelled a request in flight: the SDK's or
		// git's own text ("operation error S3: GetObject, ... context
		// canceled") says nothing a user can act on. Commands that
		// change something explain their interruption themselves.
		f.Log.Debug().Err(err).Msg("interrupted")
		what := ""
		if doing, _, ok := strings.Cut(err.Error(), ": operation error "); ok {
			what = " (" + doing + ")"
		}
		err = fmt.Errorf("interrupted: %s stopped before it finished%s", cmd.CommandPath(), what)
	}
	var ue *UsageError
	// The root runs nothing itself: cobra's own error for it is an
	// unknown command (`panka bogus`), a usage error. It stays cobra's so
	// that `panka help bogus` still finds no topic (strictHelpTopics).
	usage := !outputLost && (errors.As(err, &ue) || isFlagError(err) || (!cmd.HasParent() && !cmd.Runnable()))
	if !f.logSetUp {
		// Flags and arguments are checked before PersistentPreRunE: set
		// the logs up here so --log-format json still gets its JSON line.
		if !cmd.Flags().Parsed() {
			// Cobra stopped before parsing any flag (`panka --log-format
			// json bogus`): read the global ones, ignoring the rest.
			parseGlobalFlags(root, args)
		}
		f.setupLogging()
	}
	if f.fileLog != nil {
		f.fileLog.Error().Int("exitCode", exitCode(err)).Msg(err.Error())
	}
	if f.jsonLog != nil {
		// One JSON line a log shipper can parse; the usage text is for a
		// terminal, so only the command to ask for it is given.
		ev := f.jsonLog.Error().Int("exitCode", exitCode(err))
		if usage {
			ev = ev.Str("usage", cmd.CommandPath()+" --help")
		}
		ev.Msg(err.Error())
		return exitCode(err)
	}
	fmt.Fprintf(f.IO.ErrOut, "Error: %s\n", stacks.EscapeInvalid(err.Error()))
	if usage {
		fmt.Fprintf(f.IO.ErrOut, "\n%s", cmd.UsageString())
	}
	return exitCode(err)
}

// stdoutClosed reports whether err is a write to a stdout whose reader has
// gone (EPIPE). Only stdout: a broken pipe to panka-engine is a failure to
// report.
func stdoutClosed(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "write" && pe.Path == os.Stdout.Name() && errors.Is(pe.Err, syscall.EPIPE)
}

// parseGlobalFlags sets the global flags (--log-format, -q, -v, ...) from
// args when cobra did not get as far as parsing them; errors and other
// flags are ignored (the error being reported is cobra's).
func parseGlobalFlags(root *cobra.Command, args []string) {
	fs := pflag.NewFlagSet(root.Name(), pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.SetOutput(io.Discard)
	fs.AddFlagSet(root.PersistentFlags())
	_ = fs.Parse(args)
}

type flagError struct{ error }

func isFlagError(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

// withSingleDashHint adds to err, for each argument that is a long flag of
// cmd written with one dash as Terraform writes its flags (-auto-approve,
// -out p.plan, -stack shop), that it takes two: pflag reads it as
// shorthands (-a -u ..., or -o with the value "ut"), and the error it
// causes ("unknown shorthand flag: 'a'", "unexpected argument", "no
// stack tack") does not point at it.
func withSingleDashHint(cmd *cobra.Command, args []string, err error) error {
	var hints []string
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if len(a) < 3 || a[0] != '-' || a[1] == '-' || len(name) < 2 {
			continue
		}
		fl := cmd.Flags().Lookup(name)
		if fl == nil || fl.Hidden {
			continue
		}
		why := "one dash starts one-letter flags"
		if sh := cmd.Flags().ShorthandLookup(a[1:2]); sh != nil && sh.NoOptDefVal == "" {
			why = fmt.Sprintf("%s reads as -%s %q", a, a[1:2], a[2:])
		}
		hints = append(hints, fmt.Sprintf("%s: long flags take two dashes: --%s (%s)", a, a[1:], why))
	}
	if len(hints) == 0 {
		return err
	}
	joined := fmt.Errorf("%w\n%s", err, strings.Join(hints, "\n"))
	if isFlagError(err) {
		return &flagError{joined}
	}
	return joined
}

// flagSynonyms are the flags other deployment tools spell differently
// (squashed as suggestFlag compares them): Pulumi's --yes, a commit or
// revision for --ref; the first a command has is suggested (a commit is
// plan's --ref, rollback's --to-commit, changed's --base). The
// confirmation goes both ways: `unlock --force --auto-approve`, written
// as for apply in the same CI job, is unlock's --yes.
var flagSynonyms = map[string][]string{
	"yes":         {"auto-approve"},
	"autoapprove": {"yes"},
	"approve":     {"auto-approve"},
	"noprompt":    {"auto-approve"},
	"commit":      {"ref", "to-commit", "base"},
	"rev":         {"ref", "to-commit", "base"},
	"revision":    {"ref", "to-commit", "base"},
	"sha":         {"ref", "to-commit", "base"},
	"branch":      {"ref", "base"}, // changed --branch main: compare with main
	"from":        {"base"},
	"to":          {"head", "to-commit"},
	"env":         {"environment"},
	"stackname":   {"stack"},
	"envname":     {"environment"},
}

// suggestFlag adds to pflag's "unknown flag: --stak" the flag of c most
// likely meant (--stack: the same up to case and '_'/'-', at most two edits
// away, or the only flag that starts with it), or else the commands that
// have a flag of that name (`plan --auto-approve`: a flag of apply, ...).
// pflag's error named the typo and nothing else, leaving the user to find
// the flag in the usage below it.
func suggestFlag(c *cobra.Command, err error) error {
	if err.Error() == "unknown shorthand flag: 'y' in -y" {
		// Pulumi's `up -y`: apply, destroy, promote and rollback confirm
		// with --auto-approve (unlock has -y itself).
		if fl := c.Flags().Lookup("auto-approve"); fl != nil && !fl.Hidden {
			return fmt.Errorf("%w (did you mean --auto-approve?)", err)
		}
	}
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok || name == "" {
		return err
	}
	squash := func(s string) string { return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s)) }
	// Two edits turn most short words into others (--yes into --ref):
	// a name of four letters or fewer is taken for a typo of one edit.
	best, bd := "", 3
	if len(squash(name)) <= 4 {
		bd = 2
	}
	for _, syn := range flagSynonyms[squash(name)] {
		if fl := c.Flags().Lookup(syn); fl != nil && !fl.Hidden {
			return fmt.Errorf("%w (did you mean --%s?)", err, syn)
		}
	}
	var prefixed []string
	c.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Hidden {
			return
		}
		if d := stacks.EditDistance(squash(name), squash(fl.Name)); d < bd {
			best, bd = fl.Name, d
		}
		if strings.HasPrefix(fl.Name, name) {
			prefixed = append(prefixed, fl.Name)
		}
	})
	if best == "" && len(prefixed) == 1 {
		best = prefixed[0]
	}
	if best != "" {
		return fmt.Errorf("%w (did you mean --%s?)", err, best)
	}
	var others []string
	var walk func(*cobra.Command)
	walk = func(o *cobra.Command) {
		if o != c && o.Runnable() && !o.Hidden && o.LocalFlags().Lookup(name) != nil {
			others = append(others, strings.TrimPrefix(o.CommandPath(), o.Root().Name()+" "))
		}
		for _, sub := range o.Commands() {
			walk(sub)
		}
	}
	walk(c.Root())
	if len(others) > 0 {
		err = fmt.Errorf("%w: a flag of %s, not of %s", err, strings.Join(others, ", "), c.CommandPath())
	}
	if name == "all-changed" && c.Flags().Lookup("stack") != nil && c.Flags().Lookup("environment") != nil {
		// Terramate's run --changed, Atlantis' autoplan: what to do instead.
		err = fmt.Errorf("%w; %s works on one stack/environment at a time: run it for each line of `panka changed -o names` (stack/environment), or from a CI matrix of `panka changed -o github-matrix`", err, c.CommandPath())
	}
	return err
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "panka",
		Short:         "Git-native deployments of YAML stacks through Pulumi",
		Long:          "panka deploys stacks of YAML kept in git: it knows what changed between commits,\nplans any commit against the deployed state, applies under a lock lease and rolls back\nby redeploying an earlier commit.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if f.Flags.NoColor {
				f.IO.DisableColor()
			}
			switch f.Flags.Output {
			case "text", "json":
			default:
				if !allowsOutput(cmd, f.Flags.Output) {
					return Usagef("-o %s: unknown output format (%s)", f.Flags.Output, strings.Join(outputFormats(cmd), ", "))
				}
			}
			switch f.Flags.LogFormat {
			case "", "console", "json":
			default:
				return Usagef("--log-format %s: unknown log format (console, json)", f.Flags.LogFormat)
			}
			for _, name := range []string{"stack", "environment", "component", "backend-bucket", "backend-region", "lock-table", "config",
				"chdir", "bucket", "table", "region", "profile", "backend-type", "lock-id", "dir", "from", "to", "resource"} {
				// --stack "$STACK" with the variable unset or empty: fmt,
				// validate, status, show and outputs took it as "no
				// --stack", and rewrote, checked or printed every stack,
				// environment or component instead of the one meant;
				// --backend-bucket "$BUCKET" kept state in the local
				// backend (lost with a CI runner) and --config "$FILE"
				// read ~/.panka/config.yaml; -C "$DIR" ran in the current
				// folder, init --bucket "$BUCKET" wrote a config of the
				// local backend, unlock --lock-id "$ID" removed the
				// caller's lease whatever its id, and stack init --dir
				// "$DIR" scaffolded the default folder.
				// promote --to "$TARGET" read as "--to is required", and
				// state rm --resource "" as a component named "".
				fl := cmd.Flags().Lookup(name)
				if fl == nil || !fl.Changed {
					continue
				}
				empty := fl.Value.Type() == "string" && strings.TrimSpace(fl.Value.String()) == ""
				var list []string
				if sv, ok := fl.Value.(pflag.SliceValue); ok {
					list = sv.GetSlice()
					empty = slices.ContainsFunc(list, func(v string) bool { return strings.TrimSpace(v) == "" })
				}
				if empty {
					shown := "--" + name
					if name == "chdir" {
						shown = "-C" // as typed: nobody writes --chdir
					}
					if slices.ContainsFunc(list, func(v string) bool { return strings.TrimSpace(v) != "" }) {
						// --stack "$A,$B" with B unset: "is empty ...
						// leave --stack out" sent the user to every
						// stack instead of A.
						return Usagef("%s %q holds an empty name (an unset or empty CI variable, or a stray comma?): name each one, or drop the empty one", shown, strings.Join(list, ","))
					}
					if unless, ok := fl.Annotations[requiredFlag]; ok {
						// "leave --stack out" sent the user to the
						// "--stack is required" error next.
						if len(unless) > 0 && unless[0] != "" {
							return Usagef("%s is empty (an unset or empty CI variable?): %s needs it %s: name one", shown, cmd.CommandPath(), unless[0])
						}
						return Usagef("%s is empty (an unset or empty CI variable?): %s needs it: name one", shown, cmd.CommandPath())
					}
					return Usagef("%s is empty (an unset or empty CI variable?): name one, or leave %s out", shown, shown)
				}
			}
			if f.Flags.Quiet && f.Flags.Verbose > 0 {
				// -q took over without a word: a -v added to debug a
				// script's run showed nothing.
				return Usagef("-q (only errors on stderr) and -v (debug logs) contradict each other: give one of them")
			}
			f.flagKeys, f.flagNames = map[string]string{}, map[string]string{}
			for flag, key := range map[string]string{"backend-bucket": "backend.bucket", "backend-region": "backend.region", "lock-table": "locks.table", "log-format": "logging.format", "no-color": "preferences.colorOutput"} {
				if fl := cmd.Flags().Lookup(flag); fl != nil && fl.Changed {
					f.flagKeys[key] = fl.Value.String()
					if flag == "no-color" {
						f.flagKeys[key] = strconv.FormatBool(!f.Flags.NoColor)
					}
					f.flagNames[key] = flag
				}
			}
			f.setupLogging()
			if cmd.Name() != "completion" && !strings.HasPrefix(cmd.Name(), "__") {
				if unknown := config.UnknownEnv(f.Environ()); len(unknown) > 0 {
					// A typo is otherwise silently ignored: the setting
					// falls back to a lower layer (a bucket to .panka/).
					verb := "is not a panka setting and is"
					if len(unknown) > 1 {
						verb = "are not panka settings and are"
					}
					f.Warnf("environment %s %s ignored (`panka config show` lists each key's variable)", strings.Join(unknown, ", "), verb)
				}
			}
			return nil
		},
	}
	// panka --version, as git, terraform and most CLIs take it, printed
	// "unknown flag" and the whole usage: it is `panka version`.
	root.Version = Build().line()
	root.SetVersionTemplate("panka {{.Version}}\n")
	root.Flags().Bool("version", false, "print panka's version (as panka version)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &flagError{suggestFlag(c, err)} })
	pf := root.PersistentFlags()
	countVarP(pf, &f.Flags.Verbose, "verbose", "v", "verbose output (-vv for trace)")
	pf.BoolVarP(&f.Flags.Quiet, "quiet", "q", false, "only errors on stderr")
	pf.StringVar(&f.Flags.ConfigFile, "config", "", "user config file (default $PANKA_CONFIG, else ~/.panka/config.yaml)")
	pf.StringVar(&f.Flags.BackendBucket, "backend-bucket", "", "S3 bucket for state (backend.bucket)")
	pf.StringVar(&f.Flags.BackendRegion, "backend-region", "", "AWS region of the state bucket (backend.region)")
	pf.StringVar(&f.Flags.LockTable, "lock-table", "", "DynamoDB table for locks (locks.table)")
	pf.BoolVar(&f.Flags.NoColor, "no-color", false, "disable coloured output")
	pf.StringVarP(&f.Flags.Output, "output", "o", "text", "output format: text or json (changed also: names, github-matrix; show also: yaml, as text)")
	pf.StringVar(&f.Flags.LogFormat, "log-format", "", "stderr log format: console or json")
	pf.StringVarP(&f.Flags.Chdir, "chdir", "C", "", "run as if panka was started in this directory")

	root.AddCommand(
		newCmdVersion(f),
		newCmdConfig(f),
	)
	for _, add := range commandRegistry {
		root.AddCommand(add(f))
	}
	// Cobra adds its completion and help commands only when it executes:
	// added now, usageArgs covers them too (`panka completion bogus` showed
	// the group's help with exit 0).
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	strictHelpTopics(root)
	usageArgs(f, root)
	registerCompletions(root, f)
	return root
}

// strictHelpTopics makes `panka help bogus` a usage error (exit 1); cobra's
// help command prints "Unknown help topic" and exits 0, so a script asking
// for help on a command this panka lacks could not tell.
func strictHelpTopics(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "help" || c.Run == nil {
			continue
		}
		show := c.Run
		c.Run = nil
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if t, _, err := cmd.Root().Find(args); t == nil || err != nil {
				return Usagef("unknown help topic %q (panka --help lists the commands)", strings.Join(args, " "))
			}
			show(cmd, args)
			return nil
		}
	}
}

// usageArgs makes wrong positional arguments usage errors (SPEC §8: exit 1
// with the usage) everywhere. Cobra's own NoArgs error says `unknown command
// "x"`, which sends the user looking for a subcommand that never existed.
//
// A command group (panka state, panka locks, ...) shows its help when run alone,
// but a word that is none of its subcommands is a usage error, not help and
// exit 0: `panka state lsit` must fail in a script.
func usageArgs(f *Factory, cmd *cobra.Command) {
	if cmd.HasParent() && cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2 // cobra's own default
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += " (did you mean " + strings.Join(s, " or ") + "?)"
			}
			return Usagef("%s", msg)
		}
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			if err == nil {
				return nil
			}
			if len(args) > 0 && check(c, nil) == nil && check(c, args[:1]) != nil {
				// The command takes no arguments at all.
				shown, took := shownArg(c, args[0]), flagTookFlag(c)
				hint := took
				if took == "" && shown == strconv.Quote(args[0]) {
					hint = positionalFlagHint(f, c, args[0])
				}
				return Usagef("unexpected argument %s: %s takes no positional arguments%s", shown, c.CommandPath(), hint)
			}
			// Not cobra's "accepts 1 arg(s), received 0": which one.
			synopsis := c.CommandPath()
			if _, rest, ok := strings.Cut(c.Use, " "); ok {
				synopsis += " " + rest
			}
			switch {
			case len(args) > 0 && check(c, args[:len(args)-1]) == nil:
				return Usagef("unexpected argument %q: %s", args[len(args)-1], synopsis)
			case check(c, append(slices.Clip(args), "")) == nil:
				return Usagef("missing argument: %s", synopsis)
			}
			return &UsageError{Err: err}
		}
	}
	for _, c := range cmd.Commands() {
		usageArgs(f, c)
	}
}

// positionalFlagHint is "; did you mean --resource web?" for the argument
// of a command that takes none, as other tools take it positionally
// (terraform state rm ADDRESS, git diff HEAD~1, panka plan NAME): the flag
// of c that takes such a value. A commit (HEAD~1, a SHA, or a branch or
// tag of the repository that no stack is named after: panka changed main)
// goes to --ref, --to-commit or --base; any other word to the first of
// --resource, --stack and --environment not given yet, else to a
// repeatable one of them. "" when c has no such flag, or when the word is
// what pflag left of a long flag written with one dash (-stack shop: -s
// "tack", then "shop"), which withSingleDashHint explains.
func positionalFlagHint(f *Factory, c *cobra.Command, arg string) string {
	if arg == "" || strings.HasPrefix(arg, "-") || singleDashLongFlag(c) {
		return ""
	}
	names := []string{"resource", "stack", "environment"}
	refFlags := []string{"ref", "to-commit", "base"}
	if a, b, ok := strings.Cut(arg, ".."); ok && a != "" && strings.TrimPrefix(b, ".") != "" {
		// main..HEAD, as git diff and git log take a range
		if c.Flags().Lookup("base") != nil && c.Flags().Lookup("head") != nil {
			return fmt.Sprintf("; did you mean --base %s --head %s?", a, strings.TrimPrefix(b, "."))
		}
		return ""
	}
	refs := workTreeRefs(f)
	if stack, env := stackWordOf(refs, arg); stack != "" && c.Flags().Lookup("stack") != nil && !c.Flags().Lookup("stack").Changed {
		// orders/dev (panka changed -o names) or stacks/orders (a folder)
		if env != "" && c.Flags().Lookup("environment") != nil {
			return fmt.Sprintf("; did you mean --stack %s --environment %s?", stack, env)
		}
		return fmt.Sprintf("; did you mean --stack %s?", stack)
	}
	switch {
	case looksLikeCommit(arg):
		names = refFlags
	case slices.ContainsFunc(refs, func(r stacks.Ref) bool { return r.Name == arg }):
	case slices.Contains(completeEnvironments(f, ""), arg):
		// panka plan dev: an environment, whatever else it may name
		// (a branch called dev, too).
		names = []string{"environment"}
	default:
		what := refNamed(f, arg)
		if what == "" {
			break
		}
		// A branch or tag (panka changed main), which --stack main
		// would only turn into "no stack named main".
		takes := slices.ContainsFunc(refFlags, func(n string) bool {
			fl := c.Flags().Lookup(n)
			return fl != nil && !fl.Hidden
		})
		if !takes {
			return fmt.Sprintf("; %s is %s of the repository, not a stack, and %s takes no commit", arg, what, c.CommandPath())
		}
		names = refFlags
	}
	var repeatable *pflag.Flag
	for _, n := range names {
		fl := c.Flags().Lookup(n)
		if fl == nil || fl.Hidden {
			continue
		}
		if !fl.Changed {
			return fmt.Sprintf("; did you mean --%s %s?", fl.Name, arg)
		}
		if _, ok := fl.Value.(pflag.SliceValue); ok && repeatable == nil {
			repeatable = fl
		}
	}
	if repeatable != nil {
		return fmt.Sprintf("; did you mean --%s %s?", repeatable.Name, arg)
	}
	return ""
}

// refNamed says what arg names in the repository panka runs in ("a
// branch", "a tag", "a remote branch", "a commit"), "" when it names no
// commit there (or there is no repository).
func refNamed(f *Factory, arg string) string {
	repo, err := f.openRepoHere()
	if err != nil {
		return ""
	}
	defer repo.Close()
	return refKind(repo, arg)
}

// refKind is refNamed in repo.
func refKind(repo *gitops.Repo, arg string) string {
	if _, err := repo.ResolveRef(arg); err != nil {
		return ""
	}
	switch full := repo.FullRefName(arg); {
	case strings.HasPrefix(full, "refs/heads/"):
		return "a branch"
	case strings.HasPrefix(full, "refs/tags/"):
		return "a tag"
	case strings.HasPrefix(full, "refs/remotes/"):
		return "a remote branch"
	}
	return "a commit"
}

// looksLikeCommit reports whether arg names a commit rather than a stack,
// environment or component: HEAD, a revision with ~, ^ or @{, or a hex
// SHA of at least 7 digits.
func looksLikeCommit(arg string) bool {
	if strings.HasPrefix(arg, "HEAD") || strings.ContainsAny(arg, "~^") || strings.Contains(arg, "@{") {
		return true
	}
	if len(arg) < 7 || len(arg) > 64 {
		return false
	}
	for _, r := range arg {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// singleDashLongFlag reports whether a flag of c was set by a long flag
// written with one dash: -stack sets -s to "tack", the rest of a flag's
// name.
func singleDashLongFlag(c *cobra.Command) bool {
	found := false
	c.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Shorthand != "" && c.Flags().Lookup(fl.Shorthand+fl.Value.String()) != nil {
			found = true
		}
	})
	return found
}

// shownArg names an unexpected argument in a usage error without printing
// a secret value: NAME=VALUE (a variable whose --var was left out, or an
// empty shell variable that let a flag take "--var" as its value) shows
// as "NAME=..." only, and after a --var without "=" (--var NAME VALUE) the
// argument may be that variable's value, so it is not shown at all.
func shownArg(c *cobra.Command, arg string) string {
	if fl := c.Flags().Lookup("var"); fl != nil {
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for i, kv := range sv.GetSlice() {
				if !strings.Contains(kv, "=") {
					return fmt.Sprintf("(not shown: --var number %d has no \"=\", so it may be its secret value; write --var NAME=VALUE)", i+1)
				}
			}
		}
	}
	name, value, ok := strings.Cut(arg, "=")
	if !ok {
		return strconv.Quote(arg)
	}
	if maybeSecretName(name, value) {
		// A base64 secret ends in "=": the "name" is the secret.
		return "(not shown: it may be a secret value, e.g. base64 ending in \"=\"; to set a variable write --var NAME=VALUE)"
	}
	s := strconv.Quote(name+"=...") + " (its value not shown"
	if c.Flags().Lookup("var") != nil {
		s += "; to set a variable write --var NAME=VALUE"
	}
	return s + ")"
}

// flagTookFlag says when a flag was given another flag as its value
// (--to-commit --var X=Y: an empty shell variable $SHA left out the value),
// which turns the next word into an unexpected argument; "" otherwise.
func flagTookFlag(c *cobra.Command) string {
	var took []string
	c.Flags().Visit(func(fl *pflag.Flag) {
		var vals []string
		if fl.Name == "var" {
			return // its values may be secrets
		}
		switch v := fl.Value.(type) {
		case pflag.SliceValue:
			vals = v.GetSlice()
		default:
			if fl.Value.Type() == "string" {
				vals = []string{fl.Value.String()}
			}
		}
		for _, v := range vals {
			name := strings.TrimLeft(v, "-")
			if len(name) < len(v) && (c.Flags().Lookup(name) != nil || len(name) == 1 && c.Flags().ShorthandLookup(name) != nil) {
				took = append(took, fmt.Sprintf("--%s took %q as its value", fl.Name, v))
			}
		}
	})
	if len(took) == 0 {
		return ""
	}
	return " (" + strings.Join(took, ", ") + ": is a value missing, e.g. an empty shell variable?)"
}

// commandRegistry holds constructors of top-level commands that register
// themselves from their own files (init), so each command lives in one file.
var commandRegistry []func(*Factory) *cobra.Command

func register(c func(*Factory) *cobra.Command) { commandRegistry = append(commandRegistry, c) }

// outputFormats lets a command accept -o values beyond text/json
// (changed: names, github-matrix).
const annotationOutputs = "panka/outputs"

func allowsOutput(cmd *cobra.Command, o string) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if v, ok := c.Annotations[annotationOutputs]; ok {
			for _, x := range splitComma(v) {
				if x == o {
					return true
				}
			}
		}
	}
	return false
}

// outputFormats lists the -o values cmd accepts.
func outputFormats(cmd *cobra.Command) []string {
	out := []string{"text", "json"}
	for c := cmd; c != nil; c = c.Parent() {
		if v, ok := c.Annotations[annotationOutputs]; ok {
			out = append(out, splitComma(v)...)
		}
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// requiredFlag annotates the flags a command cannot run without (its value
// says when it can: "unless a saved PLANFILE is given"), for the
// empty-value error.
const requiredFlag = "panka_required"

// markRequired marks the named flags of cmd as required, unless says when
// they are not ("" for always). The command still checks them itself.
func markRequired(cmd *cobra.Command, unless string, names ...string) {
	for _, n := range names {
		if err := cmd.Flags().SetAnnotation(n, requiredFlag, []string{unless}); err != nil {
			panic("panka: mark flag required: " + err.Error()) // a flag name typo in the code
		}
	}
}
