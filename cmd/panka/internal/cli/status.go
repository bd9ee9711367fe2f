package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdStatus) }

// StatusOptions are the inputs of status.
type StatusOptions struct {
	F *Factory
	// OpenLocker builds the lock backend of a configuration (Factory.Locker).
	OpenLocker func(ctx context.Context, cfg *config.Resolved) (locker.Locker, error)
	// OpenStore builds the state store of a configuration (Factory.Store
	// when nil; tests wrap it).
	OpenStore func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error)
	// Caller is the caller's lock identity under cfg (lockedBy), to tell
	// whether a stale lease is theirs; Factory.LockIdentity when nil.
	Caller      func(ctx context.Context, cfg *config.Resolved) string
	Stack       string
	Environment string
}

func newCmdStatus(f *Factory) *cobra.Command {
	opts := &StatusOptions{F: f, OpenLocker: f.Locker}
	cmd := &cobra.Command{
		Use:   "status --stack STACK [--environment ENV]",
		Short: "Show what is deployed where, how far HEAD is ahead, locks and drift checks",
		Long: `Status shows, for each environment of a stack (or the one given): the deployed
commit (short SHA, subject, author, age), the result of the last deployment,
how many commits HEAD is ahead of the deployed commit and whether anything in
this stack's resolved model changed since (as panka changed --since-deployed),
who holds the lock if anyone, and when drift was last checked.`,
		Example: `  panka status --stack shop
  panka status --stack shop --environment production -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Stack == "" {
				return Usagef("--stack is required: status shows one stack (panka state list shows every deployed stack/environment, panka stack list every stack)")
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	stackEnvFlags(cmd.Flags(), &opts.Stack, nil)
	cmd.Flags().StringVarP(&opts.Environment, "environment", "e", "", "only this environment")
	markRequired(cmd, "", "stack")
	return cmd
}

// StackStatus is the -o json shape of status.
type StackStatus struct {
	Stack string `json:"stack"`
	// Head is the commit HEAD points at ("" outside git).
	Head         string       `json:"head,omitempty"`
	Environments []*EnvStatus `json:"environments"`
}

// EnvStatus is one environment in status.
type EnvStatus struct {
	Environment string `json:"environment"`
	// Status is the state's status, or "not deployed" when there is none.
	Status string `json:"status"`
	Serial int64  `json:"serial"`
	// Deployed is the deployment that is live (nil when nothing is).
	Deployed *StatusDeployment `json:"deployed,omitempty"`
	// Last is the newest operation (differs from Deployed after a failure).
	Last *StatusDeployment `json:"lastDeployment,omitempty"`
	// CommitsAhead is how many commits HEAD has that the deployed commit
	// does not (git rev-list --count deployed..HEAD); nil when unknown.
	CommitsAhead *int `json:"commitsAhead,omitempty"`
	// CommitsBehind is how many commits the deployed commit has that HEAD
	// does not (git rev-list --count HEAD..deployed), when any: a newer
	// commit, or one of another branch, is deployed, and applying HEAD
	// would take them out (a CI job for an older commit, run late).
	CommitsBehind int `json:"commitsBehind,omitempty"`
	// Changed says whether the stack's resolved model for this environment
	// differs between the deployed commit and HEAD; nil when unknown.
	Changed           *bool    `json:"changed,omitempty"`
	ChangedComponents []string `json:"changedComponents,omitempty"`
	// EnvironmentChange is how the environment changed when Changed:
	// modified, or removed when its file is gone at HEAD.
	EnvironmentChange string `json:"environmentChange,omitempty"`
	// StackChange is "removed" when HEAD has no stack of this name at all
	// (its folder deleted, or its stack.yaml names another stack: then
	// RenamedTo is that name), not just no file for this environment.
	StackChange string `json:"stackChange,omitempty"`
	RenamedTo   string `json:"renamedTo,omitempty"`
	// renamedIn is the stack.yaml that names the stack RenamedTo at HEAD.
	renamedIn string
	// Note explains an unknown CommitsAhead/Changed (commit not in the clone).
	Note        string       `json:"note,omitempty"`
	Lock        *locker.Info `json:"lock,omitempty"`
	LockExpired bool         `json:"lockExpired,omitempty"`
	// LockHolderGone: the lock was taken on this host by a process that
	// no longer runs (a stale lock).
	LockHolderGone bool `json:"lockHolderGone,omitempty"`
	// LockHolderRuns: the lock was taken on this host by a process that
	// still runs (an expired one is then not taken over, and a silent one
	// is stopped, suspended or hung, not dead).
	LockHolderRuns bool `json:"lockHolderRuns,omitempty"`
	// LockSilentSeconds: how long the lock's holder has not renewed it,
	// when that is three heartbeats or more and its process cannot be seen
	// running on this host (the holder is most likely dead); 0 otherwise.
	LockSilentSeconds int64 `json:"lockSilentSeconds,omitempty"`
	// unlock is the command that removes a stale lock (and why it needs
	// --force, if it does), for text output.
	unlock, unlockWhy string
	// takenOver: the stale lock's holder provably ended (holderEnded),
	// so the next operation on this host takes it over.
	takenOver bool
	// runningSilence: how long a holder that still runs on this host
	// has not renewed its lease (three heartbeats or more), for text output.
	runningSilence time.Duration
	// lockNow is the lock server's time when the lock was read (lease
	// times follow it, not this host's clock), for the lock's age.
	lockNow time.Time
	// LockError says why the lock could not be read (then Lock is unknown,
	// not free).
	LockError      string                 `json:"lockError,omitempty"`
	LastDriftCheck *statestore.DriftCheck `json:"lastDriftCheck,omitempty"`
	// Recoveries are what runs that recorded no deployment cleared of an
	// earlier, stopped run since the last record (state.json's
	// recoveries): the next deployment's record takes them.
	Recoveries []statestore.Recovery `json:"recoveries,omitempty"`
	// EngineStateChanged: Pulumi's state was written after the last
	// recorded deployment, by a run that recorded nothing (stopped and
	// resumed after another took its lease, killed, pulumi by hand): what
	// is deployed may differ from the state, whatever the last drift
	// check said. Not checked while a lease is held by a run that still
	// may be writing it (one of another host, or one that runs here).
	EngineStateChanged bool `json:"engineStateChanged,omitempty"`
	// EngineStateUnrecorded: nothing is recorded (no state, no history)
	// but Pulumi's state holds an update: a first deployment whose record
	// failed to be written, or a killed one. Its resources may exist.
	EngineStateUnrecorded bool `json:"engineStateUnrecorded,omitempty"`
	// Error says why the state could not be read (Status "unreadable":
	// corrupt, or written by a newer panka).
	Error string `json:"error,omitempty"`
	// Missing is the newest history record of an environment that has no
	// state.json although its history records deployments (Status "state
	// missing": deleted or lost, to be restored before deploying).
	Missing *StatusDeployment `json:"missingStateLastRecord,omitempty"`
}

// StatusDeployment summarises a deployment record joined with git.
type StatusDeployment struct {
	Serial    int64  `json:"serial"`
	Operation string `json:"operation"`
	Result    string `json:"result"`
	Commit    string `json:"commit"`
	Subject   string `json:"subject,omitempty"`
	Author    string `json:"author,omitempty"`
	Dirty     bool   `json:"dirty,omitempty"`
	// TargetComponents: a partial deployment (--target-component) that
	// left other components at their earlier spec.
	TargetComponents []string  `json:"targetComponents,omitempty"`
	User             string    `json:"user,omitempty"`
	EndedAt          time.Time `json:"endedAt"`
	FromCommit       string    `json:"fromCommit,omitempty"`
	FromEnvironment  string    `json:"fromEnvironment,omitempty"`
	Error            string    `json:"error,omitempty"`
	// Changes and ChangesFrom as in the deployment record: for a run that
	// failed part way, what the engine did before it stopped.
	Changes     *statestore.ChangeSummary `json:"changes,omitempty"`
	ChangesFrom string                    `json:"changesFrom,omitempty"`
	// PlannedChanges as in the deployment record: the plan's counts, in
	// components.
	PlannedChanges *statestore.ChangeSummary `json:"plannedChanges,omitempty"`
	// Recovered as in the deployment record: what the run cleared of an
	// earlier one that stopped part way.
	Recovered *statestore.Recovered `json:"recovered,omitempty"`
}

func statusDeployment(repo *gitops.Repo, d *statestore.Deployment) *StatusDeployment {
	if d == nil {
		return nil
	}
	s := &StatusDeployment{Serial: d.Serial, Operation: d.Operation, Result: d.Result, Commit: d.Commit,
		Author: d.CommitAuthor, Dirty: d.Dirty, TargetComponents: d.TargetComponents, User: d.User, EndedAt: d.EndedAt,
		FromCommit: d.FromCommit, FromEnvironment: d.FromEnvironment, Error: firstLine(d.Error),
		Changes: d.Changes, ChangesFrom: d.ChangesFrom, PlannedChanges: d.PlannedChanges, Recovered: d.Recovered}
	s.Subject = firstLine(strings.TrimSpace(d.CommitMessage))
	if repo != nil && d.Commit != "" {
		if h, err := repo.ResolveRef(d.Commit); err == nil {
			if c, err := repo.Commit(h); err == nil {
				s.Subject, s.Author = c.Subject(), c.Author
			}
		}
	}
	return s
}

// fixedDeployed answers DeployedCommit from a map of environment -> commit
// of one stack. It also lists them (changes.DeployedLister), so an
// environment deployed but gone at HEAD (its file deleted) comes out
// removed rather than unchanged.
type fixedDeployed struct {
	stack   string
	commits map[string]string
	// tried are the environments no deployment succeeded in whose last
	// run failed or was interrupted (triedRun), with its commit: listed
	// (and so removed when gone at HEAD), as changed --since-deployed
	// lists them, but not deployed for an environment HEAD has.
	tried map[string]string
}

func (m fixedDeployed) DeployedCommit(_ context.Context, _ *stacks.Header, env string) (string, bool, error) {
	c, ok := m.commits[env]
	return c, ok && c != "", nil
}

func (m fixedDeployed) ListDeployed(_ context.Context, skip func(stack, env string) bool) ([]changes.Deployment, error) {
	var out []changes.Deployment
	for _, envs := range []map[string]string{m.commits, m.tried} {
		for env, c := range envs {
			if c != "" && !skip(m.stack, env) {
				out = append(out, changes.Deployment{Stack: m.stack, Environment: env, Commit: c})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Environment < out[j].Environment })
	return out, nil
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	f := opts.F
	cfg, err := f.deployedStackConfig(ctx, opts.Stack)
	if err != nil {
		return err
	}
	open := opts.OpenStore
	if open == nil {
		open = f.Store
	}
	store, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	root, err := f.RepoRoot()
	if err != nil {
		return err
	}
	out := &StackStatus{Stack: opts.Stack, Environments: []*EnvStatus{}}
	repo, err := gitops.Open(root, f.GitOptions())
	switch {
	case errors.Is(err, gitops.ErrNotRepository):
		repo = nil
	case err != nil:
		return err
	default:
		defer repo.Close()
	}
	var head gitops.Hash
	if repo != nil {
		if head, err = repo.Head(); err == nil {
			out.Head = head.String()
		}
	}

	envs, err := statusEnvironments(ctx, f, cfg, store, opts)
	if err != nil {
		return err
	}
	var lk locker.Locker
	var lockErr error
	if opts.OpenLocker != nil {
		if lk, lockErr = opts.OpenLocker(ctx, cfg); lockErr != nil {
			f.Log.Warn().Err(lockErr).Msg("open the lock backend: lock holders are not shown")
		}
	}
	// lockDown says why locks are no longer read, after one read failed.
	lockDown := ""
	// The caller's identity is only needed, and asked, for a stale lock.
	who, callerKnown := "", false
	check := fixedDeployed{stack: opts.Stack, commits: map[string]string{}, tried: map[string]string{}}
	var checkEnvs []string
	for _, env := range envs {
		es := &EnvStatus{Environment: env, Status: "not deployed"}
		out.Environments = append(out.Environments, es)
		key := statestore.Key{Stack: opts.Stack, Environment: env}
		st, _, err := store.Get(ctx, key)
		switch {
		case errors.Is(err, statestore.ErrNotFound):
			st = nil
		case err != nil && ctx.Err() == nil && (errors.Is(err, statestore.ErrCorrupt) || errors.Is(err, statestore.ErrFutureSchema)):
			// One damaged state.json must not hide the other
			// environments: it is shown as unreadable (as state list
			// does) and makes the exit status 1.
			es.Status, es.Error = "unreadable", err.Error()
		case err != nil:
			return fmt.Errorf("read state of %s: %w", key, err)
		}
		if lockErr != nil {
			es.LockError = lockErr.Error()
		}
		if lk != nil && lockDown != "" {
			// The backend failed for an earlier environment: asking again
			// would wait as long for each (minutes on an endpoint that
			// does not answer) and fail alike.
			es.LockError = lockDown
		} else if lk != nil {
			info, err := lk.Get(ctx, locker.Key(opts.Stack, env))
			switch {
			case err == nil:
				es.Lock = &info
				es.lockNow = lockNow(lk, f.Now)
				es.LockExpired = info.Expired(es.lockNow)
				es.LockHolderGone = holderGone(info)
				es.LockHolderRuns = holderRuns(info)
				switch silence := heartbeatSilence(info, es.lockNow, cfg.Locks.Heartbeat.D()); {
				case es.LockHolderRuns:
					es.runningSilence = silence
				case !es.LockHolderGone:
					es.LockSilentSeconds = int64(silence.Seconds())
				}
				if es.LockHolderGone {
					if !callerKnown {
						who, callerKnown = callerIdentity(ctx, f, opts.Caller, cfg), true
					}
					es.unlock, es.unlockWhy = staleUnlock(info, who, opts.Stack, env)
					es.takenOver = holderEnded(info, es.lockNow, cfg.Locks.Heartbeat.D())
				}
			case errors.Is(err, locker.ErrUnreadable):
				// This one record is damaged; the backend answered, so
				// the other environments' locks are still read.
				es.LockError = err.Error()
			case !errors.Is(err, locker.ErrNotFound):
				es.LockError = err.Error()
				lockDown = fmt.Sprintf("not read, since reading the lock of %s failed: %v", env, err)
				f.Log.Debug().Err(err).Str("key", key.String()).Msg("read the lock")
			}
		}
		if es.Error != "" {
			continue
		}
		if st == nil {
			// No state.json, but history: it was deleted or lost. Saying
			// "not deployed" (and that apply deploys it) would hide that
			// what its deployments made may still run.
			h, bad, herr := newestRecord(ctx, store, key)
			if herr == nil && (bad != nil || h != nil && deploy.RecordsDeployed(h)) {
				// A first deployment writes its history record, then its
				// state: read between the two, the state is not missing.
				if now, _, err := store.Get(ctx, key); err == nil && now != nil {
					st = now
				} else if h != nil {
					es.Status, es.Missing = "state missing", statusDeployment(repo, h)
					continue
				} else {
					// Not "not deployed": the newest record cannot say
					// what it deployed, but its name says it is there.
					es.Status, es.Error = "state missing", deploy.LostStateUnreadable(key, bad)
					continue
				}
			} else {
				if es.Lock == nil || es.LockExpired || es.LockHolderGone {
					es.EngineStateUnrecorded = f.engineRanUnrecorded(ctx, cfg, key)
				}
				if herr == nil && h == nil && bad == nil {
					// Nothing recorded here, where a backend moved by
					// panka.yaml, spec.backend or an override looks: plan
					// and apply say where it is deployed, and "not
					// deployed ... panka apply deploys it" said nothing.
					if m := f.stateElsewhere(ctx, open, cfg, key, "the next apply", true); m != "" {
						f.Warnf("%s", m)
					}
				}
				if out.Head != "" {
					checkEnvs = append(checkEnvs, env)
				}
				continue
			}
		}
		// A lease held by a process that no longer runs (stale) is a
		// killed run's: what it wrote is exactly what this says.
		if st.EngineState != "" && (es.Lock == nil || es.LockExpired || es.LockHolderGone) {
			if fn := f.engineStateFunc(cfg, key); fn != nil {
				cur, err := fn(ctx, st.EngineState)
				es.EngineStateChanged = err == nil && cur != "" && cur != st.EngineState
				if es.EngineStateChanged {
					if now := recordedSince(ctx, store, key, st); now != nil {
						// A run that held the lease while the state was
						// read recorded, and released the lease before
						// the lock was read: compared with what it
						// recorded, not with the state read before.
						st = now
						cur, err = fn(ctx, st.EngineState)
						es.EngineStateChanged = err == nil && cur != "" && cur != st.EngineState
					}
				}
			}
		}
		es.Status, es.Serial, es.LastDriftCheck, es.Recoveries = st.Status, st.Serial, st.LastDriftCheck, st.Recoveries
		dep := deployedRecord(st)
		es.Deployed = statusDeployment(repo, dep)
		if st.LastDeployment != nil && (dep == nil || st.LastDeployment.Serial != dep.Serial) {
			es.Last = statusDeployment(repo, st.LastDeployment)
		}
		if out.Head == "" {
			continue
		}
		if dep == nil || dep.Commit == "" {
			if l := triedRun(st); l != nil {
				check.tried[env] = l.Commit
			}
			checkEnvs = append(checkEnvs, env)
			continue
		}
		h, err := repo.ResolveRef(dep.Commit)
		if err != nil {
			es.Note = fmt.Sprintf("deployed commit %s is not in this clone (%s)", short(dep.Commit), missingCommitHint(repo))
			continue
		}
		n, err := repo.CountCommits(ctx, h, head, gitops.LogOptions{Complete: true})
		behind := 0
		if err == nil && h != head {
			behind, err = repo.CountCommits(ctx, head, h, gitops.LogOptions{Complete: true})
		}
		switch {
		case errors.Is(err, gitops.ErrShallowHistory):
			// Both commits are here, the history between them is not:
			// a count would be wrong (HEAD "behind" its own parent).
			es.Note = fmt.Sprintf("the history between the deployed commit %s and HEAD is cut off by this shallow clone (git fetch --unshallow)", short(dep.Commit))
		case err != nil:
			return fmt.Errorf("count commits between %s and HEAD: %w", short(dep.Commit), err)
		default:
			es.CommitsAhead, es.CommitsBehind = &n, behind
		}
		check.commits[env] = dep.Commit
		checkEnvs = append(checkEnvs, env)
	}
	if len(checkEnvs) > 0 {
		// HEAD behind the deployed commit is said above; what differs is
		// said either way.
		copts := changes.Options{StacksRoot: cfg.Stacks.Root, Stacks: []string{opts.Stack}, Environments: checkEnvs, CompareAhead: true}
		ownStacksRoots(f, repo, cfg, "", &copts)
		res, err := changes.SinceDeployed(ctx, repo, check, copts)
		if errors.Is(err, changes.ErrNoStacksRoot) && len(check.commits) == 0 {
			// HEAD has no stacks root (its last stacks were removed) and
			// nothing of this stack is deployed (destroyed since): there
			// is nothing to compare, as where other stacks remain. It
			// said to set stacks.root, and showed no state at all.
			res, err = &changes.Result{}, nil
		}
		if err != nil {
			return fmt.Errorf("compare %s with its deployed commits: %w", opts.Stack, err)
		}
		for _, p := range res.Problems {
			f.Log.Warn().Err(p).Msg("change detection")
		}
		changed := map[string]*changes.Stack{}
		for _, s := range res.Stacks {
			if s.Stack != opts.Stack {
				continue
			}
			for _, env := range s.Environments {
				changed[env] = s
			}
		}
		for _, es := range out.Environments {
			if !planContains(checkEnvs, es.Environment) {
				continue
			}
			s := changed[es.Environment]
			b := s != nil
			es.Changed = &b
			if b {
				// The stack's components changed in any environment
				// listed; this one's own (environments deployed at
				// other commits differ).
				es.ChangedComponents = s.EnvironmentComponents[es.Environment]
				es.EnvironmentChange = string(s.EnvironmentChanges[es.Environment])
				if s.Change == changes.Removed {
					es.StackChange = string(changes.Removed)
					es.RenamedTo, es.renamedIn = renamedAtHead(repo, head, s.Path)
				}
			} else if es.Deployed != nil && (es.Deployed.Dirty || len(es.Deployed.TargetComponents) > 0 || lastRunFailed(es)) {
				// What runs came from uncommitted changes, or only some
				// components came from the deployed commit, or a run
				// since failed midway: that commit resolving like HEAD
				// says nothing about it.
				b = true
				es.EnvironmentChange = string(changes.Modified)
			}
		}
	}
	var unreadable []string
	for _, es := range out.Environments {
		if es.Error != "" {
			unreadable = append(unreadable, fmt.Sprintf("%s/%s: %s", opts.Stack, es.Environment, es.Error))
		}
	}
	if f.JSON() {
		if err := f.PrintJSON(out); err != nil || len(unreadable) == 0 {
			return err
		}
	} else {
		writeStatus(f.IO.Out, out, f.Now())
		for _, msg := range unreadable {
			f.Errorf("%s", msg)
		}
	}
	if len(unreadable) > 0 {
		return &ExitCodeError{Code: ExitError, Msg: countNoun(len(unreadable), "state") + " could not be read"}
	}
	return nil
}

// statusEnvironments lists the environments to show: the one asked for, or
// every environment of the stack in the work tree and in the store.
func statusEnvironments(ctx context.Context, f *Factory, cfg *config.Resolved, store statestore.Store, opts *StatusOptions) ([]string, error) {
	set := map[string]bool{}
	var notFound error // the stack is not in the work tree (a typo?)
	if src, err := planSource(ctx, f, ""); err == nil {
		src.shareDiscovery = true
		ref, err := planFindStack(src, cfg.Stacks.Root, opts.Stack)
		notFound = err
		if rerr := configuredRootMissing(f, src, cfg); err != nil && rerr != nil {
			// Not "create the stack": the setting names no folder.
			notFound = rerr
		}
		if err == nil {
			if h, err := stacks.ReadHeader(src.fsys, ref.Path); err == nil {
				for _, e := range h.Environments {
					set[e] = true
				}
			}
		}
		src.close()
	}
	keys, err := store.ListStack(ctx, opts.Stack)
	if err != nil {
		return nil, fmt.Errorf("list the deployed environments of %s: %w", opts.Stack, err)
	}
	for _, k := range keys {
		set[k.Environment] = true
	}
	if len(set) == 0 && notFound != nil {
		// The deployed part first: notFound may end with what to do (run
		// git checkout first, in a --no-checkout clone), and a clause
		// after it read as part of that advice.
		return nil, fmt.Errorf("nothing of stack %q is deployed in %s, and %w", opts.Stack, f.describeBackend(cfg), notFound)
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("stack %q has no environments in the work tree and nothing deployed in %s", opts.Stack, f.describeBackend(cfg))
	}
	envs := make([]string, 0, len(set))
	for e := range set {
		envs = append(envs, e)
	}
	sort.Strings(envs)
	if opts.Environment != "" {
		if !set[opts.Environment] {
			return nil, fmt.Errorf("stack %q has no environment %q in the work tree nor in %s (environments: %s%s)", opts.Stack, opts.Environment, f.describeBackend(cfg), strings.Join(envs, ", "), withSemi(didYouMean(opts.Environment, envs)))
		}
		return []string{opts.Environment}, nil
	}
	return envs, nil
}

// age says how long ago t was, coarsely.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second") + " ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	default:
		return plural(int(d.Hours()/24), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// runAt names a run and its commit: "apply of abc123def456" (the commit's
// YAML was deployed), "destroy at abc123def456" (it deploys no YAML; the
// commit is where it ran), just the operation when run outside git.
func runAt(op, commit string) string {
	op = orUnknown(op)
	switch {
	case commit == "":
		return op
	case op == statestore.OpDestroy:
		return op + " at " + short(commit)
	default:
		return op + " of " + short(commit)
	}
}

// lastRunFailed reports whether a run after the deployed one failed or was
// interrupted (see failedSince).
func lastRunFailed(e *EnvStatus) bool {
	return e.Deployed != nil && e.Last != nil && e.Last.Result != statestore.ResultSucceeded && e.Last.Serial != e.Deployed.Serial
}

func writeStatus(w io.Writer, s *StackStatus, now time.Time) {
	for i, e := range s.Environments {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s/%s: %s", s.Stack, e.Environment, e.Status)
		if e.Serial > 0 {
			fmt.Fprintf(w, " (serial %d)", e.Serial)
		}
		fmt.Fprintln(w)
		if d := e.Deployed; d != nil {
			fmt.Fprintf(w, "  deployed:  %s", short(d.Commit))
			if d.Dirty {
				fmt.Fprint(w, " (dirty)")
			}
			if d.Subject != "" {
				fmt.Fprintf(w, " %q", d.Subject)
			}
			if d.Author != "" {
				fmt.Fprintf(w, " by %s", d.Author)
			}
			fmt.Fprintf(w, ", %s", age(now, d.EndedAt))
			fmt.Fprintf(w, " (%s", orUnknown(d.Operation))
			if d.Operation == statestore.OpRollback && d.FromCommit != "" {
				fmt.Fprintf(w, " from %s", short(d.FromCommit))
			}
			if d.FromEnvironment != "" {
				fmt.Fprintf(w, " from %s", d.FromEnvironment)
			}
			if d.User != "" {
				fmt.Fprintf(w, " by %s", d.User)
			}
			fmt.Fprintln(w, ")")
		} else if e.Error != "" {
			fmt.Fprintln(w, "  deployed:  unknown: its state could not be read (the error follows)")
		} else if m := e.Missing; m != nil {
			fmt.Fprintf(w, "  deployed:  unknown: state.json is missing, but history records deployments up to serial %d (%s %s, %s",
				m.Serial, runAt(m.Operation, m.Commit), orUnknown(m.Result), age(now, m.EndedAt))
			if m.User != "" {
				fmt.Fprintf(w, ", by %s", m.User)
			}
			fmt.Fprintln(w, "): it was deleted or lost, so what they deployed may still run; restore it before deploying ("+statestore.RestoreHint+")")
		} else {
			fmt.Fprintln(w, "  deployed:  nothing")
		}
		if l := e.Last; l != nil {
			fmt.Fprintf(w, "  last run:  %s %s", runAt(l.Operation, l.Commit), orUnknown(l.Result))
			if done := doneBeforeStop(l.Result, l.ChangesFrom, l.Changes); done != "" {
				fmt.Fprintf(w, " (%s before it stopped)", done)
			}
			fmt.Fprintf(w, ", %s", age(now, l.EndedAt))
			if l.Error != "" {
				fmt.Fprintf(w, ": %s", l.Error)
			}
			fmt.Fprintln(w)
		} else if e.Deployed != nil {
			fmt.Fprintf(w, "  last run:  %s\n", orUnknown(e.Deployed.Result))
		}
		// What the last run cleared of an earlier, stopped one: said on
		// stderr only while it ran, and that run often left no record.
		if l := cmp.Or(e.Last, e.Deployed); l != nil && !l.Recovered.Empty() {
			if !l.Recovered.ClearedItself() {
				// Cleared by runs that recorded nothing, before it.
				fmt.Fprintf(w, "  recovered: the last run's record (serial %d) keeps what runs before it cleared of an earlier run that stopped part way: %s\n", l.Serial, l.Recovered)
			} else {
				fmt.Fprintf(w, "  recovered: the last run (serial %d) cleared what an earlier run left that stopped part way: %s\n", l.Serial, l.Recovered)
			}
		}
		for _, r := range e.Recoveries {
			fmt.Fprintf(w, "  recovered: an earlier run stopped part way, and %s (the state keeps it until the next deployment's record takes it)\n", r)
		}
		switch {
		case e.Note != "":
			fmt.Fprintf(w, "  HEAD:      unknown: %s", e.Note)
			writeStatusChange(w, s.Stack, e)
			fmt.Fprintln(w)
		case e.CommitsAhead != nil:
			fmt.Fprintf(w, "  HEAD:      %s ahead", plural(*e.CommitsAhead, "commit"))
			if e.CommitsBehind > 0 {
				fmt.Fprintf(w, ", %d behind the deployed commit", e.CommitsBehind)
				if *e.CommitsAhead == 0 {
					fmt.Fprint(w, " (it is newer: applying HEAD would deploy older YAML)")
				}
			}
			writeStatusChange(w, s.Stack, e)
			fmt.Fprintln(w)
		case e.Deployed == nil && e.Changed != nil && *e.Changed && e.EnvironmentChange == string(changes.Removed):
			// No deployment succeeded, but the last run failed after
			// it may have created resources (triedRun).
			fmt.Fprint(w, "  HEAD:      no successful deployment, but the last run may have left resources")
			writeStatusChange(w, s.Stack, e)
			fmt.Fprintln(w)
		case e.Deployed == nil && e.Changed != nil && *e.Changed:
			fmt.Fprintln(w, "  HEAD:      not deployed yet (panka apply deploys it)")
		}
		if l := e.Lock; l != nil {
			fmt.Fprintf(w, "  lock:      held by %s", l.LockedBy)
			if l.Metadata.Hostname != "" {
				fmt.Fprintf(w, " on %s (pid %d)", l.Metadata.Hostname, l.Metadata.PID)
			}
			if l.Metadata.Operation != "" {
				fmt.Fprintf(w, ", %s", l.Metadata.Operation)
			}
			lnow := e.lockNow
			if lnow.IsZero() {
				lnow = now
			}
			fmt.Fprintf(w, " since %s", age(lnow, l.LockedAt))
			switch {
			case e.LockExpired && e.LockHolderRuns:
				fmt.Fprintf(w, " (expired, but pid %d still runs on this host, stopped or hung: the next operation waits until it ends)", e.Lock.Metadata.PID)
			case e.LockExpired:
				fmt.Fprint(w, " (expired: the next operation takes it over)")
			case e.LockHolderGone:
				why := ""
				if e.unlockWhy != "" {
					why = " (" + e.unlockWhy + ")"
				}
				next := ""
				if e.takenOver {
					next = "the next operation on this host takes it over, or "
				}
				fmt.Fprintf(w, " (stale: pid %d no longer runs on this host; %s%s removes it%s)", e.Lock.Metadata.PID, next, e.unlock, why)
			case e.runningSilence > 0:
				fmt.Fprintf(w, " (no heartbeat for %s, but pid %d still runs on this host: stopped, suspended or hung; it goes on deploying when it resumes)",
					humanDuration(e.runningSilence), e.Lock.Metadata.PID)
			case e.LockSilentSeconds > 0:
				fmt.Fprintf(w, " (no heartbeat for %s: most likely dead; if you are sure, panka unlock --stack %s --environment %s --force removes it)",
					humanDuration(time.Duration(e.LockSilentSeconds)*time.Second), s.Stack, e.Environment)
			}
			fmt.Fprintln(w)
		} else if e.LockError != "" {
			fmt.Fprintf(w, "  lock:      unknown: %s\n", e.LockError)
		} else {
			fmt.Fprintln(w, "  lock:      free")
		}
		if dc := e.LastDriftCheck; dc != nil {
			if len(dc.Drifted) > 0 {
				fmt.Fprintf(w, "  drift:     %s drifted when checked %s\n", strings.Join(dc.Drifted, ", "), age(now, dc.At))
			} else {
				fmt.Fprintf(w, "  drift:     none when checked %s\n", age(now, dc.At))
			}
		} else if e.Deployed != nil {
			fmt.Fprintln(w, "  drift:     never checked (panka drift detect)")
		}
		if e.EngineStateUnrecorded {
			fmt.Fprintf(w, "  engine:    its state holds a deployment that was not recorded (its record could not be written, or it was killed): "+
				"resources may exist although nothing is recorded; panka apply --stack %s --environment %s deploys and records them\n", s.Stack, e.Environment)
		}
		if e.EngineStateChanged {
			fmt.Fprintf(w, "  engine:    its state was written after the last recorded deployment, by a run that recorded nothing: "+
				"what is deployed may differ (panka drift detect --stack %s --environment %s shows what; panka apply puts it back)\n", s.Stack, e.Environment)
		}
	}
}

// writeStatusChange appends to a status HEAD: line whether the stack
// changed for e between its deployed commit and HEAD (nothing when that
// is unknown).
func writeStatusChange(w io.Writer, stack string, e *EnvStatus) {
	if e.Changed != nil {
		if *e.Changed && e.RenamedTo != "" {
			fmt.Fprintf(w, "; stack renamed to %q since (metadata.name in %s): its deployments stay recorded under %s until destroyed "+
				"(panka status --stack %s shows the new name; once %s/%s runs, panka destroy --stack %s --environment %s deletes what %s/%s deployed)",
				e.RenamedTo, e.renamedIn, stack, e.RenamedTo, e.RenamedTo, e.Environment, stack, e.Environment, stack, e.Environment)
		} else if *e.Changed && e.StackChange == string(changes.Removed) {
			fmt.Fprintf(w, "; stack removed since (no stack.yaml at HEAD names it %q; panka destroy --stack %s --environment %s deletes what it deployed)", stack, stack, e.Environment)
		} else if *e.Changed && e.EnvironmentChange == string(changes.Removed) {
			fmt.Fprintf(w, "; environment removed since (panka destroy --stack %s --environment %s deletes what it deployed)", stack, e.Environment)
		} else if *e.Changed && len(e.ChangedComponents) == 0 && e.Deployed != nil && e.Deployed.Dirty {
			fmt.Fprint(w, "; what runs came from uncommitted changes, not that commit's YAML (panka apply deploys HEAD's)")
		} else if *e.Changed && len(e.ChangedComponents) == 0 && lastRunFailed(e) {
			fmt.Fprintf(w, "; the last run %s after it, so what runs may be what that run tried to deploy, not that commit's YAML (panka plan shows what apply puts back)", e.Last.Result)
		} else if *e.Changed && len(e.ChangedComponents) == 0 && e.Deployed != nil && len(e.Deployed.TargetComponents) > 0 {
			was := "was"
			if len(e.Deployed.TargetComponents) > 1 {
				was = "were"
			}
			fmt.Fprintf(w, "; only %s of that commit %s deployed (--target-component), the other components are not its YAML (panka apply deploys HEAD's)",
				strings.Join(e.Deployed.TargetComponents, ", "), was)
		} else if *e.Changed {
			fmt.Fprint(w, "; stack changed since")
			if len(e.ChangedComponents) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(e.ChangedComponents, ", "))
			}
		} else {
			fmt.Fprint(w, "; no change to this stack since")
		}
	}
}

// renamedAtHead is the name HEAD's stack.yaml in dir (the folder of a
// stack HEAD no longer has) gives the stack there, and that file: "" when
// HEAD has no stack there (the folder was deleted or moved).
func renamedAtHead(repo *gitops.Repo, head gitops.Hash, dir string) (name, file string) {
	fsys, err := repo.TreeFS(head)
	if err != nil {
		return "", ""
	}
	h, err := stacks.ReadHeader(fsys, dir)
	if err != nil || h.Name == "" {
		return "", ""
	}
	return h.Name, path.Join(dir, stacks.StackFile)
}
