package statestore

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is wrapped by errors about stack/environment names or key
// prefixes that are not allowed (they could escape the key prefix).
var ErrInvalidKey = errors.New("invalid state key")

// maxNameLen bounds stack and environment names.
const maxNameLen = 128

// ValidateName checks one stack or environment name: lower-case letters,
// digits and '-', starting with a letter or digit.
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidKey, what)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: %s name %q is longer than %d characters", ErrInvalidKey, what, name, maxNameLen)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i > 0:
		default:
			return fmt.Errorf("%w: %s name %q: only lower-case letters, digits and '-' (not first) are allowed", ErrInvalidKey, what, name)
		}
	}
	return nil
}

// Validate checks both parts of the key (see ValidateName).
func (k Key) Validate() error {
	if err := ValidateName("stack", k.Stack); err != nil {
		return err
	}
	return ValidateName("environment", k.Environment)
}

// NormalizePrefix checks a key prefix (backend.prefix) and returns it with
// exactly one trailing '/', or "" for none. Leading and trailing slashes are
// ignored; empty, "." and ".." segments and backslashes are rejected.
func NormalizePrefix(prefix string) (string, error) {
	p := strings.Trim(prefix, "/")
	if p == "" {
		return "", nil
	}
	if strings.ContainsAny(p, "\\\x00") {
		return "", fmt.Errorf("%w: prefix %q contains a backslash or NUL", ErrInvalidKey, prefix)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: prefix %q has an empty, '.' or '..' segment", ErrInvalidKey, prefix)
		}
	}
	return p + "/", nil
}
