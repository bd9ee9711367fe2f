package gitops

// SetCatFileSplit makes batches of at least n objects spread over procs
// cat-file processes, for tests; it returns a function restoring the
// defaults.
func SetCatFileSplit(n, procs int) func() {
	oldN, oldP := minSplit, catFileProcs
	minSplit, catFileProcs = n, procs
	return func() { minSplit, catFileProcs = oldN, oldP }
}
