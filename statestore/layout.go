package statestore

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Object names of the key layout (SPEC §5). All paths are slash-separated
// and relative to the backend root (bucket or local state directory); the
// prefix is a NormalizePrefix result.
const (
	stacksDir    = "stacks/"
	stateFile    = "state.json"
	serialFile   = "serial.json"
	historyDir   = "history/"
	historyTime  = "20060102T150405.000000000Z"
	serialDigits = 12
)

// MaxSerial is the highest serial a state may have: the 12 digits of a
// history record's name. A serial past it (a hand-edited or pushed
// state.json) is refused before anything is written: the int64 it is
// kept in wrapped around to a negative serial, which no history record
// can be named by, so every later apply ran the engine and then failed
// to record what it did.
const MaxSerial int64 = 999_999_999_999

// StacksPrefix is "<prefix>stacks/".
func StacksPrefix(prefix string) string { return prefix + stacksDir }

// Dir is "<prefix>stacks/<stack>/<env>/": everything of one stack/environment,
// including the Pulumi backend under pulumi/.
func Dir(prefix string, k Key) string {
	return prefix + stacksDir + k.Stack + "/" + k.Environment + "/"
}

// StatePath is "<prefix>stacks/<stack>/<env>/state.json".
func StatePath(prefix string, k Key) string { return Dir(prefix, k) + stateFile }

// SerialPath is "<prefix>stacks/<stack>/<env>/serial.json", the serial
// mark (Store.MarkSerial).
func SerialPath(prefix string, k Key) string { return Dir(prefix, k) + serialFile }

// HistoryPrefix is "<prefix>stacks/<stack>/<env>/history/".
func HistoryPrefix(prefix string, k Key) string { return Dir(prefix, k) + historyDir }

// PulumiPrefix is "<prefix>stacks/<stack>/<env>/pulumi/", the Pulumi DIY
// backend of the stack/environment.
func PulumiPrefix(prefix string, k Key) string { return Dir(prefix, k) + "pulumi/" }

// HistoryName is the file name of a record:
// <UTC start time 20060102T150405.000000000Z>-<serial, 12 digits>.json.
// Lexical order is the order of the writers' clocks, which is not the order
// of the deployments when clocks are skewed: SortHistory orders by serial.
// A record without StartedAt uses EndedAt.
func HistoryName(d *Deployment) (string, error) {
	t := d.StartedAt
	if t.IsZero() {
		t = d.EndedAt
	}
	if t.IsZero() {
		return "", fmt.Errorf("deployment record for serial %d has neither startedAt nor endedAt", d.Serial)
	}
	if d.Serial < 0 {
		return "", fmt.Errorf("deployment record has a negative serial %d", d.Serial)
	}
	return t.UTC().Format(historyTime) + "-" + fmt.Sprintf("%0*d", serialDigits, d.Serial) + ".json", nil
}

// RemovalName checks the arguments of Store.RemoveHistory and returns the
// record's file name (HistoryName), for both backends.
func RemovalName(key Key, d *Deployment) (string, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	if d == nil {
		return "", fmt.Errorf("remove history record of %s: no record given", key)
	}
	name, err := HistoryName(d)
	if err != nil {
		return "", fmt.Errorf("remove history record of %s: %w", key, err)
	}
	return name, nil
}

