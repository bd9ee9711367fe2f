package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/gofrs/flock"

	"panka.dev/panka/statestore"
)

// Options configure a Store.
type Options struct {
	// Dir is the backend directory, conventionally <repo>/.panka. State
	// lives under Dir/state/.
	Dir string
	// Prefix is backend.prefix: every path goes under Dir/state/<prefix>.
	Prefix string
}

// Store is the local backend. It is safe for concurrent use by goroutines
// and processes sharing the directory.
type Store struct {
	dir    string
	root   string // dir/state
	prefix string
}

var _ statestore.Store = (*Store)(nil)

const lockName = ".state.lock"

// New returns a Store over opts.Dir. Nothing is created until the first write.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("local state backend: no directory given")
	}
	p, err := statestore.NormalizePrefix(opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("local state backend: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("local state backend %s: %w", opts.Dir, err)
	}
	return &Store{dir: dir, root: filepath.Join(dir, "state"), prefix: p}, nil
}

// Dir returns the backend directory (Options.Dir, absolute).
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(rel string) string { return filepath.Join(s.root, filepath.FromSlash(rel)) }

func version(data []byte) statestore.Version {
	sum := sha256.Sum256(data)
	return statestore.Version(hex.EncodeToString(sum[:]))
}

// ensureDir creates the backend directory with its .gitignore, then dir.
func (s *Store) ensureDir(dir string) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("create state directory %s: %w", s.dir, err)
	}
	if err := IgnoreFolder(s.dir, "state"); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory %s: %w", dir, err)
	}
	return nil
}

// lock takes the per-stack/environment lock file, creating dir first.
func (s *Store) lock(ctx context.Context, dir string) (*flock.Flock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.ensureDir(dir); err != nil {
		return nil, err
	}
	fl := flock.New(filepath.Join(dir, lockName), flock.SetPermissions(FileMode))
	if err := fl.Lock(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", fl.Path(), err)
	}
	return fl, nil
}

// current returns the version of the file at path ("" when missing).
func current(path string) (statestore.Version, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", readStateError(path, err)
	}
	return version(data), nil
}

// readStateError is the error of reading the state.json at p that failed
// with err (not fs.ErrNotExist): a directory of that name (a copy into
// the wrong place) says what it holds and how to put the state file in
// its place, as the S3 backend says of a folder.
func readStateError(p string, err error) error {
	if fi, serr := os.Stat(p); serr == nil && fi.IsDir() {
		inside := filepath.Join(p, filepath.Base(p))
		fix := fmt.Sprintf("put the state file at %s instead, or remove the directory", p)
		if _, serr := os.Stat(inside); serr == nil {
			fix = fmt.Sprintf("if %s is the state (a copy into the directory puts it there), move it to %s in the directory's place; otherwise remove the directory", inside, p)
		}
		return statestore.NotAState(p, "a directory", fix)
	}
	return fmt.Errorf("read state %s: %w", p, err)
}

// Get implements statestore.Store.
func (s *Store) Get(ctx context.Context, key statestore.Key) (*statestore.State, statestore.Version, error) {
	if err := key.Validate(); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	p := s.path(statestore.StatePath(s.prefix, key))
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if target, lerr := os.Readlink(p); lerr == nil {
			// A state.json linked to a disk or share not mounted read
			// as no state: plan said "nothing deployed", and a
			// first write would replace the link.
			return nil, "", fmt.Errorf("read state %s: it is a symbolic link to %s, which does not exist (a disk or share not mounted, a file moved): make it exist, or replace the link with the state file itself", p, target)
		}
		return nil, "", fmt.Errorf("no state for %s at %s: %w", key, p, statestore.ErrNotFound)
	}
	if err != nil {
		return nil, "", readStateError(p, err)
	}
	st, err := statestore.DecodeState(data, key, p)
	if errors.Is(err, statestore.ErrCorrupt) {
		return nil, version(data), err
	}
	if err != nil {
		return nil, "", err
	}
	return st, version(data), nil
}

