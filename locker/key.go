package locker

import (
	"strings"
	"time"
)

// ParseKey splits a key made by Key into its stack and environment.
func ParseKey(key string) (stack, env string, ok bool) {
	rest, found := strings.CutPrefix(key, "stack:")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, ":env:")
	if i <= 0 || i+len(":env:") == len(rest) {
		return "", "", false
	}
	return rest[:i], rest[i+len(":env:"):], true
}

// Expired reports whether the lease has expired at now.
func (i Info) Expired(now time.Time) bool { return i.ExpiresAt.Before(now) }
