//go:build !unix

package stacks

import "io/fs"

// readOSFile is the Unix fast path for DirFS; elsewhere files are read
// the ordinary way.
func readOSFile(fsys fs.FS, name string) ([]byte, bool) { return nil, false }
