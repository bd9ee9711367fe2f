package cli

import (
	"errors"
	"fmt"

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
type ExitCodeError struct{ Code int }

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
	if errors.Is(err, locker.ErrHeld) {
		return ExitLocked
	}
	return ExitError
}
