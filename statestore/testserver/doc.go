// Package testserver gives tests access to the S3-compatible (versitygw) and
// DynamoDB-compatible (dynalite) servers that tools/testservers.sh starts.
//
// The servers are found through the environment variables
// PANKA_TEST_S3_ENDPOINT, PANKA_TEST_S3_ACCESS_KEY, PANKA_TEST_S3_SECRET_KEY,
// PANKA_TEST_S3_REGION and PANKA_TEST_DYNAMODB_ENDPOINT. When a variable is
// unset the calling test is skipped, unless CI is set, in which case it fails:
// in CI a skipped integration test would be counted as a pass.
//
// Run tests with the servers up:
//
//	tools/testservers.sh run -- go test ./statestore/...
//
// Only test code imports this package.
package testserver
