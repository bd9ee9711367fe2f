//go:build unix

package gitops

import "syscall"

// maxWorktreeRead bounds the work-tree files read in place of blobs.
const maxWorktreeRead = 16 << 20

// readWorktreeFile reads a regular file with open, fstat, read and close
// only (os.Open adds fcntl and epoll calls per file, which cost more than
// the read on some machines). ok is false on any error or anything but a
// regular file within maxWorktreeRead; callers then read the blob from the
// object store.
func readWorktreeFile(name string) (data []byte, ok bool) {
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size > maxWorktreeRead {
		return nil, false
	}
	data = make([]byte, st.Size)
	for n := 0; n < len(data); {
		m, err := syscall.Read(fd, data[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			return nil, false
		}
		n += m
	}
	return data, true
}
