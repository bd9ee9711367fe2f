package statestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Export returns the current state of key as the JSON document `panka state
// pull` prints (the same format as state.json). A damaged state (see
// DamagedError) is returned as stored, together with its error: printing
// it is the first step of the repair that error names.
func Export(ctx context.Context, s Store, key Key) ([]byte, error) {
	st, _, err := s.Get(ctx, key)
	var de *DamagedError
	if errors.As(err, &de) {
		data, eerr := EncodeState(de.State, key)
		if eerr != nil {
			return nil, err
		}
		return data, err
	}
	if err != nil {
		return nil, err
	}
	return EncodeState(st, key)
}

// CheckImport reports whether data can be a state document to import, with
// the error Import gives when it cannot (empty, not JSON, truncated, not a
// JSON object, no schema version), source naming it (a file name).
func CheckImport(data []byte, source string) error {
	return checkSchema(data, "state", source, corruptPushHint)
}

// ImportOptions control Import.
type ImportOptions struct {
	// Source names the imported document in errors (a file name).
	Source string
	// Force accepts a document for another stack/environment (it is
	// rewritten to key; one that names none is always written to key) and one with an older serial than the stored state,
	// and replaces a stored state that is corrupt (ErrCorrupt).
	Force bool
	// Now stamps UpdatedAt (default time.Now).
	Now func() time.Time
	// User is who pushes, for the state's LastWrite.
	User string
	// Recovery, when set, is what the push cleared of an earlier, stopped
	// run (the lease it took over): added to the state's Recoveries, as
	// a push records no deployment to keep it in.
	Recovery *Recovery
}

// Import writes data (a state document as Export returns it) as the state of
// key, the way `panka state push` does. Unless opts.Force is set it refuses a
// document for another stack/environment and one whose serial is older than
// the stored state's (someone deployed since it was pulled). The stored
// serial becomes one more than every serial the store shows used (see
// usedSerial, storedSerial), and the serial mark moves to it first: a
// serial never repeats, also when the document or the stored state lost
// theirs, or state.json is lost after a write that has no history record.
// The write is a compare-and-swap against the
// state read here, so a concurrent deployment makes it fail with
// ErrConflict rather than be overwritten.
func Import(ctx context.Context, s Store, key Key, data []byte, opts ImportOptions) (*State, error) {
	src := opts.Source
	if src == "" {
		src = "the pushed state"
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	if err := checkSchema(data, "state", src, corruptPushHint); err != nil {
		return nil, err
	}
	var in State
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("state %s does not match the state format (%s): %w%s", src, describeJSON(data, err), ErrCorrupt, corruptPushHint)
	}
	if in.Serial < 0 || in.Serial >= MaxSerial {
		// Even with --force: the next serial would not fit (see MaxSerial).
		return nil, fmt.Errorf("state %s has serial %d, outside 0 to %d: %w%s", src, in.Serial, MaxSerial-1, ErrCorrupt, corruptPushHint)
	}
	if problems, fixes := damage(&in, ""); len(problems) > 0 {
		// Stored, it would be refused by every command that reads it.
		return nil, fmt.Errorf("state %s is damaged: %s: %w; nothing was written: %s, and push it again", src, strings.Join(problems, "; "), ErrCorrupt, strings.Join(fixes, "; "))
	}
	// A document that names no stack (or environment) is pushed to the one
	// key names: nothing to refuse, no --force needed.
	if (in.Stack != "" && in.Stack != key.Stack) || (in.Environment != "" && in.Environment != key.Environment) {
		if !opts.Force {
			return nil, fmt.Errorf("%s holds the state of stack %q environment %q, not %s; nothing was written (use --force to push it to %s anyway)",
				src, in.Stack, in.Environment, key, key)
		}
	}
	in.Stack, in.Environment = key.Stack, key.Environment
	cur, prev, err := s.Get(ctx, key)
	used := usedSerial(&in)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt) && opts.Force && prev != "":
		// No state, or the repair the corrupt-state error asks for:
		// replace it, still only if nobody changed it meanwhile.
		if errors.Is(err, ErrNotFound) {
			prev = ""
		}
		var de *DamagedError
		if errors.As(err, &de) && de.State != nil {
			// Damaged, not unreadable: what it says it used counts.
			used = max(used, usedSerial(de.State))
		}
		cur = nil
	case err != nil:
		return nil, err
	}
	if cur != nil {
		if in.Serial < cur.Serial && !opts.Force {
			return nil, fmt.Errorf("%s has serial %d but the stored state of %s is at serial %d (written since it was pulled: a deployment, a drift check or another push); nothing was written: pull again, or use --force to overwrite",
				src, in.Serial, key, cur.Serial)
		}
		used = max(used, usedSerial(cur))
	}
	// The newest history record and the serial mark too: with
	// state.json deleted, lost or corrupt they are all there is to go
	// on, and with a readable state a record ahead of it (a run killed
	// between its record and its state write) holds the next serial
	// already.
	newest, herr := storedSerial(ctx, s, key)
	if herr != nil {
		// Going on would number the state from the document alone,
		// perhaps behind the history it could not read.
		return nil, fmt.Errorf("number the pushed state of %s after every serial used: %w; nothing was written", key, herr)
	}
	next := max(used, newest) + 1
	if next > MaxSerial {
		return nil, fmt.Errorf("state %s would be stored as serial %d, past %d, the highest a state may have (it follows the highest serial that state, the stored one or the newest history record holds): %w%s",
			src, next, MaxSerial, ErrCorrupt, corruptPushHint)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	in.SchemaVersion = SchemaVersion
	in.Serial = next
	in.UpdatedAt = now().UTC()
	// History has no record of a push: the state says it was one.
	in.LastWrite = &Write{Operation: WriteStatePush, Serial: next, User: opts.User, At: in.UpdatedAt}
	if opts.Recovery != nil {
		in.Recoveries = append(in.Recoveries, *opts.Recovery)
	}
	if err := mark(ctx, s, key, next); err != nil {
		return nil, err
	}
	if _, err := s.Put(ctx, key, &in, prev); err != nil {
		return nil, err
	}
	return &in, nil
}

