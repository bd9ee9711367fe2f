//go:build !unix

package cli

import "time"

// cpuTime is not measured here (reported as 0).
func cpuTime() time.Duration { return 0 }
