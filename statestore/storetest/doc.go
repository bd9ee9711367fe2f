// Package storetest is the conformance suite every statestore backend runs
// (in the spirit of restic's backend test suite): the same subtests, a fresh
// instance each, against the local backend and against a real S3-compatible
// server. Only test code imports it.
package storetest
