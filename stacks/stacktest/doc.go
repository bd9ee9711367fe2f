// Package stacktest generates synthetic deployment repositories for tests
// and benchmarks (thousands of stacks, each with a few components and
// environments) that load and resolve without errors. It writes plain
// files; callers add git history if they need it. It is not used by panka
// itself.
package stacktest
