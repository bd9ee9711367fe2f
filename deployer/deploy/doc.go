// Package deploy orchestrates one deployment of a stack/environment while
// the caller holds its lease: read state, plan, enforce data protection,
// confirm, run the Pulumi engine, check health, and record the deployment
// (history first, then state.json by compare-and-swap). It also records
// failed and interrupted runs, so state always says what happened.
//
// It does not take the lease, load YAML, or talk to the user: the caller
// passes the desired model, a confirmation callback and an engine factory.
package deploy
