//go:build !linux && !darwin

package gitops

import "io/fs"

// statOf: this system's stat data is not compared beyond size and
// modification time (see sameStat).
func statOf(fs.FileInfo) (statData, bool) { return statData{}, false }
