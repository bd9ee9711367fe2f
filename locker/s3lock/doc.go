// Package s3lock keeps leases as lock objects in the state bucket, next to
// the state: <prefix>stacks/<stack>/<env>/lock.json, for teams without
// DynamoDB (the approach of Terraform's use_lockfile).
//
// Acquire creates the object with If-None-Match: * ; an expired lease is
// taken over by replacing the object conditionally on the ETag that was
// read (If-Match), so of two contenders for an expired lease only one wins.
// Heartbeat reads the object, checks the lock id and replaces it on its
// ETag. Release checks the lock id and deletes with If-Match on the ETag
// (servers that ignore If-Match on DELETE leave a window of one round trip
// in which a lease taken over right after expiry could be deleted; leases
// are only taken over after they expired, so a holder that is still
// releasing has already lost it in any case).
//
// Expiry is enforced by these conditions; no lifecycle rule is needed.
package s3lock
