package local

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileMode is the mode, less the umask, of the files the local backends
// write under .panka/ (state.json, history records, lock files), as for
// everything else there (Pulumi's state, the local target's manifests,
// .gitignore). os.CreateTemp's 0600 made state and history alone readable
// by their writer only: another user of a shared or read-only checkout
// (a CI container with another uid, a teammate on a deploy host) could
// run `panka plan`/`status`/`history` on nothing but a permission error.
const FileMode fs.FileMode = 0o644

// CreateTemp is os.CreateTemp (pattern's last "*" replaced by a random
// string) creating the file with FileMode less the umask instead of 0600.
func CreateTemp(dir, pattern string) (*os.File, error) {
	prefix, suffix := pattern, ""
	if i := strings.LastIndex(pattern, "*"); i >= 0 {
		prefix, suffix = pattern[:i], pattern[i+1:]
	}
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36)+suffix)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
		if errors.Is(err, fs.ErrExist) && try < 10000 {
			continue
		}
		return f, err
	}
}
