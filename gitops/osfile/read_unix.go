//go:build unix

package osfile

import "syscall"

// Read reads a regular file with open, fstat, read and close only. ok is
// false on any error and for anything but a regular file within opts;
// callers then read it the ordinary way (or from elsewhere), which reports
// the exact error.
func Read(name string, opts Options) (data []byte, ok bool) {
	// O_NONBLOCK: opening a named pipe for reading otherwise waits for a
	// writer, for ever (fstat then refuses it); regular files ignore it.
	flags := syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NONBLOCK
	if opts.NoFollow {
		flags |= syscall.O_NOFOLLOW
	}
	fd, err := syscall.Open(name, flags, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG ||
		st.Size > opts.Max || opts.NoEmpty && st.Size <= 0 {
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
