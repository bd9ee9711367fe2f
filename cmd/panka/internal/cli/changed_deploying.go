package cli

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// setCfg keeps cfg, the configuration the store of sig was opened with
// (callers hold d.mu where calls run concurrently).
func (d *storeDeployed) setCfg(sig string, cfg *config.Resolved) {
	if d.cfgs == nil {
		d.cfgs = map[string]*config.Resolved{}
	}
	d.cfgs[sig] = cfg
}

// look notes that key was read from the store of sig (callers hold d.mu
// where calls run concurrently).
func (d *storeDeployed) look(key statestore.Key, sig string) {
	if d.looked == nil {
		d.looked = map[statestore.Key]string{}
	}
	d.looked[key] = sig
}

// deployingNow returns the leases held now, by a run that has not ended,
// on the stack/environments changed --since-deployed looked at: each of
// them is being deployed (or destroyed, rolled back...), and what it
// deploys is not in the state until it ends, so the comparison may change
// then. They are said on stderr too; a lease its holder has not renewed
// for long (a cancelled CI job's) is listed, since it holds the lock
// until it expires, but said to be most likely dead.
//
// It costs one listing per lock backend, not one read per stack/environment
// (thousands in a monorepo): a Scan of the DynamoDB table, a listing of the
// local lock folder, both as long as the leases held. S3 lock objects lie
// one in each stack/environment's folder, where a listing is a request per
// stack: only the lock objects of the stack/environments listed as changed
// are read there (what a pipeline would deploy next).
//
// The locks are read for information only: when they cannot be read, that
// is said (a warning) and nil is returned, so that -o json leaves the field
// out rather than reporting none; the comparison itself stands.
func (d *storeDeployed) deployingNow(ctx context.Context, open func(context.Context, *config.Resolved) (locker.Locker, error), res *changes.Result) []LockJSON {
	f := d.f
	if open == nil {
		open = f.Locker
	}
	listed := map[statestore.Key]bool{}
	for _, s := range res.Stacks {
		for _, env := range s.Environments {
			listed[statestore.Key{Stack: s.Stack, Environment: env}] = true
		}
	}
	// The stack/environments by lock backend (several stacks' spec.backend
	// may share one).
	type backend struct {
		cfg  *config.Resolved
		keys map[string]bool // lock keys looked at
	}
	backends := map[string]*backend{}
	bySig := map[string]*backend{} // a monorepo's thousands of keys share a few
	for key, sig := range d.looked {
		b, ok := bySig[sig]
		if !ok {
			if cfg := d.cfgs[sig]; cfg != nil {
				where := lockBackendID(f, cfg)
				if b = backends[where]; b == nil {
					b = &backend{cfg: cfg, keys: map[string]bool{}}
					backends[where] = b
				}
			}
			bySig[sig] = b
		}
		if b == nil {
			continue
		}
		if b.cfg.Locks.Type != "s3" || listed[key] {
			b.keys[locker.Key(key.Stack, key.Environment)] = true
		}
	}
	out := []LockJSON{}
	notes := map[string]string{} // lock key -> what stderr says of it
	var failed []string
	for _, where := range sortedKeysOf(backends) {
		b := backends[where]
		if len(b.keys) == 0 {
			continue
		}
		infos, now, err := heldLeases(ctx, open, f, b.cfg, b.keys)
		var u *locker.UnreadableError
		if err != nil && !errors.As(err, &u) {
			failed = append(failed, fmt.Sprintf("%s: %v", f.describeLocker(b.cfg), err))
			continue
		}
		for _, e := range unreadableErrs(u) {
			f.Warnf("%v", e)
		}
		for _, i := range infos {
			if !b.keys[i.Key] || i.Expired(now) || holderGone(i) {
				continue
			}
			out = append(out, lockJSON(i, now))
			held := (&locker.HeldError{Holder: i}).Error()
			stack, env, _ := locker.ParseKey(i.Key)
			if quiet := quietHolderNote(i, now, b.cfg.Locks.Heartbeat.D(), stack, env); quiet != "" {
				// A CI job cancelled mid-run leaves its lease until it
				// expires (an hour by default): not said to be going on.
				notes[i.Key] = held + quiet + ": until it is removed or expires, an apply there waits for it (--lock-timeout) or fails"
				continue
			}
			notes[i.Key] = held + ": a deployment is in progress there, and what it deploys is not in the state until it ends, so this comparison may change then: run panka changed again after it (an apply with --lock-timeout waits for it)"
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LockKey < out[j].LockKey })
	for _, l := range out {
		f.Warnf("%s", notes[l.LockKey])
	}
	if len(failed) > 0 {
		f.Warnf("which stacks are being deployed right now cannot be told (the comparison stands): the locks cannot be read in %s", strings.Join(failed, "; "))
		return nil
	}
	return out
}

