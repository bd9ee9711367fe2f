// Package statestore keeps panka's state and deployment history (SPEC §5):
// one state.json per stack/environment, written with compare-and-swap, and
// an immutable, create-only history record per deployment (withdrawn only by
// the deployment that wrote it, when its state write then failed).
//
// This package owns the Store contract (store.go), the key layout shared by
// every backend (layout.go), the JSON encoding with its schema version
// (codec.go), name validation (names.go) and the export/import used by
// `panka state pull/push` (transfer.go). Backends live in sub-packages:
// statestore/local (files under .panka/state) and statestore/s3. Every
// backend passes the conformance suite in statestore/storetest.
//
// It must not read flags or environment variables, print, or know about
// locks: callers hold the stack/environment lease (package locker) around a
// read-modify-write; compare-and-swap is the last line of defence.
package statestore
