package s3lock_test

import (
	"testing"

	"panka.dev/panka/locker/lockertest"
)

// BenchmarkLocker reports acquire+release latency and the throughput of
// 50 contenders (make bench).
func BenchmarkLocker(b *testing.B) { lockertest.Bench(b, backend) }
