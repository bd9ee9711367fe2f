//go:build unix

package stacks

import (
	"io/fs"
	"strings"
	"syscall"
)

// readOSFile reads name of fsys straight with system calls when fsys is a
// DirFS (the work tree): open, fstat, read, close. os.Open on Linux also
// makes four fcntl calls and a failing epoll_ctl per regular file (it tries
// the poller), more than doubling the system calls of a load on machines
// where they are expensive. It answers ok=false — and the caller reads the
// file the ordinary way, with its exact errors — for any other file system,
// any name os.DirFS would refuse or resolve differently, any error, and
// anything but a non-empty regular file within MaxFileSize that reads in
// full.
func readOSFile(fsys fs.FS, name string) (data []byte, ok bool) {
	d, isDir := fsys.(dirFS)
	if !isDir {
		return nil, false
	}
	root := d.root
	if root == "" || !fs.ValidPath(name) || strings.IndexByte(name, 0) >= 0 || strings.IndexByte(root, 0) >= 0 {
		return nil, false
	}
	full := root + "/" + name
	if strings.HasSuffix(root, "/") {
		full = root + name
	}
	fd, err := syscall.Open(full, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size <= 0 || st.Size > MaxFileSize {
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
