package gitops

import "io/fs"

// Stamp is what an lstat of a path says of it without reading it: a file
// whose content changes, or a folder whose entries are added, removed or
// renamed, gets another change time (which no user can set), and a file
// replaced by another another inode. A cache validated by Stamps is as
// safe as git's index, provided no Stamp it trusts is racy: its change
// time must be older than the read it vouches for (see Stamp.Before).
type Stamp struct {
	Ino, Size    uint64
	Mode         uint32
	Mtime, Ctime int64 // nanoseconds since the epoch
}

// StampOf returns the Stamp of an lstat result; ok is false where the
// system does not give inode and change time (then nothing can be
// trusted from a stat).
func StampOf(st fs.FileInfo) (s Stamp, ok bool) {
	d, ok := statOf(st)
	if !ok {
		return Stamp{}, false
	}
	return Stamp{Ino: d.fullIno, Size: uint64(st.Size()), Mode: uint32(st.Mode()), Mtime: st.ModTime().UnixNano(), Ctime: d.ctimeNanos}, true
}

// Before reports whether s changed last (its change time) strictly before
// nanos (nanoseconds since the epoch).
func (s Stamp) Before(nanos int64) bool { return s.Ctime < nanos }