// ParseHistoryName returns the serial of a record file name, false when the
// name is not a history record name.
func ParseHistoryName(name string) (int64, bool) {
	base, ok := strings.CutSuffix(name, ".json")
	if !ok {
		return 0, false
	}
	ts, serial, ok := strings.Cut(base, "-")
	if !ok || len(ts) != len(historyTime) {
		return 0, false
	}
	if _, err := time.Parse(historyTime, ts); err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(serial, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// HistorySkew bounds how far apart the clocks of two machines deploying
// the same stack/environment may be: a record written after a state was
// is named no earlier than that state's last deployment start minus
// HistorySkew (the next run starts under the lease, after reading it).
const HistorySkew = 24 * time.Hour

// NewerSince returns where Store.NewerHistory looks for records ahead of
// st: from its last deployment's start, less HistorySkew; the zero time
// (every record) when st records no deployment.
func NewerSince(st *State) time.Time {
	if st == nil || st.LastDeployment == nil {
		return time.Time{}
	}
	t := st.LastDeployment.StartedAt
	if t.IsZero() {
		t = st.LastDeployment.EndedAt
	}
	if t.IsZero() {
		return time.Time{}
	}
	return t.Add(-HistorySkew)
}

// HistoryFrom is the record name prefix of time t: every record named at
// or after t sorts after it (S3 ListObjectsV2 StartAfter). "" for the
// zero time.
func HistoryFrom(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(historyTime)
}

// HistoryPageSkew bounds how far apart the clocks of the machines that
// deploy one stack/environment may be for History to find its newest
// records among the recently named ones (see NewestFrom): a record newer
// than another (a higher serial) is named no earlier than that one less
// HistoryPageSkew.
const HistoryPageSkew = 7 * 24 * time.Hour

// HistoryPageWindows are the spans (before now, less HistoryPageSkew) that
// an S3 History with a limit lists first, in order, before the whole
// history: a stack/environment deployed for years lists its last weeks,
// not thousands of records, to show the newest twenty.
var HistoryPageWindows = []time.Duration{7 * 24 * time.Hour, 8 * 7 * 24 * time.Hour}

// HistoryPageFrom is where History lists from to find the newest records
// in window w of HistoryPageWindows at time now.
func HistoryPageFrom(now time.Time, w time.Duration) time.Time {
	return now.Add(-HistoryPageSkew - w)
}

// NewestFrom returns the n newest of names (SortHistory order; names may
// be keys or paths ending in a record name), which must be every record
// named at or after from, and whether they are the n newest of the whole
// history. They are when the n-th is named at least HistoryPageSkew after
// from: a record named before from and newer than it would be named more
// than HistoryPageSkew before it. Fewer than n names never are (from not
// being the zero time): older records may be missing.
func NewestFrom(names []string, from time.Time, n int) ([]string, bool) {
	if n <= 0 || len(names) < n {
		return nil, false
	}
	sorted := slices.Clone(names)
	SortHistory(sorted)
	t, ok := historyNameTime(path.Base(sorted[n-1]))
	if !ok || t.Before(from.Add(HistoryPageSkew)) {
		return nil, false
	}
	return sorted[:n], true
}

// historyNameTime is the time in a record name.
func historyNameTime(name string) (time.Time, bool) {
	ts, _, ok := strings.Cut(name, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(historyTime, ts)
	return t, err == nil
}

// NewestAbove returns the name (of names, record names or paths ending in
// one) with the highest serial above serial, "" when none is (ties: the
// latest time, as SortHistory).
func NewestAbove(names []string, serial int64) string {
	best, bestSerial := "", int64(0)
	for _, n := range names {
		sn, ok := ParseHistoryName(path.Base(n))
		if !ok || sn <= serial {
			continue
		}
		if best == "" || sn > bestSerial || sn == bestSerial && path.Base(n) > path.Base(best) {
			best, bestSerial = n, sn
		}
	}
	return best
}

// SortHistory sorts record names newest first, as Store.History returns
// them; the names may be keys or paths ending in a record name (the part
// after the last '/' is parsed), and all must be record names
// (ParseHistoryName). Newest means the highest serial: serials increase
// with every compare-and-swap write of state.json, while the time in a name
// is the clock of whichever machine wrote it, and two CI runners whose
// clocks disagree can write serial 6 with an earlier time than serial 5.
// The time only orders records of the same serial (the record of a
// deployment whose state write failed, and the next one's).
func SortHistory(names []string) {
	type rec struct {
		serial int64
		base   string
		name   string
	}
	recs := make([]rec, len(names))
	for i, n := range names {
		b := path.Base(n)
		serial, _ := ParseHistoryName(b)
		recs[i] = rec{serial, b, n}
	}
	slices.SortFunc(recs, func(a, b rec) int {
		if c := cmp.Compare(b.serial, a.serial); c != 0 {
			return c
		}
		return strings.Compare(b.base, a.base)
	})
	for i, r := range recs {
		names[i] = r.name
	}
}

// ParseStatePath returns the key of "<prefix>stacks/<stack>/<env>/state.json",
// false for any other path (history, Pulumi files, other prefixes, names
// that do not validate).
func ParseStatePath(prefix, path string) (Key, bool) {
	rest, ok := strings.CutPrefix(path, prefix+stacksDir)
	if !ok {
		return Key{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != stateFile {
		return Key{}, false
	}
	k := Key{Stack: parts[0], Environment: parts[1]}
	if k.Validate() != nil {
		return Key{}, false
	}
	return k, true
}

// Page applies offset/limit (limit <= 0: all) to n items and returns the
// bounds of the window.
func Page(n, offset, limit int) (lo, hi int) {
	if offset < 0 {
		offset = 0
	}
	lo = min(offset, n)
	hi = n
	// limit < n-lo, not lo+limit < n: a huge --limit must not wrap around.
	if limit > 0 && limit < n-lo {
		hi = lo + limit
	}
	return lo, hi
}

// SortKeys sorts keys by stack, then environment: the order List returns.
func SortKeys(keys []Key) {
	slices.SortFunc(keys, func(a, b Key) int {
		if c := strings.Compare(a.Stack, b.Stack); c != 0 {
			return c
		}
		return strings.Compare(a.Environment, b.Environment)
	})
}

// StackNames returns, sorted, the stacks s holds anything of. On a store
// that lists by prefix (SkipLister) it is one listing of stack names, not
// one per environment as List.
func StackNames(ctx context.Context, s Store) ([]string, error) {
	var names []string
	if sl, ok := s.(SkipLister); ok {
		_, err := sl.ListSkipping(ctx, func(k Key) bool {
			if k.Environment == "" {
				names = append(names, k.Stack)
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	} else {
		keys, err := s.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			names = append(names, k.Stack)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// RestoreHint says how a lost state.json comes back, for either backend:
// the messages that ask for it do not know which one holds it.
const RestoreHint = "an earlier object version where the S3 bucket keeps them, a backup of .panka/state for the local backend, or `panka state push --force FILE` with a copy"
