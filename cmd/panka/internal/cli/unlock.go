package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdUnlock) }

// UnlockOptions are the inputs of unlock.
type UnlockOptions struct {
	LocksOptions
	// Identity says who the caller is (lockedBy, hostname), to recognise
	// the caller's own lock when no --lock-id is given.
	Identity func(ctx context.Context) (who, host string)

	LockID string
	Force  bool
	Yes    bool
}

func newCmdUnlock(f *Factory) *cobra.Command {
	opts := &UnlockOptions{LocksOptions: *newLocksOptions(f)}
	opts.Identity = func(ctx context.Context) (string, string) {
		cfg, err := opts.Config(opts.Stack)
		if err != nil {
			return "", ""
		}
		who, meta := f.LockIdentity(ctx, cfg, "", "")
		return who, meta.Hostname
	}
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove the lock lease of a stack/environment",
		Long: `Unlock removes a stack/environment's lock lease.

Without --force it only removes your own lease: the one with --lock-id, or,
without --lock-id, one held by you (same identity and host), e.g. left behind
by a run you killed (on the machine it ran on, the next operation takes such
a lease over by itself). It never removes, without --force, a lease taken on this
host by a process that is still running (say an apply in another terminal):
that would stop the run at its next heartbeat. With --force it removes whoever's lease after showing
it (and saying so when the process that took it still runs on this host): use it only when that run is dead (a lease also expires by itself after
locks.ttl). --force asks for confirmation on a terminal and needs --yes
otherwise. The removal is conditional on the lease that was shown: if it
changed hands meanwhile, nothing is removed.

A lease held by someone else exits with code 3.`,
		Example: `  panka unlock --stack app --environment prod
  panka unlock --stack app --environment prod --lock-id 2b1c...
  panka unlock --stack app --environment prod --force
  panka unlock --stack app --environment prod --force --yes   # in CI`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			if opts.Force && opts.LockID != "" {
				return Usagef("--force removes whatever lease is there; do not combine it with --lock-id")
			}
			return unlockRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	stackEnvFlags(fl, &opts.Stack, &opts.Environment)
	markRequired(cmd, "", "stack", "environment")
	fl.StringVar(&opts.LockID, "lock-id", "", "remove the lease only while it has this lock id")
	fl.BoolVar(&opts.Force, "force", false, "remove the lease whoever holds it (after showing it)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (required with --force when not on a terminal)")
	return cmd
}

func unlockRun(ctx context.Context, opts *UnlockOptions) error {
	f := opts.F
	cfg, err := opts.Config(opts.Stack)
	if err != nil {
		return err
	}
	l, err := opts.OpenLocker(ctx, cfg)
	if err != nil {
		return err
	}
	key := locker.Key(opts.Stack, opts.Environment)
	name := opts.Stack + "/" + opts.Environment
	cur, err := l.Get(ctx, key)
	if err != nil {
		if bad := invalidLockName(opts.Stack, opts.Environment, cfg, f); bad != nil {
			return bad
		}
	}
	if errors.Is(err, locker.ErrNotFound) {
		if terr := notLockedTypo(ctx, f, cfg, statestore.Key{Stack: opts.Stack, Environment: opts.Environment}); terr != nil {
			return terr // a typo: say which name was meant
		}
		return fmt.Errorf("%s is not locked (%s); nothing to unlock", name, f.describeLockOf(cfg, opts.Stack, opts.Environment))
	}
	if errors.Is(err, locker.ErrUnreadable) && opts.Force {
		return unlockUnreadable(ctx, opts, l, key, err)
	}
	if err != nil {
		return err
	}
	now := lockNow(l, f.Now)
	switch {
	case opts.Force:
		msg := fmt.Sprintf("%s is locked by %s.", name, describeHolder(cur, now))
		if opts.Identity != nil {
			if _, host := opts.Identity(ctx); host != "" {
				if _, alive := localHolder(cur, host); alive {
					// Said before --yes goes ahead: that run is not dead.
					pid := cur.Metadata.PID
					msg += fmt.Sprintf("\nProcess %d, which took it, still runs on this host: removing its lease stops that run at its next heartbeat (within locks.heartbeat, %s), its engine cancelled mid-update. "+
						"To stop it cleanly instead (recorded, lock released), press Ctrl-C in its terminal or run kill -INT %d.", pid, cfg.Locks.Heartbeat.D(), pid)
				}
			}
		}
		showLease(f, msg)
		if !opts.Yes {
			if !f.IO.CanPrompt() {
				// Like apply/destroy without --auto-approve: a plain error
				// (the invocation is right, only the answer is missing).
				return fmt.Errorf("unlock --force of %s needs confirmation and there is no terminal to ask on: re-run with --yes to confirm (or run it in a terminal); nothing was removed", name)
			}
			ok, err := unlockConfirm(f, fmt.Sprintf("Remove this lease? If that run is still going it will stop at its next heartbeat. [y/N] "))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("unlock of %s cancelled; nothing was removed", name)
			}
		}
	case opts.LockID != "":
		if cur.ID != opts.LockID {
			return fmt.Errorf("%s is held with lock id %s, not %s: %w\nIf that run is dead, remove its lease with:\n  panka unlock --stack %s --environment %s --force",
				name, cur.ID, opts.LockID, &locker.HeldError{Holder: cur}, opts.Stack, opts.Environment)
		}
		_, host := opts.Identity(ctx)
		if err := refuseLiveHolder(opts, cur, host, now); err != nil {
			return err
		}
	default:
		who, host := opts.Identity(ctx)
		if cur.LockedBy != who || cur.Metadata.Hostname != host {
			return fmt.Errorf("%w\nIt is not yours (you are %s on %s). If that run is dead, remove its lease with:\n  panka unlock --stack %s --environment %s --force",
				&locker.HeldError{Holder: cur}, who, host, opts.Stack, opts.Environment)
		}
		if err := refuseLiveHolder(opts, cur, host, now); err != nil {
			return err
		}
	}
	// Conditional on the lease that was shown or checked: never remove a
	// lease taken by someone else in the meantime.
	if err := l.Release(ctx, key, cur.ID); err != nil {
		if errors.Is(err, locker.ErrLost) {
			return fmt.Errorf("the lease of %s changed while unlocking (it was released or taken over); nothing was removed: run panka locks show --stack %s --environment %s", name, opts.Stack, opts.Environment)
		}
		return err
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			Unlocked bool     `json:"unlocked"`
			Lock     LockJSON `json:"lock"`
		}{true, lockJSON(cur, now)})
	}
	fmt.Fprintf(f.IO.Out, "Unlocked %s (lock id %s held by %s).\n", name, cur.ID, dash(cur.LockedBy))
	return nil
}

