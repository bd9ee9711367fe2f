// Package lockertest is the conformance suite every locker backend runs
// (Run), with two independent clients per test so that a re-entrant lock
// cannot pass by accident, a fake clock (Clock) so that expiry is tested
// without sleeping, and child processes (RunChild, called from TestMain) for
// the crash and cross-process contention tests.
//
// Only test code imports this package.
package lockertest
