//go:build !unix

package engine

import "os/exec"

// OwnProcessGroup does nothing where process groups are not available.
func OwnProcessGroup(*exec.Cmd) {}
