// Package engine is the boundary between panka and the Pulumi engine.
//
// panka's own binary never links the Pulumi SDK or the target mappings: their
// package initialisation alone costs more than panka's whole start-up budget
// (SPEC §10: `panka version` under 30 ms). Deployments run them in a helper
// process, `panka-engine` (cmd/panka-engine, shipped next to panka), that
// speaks a line-delimited JSON protocol on stdin/stdout. This package holds
// the protocol, the result types both sides share, and the Client panka uses;
// deployer/engine/host is the other side and the only one importing Pulumi.
//
// It must not import the Pulumi SDK, the targets or pulumirun.
package engine
