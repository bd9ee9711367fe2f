package lockertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/locker"
)

// Bench measures a backend: the latency of one uncontended acquire +
// release, and the throughput of 50 goroutines contending for one key
// (through two clients). Each iteration is a batch, so `-benchtime 3x`
// still measures something; the figures are reported as metrics.
func Bench(b *testing.B, be Backend) {
	b.Run("AcquireRelease", func(b *testing.B) {
		ctx := context.Background()
		l, err := be.Open(be.NewNamespace(b), time.Now)
		if err != nil {
			b.Fatal(err)
		}
		const batch = 50
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			for range batch {
				info, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bench"}, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Release(ctx, key, info.ID); err != nil {
					b.Fatal(err)
				}
			}
		}
		per := time.Since(start) / time.Duration(b.N*batch)
		b.ReportMetric(float64(per.Microseconds()), "µs/acquire+release")
	})
	b.Run("Contention50", func(b *testing.B) {
		ctx := context.Background()
		ns := be.NewNamespace(b)
		var clients [2]locker.Locker
		for i := range clients {
			l, err := be.Open(ns, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			clients[i] = l
		}
		const goroutines, rounds = 50, 2
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := contend(ctx, clients[g%2], fmt.Sprintf("g%d", g), rounds, max(be.MaxBackoff, 500*time.Millisecond), func() {}); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		}
		n := float64(b.N * goroutines * rounds)
		secs := time.Since(start).Seconds()
		b.ReportMetric(n/secs, "acquisitions/s")
		b.ReportMetric(secs*1000/n, "ms/acquisition")
	})
}
