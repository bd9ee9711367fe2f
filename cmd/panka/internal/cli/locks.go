package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdLocks) }

// LocksOptions are the inputs of locks list and locks show.
type LocksOptions struct {
	F *Factory
	// Config resolves the configuration for a stack ("" for the
	// repository-wide one).
	Config func(stack string) (*config.Resolved, error)
	// OpenLocker opens the lock backend of a configuration.
	OpenLocker func(ctx context.Context, cfg *config.Resolved) (locker.Locker, error)
	// Caller is the caller's lock identity under cfg (lockedBy), to tell
	// whether a stale lease is theirs; Factory.LockIdentity when nil.
	Caller func(ctx context.Context, cfg *config.Resolved) string
	// StacksWithBackend names the stacks with their own spec.backend,
	// whose leases locks list reads from their own lock backend;
	// Factory.stacksWithBackend when nil.
	StacksWithBackend func() []string

	Stack, Environment string
}

func newLocksOptions(f *Factory) *LocksOptions {
	// A stack's own spec.backend settings (its bucket, prefix or lock
	// table) apply to its locks; listing reads the repository-wide lock
	// backend and those of such stacks.
	cfg := func(stack string) (*config.Resolved, error) {
		if stack == "" {
			return f.Config()
		}
		return f.stackConfig(stack)
	}
	return &LocksOptions{F: f, Config: cfg, OpenLocker: f.Locker}
}

func newCmdLocks(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "locks",
		Short: "List and inspect lock leases (who is deploying what)",
		Long: `Every apply, destroy, rollback, promote and drift detect of a stack/environment,
and every state push and state rm, runs under a lock lease (locks.type local,
s3 or dynamodb). A lease lives for locks.ttl and is extended by heartbeats every
locks.heartbeat while its holder runs; the lease of a crashed run expires by
itself, and on the machine it ran on the next operation takes it over at once
once its process is provably gone (killed, crashed). An expired lease stays
listed until someone takes it.

Remove a lease with panka unlock.`,
	}
	cmd.AddCommand(newCmdLocksList(f), newCmdLocksShow(f))
	return cmd
}

