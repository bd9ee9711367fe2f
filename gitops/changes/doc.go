// Package changes is panka's change detection (SPEC §4): which stacks and
// environments changed between two commits (or since the commit last
// deployed to each environment). It is the one place where git (package
// gitops) meets the stack model (package stacks).
//
// The cost follows the size of the change, not of the repository: the tree
// diff skips identical subtrees; changed paths are mapped to stacks through
// an index of stack.yaml files (found by walking trees only, and cached on
// disk under <git-common-dir>/panka/ keyed by the tree id of the stacks
// root, then updated from the diff); only stack.yaml files that mention
// spec.watch are parsed for their globs; and only the stacks a changed path
// (or a watch glob) touches are loaded and resolved, at both commits.
//
// The package never prints and never reads flags or environment variables:
// problems worth showing (a stack that stops parsing) are returned in
// Result.Problems for the caller to print.
package changes