// Put implements statestore.Store.
func (s *Store) Put(ctx context.Context, key statestore.Key, st *statestore.State, prev statestore.Version) (statestore.Version, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	data, err := statestore.EncodeState(st, key)
	if err != nil {
		return "", err
	}
	dir := s.path(statestore.Dir(s.prefix, key))
	p := s.path(statestore.StatePath(s.prefix, key))
	fl, err := s.lock(ctx, dir)
	if err != nil {
		return "", err
	}
	defer fl.Unlock()
	cur, err := current(p)
	if err != nil {
		return "", err
	}
	if cur != prev {
		return "", &statestore.ConflictError{Key: key, Location: p}
	}
	if err := writeAtomic(dir, p, data); err != nil {
		return "", fmt.Errorf("write state %s: %w", p, err)
	}
	return version(data), nil
}

// writeAtomic replaces path with data: temp file in dir, fsync, rename, fsync dir.
func writeAtomic(dir, path string, data []byte) error {
	tmp, err := CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

// SyncDir makes a rename or link in dir durable (not supported on
// Windows); the local locker's lock files need it too.
func SyncDir(dir string) error { return syncDir(dir) }

// syncDir makes a rename or link in dir durable (not supported on Windows).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements statestore.Store.
func (s *Store) Delete(ctx context.Context, key statestore.Key, prev statestore.Version) error {
	if err := key.Validate(); err != nil {
		return err
	}
	dir := s.path(statestore.Dir(s.prefix, key))
	p := s.path(statestore.StatePath(s.prefix, key))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no state for %s at %s: %w", key, p, statestore.ErrNotFound)
	}
	fl, err := s.lock(ctx, dir)
	if err != nil {
		return err
	}
	defer fl.Unlock()
	cur, err := current(p)
	if err != nil {
		return err
	}
	if cur == "" {
		return fmt.Errorf("no state for %s at %s: %w", key, p, statestore.ErrNotFound)
	}
	if cur != prev {
		return &statestore.ConflictError{Key: key, Location: p}
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete state %s: %w", p, err)
	}
	return syncDir(dir)
}

// AppendHistory implements statestore.Store. The record is written to a
// temp file and hard-linked to its final name, so it appears complete or
// not at all and an existing record is never replaced.
func (s *Store) AppendHistory(ctx context.Context, key statestore.Key, d *statestore.Deployment) error {
	if err := key.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := statestore.EncodeDeployment(d, key)
	if err != nil {
		return err
	}
	name, err := statestore.HistoryName(d)
	if err != nil {
		return fmt.Errorf("append history of %s: %w", key, err)
	}
	dir := s.path(statestore.HistoryPrefix(s.prefix, key))
	if err := s.ensureDir(dir); err != nil {
		return err
	}
	p := filepath.Join(dir, name)
	err = createOnce(dir, p, data)
	if errors.Is(err, fs.ErrExist) {
		if old, rerr := os.ReadFile(p); rerr == nil && bytes.Equal(old, data) {
			return nil // the same record again: already stored
		}
		return fmt.Errorf("history record %s already exists: %w", p, statestore.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("write history record %s: %w", p, err)
	}
	return nil
}

// RemoveHistory implements statestore.Store. It needs no lock: records are
// only ever created once (AppendHistory never replaces one), so the record
// read here is the one removed.
func (s *Store) RemoveHistory(ctx context.Context, key statestore.Key, d *statestore.Deployment) error {
	name, err := statestore.RemovalName(key, d)
	if err != nil {
		return err
	}
	dir := s.path(statestore.HistoryPrefix(s.prefix, key))
	p := filepath.Join(dir, name)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove history record %s: %w", p, err)
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove history record %s: %w", p, err)
	}
	if err := statestore.CheckRemovable(data, key, d, p); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove history record %s: %w", p, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("remove history record %s: %w", p, err)
	}
	return nil
}

