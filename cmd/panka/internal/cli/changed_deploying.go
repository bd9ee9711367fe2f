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
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
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

// maxElsewhereChecks bounds how many of the environments that an
// earlier backend's listing holds (elsewhereAlike) warnElsewhere reads
// one by one to say in full where they are deployed; the others are named
// on one line. A read of each of 4,000 stacks moved by a panka.yaml
// backend.prefix would make changed slow where it has budgets.
const maxElsewhereChecks = 10

// warnElsewhere says, for the environments listed as not deployed because
// nothing is recorded where their state is read now, where an earlier
// backend holds a deployment of them (stateElsewhere, as plan and apply
// say it): a backend.prefix, bucket or directory moved by panka.yaml's
// history (a teammate's branch) or by the stack's spec.backend, an
// override, or the embedded default left behind. changed listed them as
// added with no word about it. Every environment of a stack whose
// stack.yaml gave another spec.backend or metadata.name in the history
// walked once for all stacks (or in the work tree, with --uncommitted) is
// checked. The moves that take every stack alike (panka.yaml, an override,
// the embedded default) are found by one listing of each earlier backend
// (elsewhereAlike), not a read per environment: only the first one was
// checked before, and when that was a new stack, never deployed anywhere,
// every stack came out as added with no word. The first
// maxElsewhereWarnings are said in full, the others named on one line.
// Only HEAD (or its work tree) is compared with its history: with --head
// another commit's history is not HEAD's.
func (d *storeDeployed) warnElsewhere(ctx context.Context, res *changes.Result) {
	const maxElsewhereWarnings = 3
	var more []string
	held := map[string][]string{}                     // by the earlier backend that holds them
	var moved map[string]bool                         // stack.yaml files, read on first need
	alike := map[string]func(statestore.Key) string{} // by store: where an earlier backend holds key
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
			key := statestore.Key{Stack: s.Stack, Environment: env}
			d.mu.Lock()
			sig, looked := d.looked[key]
			store, cfg := d.stores[sig], d.cfgs[sig]
			d.mu.Unlock()
			if !looked || store == nil || cfg == nil {
				continue
			}
			if !own {
				holds, ok := alike[sig]
				if !ok {
					holds = d.elsewhereAlike(ctx, res, sig, s.Stack, cfg)
					alike[sig] = holds
				}
				where := ""
				if holds != nil {
					where = holds(key)
				}
				if where == "" {
					continue // no earlier backend holds it
				}
				if checked >= maxElsewhereChecks {
					held[where] = append(held[where], key.String())
					continue
				}
				checked++
			}
			if _, _, err := store.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) || !noHistory(ctx, store, key) {
				continue // a state, or a history: not a first deployment there
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
	for _, where := range sortedKeysOf(held) {
		d.f.Warnf("%s, listed as not deployed, may be deployed in %s, an earlier backend, too (panka status --stack STACK says whether they are)", listSome(held[where], 20), where)
	}
}

// elsewhereAlike lists, once for the stacks whose state is read from the
// store of sig (those with the same spec.backend as stack), the earlier
// backends a move that takes every such stack alike left behind: each
// earlier panka.yaml's (HEAD's first parents, the work tree's edit), the
// one the configuration files name when an override moved the run
// (overriddenFrom), the embedded default. It returns where one of them
// holds state of a stack/environment listed as not deployed ("" where
// none does), or nil when there are none. A local backend's folder is
// read; an S3 backend costs one listing of its stacks (a page per 1,000
// stacks), not a request per environment: the stacks are told apart
// there, not their environments.
func (d *storeDeployed) elsewhereAlike(ctx context.Context, res *changes.Result, sig, stack string, cfg *config.Resolved) func(statestore.Key) string {
	f := d.f
	h, err := f.findHeaderQuiet(stack)
	if err != nil || h == nil {
		return nil
	}
	here := f.describeBackend(cfg)
	var earlier []*config.Resolved
	seen := map[string]bool{here: true}
	add := func(c *config.Resolved) {
		if w := f.describeBackend(c); !seen[w] {
			seen[w] = true
			earlier = append(earlier, c)
		}
	}
	f.earlierRepoConfigState(ctx, h, func(c *config.Resolved, _, _ string, _ gitops.Hash) string {
		add(c)
		return "" // every earlier panka.yaml: collected, not checked one by one
	})
	if shared, _ := f.overriddenFrom(cfg, h); shared != nil {
		add(shared)
	}
	add(embeddedDefault(cfg))
	// The stacks listed as not deployed that share this store.
	want := map[string]bool{}
	d.mu.Lock()
	for _, s := range res.Stacks {
		for _, env := range s.Environments {
			if d.looked[statestore.Key{Stack: s.Stack, Environment: env}] == sig && s.Deployed[env] == "" {
				want[s.Stack] = true
			}
		}
	}
	d.mu.Unlock()
	type holder struct {
		where  string
		stacks map[string]bool         // S3: stacks with a folder there
		keys   map[statestore.Key]bool // local: stack/environments with a state
	}
	var holders []holder
	for _, c := range earlier {
		where := f.describeBackend(c)
		hd := holder{where: where}
		if c.Backend.Type != "s3" {
			dir, err := f.localDir(c)
			if err != nil {
				continue
			}
			p, _ := statestore.NormalizePrefix(c.Backend.Prefix)
			ls, err := local.New(local.Options{Dir: dir, Prefix: p})
			if err != nil {
				continue
			}
			keys, err := ls.List(ctx)
			if err != nil || len(keys) == 0 {
				continue
			}
			hd.keys = map[statestore.Key]bool{}
			for _, k := range keys {
				hd.keys[k] = true
			}
			holders = append(holders, hd)
			continue
		}
		if _, down := f.unanswered.Load(where); down {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, elsewhereTimeout)
		hd.stacks = map[string]bool{}
		s, err := d.open(lctx, c)
		if err == nil {
			if sl, ok := s.(statestore.SkipLister); ok {
				_, err = sl.ListSkipping(lctx, func(k statestore.Key) bool {
					if want[k.Stack] {
						hd.stacks[k.Stack] = true
					}
					return true // the stack's folder is enough: no listing of its own
				})
			} else {
				var keys []statestore.Key
				keys, err = s.List(lctx)
				for _, k := range keys {
					hd.stacks[k.Stack] = true
				}
			}
		}
		cancel()
		if err != nil {
			f.unanswered.Store(where, true)
			continue
		}
		if len(hd.stacks) > 0 {
			holders = append(holders, hd)
		}
	}
	if len(holders) == 0 {
		return nil
	}
	return func(k statestore.Key) string {
		for _, hd := range holders {
			if hd.keys[k] || hd.stacks[k.Stack] {
				return hd.where
			}
		}
		return ""
	}
}
