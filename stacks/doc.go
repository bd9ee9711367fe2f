// Package stacks owns the YAML stack model: it discovers stacks in any
// fs.FS (a work tree or a git tree at any commit), parses their documents
// strictly (every problem with file:line:column), merges environment
// overlays, substitutes variables, checks references and builds the
// resolved, canonical model and its dependency graph. It also formats stack
// files canonically (Format).
//
// It must not read the process environment, flags or the clock, print
// anything, or know about git, state or deployment targets: callers pass
// variable values in ResolveOptions and get values and errors back.
package stacks