// storedSerial is the highest serial the store shows used for key besides
// its state.json: the newest history record's (NewestSerial) and the
// serial mark of the writes that have no record (Store.MarkedSerial).
func storedSerial(ctx context.Context, s Store, key Key) (int64, error) {
	newest, err := NewestSerial(ctx, s, key)
	if err != nil {
		return 0, fmt.Errorf("read the history: %w", err)
	}
	marked, err := s.MarkedSerial(ctx, key)
	if err != nil {
		return 0, err
	}
	return max(newest, marked), nil
}

// mark records serial as used (Store.MarkSerial) before a write of key's
// state that has no history record stores it: with state.json lost, the
// history alone would give it again.
func mark(ctx context.Context, s Store, key Key, serial int64) error {
	if err := s.MarkSerial(ctx, key, serial); err != nil {
		return fmt.Errorf("record serial %d of %s as used before writing its state: %w; nothing was written", serial, key, err)
	}
	return nil
}

// usedSerial is the highest serial st shows was used: its own, and those
// of the deployments it records (a document whose serial was lost still
// says which deployments came before it).
func usedSerial(st *State) int64 {
	n := st.Serial
	for _, d := range []*Deployment{st.LastDeployment, st.LastSuccessful} {
		if d != nil {
			n = max(n, d.Serial)
		}
	}
	return n
}

// Update reads the state of key, lets fn change it, gives it the next
// serial, stamps UpdatedAt with now() and writes it back with
// compare-and-swap. The next serial follows the state's and any history
// record ahead of it (a run killed between its record and its state
// write) and the serial mark (Store.MarkSerial), which it moves to the
// serial it writes first: no serial is given twice, also when state.json
// is lost after this write. A LastWrite fn sets with serial 0
// is this write's and gets that serial. It returns the written state and
// its version; ErrNotFound when there is no state, ErrConflict when
// another writer got there first.
func Update(ctx context.Context, s Store, key Key, now func() time.Time, fn func(*State) error) (*State, Version, error) {
	st, prev, err := s.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	// A damaged newest record counts by its name (NewestSerial): it must
	// not block a state rm, the repair of a state.
	newest, err := storedSerial(ctx, s, key)
	if err != nil {
		return nil, "", fmt.Errorf("number the state of %s after every serial used: %w; nothing was written", key, err)
	}
	if err := fn(st); err != nil {
		return nil, "", err
	}
	st.Serial = max(st.Serial, newest) + 1
	if st.LastWrite != nil && st.LastWrite.Serial == 0 {
		st.LastWrite.Serial = st.Serial
	}
	st.UpdatedAt = now().UTC()
	if err := mark(ctx, s, key, st.Serial); err != nil {
		return nil, "", err
	}
	v, err := s.Put(ctx, key, st, prev)
	if err != nil {
		return nil, "", err
	}
	return st, v, nil
}
