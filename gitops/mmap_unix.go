//go:build unix

package gitops

import (
	"os"
	"syscall"
)

// canMap says mapFile maps files on this platform.
const canMap = true

// mapFile maps the file at path read-only, or returns nil (the caller then
// reads with ReadAt). git never rewrites a pack in place: a repack writes
// new packs and deletes the old files, which stay mapped until unmapped.
func mapFile(path string, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

func unmapFile(b []byte) {
	if b != nil {
		syscall.Munmap(b)
	}
}
