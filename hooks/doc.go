// Package hooks installs and interprets git hooks for panka (the pre-push
// hook that validates and reports changed stacks before a push) and runs
// lifecycle commands around deployments. It never prints to stdout: callers
// render its results.
package hooks
