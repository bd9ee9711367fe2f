package engine

// Incarnation tells one process from every other on its host, also from a
// later process that reuses its pid: the kernel's boot, the pid namespace
// its pid is counted in (two containers on one kernel, with one hostname,
// count the same pids for different processes) and when it started.
type Incarnation struct {
	// Boot is /proc/sys/kernel/random/boot_id, new at every boot.
	Boot string
	// PIDNamespace is the /proc/self/ns/pid link, e.g. "pid:[4026531836]".
	PIDNamespace string
	// Start is when the process started, in clock ticks after boot.
	Start int64
	// Machine names the installation (/etc/machine-id, which outlives
	// reboots) by a hash of it, never the id itself: machine-id(5) calls
	// it confidential, and leases are read by everyone with the lock
	// table. Empty where the host has none (most container images).
	Machine string
}