// heldLeases reads the leases of keys from the lock backend of cfg, and the
// lock server's time to compare their expiry with: one List, or one Get a
// key where each lease lies in its own folder (s3 locks).
func heldLeases(ctx context.Context, open func(context.Context, *config.Resolved) (locker.Locker, error), f *Factory, cfg *config.Resolved, keys map[string]bool) ([]locker.Info, time.Time, error) {
	l, err := open(ctx, cfg)
	if err != nil {
		return nil, time.Time{}, err
	}
	if cfg.Locks.Type != "s3" {
		infos, err := l.List(ctx)
		return infos, lockNow(l, f.Now), err
	}
	ks := sortedKeysOf(keys)
	infos := make([]locker.Info, len(ks))
	var bad []error
	var mu sync.Mutex
	err = forEach(ctx, storeReads, len(ks), func(ctx context.Context, i int) error {
		info, err := l.Get(ctx, ks[i])
		switch {
		case errors.Is(err, locker.ErrNotFound):
		case errors.Is(err, locker.ErrUnreadable):
			mu.Lock()
			bad = append(bad, err)
			mu.Unlock()
		case err != nil:
			return err
		default:
			infos[i] = info
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	held := infos[:0]
	for _, i := range infos {
		if i.Key != "" {
			held = append(held, i)
		}
	}
	return held, lockNow(l, f.Now), locker.Unreadable(bad)
}

func unreadableErrs(u *locker.UnreadableError) []error {
	if u == nil {
		return nil
	}
	return u.Errs
}

// lockBackendID tells lock backends apart: two configurations with the
// same one keep their leases in the same place.
func lockBackendID(f *Factory, cfg *config.Resolved) string {
	return strings.Join([]string{cfg.Locks.Type, f.describeLocker(cfg), cfg.Locks.Region, cfg.Locks.Endpoint, cfg.Backend.Region, cfg.Backend.Endpoint}, "\x00")
}

// maxElsewhereChecks bounds how many listed environments with nothing
// recorded warnElsewhere looks for elsewhere for the reasons that move
// every stack alike (panka.yaml's backend, an override, the embedded
// default left behind): a backend moved that way leaves every environment
// it held deployed there, so the first one shows it. A check costs a read
// of the backend it names; one for each of 4,000 new stacks would make a
// first rollout slow where changed has budgets. The stacks whose own
// stack.yaml moved them (spec.backend, metadata.name: stackHistory) are
// all checked.
const maxElsewhereChecks = 1

// warnElsewhere says, for the environments listed as not deployed because
// nothing is recorded where their state is read now, where an earlier
// backend holds a deployment of them (stateElsewhere, as plan and apply
// say it): a backend.prefix, bucket or directory moved by panka.yaml's
// history (a teammate's branch) or by the stack's spec.backend, an
// override, or the embedded default left behind. changed listed them as
// added with no word about it. Every environment of a stack whose
// stack.yaml gave another spec.backend or metadata.name in the history
// walked once for all stacks (or in the work tree, with --uncommitted) is
// checked, and the first maxElsewhereChecks others (see there). The first
// maxElsewhereWarnings are said in full, the others named on one line.
// Only HEAD (or its work tree) is compared with its history: with --head
// another commit's history is not HEAD's.
func (d *storeDeployed) warnElsewhere(ctx context.Context, res *changes.Result) {
	const maxElsewhereWarnings = 3
	var more []string
	var moved map[string]bool // stack.yaml files, read on first need
	checked, said := 0, 0
	for _, s := range res.Stacks {
		for _, env := range s.Environments {
			if s.EnvironmentChanges[env] != changes.Added || s.Deployed[env] != "" || ctx.Err() != nil {
				continue
			}
			if moved == nil {
				moved = map[string]bool{}
				if h := d.f.stackHistory(ctx); h != nil {
					moved = h.movedStackFiles(ctx, res.Uncommitted)
				}
			}
			own := moved[path.Join(s.Path, stacks.StackFile)]
			if !own && checked >= maxElsewhereChecks {
				continue
			}
			key := statestore.Key{Stack: s.Stack, Environment: env}
			d.mu.Lock()
			sig, looked := d.looked[key]
			store, cfg := d.stores[sig], d.cfgs[sig]
			d.mu.Unlock()
			if !looked || store == nil || cfg == nil {
				continue
			}
			if _, _, err := store.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) || !noHistory(ctx, store, key) {
				continue // a state, or a history: not a first deployment there
			}
			if !own {
				checked++
			}
			m := d.f.stateElsewhere(ctx, d.open, cfg, key, "the next apply", true)
			switch {
			case m == "":
			case said < maxElsewhereWarnings:
				d.f.Warnf("%s", m)
				said++
			default:
				more = append(more, key.String())
			}
		}
	}
	if len(more) > 0 {
		d.f.Warnf("%s, listed as not deployed, %s deployed in an earlier backend too (panka status --stack STACK says where)", strings.Join(more, ", "), isAre(len(more)))
	}
}
