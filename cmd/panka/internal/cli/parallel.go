package cli

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// storeReads bounds the state reads commands make at once: each is a
// network round trip on S3, and a monorepo has thousands of
// stack/environments (one after another they take minutes).
const storeReads = 16

// forEach calls fn(ctx, 0..n-1) from at most limit goroutines. The first
// error cancels ctx for the calls still running and is returned; calls not
// yet started are not made.
func forEach(ctx context.Context, limit, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}
