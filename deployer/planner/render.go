package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// TextOptions control WriteText.
type TextOptions struct {
	// Color adds ANSI colours (callers decide: a TTY, no NO_COLOR, no
	// --no-color).
	Color bool
	// NoSummary leaves out the summary line (for several plans printed
	// under one summary).
	NoSummary bool
	// Command is the command that will carry the plan out (apply, destroy,
	// rollback, promote), named in the data-loss warning; "" is apply, which
	// panka plan previews. AllowDestroy and AllowReplace are the permissions
	// given to it: the warning asks only for the ones missing.
	Command                    string
	AllowDestroy, AllowReplace bool
}

const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
	ansiDim     = "\x1b[2m"
)

// symbol returns the marker and colour of an action.
func symbol(a Action) (string, string) {
	switch a {
	case ActionCreate:
		return "+", ansiGreen
	case ActionUpdate:
		return "~", ansiYellow
	case ActionReplace:
		return "-/+", ansiMagenta
	case ActionDelete:
		return "-", ansiRed
	}
	return " ", ""
}

type textWriter struct {
	buf   bytes.Buffer
	color bool
}

func (t *textWriter) paint(code, s string) string {
	if !t.color || code == "" {
		return s
	}
	return code + s + ansiReset
}

func (t *textWriter) line(format string, a ...any) {
	fmt.Fprintf(&t.buf, format, a...)
	t.buf.WriteByte('\n')
}

// WriteText renders the plan for people: a header, each changed component
// with its symbol (+ create, ~ update, -/+ replace, - delete) and field
// changes (multi-line values as unified diffs), data-loss warnings and the
// summary line. No-ops are not listed. Sensitive values show as
// "(sensitive)".
func (p *Result) WriteText(w io.Writer, opts TextOptions) error {
	t := &textWriter{color: opts.Color}
	p.writeText(t)
	if !opts.NoSummary {
		t.buf.WriteByte('\n')
		writeSummary(t, p.Summary, p.Header.Stack+"/"+p.Header.Environment, []*Result{p}, opts)
	}
	_, err := w.Write(t.buf.Bytes())
	return err
}

func (p *Result) writeText(t *textWriter) {
	h := p.Header
	title := "Plan for " + h.Stack + "/" + h.Environment
	if h.Destroy {
		title = "Destroy plan for " + h.Stack + "/" + h.Environment
	}
	t.line("%s", t.paint(ansiBold, title))
	t.line("  stack:       %s", h.Stack)
	t.line("  environment: %s", h.Environment)
	t.line("  desired:     %s", describeDesired(h))
	t.line("  deployed:    %s", describeDeployed(h.Deployed))
	if len(h.Vars) > 0 {
		names := make([]string, 0, len(h.Vars))
		for k := range h.Vars {
			names = append(names, k)
		}
		sort.Strings(names)
		for i, k := range names {
			v := h.Vars[k]
			if v != Masked {
				v = visible(compactJSON(v))
			}
			names[i] = k + "=" + v
		}
		t.line("  vars:        %s", strings.Join(names, ", "))
	}

	if len(p.Watched) > 0 && !h.Destroy {
		t.buf.WriteByte('\n')
		t.line("  %s: files it watches changed since the deployed commit %s: apply records the new commit", t.paint(ansiBold, "spec.watch"), short(h.Deployed.Commit))
		for _, w := range p.Watched {
			t.line("    %s: %s", visible(w.File), w.Detail)
		}
	}
	if len(p.Provider) > 0 {
		t.buf.WriteByte('\n')
		if p.Summary.ProviderChanged {
			t.line("%s %s", t.paint(ansiYellow, "~"), t.paint(ansiBold, "provider"))
		} else {
			t.line("  %s changes nothing deployed (the local target does not use it): apply records it", t.paint(ansiBold, "provider"))
		}
		for _, fc := range p.Provider {
			writeField(t, fc, "    ", false)
		}
	}
	if len(p.Variables) > 0 && !h.Destroy {
		t.buf.WriteByte('\n')
		t.line("  %s change nothing deployed (no component's spec changes with them): apply records them", t.paint(ansiBold, "variables"))
		for _, fc := range p.Variables {
			writeField(t, fc, "    ", false)
		}
	}
	for _, c := range p.Changes {
		if c.Action == ActionNoOp && len(c.Fields) == 0 {
			continue
		}
		t.buf.WriteByte('\n')
		if c.Action == ActionNoOp {
			t.line("  %s (%s) changes nothing deployed: apply records it", t.paint(ansiBold, c.Component), c.Kind)
			for _, fc := range c.Fields {
				writeField(t, fc, "    ", false)
			}
			continue
		}
		sym, col := symbol(c.Action)
		kind := string(c.Kind)
		if c.PreviousKind != "" {
			kind = string(c.PreviousKind) + " → " + kind
		}
		head := fmt.Sprintf("%s %s (%s)", t.paint(col, sym), t.paint(ansiBold, c.Component), kind)
		switch c.Action {
		case ActionCreate:
			head += " will be created"
		case ActionUpdate:
			head += " will be updated in place"
		case ActionReplace:
			head += " must be replaced (" + strings.Join(c.ReplaceReasons, ", ") + ")"
		case ActionDelete:
			head += " will be deleted"
		}
		t.line("%s", head)
		for _, fc := range c.Fields {
			writeField(t, fc, "    ", c.Action == ActionCreate)
		}
		if c.DataLoss {
			verb := "deleted"
			if c.Action == ActionReplace {
				verb = "replaced"
			}
			held := c.Kind // the kind whose data is lost: the deployed one
			if c.PreviousKind != "" {
				held = c.PreviousKind
			}
			msg := fmt.Sprintf("DATA LOSS: %s (%s) will be %s and the data it holds lost", c.Component, held, verb)
			if c.Action == ActionUpdate {
				msg = fmt.Sprintf("DATA LOSS: %s (%s) will be updated in place, deleting data it holds (%s changed; see above)", c.Component, held, strings.Join(c.DeleteReasons, ", "))
			}
			t.line("    %s", t.paint(ansiRed+ansiBold, msg))
		}
	}
}

