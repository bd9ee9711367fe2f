//go:build !unix

package osfile

import "os"

// Read reads a regular file within opts; ok is false on any error and for
// anything else.
func Read(name string, opts Options) ([]byte, bool) {
	stat := os.Stat
	if opts.NoFollow {
		stat = os.Lstat
	}
	st, err := stat(name)
	if err != nil || !st.Mode().IsRegular() || st.Size() > opts.Max || opts.NoEmpty && st.Size() <= 0 {
		return nil, false
	}
	b, err := os.ReadFile(name)
	if err != nil || int64(len(b)) > opts.Max || opts.NoEmpty && len(b) == 0 {
		return nil, false
	}
	return b, true
}