// invalidLockName explains a lock that cannot be found or read when its
// stack or environment name is not one panka deploys (too long for a lock
// file name, upper case, a '/'): no run takes such a lease, and the
// locker's own error (e.g. "file name too long") says nothing of that.
// nil when both names are valid.
func invalidLockName(stack, env string, cfg *config.Resolved, f *Factory) error {
	for _, n := range []struct{ what, name string }{{"stack", stack}, {"environment", env}} {
		if why := stacks.CheckName(n.name); why != "" {
			return fmt.Errorf("--%s: %s: no %s has that name, so it holds no lease; panka locks list lists the leases in %s",
				n.what, why, n.what, f.describeLockOf(cfg, stack, env))
		}
	}
	return nil
}

// showLease shows on stderr what unlock --force is about to remove, even
// with -q (the removal is shown before it is done), or, with --log-format
// json, as a warn-level JSON line.
func showLease(f *Factory, msg string) {
	if f.jsonLog != nil {
		f.jsonLog.Warn().Msg(msg)
		return
	}
	fmt.Fprintln(f.IO.ErrOut, msg)
}

// unlockUnreadable removes a damaged lease record (unlock --force): it has
// no lock id to release conditionally on, and no holder to show but the
// error that says why it cannot be read.
func unlockUnreadable(ctx context.Context, opts *UnlockOptions, l locker.Locker, key string, readErr error) error {
	f := opts.F
	name := opts.Stack + "/" + opts.Environment
	showLease(f, fmt.Sprintf("The lock of %s cannot be read: %v", name, readErr))
	if !opts.Yes {
		if !f.IO.CanPrompt() {
			return fmt.Errorf("unlock --force of %s needs confirmation and there is no terminal to ask on: re-run with --yes to confirm (or run it in a terminal); nothing was removed", name)
		}
		ok, err := unlockConfirm(f, "Remove it? If a run holds it, that run will stop at its next heartbeat. [y/N] ")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("unlock of %s cancelled; nothing was removed", name)
		}
	}
	if err := l.ForceRelease(ctx, key); err != nil && !errors.Is(err, locker.ErrNotFound) {
		return fmt.Errorf("remove the unreadable lock of %s: %w", name, err)
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			Unlocked bool     `json:"unlocked"`
			Lock     LockJSON `json:"lock"`
		}{true, LockJSON{Stack: opts.Stack, Environment: opts.Environment, LockKey: key}})
	}
	fmt.Fprintf(f.IO.Out, "Unlocked %s (removed its unreadable lock).\n", name)
	return nil
}

// refuseLiveHolder returns a *HeldError (exit 3) when cur was taken on this
// host by a process that still runs: same identity is not enough, the run
// may be going on in another terminal. Leases without a PID (older panka)
// and leases from other hosts cannot be checked and are released as before.
// Our own PID is no holder either: unlock never holds the lease, so a lease
// naming it is from a dead process whose PID was reused by this one.
func refuseLiveHolder(opts *UnlockOptions, cur locker.Info, host string, now time.Time) error {
	pid := cur.Metadata.PID
	if checkable, alive := localHolder(cur, host); !checkable || !alive {
		return nil
	}
	what := "a panka process"
	if cur.Metadata.Operation != "" {
		what = "panka " + cur.Metadata.Operation
	}
	since := ""
	if !cur.LockedAt.IsZero() {
		since = fmt.Sprintf(" since %s (%s ago)", cur.LockedAt.Local().Format("2006-01-02 15:04:05"), humanDuration(now.Sub(cur.LockedAt)))
	}
	return fmt.Errorf("%w\nProcess %d (%s) on this host has held it%s and is still running: unlocking would break its lease and stop it at its next heartbeat. Nothing was removed.\n"+
		"Wait for it to finish (or stop it with Ctrl-C in its terminal); if you are sure process %d is not that run, remove the lease with:\n  panka unlock --stack %s --environment %s --force",
		&locker.HeldError{Holder: cur}, pid, what, since, pid, opts.Stack, opts.Environment)
}

// unlockConfirm asks a yes/no question on stderr and reads the answer.
func unlockConfirm(f *Factory, question string) (bool, error) {
	fmt.Fprint(f.IO.ErrOut, question)
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
