// Package local is the lock backend of the embedded (local) state backend:
// an OS file lock (flock) serialises each read-modify-write of a key, and a
// JSON lock-info file per key under <dir>/locks/ records the holder so that
// another process on the same machine sees who holds the lease.
//
// The file lock is held only for the few microseconds of a read-modify-write,
// never for the lease itself: a crashed holder's file lock is released by the
// OS at once, but its info file stays and blocks others until it expires,
// exactly like the DynamoDB and S3 backends.
package local
