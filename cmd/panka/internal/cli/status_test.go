package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
)

// brokenLocker is a lock backend that cannot be read (a missing table,
// denied access, a server down).
type brokenLocker struct{ locker.Locker }

func (brokenLocker) Get(context.Context, string) (locker.Info, error) {
	return locker.Info{}, errors.New("ResourceNotFoundException: Requested resource not found")
}

// TestStatusLockUnknownWhenUnreadable: when the lock cannot be read,
// status says so instead of reporting the lock free.
func TestStatusLockUnknownWhenUnreadable(t *testing.T) {
	f, dir := stLocalFactory(t)
	ctx := context.Background()
	doc := filepath.Join(dir, "s.json")
	if err := os.WriteFile(doc, []byte(stStateDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(ctx, &StatePushOptions{F: f, File: doc}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func(context.Context, *config.Resolved) (locker.Locker, error)
	}{
		{"read fails", func(context.Context, *config.Resolved) (locker.Locker, error) { return brokenLocker{}, nil }},
		{"open fails", func(context.Context, *config.Resolved) (locker.Locker, error) {
			return nil, errors.New("no AWS region for the lock table")
		}},
	} {
		for _, format := range []string{"text", "json"} {
			out := f.IO.Out.(*bytes.Buffer)
			out.Reset()
			f.Flags.Output = format
			if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: tc.open, Stack: "orders", Environment: "dev"}); err != nil {
				t.Fatalf("%s/%s: %v", tc.name, format, err)
			}
			got := out.String()
			want := "lock:      unknown: "
			if format == "json" {
				want = `"lockError": "`
			}
			if !strings.Contains(got, want) || strings.Contains(got, "lock:      free") {
				t.Errorf("%s/%s: status does not say the lock is unknown:\n%s", tc.name, format, got)
			}
		}
	}
}
