// Package pulumirun runs Pulumi operations for panka through the Automation
// API (github.com/pulumi/pulumi/sdk/v3/go/auto) with inline programs: one
// Pulumi stack per panka stack/environment, on a DIY backend (file:// or
// s3://) or any URL the CLI accepts, with the workspace (work dir,
// PULUMI_HOME, environment) under the caller's control.
//
// It owns: locating the Pulumi CLI (with an install hint when missing),
// preview/up/destroy/refresh-preview/outputs, turning engine events into
// simple per-resource progress events (Event), and recovering from a killed
// run (RecoverStale: Pulumi's DIY lock files and pending operations).
//
// It does not own panka's lease, state or history, nor the mapping of
// components to resources (deployer/target). It never prints: progress goes
// to the caller's event callback and optional log writer. It never reads
// the process environment except through the Pulumi CLI it starts, which
// inherits it (as does every plugin the engine starts).
package pulumirun
