// Package s3lock keeps leases as lock objects in the state bucket, next to
// the state: <prefix>stacks/<stack>/<env>/lock.json, for teams without
// DynamoDB (the approach of Terraform's use_lockfile).
//
// Every write is conditional. The first lease of a key creates the object
// with If-None-Match: * ; afterwards the object is only ever replaced with
// If-Match on the ETag just read: to take a released or expired lease, to
// heartbeat (after checking the lock id) and to release. Release writes a
// "released" marker (the key with an empty lockId) instead of deleting the
// object, so there is no window between the lock-id check and a delete in
// which someone else's lease could be removed, and versioned buckets on
// servers that refuse If-None-Match over a delete marker keep working.
// Of several contenders for a free or expired lease only one wins.
//
// Expiry is enforced by these conditions; no lifecycle rule is needed.
package s3lock
