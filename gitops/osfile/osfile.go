// Package osfile reads work-tree files with as few system calls as
// possible. os.Open on Linux also makes fcntl calls and a failing
// epoll_ctl per regular file (it tries the poller), more than doubling the
// system calls of reading many small files on machines where they are
// expensive. Both the stack loader and gitops read thousands of small
// files from the work tree. Replace writes the caches kept next to them
// (in .git/panka) atomically.
package osfile

// Options select which files Read accepts.
type Options struct {
	// Max is the largest size accepted.
	Max int64
	// NoEmpty refuses empty files.
	NoEmpty bool
	// NoFollow refuses a symbolic link as the last path element.
	NoFollow bool
}
