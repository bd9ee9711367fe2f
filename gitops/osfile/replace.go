package osfile

import (
	"os"
	"path/filepath"
	"time"
)

// StaleTemp is how old a temporary file of Replace must be before Replace
// removes it: one that old was left by a process killed mid-write (kill
// -9, a full disk), never renamed, never read; a younger one may be
// another process's write in progress.
const StaleTemp = time.Hour

// Replace writes data to file atomically (a temporary file named
// tmpPrefix* in the same folder, renamed over file), creating the folder
// when needed, and removes the temporary files of tmpPrefix that writes
// killed midway left there (older than StaleTemp): nothing else removes
// them. It is for caches, whose writes may fail: a failure leaves file as
// it was.
func Replace(file, tmpPrefix string, data []byte) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil && cerr == nil {
		werr = os.Rename(tmp.Name(), file)
	}
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		if werr == nil {
			werr = cerr
		}
		return werr
	}
	SweepTemps(dir, tmpPrefix, time.Now())
	return nil
}

// SweepTemps removes the regular files named tmpPrefix* in dir older than
// StaleTemp at now.
func SweepTemps(dir, tmpPrefix string, now time.Time) {
	tmps, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*"))
	for _, f := range tmps {
		if st, err := os.Lstat(f); err == nil && st.Mode().IsRegular() && now.Sub(st.ModTime()) > StaleTemp {
			os.Remove(f)
		}
	}
}