// createOnce creates path with data, failing with fs.ErrExist when it exists.
func createOnce(dir, path string, data []byte) error {
	tmp, err := CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// No hard links on this file system: exclusive create instead.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
		if err != nil {
			return err
		}
		_, werr := f.Write(data)
		if werr == nil {
			werr = f.Sync()
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = os.Remove(path)
			return werr
		}
	}
	return syncDir(dir)
}

// historyNames returns the record names of key, newest first.
func (s *Store) historyNames(key statestore.Key) (string, []string, error) {
	dir := s.path(statestore.HistoryPrefix(s.prefix, key))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dir, nil, nil
	}
	if err != nil {
		return dir, nil, fmt.Errorf("list history %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		// Every entry named as a record is listed, whatever it is: a
		// folder or a link there is a damaged record (readRecord), not
		// one to leave out without a word.
		if _, ok := statestore.ParseHistoryName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	statestore.SortHistory(names)
	return dir, names, nil
}

// checkedHistoryNames is historyNames of a valid key, unless ctx is done.
func (s *Store) checkedHistoryNames(ctx context.Context, key statestore.Key) (string, []string, error) {
	if err := key.Validate(); err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	return s.historyNames(key)
}

func (s *Store) readRecord(key statestore.Key, path string) (*statestore.Deployment, error) {
	gone := func() error {
		return fmt.Errorf("history record %s was removed while being read (an apply withdrew it): %w: %w", path, statestore.ErrRecordGone, statestore.ErrNotFound)
	}
	// panka writes records as plain files; anything else under a
	// record's name is damage, never followed or opened (a FIFO would
	// block the read for ever).
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gone()
	}
	if err != nil {
		return nil, fmt.Errorf("read history record %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, statestore.NotARecord(path, notAFile(path, fi.Mode()))
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gone()
	}
	if err != nil {
		return nil, fmt.Errorf("read history record %s: %w", path, err)
	}
	return statestore.DecodeDeployment(data, key, path)
}

// notAFile says what the entry at path, of mode m, is instead of a file.
func notAFile(path string, m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		to, _ := os.Readlink(path)
		return fmt.Sprintf("a symbolic link (to %s), which panka does not follow in a history: put the record file itself in its place", to)
	case m.IsDir():
		return "a folder"
	}
	return fmt.Sprintf("not a regular file (%s)", m.Type())
}

// History implements statestore.Store.
func (s *Store) History(ctx context.Context, key statestore.Key, offset, limit int) ([]*statestore.Deployment, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	return statestore.RetryRecordGone(ctx, func(skipGone bool) ([]*statestore.Deployment, error) {
		return s.history(ctx, key, offset, limit, skipGone)
	})
}

func (s *Store) history(ctx context.Context, key statestore.Key, offset, limit int, skipGone bool) ([]*statestore.Deployment, error) {
	dir, names, err := s.historyNames(key)
	if err != nil {
		return nil, err
	}
	lo, hi := statestore.Page(len(names), offset, limit)
	r := statestore.NewHistoryReader(key, hi-lo)
	for i, n := range names[lo:hi] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, n)
		d, err := s.readRecord(key, p)
		if skipGone && errors.Is(err, statestore.ErrRecordGone) {
			continue
		}
		if err := r.Set(i, p, d, err); err != nil {
			return nil, err
		}
	}
	return r.Result()
}

// NewerHistory implements statestore.Store. A directory listing costs
// little next to reading records: every name is listed, and only the one
// found is read.
func (s *Store) NewerHistory(ctx context.Context, key statestore.Key, serial int64, since time.Time) (*statestore.Deployment, error) {
	dir, names, err := s.checkedHistoryNames(ctx, key)
	if err != nil {
		return nil, err
	}
	from := statestore.HistoryFrom(since)
	var recent []string
	for _, n := range names {
		if n >= from {
			recent = append(recent, n)
		}
	}
	// A record withdrawn since the listing is no part of the history:
	// the next one counts.
	for {
		n := statestore.NewestAbove(recent, serial)
		if n == "" {
			return nil, nil
		}
		d, err := s.readRecord(key, filepath.Join(dir, n))
		if !errors.Is(err, statestore.ErrRecordGone) {
			return d, err
		}
		recent = slices.DeleteFunc(recent, func(x string) bool { return x == n })
	}
}

