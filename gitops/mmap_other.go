//go:build !unix

package gitops

// canMap says mapFile maps files on this platform.
const canMap = false

// mapFile does not map files here: packs are read with ReadAt.
func mapFile(string, int64) []byte { return nil }

func unmapFile([]byte) {}
