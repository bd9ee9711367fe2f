package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/uuid"

	"panka.dev/panka/locker"
	slocal "panka.dev/panka/statestore/local"
)

// Locker keeps leases as files under Dir/locks.
type Locker struct {
	dir       string
	now       func() time.Time
	gitignore bool
}

var _ locker.Locker = (*Locker)(nil)

// Options configure New.
type Options struct {
	// Dir is the local backend directory (usually <repo>/.panka); lock
	// files go to Dir/locks.
	Dir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// GitIgnore writes Dir/.gitignore as the local state store does
	// (statestore/local.WriteGitIgnore), so lock files inside a repository
	// are never committed.
	GitIgnore bool
}

// New returns a Locker on opts.Dir. The directory is created on first use.
func New(opts Options) (*Locker, error) {
	if opts.Dir == "" {
		return nil, errors.New("local locker: no directory given")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Locker{dir: filepath.Join(opts.Dir, "locks"), now: opts.Now, gitignore: opts.GitIgnore}, nil
}

// Dir is the directory holding the lock files.
func (l *Locker) Dir() string { return l.dir }

func (l *Locker) paths(key string) (info, lock string) {
	base := filepath.Join(l.dir, url.QueryEscape(key))
	return base + ".json", base + ".flock"
}

// withFileLock runs fn while holding the key's OS file lock. The .flock
// file is never removed: removing it would let two processes lock two
// different inodes of the same name.
func (l *Locker) withFileLock(ctx context.Context, key string, fn func(infoPath string) error) error {
	if err := l.mkdir(); err != nil {
		return err
	}
	infoPath, lockPath := l.paths(key)
	fl := flock.New(lockPath, flock.SetPermissions(slocal.FileMode))
	ok, err := fl.TryLock()
	if err == nil && !ok {
		ok, err = fl.TryLockContext(ctx, time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if !ok {
		return fmt.Errorf("lock %s: %w", lockPath, ctx.Err())
	}
	defer fl.Unlock()
	return fn(infoPath)
}

func (l *Locker) mkdir() error {
	if _, err := os.Stat(l.dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("create lock directory: %w", err)
	}
	if l.gitignore {
		if err := slocal.IgnoreFolder(filepath.Dir(l.dir), filepath.Base(l.dir)); err != nil {
			return err
		}
	}
	return nil
}

func read(path string) (locker.Info, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return locker.Info{}, locker.ErrNotFound
	}
	if err != nil {
		return locker.Info{}, fmt.Errorf("read lock file: %w", err)
	}
	var info locker.Info
	if err := json.Unmarshal(b, &info); err != nil {
		return locker.Info{}, fmt.Errorf("read lock file %s: %w (%w); %s removes it", path, err, locker.ErrUnreadable, unlockCommand(path))
	}
	if info.Key == "" || info.ID == "" {
		// {} or null: valid JSON, but no lease panka wrote.
		return locker.Info{}, fmt.Errorf("read lock file %s: no lockKey or lockId in it (%w); %s removes it", path, locker.ErrUnreadable, unlockCommand(path))
	}
	if info.ExpiresAt.IsZero() {
		// Written by hand or by another tool: read as a lease that
		// expired in year 1, the next apply took it over.
		return locker.Info{}, fmt.Errorf("read lock file %s: no expiresAt in it (%w); %s removes it", path, locker.ErrUnreadable, unlockCommand(path))
	}
	return info, nil
}

// Durability hooks (tests replace them): the temp file's data is synced
// before the rename, the directory after it.
var (
	syncFile = (*os.File).Sync
	syncDir  = slocal.SyncDir
)

// write replaces the info file atomically (temp file + rename) so readers
// without the file lock never see a partial file. The temp file is synced
// before the rename and the directory after it: without that, a crash
// (power loss, a killed VM) soon after could leave the rename on disk but
// not the data, an empty lock file that every operation then refused as
// unreadable, or lose the lease a run was holding.
func write(path string, info locker.Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := slocal.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	if werr == nil {
		werr = syncFile(tmp)
	}
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write lock file %s: %w", path, werr)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write lock file %s: sync its directory: %w", path, err)
	}
	return nil
}