func describeDesired(h Header) string {
	if h.Destroy {
		return "nothing (destroy)"
	}
	var s string
	switch {
	case h.Desired.Source == "history" && h.Desired.Ref != "":
		s = h.Desired.Ref
		if h.Desired.Commit != "" {
			s += " (commit " + short(h.Desired.Commit) + ")"
		}
	case h.Desired.Source == "ref" && h.Desired.Ref != "":
		s = "ref " + h.Desired.Ref
		if h.Desired.Commit != "" {
			s += " (" + short(h.Desired.Commit) + ")"
		}
	case h.Desired.Commit != "":
		s = "work tree at " + short(h.Desired.Commit)
	default:
		s = "work tree (no commit)"
	}
	if h.Desired.Dirty {
		s += ", dirty: uncommitted changes included"
	}
	return s
}

func describeDeployed(d Deployed) string {
	if d.Serial == 0 {
		return "nothing deployed yet"
	}
	s := "commit " + short(d.Commit)
	if d.Dirty {
		// as status and history say it: not that commit's YAML
		s += " (dirty)"
	}
	switch {
	case d.Destroyed:
		s = "nothing deployed: destroyed"
	case d.Commit == "" && d.By == "" && d.At == nil:
		// State, but no successful deployment: runs that failed.
		s = "no successful deployment yet"
	case d.Commit == "":
		s = "unknown commit"
	}
	if d.By != "" {
		s += " by " + d.By
	}
	if d.At != nil {
		s += " at " + d.At.UTC().Format(time.RFC3339)
	}
	s += fmt.Sprintf(" (state serial %d", d.Serial)
	if d.Status != "" && !(d.Destroyed && d.Status == "destroyed") {
		s += ", " + d.Status
	}
	return s + ")"
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// SummaryLine is the one-line summary: "Plan: 2 to create, 1 to update, 0
// to delete" (replacements named when there are any), or "No changes."
// when there is nothing to do.
func SummaryLine(s Summary) string {
	if !s.HasChanges() {
		return "No changes."
	}
	parts := []string{fmt.Sprintf("%d to create", s.Create), fmt.Sprintf("%d to update", s.Update)}
	if s.Replace > 0 {
		parts = append(parts, fmt.Sprintf("%d to replace", s.Replace))
	}
	parts = append(parts, fmt.Sprintf("%d to delete", s.Delete))
	line := "Plan: " + strings.Join(parts, ", ")
	if s.ProviderChanged {
		line += " (deployment target changed)"
	}
	return line
}

// doneByFailedRunsText says, after the summary line of a plan, which of
// its changes the failed runs before it made already (DoneByFailedRuns):
// the apply after it counts only what the engine still does.
func doneByFailedRunsText(done []string) string {
	return fmt.Sprintf(" (%d of them, %s, made already, or begun, by a failed run: apply records them, and its engine changes only what is left)", len(done), strings.Join(done, ", "))
}

// writeSummary writes the summary s of plans.
func writeSummary(t *textWriter, s Summary, what string, plans []*Result, opts TextOptions) {
	if !s.HasChanges() {
		if w := recordsSummary(plans, opts.Command); w != "" {
			t.line("%s", t.paint(ansiYellow, w))
			return
		}
		if slices.ContainsFunc(plans, (*Result).Recorded) {
			t.line("%s", t.paint(ansiGreen, "No changes to deploy. "+what+" differs from the deployed state only in service, labels, dependsOn, variables, references written as the values they have, or provider settings the local target does not use, which apply records."))
			return
		}
		if len(plans) == 1 && plans[0].Header.Deployed.Status == "failed" {
			// Matching the spec of a run that did not finish (an
			// interrupted destroy keeps the deployed spec) is not matching
			// what is deployed: apply runs the engine again.
			t.line("%s", t.paint(ansiYellow, "No changes to the recorded spec, but the last run of "+what+" did not finish (failed or interrupted): "+
				"deploying it (apply, rollback, promote) runs the engine again, which redoes what that run left undone (components a stopped destroy deleted are created again)."))
			return
		}
		if len(plans) == 1 && len(plans[0].Header.Deployed.Drifted) > 0 && !plans[0].Header.Destroy {
			// The spec matches, the resources do not: apply refreshes
			// them and runs the engine ("No changes" and then changed
			// resources read as a contradiction).
			drifted := plans[0].Header.Deployed.Drifted
			them := "them"
			if len(drifted) == 1 {
				them = "it"
			}
			t.line("%s", t.paint(ansiYellow, "No changes to the recorded spec, but drift detect found "+strings.Join(drifted, ", ")+
				" changed outside panka: deploying it (apply, rollback, promote) refreshes "+them+" from the real resources and puts "+them+" back."))
			return
		}
		if len(plans) > 1 {
			// plan --all-changed: the same holds for each of them; "each
			// matches the deployed state" was said over such a plan.
			var failed, drifted []string
			for _, p := range plans {
				name := p.Header.Stack + "/" + p.Header.Environment
				switch {
				case p.Header.Deployed.Status == "failed":
					failed = append(failed, name)
				case len(p.Header.Deployed.Drifted) > 0 && !p.Header.Destroy:
					drifted = append(drifted, name+" ("+strings.Join(p.Header.Deployed.Drifted, ", ")+")")
				}
			}
			if len(failed) > 0 || len(drifted) > 0 {
				var why []string
				if len(failed) > 0 {
					why = append(why, "the last run of "+strings.Join(failed, ", ")+" did not finish (failed or interrupted), and deploying it runs the engine again, which redoes what that run left undone")
				}
				if len(drifted) > 0 {
					why = append(why, "drift detect found components changed outside panka in "+strings.Join(drifted, ", ")+", and deploying it refreshes them from the real resources and puts them back")
				}
				t.line("%s", t.paint(ansiYellow, "No changes to the recorded specs, but "+strings.Join(why, "; ")+" (apply, rollback, promote)."))
				return
			}
		}
		t.line("%s", t.paint(ansiGreen, "No changes. "+what+" matches the deployed state."))
		return
	}
	line := SummaryLine(s)
	if len(plans) == 1 && len(plans[0].DoneByFailedRuns) > 0 {
		line += doneByFailedRunsText(plans[0].DoneByFailedRuns)
	}
	t.line("%s", t.paint(ansiBold, line))
	if len(s.DataLoss) > 0 {
		t.line("%s", t.paint(ansiRed+ansiBold, "Warning: DATA LOSS: "+strings.Join(s.DataLoss, ", ")+dataLossPermission(plans, opts)))
	}
}

// recordsSummary is the summary of plans without changes that apply
// records a new commit for all the same (RecordsCommit, RecordsEmpty):
// files some of them watch changed since their deployed commits, what
// runs was deployed from uncommitted changes, or nothing is deployed of a
// stack with no components. "No changes" read as nothing to apply, while
// changed --since-deployed lists them until a deployment records the
// commit. "" when there is none, or one runs the engine anyway (a last run
// that did not finish, drift to put back: their own summaries say so).
// command is the command that carries the plan out ("" for plan).
func recordsSummary(plans []*Result, command string) string {
	var names []string
	allWatched, allEmpty, anyEmpty := true, true, false
	for _, p := range plans {
		if p.Runs() {
			return ""
		}
		if p.RecordsCommit() || p.RecordsEmpty() {
			names = append(names, p.Header.Stack+"/"+p.Header.Environment)
			allWatched = allWatched && len(p.Watched) > 0
			allEmpty = allEmpty && p.RecordsEmpty()
			anyEmpty = anyEmpty || p.RecordsEmpty()
		}
	}
	switch {
	case len(names) == 0:
		return ""
	case len(plans) == 1 && allEmpty:
		// A stack with no component yet (fresh from panka stack init), or
		// whose deployment was destroyed: "matches the deployed state"
		// read as if something were deployed, and "No changes" as nothing
		// to apply, while changed --since-deployed lists it as not
		// deployed until a deployment is recorded.
		if command != "" {
			return fmt.Sprintf("No changes to deploy. %s has no components, and nothing is deployed: this %s records a deployment of it.", names[0], command)
		}
		return fmt.Sprintf("No changes to deploy. %s has no components, and nothing is deployed: apply records a deployment of it (until then panka changed --since-deployed lists it).", names[0])
	case allEmpty:
		return fmt.Sprintf("No changes to deploy. %s have no components, and nothing is deployed of them: apply records a deployment of each (until then panka changed --since-deployed lists them).",
			strings.Join(names, ", "))
	case len(plans) == 1:
		p := plans[0]
		why := fmt.Sprintf("files that %s watches (spec.watch) changed since its deployed commit %s", names[0], short(p.Header.Deployed.Commit))
		switch {
		case len(p.Watched) > 0:
		case p.Overridden:
			why = fmt.Sprintf("%s resolves otherwise than at its deployed commit %s where values given from outside the repository (--var, --var-file, PANKA_VAR_*) override it", names[0], short(p.Header.Deployed.Commit))
		default:
			why = fmt.Sprintf("%s runs a deployment made from uncommitted changes on top of commit %s", names[0], short(p.Header.Deployed.Commit))
		}
		if command != "" {
			// Shown by the command that records it.
			return fmt.Sprintf("No changes to deploy, but %s: this %s records the new commit.", why, command)
		}
		return fmt.Sprintf("No changes to deploy, but %s: apply records the new commit (until then panka changed --since-deployed lists it).", why)
	case allWatched:
		return fmt.Sprintf("No changes to deploy, but files that %s watch (spec.watch) changed since their deployed commits: apply records the new commits (until then panka changed --since-deployed lists them).",
			strings.Join(names, ", "))
	default:
		overridden := ""
		if slices.ContainsFunc(plans, func(p *Result) bool { return p.Overridden }) {
			overridden = " what values given from outside override changed,"
		}
		why := "files they watch, spec.watch, changed since their deployed commits," + overridden + " or what runs was deployed from uncommitted changes"
		if anyEmpty {
			why = "files they watch, spec.watch, changed since their deployed commits," + overridden + " what runs was deployed from uncommitted changes, or nothing is deployed of a stack with no components"
		}
		return fmt.Sprintf("No changes to deploy, but apply records new commits for %s (%s; until then panka changed --since-deployed lists them).",
			strings.Join(names, ", "), why)
	}
}

// dataLossPermission says which flags the data loss in plans needs: the
// ones the command was not given (" (destroy needs --allow-destroy)"), or
// that the ones given allow it.
func dataLossPermission(plans []*Result, opts TextOptions) string {
	var deletes, replaces, destroys, applies bool
	for _, p := range plans {
		for _, c := range p.Changes {
			if c.DataLoss {
				// An update that loses data deletes part of it.
				deletes = deletes || c.Action == ActionDelete || c.Action == ActionUpdate
				replaces = replaces || c.Action == ActionReplace
				destroys = destroys || p.Header.Destroy
				applies = applies || !p.Header.Destroy
			}
		}
	}
	var need, given []string
	for _, f := range []struct {
		name          string
		needed, given bool
	}{{"--allow-destroy", deletes, opts.AllowDestroy}, {"--allow-replace", replaces, opts.AllowReplace}} {
		switch {
		case f.needed && f.given:
			given = append(given, f.name)
		case f.needed:
			need = append(need, f.name)
		}
	}
	command := opts.Command
	switch {
	case command != "":
	case destroys && applies:
		command = "apply or destroy"
	case destroys:
		command = "destroy" // a plan of an environment that is gone
	default:
		command = "apply"
	}
	switch {
	case len(need) > 0:
		return fmt.Sprintf(" (%s needs %s)", command, strings.Join(need, " and "))
	case len(given) > 0:
		return fmt.Sprintf(" (allowed by %s)", strings.Join(given, " and "))
	}
	return ""
}

// WriteTextAll renders several plans followed by one summary for all of
// them (plan --all-changed).
func WriteTextAll(w io.Writer, plans []*Result, opts TextOptions) error {
	t := &textWriter{color: opts.Color}
	for i, p := range plans {
		if i > 0 {
			t.buf.WriteByte('\n')
			t.line("%s", t.paint(ansiDim, strings.Repeat("─", 60)))
		}
		p.writeText(t)
		t.buf.WriteByte('\n')
		line := SummaryLine(p.Summary)
		if p.HasChanges() && len(p.DoneByFailedRuns) > 0 {
			line += doneByFailedRunsText(p.DoneByFailedRuns)
		}
		if !p.HasChanges() && p.RecordsCommit() && !p.Runs() {
			switch {
			case len(p.Watched) > 0:
				line = "No changes to deploy; files it watches changed since the deployed commit: apply records the new commit."
			case p.Overridden:
				line = "No changes to deploy; values given from outside override what changed since the deployed commit: apply records the new commit."
			default:
				line = "No changes to deploy; it runs a deployment made from uncommitted changes: apply records the new commit."
			}
		} else if !p.Runs() && p.RecordsEmpty() {
			line = "No changes to deploy; it has no components and nothing is deployed: apply records a deployment of it."
		} else if !p.Runs() && p.Recorded() {
			// "No changes." over a plan that lists what apply records
			// (and --detailed-exitcode exits 2 for).
			line = "No changes to deploy; what changed deploys nothing, which apply records."
		}
		t.line("%s/%s: %s", p.Header.Stack, p.Header.Environment, line)
	}
	t.buf.WriteByte('\n')
	total := Total(plans)
	if len(plans) == 0 {
		t.line("No changed stacks to plan.")
	} else {
		writeSummary(t, total, fmt.Sprintf("Each of the %d planned stack environments", len(plans)), plans, opts)
	}
	_, err := w.Write(t.buf.Bytes())
	return err
}

// Total adds up the summaries of several plans (data-loss components are
// named stack/environment/component).
func Total(plans []*Result) Summary {
	var s Summary
	for _, p := range plans {
		s.Create += p.Summary.Create
		s.Update += p.Summary.Update
		s.Replace += p.Summary.Replace
		s.Delete += p.Summary.Delete
		s.NoOp += p.Summary.NoOp
		s.ProviderChanged = s.ProviderChanged || p.Summary.ProviderChanged
		for _, c := range p.Summary.DataLoss {
			s.DataLoss = append(s.DataLoss, p.Header.Stack+"/"+p.Header.Environment+"/"+c)
		}
	}
	return s
}

// writeField renders one field change; fields of a created component show
// their value only.
func writeField(t *textWriter, fc FieldChange, indent string, create bool) {
	suffix := ""
	if fc.ForcesReplace {
		note := "# forces replacement"
		if fc.Reason != "" {
			note += ": " + fc.Reason
		}
		suffix = " " + t.paint(ansiMagenta, note)
	} else if fc.Reason != "" {
		suffix = " " + t.paint(ansiDim, "# "+fc.Reason)
	}
	if fc.Sensitive {
		t.line("%s%s: %s%s", indent, fc.Path, arrow(t, fc, Masked, Masked, create), suffix)
		return
	}
	bt, bMulti := textOf(fc.Before)
	at, aMulti := textOf(fc.After)
	if bMulti || aMulti {
		if d := unifiedDiff(blockOf(fc.Before), blockOf(fc.After)); d != nil {
			t.line("%s%s:%s", indent, fc.Path, suffix)
			for _, l := range d {
				col := ""
				switch {
				case strings.HasPrefix(l, "@@"):
					col = ansiCyan
				case strings.HasPrefix(l, "+"):
					col = ansiGreen
				case strings.HasPrefix(l, "-"):
					col = ansiRed
				}
				t.line("%s  %s", indent, t.paint(col, visible(l)))
			}
			return
		}
	}
	t.line("%s%s: %s%s", indent, fc.Path, arrow(t, fc, visible(bt), visible(at), create), suffix)
}

func arrow(t *textWriter, fc FieldChange, before, after string, create bool) string {
	switch {
	case fc.Before == nil && create:
		return t.paint(ansiGreen, after)
	case fc.Before == nil:
		return "(none) → " + t.paint(ansiGreen, after)
	case fc.After == nil:
		return t.paint(ansiRed, before) + " → (removed)"
	}
	return before + " → " + after
}

// textOf renders a value on one line and says whether it deserves a
// multi-line diff instead (strings with newlines, long lists/objects).
func textOf(v any) (string, bool) {
	if v == nil {
		return "(none)", false
	}
	s := compactJSON(v)
	switch x := v.(type) {
	case string:
		return s, strings.Contains(x, "\n")
	case map[string]any, []any:
		return s, len(s) > 72
	}
	return s, false
}

// visible writes the control characters of a line of a multi-line diff
// (a carriage return, an escape sequence) as Go escapes (\r, \x1b), and
// those JSON leaves in one-line values (DEL, C1 controls such as U+009B,
// which terminals take as ESC [): written raw they would move the cursor
// or recolour the terminal, and a value could hide part of itself from
// the plan people approve. Tabs stay.
func visible(l string) string {
	ctl := func(r rune) bool { return r != '\t' && unicode.IsControl(r) }
	if !strings.ContainsFunc(l, ctl) {
		return l
	}
	var b strings.Builder
	for _, r := range l {
		if ctl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// blockOf renders a value as lines for a diff: strings as their text,
// everything else as indented JSON.
func blockOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return b.String()
}

func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// unifiedDiff returns the lines of a unified diff (three lines of context,
// @@ hunk headers) from a to b, or nil when they have the same lines.
func unifiedDiff(a, b string) []string {
	if a != "" && !strings.HasSuffix(a, "\n") {
		a += "\n"
	}
	if b != "" && !strings.HasSuffix(b, "\n") {
		b += "\n"
	}
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = 0 // no deadline: the same input always gives the same diff
	ca, cb, lines := dmp.DiffLinesToChars(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(ca, cb, false), lines)

	type dl struct {
		op   diffmatchpatch.Operation
		text string
	}
	var all []dl
	changed := false
	for _, d := range diffs {
		for _, l := range strings.SplitAfter(d.Text, "\n") {
			if l == "" {
				continue
			}
			all = append(all, dl{d.Type, strings.TrimSuffix(l, "\n")})
			if d.Type != diffmatchpatch.DiffEqual {
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	const context = 3
	var out []string
	for i := 0; i < len(all); {
		// Find the next change.
		j := i
		for j < len(all) && all[j].op == diffmatchpatch.DiffEqual {
			j++
		}
		if j == len(all) {
			break
		}
		start := max(j-context, i)
		// Extend the hunk while changes are within 2*context lines.
		end := j
		for k := j; k < len(all); k++ {
			if all[k].op != diffmatchpatch.DiffEqual {
				end = k + 1
				continue
			}
			if k-end >= 2*context {
				break
			}
		}
		stop := min(end+context, len(all))
		// Line numbers of the hunk in a and b.
		aLine, bLine := 1, 1
		for _, x := range all[:start] {
			if x.op != diffmatchpatch.DiffInsert {
				aLine++
			}
			if x.op != diffmatchpatch.DiffDelete {
				bLine++
			}
		}
		aN, bN := 0, 0
		var body []string
		for _, x := range all[start:stop] {
			switch x.op {
			case diffmatchpatch.DiffEqual:
				aN++
				bN++
				body = append(body, " "+x.text)
			case diffmatchpatch.DiffDelete:
				aN++
				body = append(body, "-"+x.text)
			case diffmatchpatch.DiffInsert:
				bN++
				body = append(body, "+"+x.text)
			}
		}
		if aN == 0 {
			aLine--
		}
		if bN == 0 {
			bLine--
		}
		out = append(out, fmt.Sprintf("@@ -%d,%d +%d,%d @@", aLine, aN, bLine, bN))
		out = append(out, body...)
		i = stop
	}
	return out
}

// WriteJSON writes the plan as indented JSON (schema in docs/plan.md).
func (p *Result) WriteJSON(w io.Writer) error {
	return writeIndented(w, p)
}

// All is the JSON shape of several plans under one summary (plan
// --all-changed -o json).
type All struct {
	FormatVersion int       `json:"formatVersion"`
	Plans         []*Result `json:"plans"`
	Summary       Summary   `json:"summary"`
}

// WriteJSONAll writes several plans and their total summary as JSON.
func WriteJSONAll(w io.Writer, plans []*Result) error {
	if plans == nil {
		plans = []*Result{}
	}
	return writeIndented(w, All{FormatVersion: FormatVersion, Plans: plans, Summary: Total(plans)})
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