// MarkSerial implements statestore.Store.
func (s *Store) MarkSerial(ctx context.Context, key statestore.Key, serial int64) error {
	if err := key.Validate(); err != nil {
		return err
	}
	data, err := statestore.EncodeSerialMark(serial)
	if err != nil {
		return err
	}
	dir := s.path(statestore.Dir(s.prefix, key))
	p := s.path(statestore.SerialPath(s.prefix, key))
	fl, err := s.lock(ctx, dir)
	if err != nil {
		return err
	}
	defer fl.Unlock()
	// The mark never goes down: a run that lost its lease meanwhile
	// marks late, and its lower serial must not replace the new
	// holder's higher one. Compared under the lock every write takes.
	cur, err := readMark(p)
	if err != nil {
		return err
	}
	if cur >= serial {
		return nil
	}
	if err := writeAtomic(dir, p, data); err != nil {
		return fmt.Errorf("write serial mark %s: %w", p, err)
	}
	return nil
}

// MarkedSerial implements statestore.Store.
func (s *Store) MarkedSerial(ctx context.Context, key statestore.Key) (int64, error) {
	if err := key.Validate(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return readMark(s.path(statestore.SerialPath(s.prefix, key)))
}

// readMark reads the serial mark at p, 0 when there is none.
func readMark(p string) (int64, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		if fi, serr := os.Stat(p); serr == nil && fi.IsDir() {
			// A copy into the wrong place: "read ...: is a directory"
			// said neither what the file is nor what to do, and every
			// apply, drift check, state rm and state push stopped at it.
			return 0, statestore.NotASerialMark(p, "a directory, not a file")
		}
		return 0, fmt.Errorf("read serial mark %s: %w", p, err)
	}
	return statestore.DecodeSerialMark(data, p)
}

// Deployment implements statestore.Store.
func (s *Store) Deployment(ctx context.Context, key statestore.Key, serial int64) (*statestore.Deployment, error) {
	dir, names, err := s.checkedHistoryNames(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if sn, _ := statestore.ParseHistoryName(n); sn == serial {
			return s.readRecord(key, filepath.Join(dir, n))
		}
	}
	return nil, fmt.Errorf("no deployment with serial %d for %s in %s: %w", serial, key, dir, statestore.ErrNotFound)
}

// List implements statestore.Store.
func (s *Store) List(ctx context.Context) ([]statestore.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	base := s.path(statestore.StacksPrefix(s.prefix))
	stacks, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list states in %s: %w", base, err)
	}
	var keys []statestore.Key
	for _, st := range stacks {
		if !st.IsDir() {
			continue
		}
		ks, err := s.listStack(st.Name())
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	statestore.SortKeys(keys)
	return keys, nil
}

// ListStack implements statestore.Store.
func (s *Store) ListStack(ctx context.Context, stack string) ([]statestore.Key, error) {
	if err := statestore.ValidateName("stack", stack); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys, err := s.listStack(stack)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Environment < keys[j].Environment })
	return keys, err
}

// listStack returns the keys of stack that have state, in directory order.
func (s *Store) listStack(stack string) ([]statestore.Key, error) {
	dir := filepath.Join(s.path(statestore.StacksPrefix(s.prefix)), stack)
	envs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list states in %s: %w", dir, err)
	}
	var keys []statestore.Key
	for _, e := range envs {
		k := statestore.Key{Stack: stack, Environment: e.Name()}
		if !e.IsDir() || k.Validate() != nil {
			continue
		}
		if _, err := os.Stat(s.path(statestore.StatePath(s.prefix, k))); err == nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
