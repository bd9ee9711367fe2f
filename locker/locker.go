package locker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key returns the lease key of a stack/environment (SPEC §6).
func Key(stack, env string) string { return "stack:" + stack + ":env:" + env }

// Info describes a lease and its holder.
type Info struct {
	Key           string    `json:"lockKey"`
	ID            string    `json:"lockId"`
	LockedBy      string    `json:"lockedBy"`
	LockedAt      time.Time `json:"lockedAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	Metadata      Metadata  `json:"metadata"`
}

// Metadata is who/what holds a lease.
type Metadata struct {
	Hostname  string `json:"hostname,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Version   string `json:"version,omitempty"`
	Operation string `json:"operation,omitempty"`
	Commit    string `json:"commit,omitempty"`
	CIURL     string `json:"ciUrl,omitempty"`
	// BootID, PIDNamespace and ProcessStart identify the holder process
	// beyond its PID (empty where the host does not tell them): the
	// kernel boot (/proc/sys/kernel/random/boot_id), the PID namespace
	// its PID counts in, and when it started (clock ticks after boot).
	// With them a run on the same host can prove the holder has ended,
	// also when its PID was reused since, and take its lease over.
	BootID       string `json:"bootId,omitempty"`
	PIDNamespace string `json:"pidNamespace,omitempty"`
	ProcessStart int64  `json:"processStart,omitempty"`
	// MachineID names the holder's installation across reboots (a hash
	// of /etc/machine-id): with it, a lease from an earlier boot of this
	// machine is proved dead after a restart and taken over.
	MachineID string `json:"machineId,omitempty"`
}

// Locker is a lease backend. Implementations are safe for concurrent use
// and enforce expiry through their own conditions, never through a TTL
// feature of the server.
type Locker interface {
	// TryAcquire takes the lease for info.Key for ttl if it is free or
	// expired. It sets info.ID (a new UUID), LockedAt, ExpiresAt and
	// LastHeartbeat. When someone else holds it, it returns a *HeldError
	// with the holder's Info (errors.Is(err, ErrHeld)).
	TryAcquire(ctx context.Context, info Info, ttl time.Duration) (Info, error)
	// Heartbeat extends the lease to now+ttl while it is still held with id.
	// When the lease is gone or taken it returns an error wrapping ErrLost.
	Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error
	// Reclaim puts info back as it is (its ID, LockedAt and Metadata
	// kept, ExpiresAt and LastHeartbeat moved to now+ttl and now) only
	// where no lease record of info.Key exists at all: a lease whose table
	// or bucket was deleted and made again without it. When a record is
	// there (another run's lease, held or not) it writes nothing and
	// returns an error wrapping ErrLost (and a *HeldError when that run
	// holds it). Writing info where info.ID already holds it succeeds.
	Reclaim(ctx context.Context, info Info, ttl time.Duration) (Info, error)
	// Release deletes the lease while it is held with id; ErrLost otherwise.
	Release(ctx context.Context, key, id string) error
	// ForceRelease deletes the lease whoever holds it, an unreadable one
	// too; ErrNotFound if none.
	ForceRelease(ctx context.Context, key string) error
	// Get returns the current lease (possibly expired) or ErrNotFound; an
	// error wrapping ErrUnreadable when a lease record is there but cannot
	// be read (damaged).
	Get(ctx context.Context, key string) (Info, error)
	// List returns every lease, sorted by key. Lease records that are
	// there but cannot be read are left out and reported together by a
	// *UnreadableError (which wraps ErrUnreadable), returned with the
	// leases that could be read: one damaged record does not hide the
	// others.
	List(ctx context.Context) ([]Info, error)
}

// Errors reported by lockers.
var (
	ErrHeld     = errors.New("lock is held")
	ErrLost     = errors.New("lease lost")
	ErrNotFound = errors.New("no lock")
	// ErrUnreadable is a lease record that is there but cannot be read
	// (not JSON): only ForceRelease removes it.
	ErrUnreadable = errors.New("lock unreadable")
	// ErrStoreGone is the table or bucket that keeps the leases missing
	// (deleted, or never made): no lease is held in it, so no unlock can
	// remove one (see StoreGone).
	ErrStoreGone = errors.New("lock store does not exist")
)

// StoreGone marks err, a backend's error that says its table or bucket
// does not exist, so that errors.Is(err, ErrStoreGone) holds; its message
// stays err's.
func StoreGone(err error) error { return &storeGoneError{err} }

type storeGoneError struct{ err error }

func (e *storeGoneError) Error() string   { return e.err.Error() }
func (e *storeGoneError) Unwrap() []error { return []error{e.err, ErrStoreGone} }

// UnreadableError reports the lease records List found but could not read,
// each as its own error (saying which record and how to remove it).
type UnreadableError struct {
	Errs []error
}

func (e *UnreadableError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	n := "1 lock record"
	if len(e.Errs) != 1 {
		n = fmt.Sprintf("%d lock records", len(e.Errs))
	}
	return n + " could not be read (the others are listed): " + strings.Join(msgs, "; ")
}

func (e *UnreadableError) Unwrap() []error {
	return append(append([]error{}, e.Errs...), ErrUnreadable)
}

// Unreadable returns nil for no errors, else a *UnreadableError of them.
func Unreadable(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return &UnreadableError{Errs: errs}
}

// HeldError reports the holder of a lease that could not be taken.
type HeldError struct {
	Holder Info
}

func (e *HeldError) Error() string {
	h := e.Holder
	// Named as every other message names it (shop/dev), not by the lock
	// key's own spelling (stack:shop:env:dev).
	name := h.Key
	if stack, env, ok := ParseKey(h.Key); ok {
		name = stack + "/" + env
	}
	s := fmt.Sprintf("%s is locked by %s", name, h.LockedBy)
	if h.Metadata.Hostname != "" {
		s += fmt.Sprintf(" on %s (pid %d)", h.Metadata.Hostname, h.Metadata.PID)
	}
	if h.Metadata.Operation != "" {
		s += ", operation " + h.Metadata.Operation
	}
	if h.Metadata.Commit != "" {
		c := h.Metadata.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += ", commit " + c
	}
	if !h.LockedAt.IsZero() {
		s += ", since " + h.LockedAt.UTC().Format(time.RFC3339)
	}
	if !h.ExpiresAt.IsZero() {
		s += ", expires " + h.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if h.Metadata.CIURL != "" {
		// A CI job's lease: its run's page says whether it is still
		// going or was cancelled (and its lease left behind).
		s += ", CI run " + h.Metadata.CIURL
	}
	return s
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }
