package local_test

import (
	"os"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/local"
	"panka.dev/panka/locker/lockertest"
)

var backend = lockertest.Backend{
	Open: func(dir string, now func() time.Time) (locker.Locker, error) {
		return local.New(local.Options{Dir: dir, Now: now})
	},
	NewNamespace: func(t testing.TB) string { return t.TempDir() },
	Processes:    true,
}

func TestMain(m *testing.M) {
	lockertest.RunChild(backend)
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) { lockertest.Run(t, backend) }
