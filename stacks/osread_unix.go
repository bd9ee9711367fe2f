//go:build unix

package stacks

import (
	"io/fs"
	"strings"

	"panka.dev/panka/gitops/osfile"
)

// readOSFile reads name of fsys with osfile.Read (open, fstat, read, close
// only) when fsys is a DirFS (the work tree). It answers ok=false — and the
// caller reads the file the ordinary way, with its exact errors — for any
// other file system,
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
	data, ok = osfile.Read(full, osfile.Options{Max: MaxFileSize, NoEmpty: true})
	if ok && d.hidden(name, false) {
		return nil, false // ReadFile says it is absent
	}
	return data, ok
}
