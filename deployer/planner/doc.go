// Package planner compares the desired model of one stack/environment with
// the model recorded in state and produces an ordered, deterministic plan:
// per component create, update, replace, delete or no-op with field-level
// changes, data-loss flags and dependency order. It renders plans as text
// (optionally coloured, multi-line values as unified diffs) and JSON, and
// saves plans to files that apply can check for staleness.
//
// The planner owns no I/O beyond reading and writing saved plan files, never
// prints, never reads flags or environment variables and must not import
// Pulumi: it works on stacks.Resolved models only, so plans are cheap and can
// be computed anywhere (CLI, CI, change detection).
//
// Sensitive values (stacks.Sensitive, or strings starting with
// stacks.SensitivePrefix as read back from state) never appear in any
// rendering: they show as "(sensitive)", and a changed secret still shows as
// an update because its keyed hash changed.
package planner
