//go:build !unix

package gitops

import "os"

const maxWorktreeRead = 16 << 20

// readWorktreeFile reads a regular file of at most maxWorktreeRead bytes.
func readWorktreeFile(name string) ([]byte, bool) {
	st, err := os.Lstat(name)
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxWorktreeRead {
		return nil, false
	}
	b, err := os.ReadFile(name)
	return b, err == nil
}
