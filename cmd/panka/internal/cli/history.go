package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdHistory) }

// HistoryOptions are the inputs of `panka history`.
type HistoryOptions struct {
	F *Factory
	stateKeyFlags
	Limit  int
	Offset int
	// Commits joins each deployment with the git commits it included
	// (history_commits.go).
	Commits bool
}

func newCmdHistory(f *Factory) *cobra.Command {
	opts := &HistoryOptions{F: f}
	cmd := &cobra.Command{
		Use:   "history --stack S --environment E [--limit N]",
		Short: "List the deployments of a stack/environment, newest first",
		Long: `history lists the immutable deployment records of a stack/environment,
newest first: serial, time, operation (apply, destroy, rollback, promote),
commit, author, result and user. -o json prints every field of each record,
with full commit SHAs; secret values and SSM / Secrets Manager references
print as "(sensitive)", as in plan.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.Limit < 0 || opts.Offset < 0 {
				return Usagef("--limit and --offset must not be negative")
			}
			return historyRun(c.Context(), opts)
		},
	}
	opts.stateKeyFlags.register(cmd)
	markRequired(cmd, "", "stack", "environment")
	intVarP(cmd.Flags(), &opts.Limit, "limit", "n", 20, "show at most N records (0: all)", "how many records to show, e.g. --limit 50 (0: all)")
	intVarP(cmd.Flags(), &opts.Offset, "offset", "", 0, "skip the N newest records", "how many of the newest records to skip, e.g. --offset 20")
	cmd.Flags().BoolVar(&opts.Commits, "commits", false, "list the commits each deployment included (from the previous deployed commit to its own); rollbacks list the commits they undid")
	return cmd
}

func historyRun(ctx context.Context, opts *HistoryOptions) error {
	f := opts.F
	key, err := opts.key(opts.F)
	if err != nil {
		return err
	}
	s, cfg, err := f.stackStore(ctx, key.Stack)
	if err != nil {
		return err
	}
	// The state is read before the records: a run writes its history
	// record before its state, so a state read first never names a
	// deployment the listing after it lacks. Read the other way round, an
	// apply recording in between made its own record look deleted.
	var st *statestore.State
	var stErr error
	if opts.Offset == 0 {
		st, _, stErr = s.Get(ctx, key)
	}
	recs, err := s.History(ctx, key, opts.Offset, opts.Limit)
	// A record that cannot be read is listed in its place, and the others
	// all the same: one bad record hid every deployment from history.
	bad, err := statestore.Unreadable(err)
	if err != nil {
		return err
	}
	rows := historyRows(recs, bad)
	warnUnreadable(f, key, bad)
	if len(rows) > 0 && st != nil {
		warnUnrecorded(ctx, f, cfg, s, key, st, rows, f.describeBackend(cfg))
		noteStateWrite(f, key, st, rows[0].serial())
	}
	if len(rows) == 0 && opts.Offset == 0 {
		// A mistyped name has no records either: it is an error, as in
		// outputs, destroy and rollback, not "No deployments" and exit 0
		// for a script to take as "never deployed". A state without
		// records (state push) is not a typo, whatever the work tree has.
		if errors.Is(stErr, statestore.ErrNotFound) {
			if err := f.unknownNameInStacks(key, f.describeBackend(cfg)); err != nil {
				return err
			}
		}
	}
	if opts.Commits {
		return historyCommitsRun(ctx, f, s, key, rows, opts.Offset)
	}
	if f.JSON() {
		shown := make([]any, len(rows))
		for i, r := range rows {
			shown[i] = r.shown(key)
		}
		return f.PrintJSON(shown)
	}
	if len(rows) == 0 && opts.Offset > 0 {
		// History has fewer records than the offset skips: saying there
		// are none would read as "never deployed".
		fmt.Fprintf(f.Notices(), "No deployments of %s past the %d newest in %s; a smaller --offset shows older ones.\n", key, opts.Offset, f.describeBackend(cfg))
		return nil
	}
	if len(rows) == 0 {
		warned := false
		if st != nil && stErr == nil {
			warned = warnRecordMissing(f, key, st, nil, f.describeBackend(cfg))
		}
		fmt.Fprintf(f.Notices(), "No deployments of %s in %s.\n", key, f.describeBackend(cfg))
		if opts.Offset == 0 && !warned {
			// (The warning said why a state is there without history.)
			historyTypoHint(ctx, f, s, key)
		}
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tTIME\tOPERATION\tCOMMIT\tAUTHOR\tRESULT\tUSER")
	// The runs that cleared what an earlier, stopped run left (often a
	// killed one, with no record of its own): said under the table.
	var recovered []*statestore.Deployment
	for _, r := range rows {
		if r.bad != nil {
			fmt.Fprintf(tw, "%d\t%s\tunreadable\t-\t-\t-\t-\n", r.bad.Serial, r.bad.Named.UTC().Format(time.DateTime+"Z"))
			continue
		}
		d := r.d
		t := d.StartedAt
		if t.IsZero() {
			t = d.EndedAt
		}
		commit := commit7(d.Commit)
		if d.Dirty {
			commit += "+dirty"
		}
		result := orUnknown(d.Result)
		if done := doneBeforeStop(d.Result, d.ChangesFrom, d.Changes); done != "" {
			result += " (" + done + ")"
		}
		if !d.Recovered.Empty() {
			result += " (recovered)"
			recovered = append(recovered, d)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Serial, t.UTC().Format(time.DateTime+"Z"), historyOperation(d),
			orNone(commit), orNone(authorName(d.CommitAuthor)), result, orNone(d.User))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(recovered) > 0 {
		fmt.Fprintln(f.IO.Out)
	}
	for _, d := range recovered {
		fmt.Fprintf(f.IO.Out, "Serial %d recovered from an earlier run that stopped part way (killed, or cut off from its backends): %s\n", d.Serial, d.Recovered)
	}
	// What runs that recorded no deployment cleared since: in no record
	// yet, and otherwise only on the stderr of runs long gone.
	if st != nil && len(st.Recoveries) > 0 && opts.Offset == 0 {
		if len(recovered) == 0 {
			fmt.Fprintln(f.IO.Out)
		}
		for _, r := range st.Recoveries {
			fmt.Fprintf(f.IO.Out, "After serial %d, an earlier run stopped part way (killed, or cut off from its backends), and %s (the state keeps it until the next deployment's record takes it)\n", rows[0].serial(), r)
		}
	}
	return nil
}

// historyTypoHint follows "No deployments of key": a typo looks the same
// as "never deployed", so it names what is there. A mistyped environment
// gets the stack's own environments (one stack's listing); a mistyped stack
// gets the stacks of the store (one listing of stack names, not a walk of
// every environment of a monorepo's store) and, when one is close to the
// name given, that stack's environments.
func historyTypoHint(ctx context.Context, f *Factory, s statestore.Store, key statestore.Key) {
	keys, err := s.ListStack(ctx, key.Stack)
	if err != nil {
		return
	}
	if slices.Contains(keys, key) {
		// Its own state is there: listing it as "deployed there" would
		// contradict the line before.
		fmt.Fprintf(f.Notices(), "%s has a state there but no history records: a state written by panka state push, or history objects removed since (panka state show --stack %s --environment %s shows the state).\n",
			key, key.Stack, key.Environment)
		return
	}
	if len(keys) == 0 {
		names, err := statestore.StackNames(ctx, s)
		// The stack's own folder may hold other objects than states (the
		// engine's state of a deployment that was not recorded): it is
		// not deployed there, whatever the listing of stack names says,
		// and was suggested as itself ("did you mean "shop"?").
		names = slices.DeleteFunc(names, func(n string) bool { return n == key.Stack })
		if err != nil || len(names) == 0 {
			return
		}
		if close := stacks.Suggestions(key.Stack, names); len(close) > 0 {
			fmt.Fprintf(f.Notices(), "No stack %q is deployed there; %s\n", key.Stack, didYouMean(key.Stack, names))
			keys = nil
			for _, c := range close {
				ks, err := s.ListStack(ctx, c)
				if err != nil {
					return
				}
				keys = append(keys, ks...)
			}
		} else {
			fmt.Fprintf(f.Notices(), "No stack %q is deployed there; stacks deployed there: %s (panka state list lists every stack/environment).\n", key.Stack, listSome(names, 20))
			return
		}
	}
	if len(keys) == 0 {
		return
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	fmt.Fprintf(f.Notices(), "Deployed there: %s.\n", listSome(names, 20))
}

// listSome joins the first n of names, saying how many more there are.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// historyRow is one record of a page of history: a deployment, or a
// record that cannot be read (bad), shown in its place.
type historyRow struct {
	d   *statestore.Deployment
	bad *statestore.UnreadableRecord
}

func (r historyRow) serial() int64 {
	if r.bad != nil {
		return r.bad.Serial
	}
	return r.d.Serial
}

// historyRows merges the records History read and those it could not
// read (both newest first, SortHistory order) in the order of the history.
func historyRows(recs []*statestore.Deployment, bad []statestore.UnreadableRecord) []historyRow {
	rows := make([]historyRow, 0, len(recs)+len(bad))
	for len(recs) > 0 || len(bad) > 0 {
		if len(bad) == 0 || len(recs) > 0 && newerThan(recs[0], &bad[0]) {
			rows = append(rows, historyRow{d: recs[0]})
			recs = recs[1:]
			continue
		}
		rows = append(rows, historyRow{bad: &bad[0]})
		bad = bad[1:]
	}
	return rows
}

// newerThan reports whether d comes before b in the history (SortHistory:
// the higher serial, then the later name).
func newerThan(d *statestore.Deployment, b *statestore.UnreadableRecord) bool {
	if d.Serial != b.Serial {
		return d.Serial > b.Serial
	}
	name, _ := statestore.HistoryName(d)
	return name > b.Name
}

// unreadableJSON is how -o json shows a record that cannot be read, in
// its place among the others: the serial and time its name says, and
// under "unreadable" (a field no record has) where it is and why it
// cannot be read.
type unreadableJSON struct {
	Serial      int64     `json:"serial"`
	Stack       string    `json:"stack"`
	Environment string    `json:"environment"`
	StartedAt   time.Time `json:"startedAt"`
	Unreadable  struct {
		Location string `json:"location"`
		Error    string `json:"error"`
	} `json:"unreadable"`
}

// shown is the row as -o json prints it.
func (r historyRow) shown(key statestore.Key) any {
	if r.bad == nil {
		return shownDeployment(r.d)
	}
	u := &unreadableJSON{Serial: r.bad.Serial, Stack: key.Stack, Environment: key.Environment, StartedAt: r.bad.Named}
	u.Unreadable.Location, u.Unreadable.Error = r.bad.Location, r.bad.Err.Error()
	return u
}

// warnUnreadable says, for each record of bad, that it cannot be read, why,
// and what to do (the record's error says it).
func warnUnreadable(f *Factory, key statestore.Key, bad []statestore.UnreadableRecord) {
	for _, b := range bad {
		f.Warnf("history record %d of %s cannot be read (listed as unreadable): %v", b.Serial, key, b.Err)
	}
}

// warnUnrecorded warns about the records of rows (the newest first) newer
// than st, the state read before them: a run killed between its history
// record and its state write (or whose record could not be withdrawn)
// leaves one, and it reads like any other deployment although the state
// never recorded it. A record of the run that holds the lease now is no
// such thing: that run writes its state next (a state write that takes
// long, retried against a throttling S3, left a running apply's record
// called the record of a run that stopped). Nor is one the state has
// caught up with since it was read (that run recorded and released
// meanwhile).
func warnUnrecorded(ctx context.Context, f *Factory, cfg *config.Resolved, s statestore.Store, key statestore.Key, st *statestore.State, rows []historyRow, backend string) {
	warnRecordMissing(f, key, st, rows, backend)
	var ahead []*statestore.Deployment
	for _, r := range rows {
		if r.d != nil && r.d.Serial > st.Serial {
			ahead = append(ahead, r.d)
		}
	}
	if len(ahead) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, leasePeekTimeout)
	h, lockNow, held := heldLease(pctx, f, cfg, key)
	cancel()
	if held && h.ID != "" && ahead[0].LockID == h.ID {
		fmt.Fprintf(f.Notices(), "Note: record %d of %s is of the %s running now (locked by %s): it has written its history record and is recording its state (serial %d until it has)\n",
			ahead[0].Serial, key, orNone(ahead[0].Operation), describeHolder(h, lockNow), st.Serial)
		ahead = ahead[1:]
	} else if now, _, err := s.Get(ctx, key); err == nil && now.Serial >= ahead[0].Serial {
		return
	}
	if len(ahead) == 0 {
		return
	}
	serials := make([]string, len(ahead))
	var newest int64
	for i, d := range ahead {
		serials[i] = fmt.Sprint(d.Serial)
		newest = max(newest, d.Serial)
	}
	what := fmt.Sprintf("record %s of %s is", serials[0], key)
	if len(serials) > 1 {
		what = fmt.Sprintf("records %s of %s are", strings.Join(serials, ", "), key)
	}
	f.Warnf("%s newer than its state (serial %d): the run that wrote it stopped before recording its state (killed, or its state write failed), "+
		"or state.json was restored to an earlier version, so it may describe a deployment the state does not hold; panka status --stack %s shows what the state holds, "+
		"and the next apply plans against it and records serial %d",
		what, st.Serial, key.Stack, max(newest, rows[0].serial())+1)
}

// noteStateWrite says, when st is ahead of newest (the newest record's
// serial) because a state rm or state push wrote it after that record,
// that such writes have no history record: status showed serial 7 while
// history ended at 6, and nothing said why. Drift checks since (they move
// the serial on every scheduled run, and keep LastWrite) are said as such:
// a drift check after a state rm hid the note. Nothing is said when only
// drift checks moved the state past the newest record: that would be a
// line on every history.
func noteStateWrite(f *Factory, key statestore.Key, st *statestore.State, newest int64) {
	w := st.LastWrite
	if w == nil || w.Serial <= newest || w.Serial > st.Serial || (w.Operation != statestore.WriteStateRm && w.Operation != statestore.WriteStatePush) {
		return
	}
	if d := st.LastDeployment; d != nil && d.Serial > newest {
		// Its deployment has no record either: warnRecordMissing says
		// so, state push included.
		return
	}
	by := ""
	if w.User != "" {
		by = " by " + w.User
	}
	if !w.At.IsZero() {
		by += " at " + w.At.UTC().Format(time.RFC3339)
	}
	written := fmt.Sprintf("written by panka %s%s", w.Operation, by)
	if w.Serial != st.Serial {
		// Only drift checks, and runs keeping what they cleared of a
		// stopped one (Recoveries), write a state after a state rm or
		// push and keep its LastWrite (a deployment writes one without).
		then := "drift checks"
		if slices.ContainsFunc(st.Recoveries, func(r statestore.Recovery) bool { return r.At.After(w.At) }) {
			then = "drift checks or runs keeping what they cleared of a stopped run (said below the table)"
		}
		written = fmt.Sprintf("written by panka %s%s (serial %d), then by %s,", w.Operation, by, w.Serial, then)
	}
	fmt.Fprintf(f.Notices(), "Note: the state of %s is at serial %d, %s after the newest record here (serial %d): %s and %s change the state without recording a deployment, so they have no row in history (panka state show --stack %s --environment %s shows the state).\n",
		key, st.Serial, written, newest, statestore.WriteStateRm, statestore.WriteStatePush, key.Stack, key.Environment)
}

// warnRecordMissing warns when the deployment st records as its last is
// not in recs (the newest records, newest first) although recs reach back
// to its serial: its record was deleted out of band (by hand, a lifecycle
// rule), and history listed the deployment before it as the newest while
// status showed the one the state holds. With no record at all, the
// likely cause is a state moved with state pull | state push, which
// carries state.json only: that was said to be a deletion. It reports
// whether it warned.
func warnRecordMissing(f *Factory, key statestore.Key, st *statestore.State, recs []historyRow, backend string) bool {
	d := st.LastDeployment
	if d == nil || d.Serial <= 0 || len(recs) > 0 && d.Serial < recs[len(recs)-1].serial() {
		return false
	}
	for _, r := range recs {
		// (A record that cannot be read is there all the same.)
		if r.serial() == d.Serial {
			return false
		}
	}
	what := fmt.Sprintf("the last deployment state.json records for %s (serial %d, %s of commit %s by %s, %s)",
		key, d.Serial, d.Operation, commit7(d.Commit), dash(d.User), orNone(d.Result))
	hist := backend + statestore.HistoryPrefix("", key)
	carry := fmt.Sprintf("panka has no command that copies history: to carry it with a state moved from another backend, copy the old backend's %s objects there too "+
		"(moving a whole stack/environment is a copy of its tree, see docs/state.md)", statestore.HistoryPrefix("", key))
	if len(recs) == 0 {
		f.Warnf("%s has no history record, nor has any deployment of %s in %s: the state was written by panka state push (state pull | state push carries state.json only, not its history), "+
			"or the history was deleted (by hand, or a lifecycle rule); %s; panka status --stack %s shows that deployment from the state",
			what, key, hist, carry, key.Stack)
		return true
	}
	f.Warnf("%s has no history record: it was deleted out of band (by hand, or a lifecycle rule) from %s, or the state was pushed from another backend (panka state push carries no history); "+
		"restore it from an earlier object version if the bucket keeps them (panka status --stack %s shows that deployment from the state)",
		what, hist, key.Stack)
	return true
}

// historyOperation adds what a rollback or promote came from, and which
// components a partial deployment deployed.
func historyOperation(d *statestore.Deployment) string {
	switch {
	case d.Operation == statestore.OpRollback && d.FromCommit != "":
		return d.Operation + " from " + commit7(d.FromCommit) + partialNote(d)
	case d.Operation == statestore.OpPromote && d.FromEnvironment != "":
		return d.Operation + " from " + d.FromEnvironment + partialNote(d)
	}
	return orUnknown(d.Operation) + partialNote(d)
}

// partialNote names the components a partial deployment (apply
// --target-component, or a rollback to one's recorded spec) deployed, as
// status says "only web of that commit was deployed": the history listed
// it as a plain apply of the commit, whose other components it left as
// they were.
func partialNote(d *statestore.Deployment) string {
	if len(d.TargetComponents) == 0 {
		return ""
	}
	return " (only " + strings.Join(d.TargetComponents, ", ") + ")"
}

// orUnknown is s, or "unknown" for a field every record panka writes
// fills (operation, result) that a hand edit left empty: a blank there
// read as a column shifted, or as a run still going.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// doneBeforeStop says what a failed or interrupted run changed before it
// stopped, as the engine's summary counted it, in Pulumi resources ("2
// resources created, 1 deleted", "nothing changed"): not the plan's
// components, which the line would otherwise be read as. "" for a run
// that succeeded or whose counts are the plan's (the engine did not say
// what it did).
func doneBeforeStop(result, from string, changes *statestore.ChangeSummary) string {
	if result == statestore.ResultSucceeded || from != statestore.ChangesFromEngine || changes == nil {
		return ""
	}
	return changeCounts(changes, "resource")
}

// changeCounts says the non-zero counts of changes ("2 created, 1
// deleted"), or "nothing changed"; a unit names what the first count
// counts ("2 resources created, 1 deleted").
func changeCounts(changes *statestore.ChangeSummary, unit string) string {
	var parts []string
	for _, c := range []struct {
		n    int
		verb string
	}{{changes.Create, "created"}, {changes.Update, "updated"}, {changes.Replace, "replaced"}, {changes.Delete, "deleted"}} {
		if c.n == 0 {
			continue
		}
		if len(parts) == 0 && unit != "" {
			u := unit
			if c.n != 1 {
				u += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s %s", c.n, u, c.verb))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", c.n, c.verb))
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, ", ")
}

// authorName keeps the name of "Name <email>".
func authorName(a string) string {
	if i := strings.Index(a, " <"); i > 0 {
		return a[:i]
	}
	return a
}
