package cli

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// storeReads bounds the state reads commands make at once: each is a
// network round trip on S3, and a monorepo has thousands of
// stack/environments (one after another they take minutes).
const storeReads = 16

// forEach calls fn(ctx, 0..n-1) from at most limit goroutines. The first
// error cancels ctx for the calls still running and is returned; calls not
// yet started are not made. The goroutines each take the next index until
// none is left: one goroutine a call grew a fresh stack for every call
// (yaml.v3 parses deep), a tenth of fmt --check's CPU on a monorepo.
func forEach(ctx context.Context, limit, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(limit, n) {
		g.Go(func() error {
			for gctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return nil
				}
				if err := fn(gctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}