// TryAcquire takes the lease if no unexpired info file exists.
func (l *Locker) TryAcquire(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	err := l.withFileLock(ctx, info.Key, func(path string) error {
		cur, err := read(path)
		now := l.now()
		switch {
		case err == nil && !cur.Expired(now):
			return &locker.HeldError{Holder: cur}
		case err != nil && !errors.Is(err, locker.ErrNotFound):
			return err
		}
		info.ID = uuid.NewString()
		info.LockedAt, info.LastHeartbeat, info.ExpiresAt = now, now, now.Add(ttl)
		if err := write(path, info); err != nil {
			// The rename may have been done (the directory sync after
			// it failed): the lease was then in the file while acquire
			// failed, held by nobody and refusing every run until its
			// TTL. Take it back while it is ours (the file lock is held).
			if cur, rerr := read(path); rerr == nil && cur.ID == info.ID {
				if os.Remove(path) != nil {
					return fmt.Errorf("%w; the lock file holding this failed acquire's lease (lock id %s) could not be removed either: %s removes it", err, info.ID, unlockCommand(path))
				}
			}
			return err
		}
		return nil
	})
	if err != nil {
		return locker.Info{}, err
	}
	return info, nil
}

// Reclaim writes info where no info file of its key exists.
func (l *Locker) Reclaim(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	err := l.withFileLock(ctx, info.Key, func(path string) error {
		cur, err := read(path)
		switch {
		case err == nil && cur.ID == info.ID:
			info = cur
			return nil
		case err == nil && !cur.Expired(l.now()):
			return fmt.Errorf("reclaim %s: %w: %w", info.Key, locker.ErrLost, &locker.HeldError{Holder: cur})
		case err == nil:
			return fmt.Errorf("reclaim %s: another run wrote a lease for it since: %w", info.Key, locker.ErrLost)
		case !errors.Is(err, locker.ErrNotFound):
			return err
		}
		now := l.now()
		info.LastHeartbeat, info.ExpiresAt = now, now.Add(ttl)
		return write(path, info)
	})
	if err != nil {
		return locker.Info{}, err
	}
	return info, nil
}

// Heartbeat extends the lease while the info file still carries id.
func (l *Locker) Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error {
	return l.withFileLock(ctx, key, func(path string) error {
		cur, err := read(path)
		if errors.Is(err, locker.ErrNotFound) {
			return fmt.Errorf("heartbeat %s: lock is gone: %w", key, locker.ErrLost)
		}
		if err != nil {
			return err
		}
		if cur.ID != id {
			return fmt.Errorf("heartbeat %s: now held by %s (lock id %s): %w", key, cur.LockedBy, cur.ID, locker.ErrLost)
		}
		now := l.now()
		cur.LastHeartbeat, cur.ExpiresAt = now, now.Add(ttl)
		return write(path, cur)
	})
}

// Release removes the info file while it still carries id.
func (l *Locker) Release(ctx context.Context, key, id string) error {
	return l.withFileLock(ctx, key, func(path string) error {
		cur, err := read(path)
		if errors.Is(err, locker.ErrNotFound) {
			return fmt.Errorf("release %s: lock is gone: %w", key, locker.ErrLost)
		}
		if err != nil {
			return err
		}
		if cur.ID != id {
			return fmt.Errorf("release %s: held by %s with lock id %s, not %s: %w", key, cur.LockedBy, cur.ID, id, locker.ErrLost)
		}
		return remove(path)
	})
}

// ForceRelease removes the info file whoever holds the lease.
func (l *Locker) ForceRelease(ctx context.Context, key string) error {
	return l.withFileLock(ctx, key, func(path string) error {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("force-release %s: %w", key, locker.ErrNotFound)
		}
		return remove(path)
	})
}

// remove deletes the lock file, then syncs its directory as write does:
// without it, after a crash (power loss, a killed VM) soon after, the
// removal could be lost and the released lease come back, held until its
// TTL. A failed sync is no error: the lease is released either way (the
// file is gone for every process), and a release reported as failed says
// the lease was not released.
func remove(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove lock file: %w", err)
	}
	_ = syncDir(filepath.Dir(path))
	return nil
}

// Get reads the info file of key.
func (l *Locker) Get(ctx context.Context, key string) (locker.Info, error) {
	path, _ := l.paths(key)
	info, err := read(path)
	if err != nil {
		return locker.Info{}, fmt.Errorf("get lock %s: %w", key, err)
	}
	return info, nil
}

// List reads every info file, sorted by key.
func (l *Locker) List(ctx context.Context) ([]locker.Info, error) {
	entries, err := os.ReadDir(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list locks in %s: %w", l.dir, err)
	}
	var out []locker.Info
	var bad []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		info, err := read(filepath.Join(l.dir, name))
		if errors.Is(err, locker.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, locker.Unreadable(bad)
}

// unlockCommand is the panka command that removes the lock file at path
// (its name is the escaped key): plain "panka unlock --force" is refused
// without --stack and --environment.
func unlockCommand(path string) string {
	key, err := url.QueryUnescape(strings.TrimSuffix(filepath.Base(path), ".json"))
	stack, env, ok := locker.ParseKey(key)
	if err != nil || !ok {
		return "panka unlock --force"
	}
	return fmt.Sprintf("panka unlock --force -s %s -e %s", stack, env)
}