func newCmdLocksList(f *Factory) *cobra.Command {
	opts := newLocksOptions(f)
	return &cobra.Command{
		Use:   "list",
		Short: "List every held lock lease with holder, age and expiry",
		Example: `  panka locks list
  panka locks list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return locksListRun(cmd.Context(), opts) },
	}
}

func newCmdLocksShow(f *Factory) *cobra.Command {
	opts := newLocksOptions(f)
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show the lock lease of one stack/environment",
		Example: `  panka locks show --stack app --environment prod`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			return locksShowRun(cmd.Context(), opts)
		},
	}
	stackEnvFlags(cmd.Flags(), &opts.Stack, &opts.Environment)
	markRequired(cmd, "", "stack", "environment")
	return cmd
}

// LockJSON is one lease in -o json output (stable field names).
type LockJSON struct {
	Stack            string    `json:"stack"`
	Environment      string    `json:"environment"`
	LockKey          string    `json:"lockKey"`
	LockID           string    `json:"lockId"`
	LockedBy         string    `json:"lockedBy"`
	LockedAt         time.Time `json:"lockedAt"`
	ExpiresAt        time.Time `json:"expiresAt"`
	LastHeartbeat    time.Time `json:"lastHeartbeat"`
	AgeSeconds       int64     `json:"ageSeconds"`
	ExpiresInSeconds int64     `json:"expiresInSeconds"`
	Expired          bool      `json:"expired"`
	// Stale: taken on this host by a process that no longer runs.
	Stale    bool            `json:"stale,omitempty"`
	Metadata locker.Metadata `json:"metadata"`
}

func lockJSON(i locker.Info, now time.Time) LockJSON {
	stack, env, _ := locker.ParseKey(i.Key)
	return LockJSON{Stack: stack, Environment: env, LockKey: i.Key, LockID: i.ID, LockedBy: i.LockedBy,
		LockedAt: i.LockedAt.UTC(), ExpiresAt: i.ExpiresAt.UTC(), LastHeartbeat: i.LastHeartbeat.UTC(),
		AgeSeconds: int64(now.Sub(i.LockedAt).Seconds()), ExpiresInSeconds: int64(i.ExpiresAt.Sub(now).Seconds()),
		Expired: i.Expired(now), Stale: holderGone(i), Metadata: i.Metadata}
}

func locksListRun(ctx context.Context, opts *LocksOptions) error {
	f := opts.F
	cfg, err := opts.Config("")
	if err != nil {
		return err
	}
	// The repository-wide lock backend, then those of stacks with their
	// own spec.backend (another bucket, prefix or table), as state list
	// does: their leases are nowhere else, and "No locks held" while one
	// of them deploys would be wrong.
	type source struct {
		cfg   *config.Resolved
		stack string // only this stack's leases ("" = all)
	}
	sources := []source{{cfg: cfg}}
	stacksWithBackend := opts.StacksWithBackend
	if stacksWithBackend == nil {
		stacksWithBackend = f.stacksWithBackend
	}
	for _, name := range stacksWithBackend() {
		c, err := opts.Config(name)
		if err != nil {
			return err
		}
		sources = append(sources, source{cfg: c, stack: name})
	}
	var list []locker.Info
	var unreadable *locker.UnreadableError
	var wheres []string
	seen := map[string]bool{}
	var first locker.Locker // its clock is what lease times are compared with
	for _, src := range sources {
		where := f.describeLocker(src.cfg)
		if !slices.Contains(wheres, where) {
			wheres = append(wheres, where)
		}
		l, err := opts.OpenLocker(ctx, src.cfg)
		if err != nil {
			return err
		}
		if first == nil {
			first = l
		}
		infos, err := l.List(ctx)
		// Damaged records are reported after the leases that could be read.
		var u *locker.UnreadableError
		if err != nil && !errors.As(err, &u) {
			if strings.HasPrefix(err.Error(), "list locks in ") {
				// The lockers say where they looked themselves: it read
				// "list locks in X: list locks in X: ...".
				return err
			}
			return fmt.Errorf("list locks in %s: %w", where, err)
		}
		if u != nil {
			if unreadable == nil {
				unreadable = &locker.UnreadableError{}
			}
			// Sources that share a lock backend (a stack whose own
			// spec.backend keeps its locks where the others are) list
			// the same damaged records: each is reported once.
			for _, e := range u.Errs {
				if id := where + "\x00" + e.Error(); !seen[id] {
					seen[id] = true
					unreadable.Errs = append(unreadable.Errs, e)
				}
			}
		}
		for _, i := range infos {
			if stack, _, ok := locker.ParseKey(i.Key); src.stack != "" && (!ok || stack != src.stack) {
				continue
			}
			if id := where + "\x00" + i.Key; !seen[id] {
				seen[id] = true
				list = append(list, i)
			}
		}
	}
	sort.SliceStable(list, func(a, b int) bool { return list[a].Key < list[b].Key })
	err = nil
	if unreadable != nil {
		err = unreadable
	}
	now := lockNow(first, f.Now)
	if f.JSON() {
		out := struct {
			Locks []LockJSON `json:"locks"`
			// Unreadable says which lock records are there but damaged.
			Unreadable []string `json:"unreadable,omitempty"`
		}{Locks: []LockJSON{}}
		for _, i := range list {
			out.Locks = append(out.Locks, lockJSON(i, now))
		}
		if unreadable != nil {
			for _, e := range unreadable.Errs {
				out.Unreadable = append(out.Unreadable, e.Error())
			}
		}
		if perr := f.PrintJSON(out); perr != nil {
			return perr
		}
		return err
	}
	if len(list) == 0 {
		if unreadable != nil {
			return err
		}
		fmt.Fprintf(f.Notices(), "No locks held (%s).\n", strings.Join(wheres, ", "))
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tENVIRONMENT\tHOLDER\tHOST\tOPERATION\tCOMMIT\tAGE\tEXPIRES")
	for _, i := range list {
		stack, env, ok := locker.ParseKey(i.Key)
		if !ok {
			stack, env = i.Key, "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", stack, env, dash(i.LockedBy), dash(i.Metadata.Hostname),
			dash(i.Metadata.Operation), dash(shortCommit(i.Metadata.Commit)), humanDuration(now.Sub(i.LockedAt)), expiry(i, now))
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	// The lease of a dead process reads like any other ("in 59m"): said
	// under the table, as locks show says it.
	who, known := "", false
	for _, i := range list {
		if !holderGone(i) {
			continue
		}
		if !known {
			who, known = callerIdentity(ctx, f, opts.Caller, cfg), true
		}
		stack, env, _ := locker.ParseKey(i.Key)
		fmt.Fprintf(f.Notices(), "%s/%s is stale: %s\n", stack, env, staleNote(i, who, stack, env, now, cfg.Locks.Heartbeat.D()))
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func expiry(i locker.Info, now time.Time) string {
	if i.Expired(now) {
		return "expired " + humanDuration(now.Sub(i.ExpiresAt)) + " ago"
	}
	return "in " + humanDuration(i.ExpiresAt.Sub(now))
}

func locksShowRun(ctx context.Context, opts *LocksOptions) error {
	f := opts.F
	cfg, err := opts.Config(opts.Stack)
	if err != nil {
		return err
	}
	l, err := opts.OpenLocker(ctx, cfg)
	if err != nil {
		return err
	}
	info, err := l.Get(ctx, locker.Key(opts.Stack, opts.Environment))
	if err != nil {
		if bad := invalidLockName(opts.Stack, opts.Environment, cfg, f); bad != nil {
			return bad
		}
	}
	locked := true
	if errors.Is(err, locker.ErrNotFound) {
		locked = false
	} else if err != nil {
		return err
	}
	if !locked {
		if err := notLockedTypo(ctx, f, cfg, statestore.Key{Stack: opts.Stack, Environment: opts.Environment}); err != nil {
			return err
		}
	}
	now := lockNow(l, f.Now)
	if f.JSON() {
		out := struct {
			Stack       string    `json:"stack"`
			Environment string    `json:"environment"`
			Locked      bool      `json:"locked"`
			Lock        *LockJSON `json:"lock,omitempty"`
		}{Stack: opts.Stack, Environment: opts.Environment, Locked: locked}
		if locked {
			j := lockJSON(info, now)
			out.Lock = &j
		}
		return f.PrintJSON(out)
	}
	if !locked {
		fmt.Fprintf(f.IO.Out, "%s/%s is not locked.\n", opts.Stack, opts.Environment)
		return nil
	}
	who := ""
	if holderGone(info) {
		// Only then is who asked (an STS call for AWS locks).
		who = callerIdentity(ctx, f, opts.Caller, cfg)
	}
	printLock(f.IO.Out, info, now, who, cfg.Locks.Heartbeat.D())
	return nil
}

// callerIdentity is who the caller is under cfg (lockedBy): caller's
// answer, or Factory.LockIdentity's when caller is nil.
func callerIdentity(ctx context.Context, f *Factory, caller func(context.Context, *config.Resolved) string, cfg *config.Resolved) string {
	if caller != nil {
		return caller(ctx, cfg)
	}
	who, _ := f.LockIdentity(ctx, cfg, "", "")
	return who
}

// printLock writes the details of a lease, one field a line; who is the
// caller's lock identity, to say how a stale lease is removed; every the
// heartbeat interval, to say when a holder has gone silent.
func printLock(w io.Writer, i locker.Info, now time.Time, who string, every time.Duration) {
	stack, env, _ := locker.ParseKey(i.Key)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Lock", stack+"/"+env)
	row("Held by", i.LockedBy)
	row("Lock ID", i.ID)
	host := i.Metadata.Hostname
	if host != "" && i.Metadata.PID != 0 {
		host += fmt.Sprintf(" (pid %d)", i.Metadata.PID)
	}
	row("Host", host)
	row("Operation", i.Metadata.Operation)
	row("Commit", i.Metadata.Commit)
	row("panka", i.Metadata.Version)
	row("CI run", i.Metadata.CIURL)
	row("Locked at", fmt.Sprintf("%s (%s ago)", i.LockedAt.UTC().Format(time.RFC3339), humanDuration(now.Sub(i.LockedAt))))
	beat := fmt.Sprintf("%s (%s ago)", i.LastHeartbeat.UTC().Format(time.RFC3339), humanDuration(now.Sub(i.LastHeartbeat)))
	if quiet := heartbeatSilence(i, now, every); quiet > 0 && holderRuns(i) {
		beat += fmt.Sprintf("; a running holder renews it every %s, but pid %d still runs on this host: stopped, suspended or hung", every, i.Metadata.PID)
	} else if quiet > 0 {
		beat += fmt.Sprintf("; a running holder renews it every %s: that run is most likely dead (if you are sure: panka unlock --stack %s --environment %s --force)", every, stack, env)
	}
	row("Heartbeat", beat)
	row("Expires", fmt.Sprintf("%s (%s)", i.ExpiresAt.UTC().Format(time.RFC3339), expiry(i, now)))
	if holderGone(i) {
		row("Stale", staleNote(i, who, stack, env, now, every))
	}
	tw.Flush()
}

// staleNote says of stale lease i (holderGone) that its process is gone
// and what removes the lease: the next operation here when it takes it
// over (holderEnded at now, every the heartbeat interval), and the least
// forceful unlock for the caller who (staleUnlock).
func staleNote(i locker.Info, who, stack, env string, now time.Time, every time.Duration) string {
	cmd, why := staleUnlock(i, who, stack, env)
	if why != "" {
		why = " (" + why + ")"
	}
	next := ""
	if holderEnded(i, now, every) {
		next = "the next operation on this host takes it over, or "
	}
	return fmt.Sprintf("pid %d no longer runs on this host; %s%s removes it%s", i.Metadata.PID, next, cmd, why)
}

// notLockedTypo is the error of locks show for a key that is not locked
// and that neither the work tree's stacks nor the state store knows: a mistyped
// name is never locked either, and "not locked" with exit 0 read as "free
// to deploy" (outputs, history and destroy refuse such a name so too). A
// key with state (a stack or environment the work tree no longer has) is
// no typo; nor is anything when the store cannot be read.
func notLockedTypo(ctx context.Context, f *Factory, cfg *config.Resolved, key statestore.Key) error {
	where := f.describeBackend(cfg)
	uerr := f.unknownNameInStacks(key, where)
	if uerr == nil {
		return nil
	}
	s, err := f.Store(ctx, cfg)
	if err != nil {
		return nil
	}
	if _, _, err := s.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("%s is not locked; %w", key, uerr)
}
