// Package locker owns lock leases on (stack, environment) pairs (SPEC §6):
// the Locker interface its backends implement (locker/dynamodb,
// locker/s3lock, locker/local), the lease manager that waits for a lease,
// keeps it alive with heartbeats and cancels the holder's context when it is
// lost (Acquire, Lease), and the pure helpers that describe a holder (CIURL).
//
// Expiry is judged by the clock of whoever tries to take a lease, so the
// clocks of panka's hosts must agree to well within locks.ttl (NTP is
// plenty: the defaults are a one-hour TTL renewed every 30 s).
//
// It never prints, reads flags or the process environment: callers pass
// clocks, identities and environment maps in. Expiry is enforced by every
// backend's own conditional writes, never by a server-side TTL feature.
package locker
