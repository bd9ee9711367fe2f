package locker

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ServerClock counts time as a lock server does. Lease times (lockedAt,
// expiresAt, lastHeartbeat) are compared across hosts, so a host whose
// clock is off by more than a lease's remaining time took over leases that
// others held (its clock ahead) or wrote leases that had already expired
// for everyone else (behind). A locker observes the Date of each server
// answer; Now is the local clock moved by the difference, once it is
// larger than the Date's one-second resolution and the answer's latency
// can explain.
type ServerClock struct {
	local func() time.Time
	// fixed keeps local as it is (a test's clock, which time passes on).
	fixed bool

	mu    sync.Mutex
	known bool
	skew  time.Duration
}

// NewServerClock returns a ServerClock over local (nil: time.Now).
func NewServerClock(local func() time.Time) *ServerClock {
	if local == nil {
		local = time.Now
	}
	return &ServerClock{local: local}
}

// FixedClock returns a ServerClock that is now whatever servers say (a
// test's fake clock).
func FixedClock(now func() time.Time) *ServerClock {
	c := NewServerClock(now)
	c.fixed, c.known = true, true
	return c
}

// maxNoise is the difference between a server's Date and the local clock
// that is not skew: the Date is truncated to the second, and the answer
// takes its time to arrive.
const maxNoise = 3 * time.Second

// Observe notes that a server answered with Date date when the local
// clock read at.
func (c *ServerClock) Observe(date, at time.Time) {
	if date.IsZero() || c.fixed {
		return
	}
	d := date.Sub(at)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known = true
	if d > maxNoise || d < -maxNoise {
		c.skew = d.Round(time.Second)
	} else {
		c.skew = 0
	}
}

// Local is the local clock.
func (c *ServerClock) Local() time.Time { return c.local() }

// Known reports whether a server answer has been observed.
func (c *ServerClock) Known() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known
}

// Skew is how far the server's clock is ahead of the local one (negative:
// behind); 0 within the noise.
func (c *ServerClock) Skew() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skew
}

// Now is the server's time.
func (c *ServerClock) Now() time.Time { return c.local().Add(c.Skew()) }

// Middleware has an AWS SDK call note the Date of the server's answer
// (append it to the call's Options.APIOptions: DynamoDB and S3 lockers).
func (c *ServerClock) Middleware(st *middleware.Stack) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("PankaServerClock",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
				if date, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
					c.Observe(date, c.Local())
				}
			}
			return out, md, err
		}), middleware.After)
}
