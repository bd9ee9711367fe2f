package changes

// WholeSince returns o with SinceDeployed's per-stack comparison turned
// off: every deployed commit is compared with a whole comparison.
func WholeSince(o Options) Options {
	o.wholeSince = true
	return o
}
