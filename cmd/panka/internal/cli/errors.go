package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/locker"
)

// Exit codes (SPEC §8).
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2 // only where a flag asks for it
	ExitLocked  = 3
)

// ExitCodeError ends the process with Code after printing nothing more
// (the command has already reported). Used for --exit-code style results.
// Msg, when set, is the failure the command has already reported in text
// ("3 problems found"): with --log-format json it becomes the final error
// line, with its exitCode, as for any other error.
type ExitCodeError struct {
	Code int
	Msg  string
}

func (e *ExitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// UsageError is a wrong invocation: the message and the command's usage are printed.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// exitCode maps an error to the process exit code in one place.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	// An earlier, killed run's Pulumi that still holds the stack's Pulumi
	// lock holds the lock as much as a lease does: CI that retries on 3
	// retries this too.
	var busy *engine.PulumiBusyError
	if errors.Is(err, locker.ErrHeld) || errors.As(err, &busy) {
		return ExitLocked
	}
	return ExitError
}

// fsAdviceError adds what to do to a file-system error whose text says only
// what failed and where (permission denied, not a directory, read-only,
// disk full): the commonest causes are a .panka/ folder created by another
// user (sudo, a container) and a file where panka expects a folder.
type fsAdviceError struct {
	err    error
	advice string
}

func (e *fsAdviceError) Error() string { return e.err.Error() + ": " + e.advice }
func (e *fsAdviceError) Unwrap() error { return e.err }

// withFSAdvice returns err with advice for the file-system errors above,
// else err itself.
func withFSAdvice(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	var advice string
	switch {
	case errors.Is(pe.Err, syscall.EACCES) || errors.Is(pe.Err, syscall.EPERM):
		dir := pe.Path
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			dir = filepath.Dir(dir)
		}
		advice = fmt.Sprintf("check the owner and mode of %s and the folders above it (ls -ld %s): whoever runs panka must be able to read and write there (a .panka/ folder created with sudo or by a container belongs to root; chown it back)", dir, dir)
	case errors.Is(pe.Err, syscall.ENOTDIR):
		advice = folderBlocked(pe.Path)
		if advice == "" {
			advice = "a part of that path is a file where panka needs a folder: move it away"
		}
	case errors.Is(pe.Err, syscall.EEXIST):
		// A mkdir of a symbolic link to nothing: "file exists", yet
		// nothing is there. Any other path that exists is no problem
		// of the file system.
		if _, serr := os.Stat(pe.Path); !errors.Is(serr, fs.ErrNotExist) {
			return err
		}
		if advice = folderBlocked(pe.Path); advice == "" {
			return err
		}
	case errors.Is(pe.Err, syscall.EISDIR):
		advice = fmt.Sprintf("%s is a folder where panka needs a file (state.json, a history record, a lock): move it away", pe.Path)
	case errors.Is(pe.Err, syscall.EROFS):
		advice = "the file system is read-only: run panka from a writable checkout, or keep state in S3 (backend.type: s3)"
	case errors.Is(pe.Err, syscall.ENOSPC) || errors.Is(pe.Err, syscall.EDQUOT):
		advice = "the disk (or your quota) is full: free some space and run the command again"
	default:
		return err
	}
	return &fsAdviceError{err: err, advice: advice}
}

// folderBlocked says what keeps path from being a folder panka can use
// and create things in: the first part of it (path itself included) that
// is a file, or a symbolic link to nothing (a disk or share not mounted, a
// folder moved); "" when nothing does (a missing part is no problem:
// panka creates it).
func folderBlocked(path string) string {
	var parents []string
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		parents = append(parents, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		p := parents[i]
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if target, lerr := os.Readlink(p); lerr == nil {
				return fmt.Sprintf("%s is a symbolic link to %s, which does not exist (a disk or share not mounted, a folder moved): make it exist, or remove the link (panka then creates the folder)", p, target)
			}
			return ""
		}
		if err != nil {
			return ""
		}
		if !fi.IsDir() {
			return fmt.Sprintf("%s is a file where panka needs a folder: move it away (panka creates the folder)", p)
		}
	}
	return ""
}

// checkLocalFolder refuses, before anything reads or writes there, a
// folder of the local backend (what: "state", "locks") that cannot be one
// (folderBlocked): behind a symbolic link to nothing every read found
// nothing, so status and plan said "nothing deployed" and apply failed at
// its lock with "file exists".
func checkLocalFolder(dir, what string) error {
	p := filepath.Join(dir, what)
	if fb := folderBlocked(p); fb != "" {
		return fmt.Errorf("the local backend's %s folder %s cannot be used: %s", what, p, fb)
	}
	return nil
}
