// Package dynamodb keeps leases as items of a DynamoDB table whose hash key
// is lockKey (S). Acquire is a PutItem conditional on
// `attribute_not_exists(lockKey) OR expiresAt < :now`; heartbeat and release
// are conditional on lockId; after a failed acquire a consistent GetItem
// reads the holder back. Expiry is enforced by those conditions only: the
// table's TTL feature is neither needed nor used, and neither is
// ReturnValuesOnConditionCheckFailure (DynamoDB-compatible servers such as
// dynalite lack both).
//
// Times are stored as whole unix seconds (N), so leases have one-second
// granularity; a lease is never taken over before its stored expiresAt.
package dynamodb
