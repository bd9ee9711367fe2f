package gitops

import (
	"io/fs"
	"syscall"
)

// statOf returns what git's index records of a file besides its size and
// modification time: inode, owner and change time (see sameStat); ok is
// false when st does not carry them.
func statOf(st fs.FileInfo) (s statData, ok bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return statData{}, false
	}
	return statData{ino: uint32(sys.Ino), uid: sys.Uid, gid: sys.Gid, ctimeSec: uint32(sys.Ctim.Sec), ctimeNsec: uint32(sys.Ctim.Nsec),
		fullIno: uint64(sys.Ino), ctimeNanos: int64(sys.Ctim.Sec)*1e9 + int64(sys.Ctim.Nsec)}, true
}
