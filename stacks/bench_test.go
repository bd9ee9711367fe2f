//go:build unix

package stacks_test

import (
	iofs "io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/stacks"
	"panka.dev/panka/stacks/stacktest"
)

// BenchmarkResolve discovers, loads and resolves every environment of a
// generated repository of 5,000 stacks (5 components and 3 environments
// each) — SPEC §10 budget: under 1.5 s on 2 cores. Stacks are loaded in
// parallel, one worker per CPU, as `panka validate` does, through
// DiscoverStacks / Discovery.Load (which reuse the stack.yaml files and
// stack folder listings discovery read).
//
//   - disk: the repository on disk (DirFS), as `panka validate` reads it;
//   - memfs: the same files in memory, which isolates panka's own work from
//     the file system (useful on machines with slow or busy disks).
//
// Like `panka validate`, it runs the garbage collector at GOGC=400 unless
// GOGC is set (GOGC=100 go test ... measures the default; on a small live
// heap the default rate costs about as much CPU as the work itself).
//
// Besides ns/op it reports cpu-ms/op (user+system CPU of the process per
// operation: on a busy machine wall time says little, CPU time divided by
// the cores is what an idle machine would take) and ns/stack.
func BenchmarkResolve(b *testing.B) {
	n := benchStacks()
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	dir := b.TempDir()
	if err := stacktest.Generate(dir, stacktest.Options{Stacks: n, Environments: 3}); err != nil {
		b.Fatal(err)
	}
	mem := newMemFS()
	err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		mem.add(filepath.ToSlash(rel), data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	mem.sortDirs()
	for _, fsys := range []struct {
		name string
		fs   iofs.FS
	}{{"disk", stacks.DirFS(dir)}, {"memfs", mem}} {
		b.Run(fsys.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := stacks.DiscoverStacks(fsys.fs, "stacks")
				if err != nil {
					b.Fatal(err)
				}
				if len(d.Refs) != n {
					b.Fatalf("%d stacks", len(d.Refs))
				}
				resolveAll(b, d)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/stack")
		})
	}
}

func resolveAll(b *testing.B, d *stacks.Discovery) {
	var wg sync.WaitGroup
	work := make(chan stacks.Ref, 64)
	var mu sync.Mutex
	var firstErr error
	workers := max(2, runtimeProcs())
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				s, err := d.Load(r)
				if err == nil {
					for _, e := range s.Environments() {
						if _, err = s.Resolve(e, stacks.ResolveOptions{}); err != nil {
							break
						}
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range d.Refs {
		work <- r
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// benchStacks is 5,000, or PANKA_BENCH_STACKS for quick profiling.
func benchStacks() int {
	if v, err := strconv.Atoi(os.Getenv("PANKA_BENCH_STACKS")); err == nil && v > 0 {
		return v
	}
	return 5000
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
