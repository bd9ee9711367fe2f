package lockertest

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake locker.Clock: time moves only on Advance, and Sleep
// returns when Advance has moved the time past the sleeper's deadline.
type Clock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[*sleeper]struct{}
	changed  chan struct{} // closed and replaced whenever sleepers change
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, sleepers: map[*sleeper]struct{}{}, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Sleep blocks until the fake time has advanced by d or ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.mu.Lock()
	s := &sleeper{until: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers[s] = struct{}{}
	c.notify()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		if _, ok := c.sleepers[s]; ok {
			delete(c.sleepers, s)
			c.notify()
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves the time by d and wakes the sleepers whose time has come.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for s := range c.sleepers {
		if !s.until.After(c.now) {
			delete(c.sleepers, s)
			close(s.wake)
		}
	}
	c.notify()
}

// Sleepers returns how many goroutines are sleeping.
func (c *Clock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// WaitSleepers blocks until at least n goroutines sleep, done is closed
// (returns false), or a real-time safety limit of 20 s passes (false).
func (c *Clock) WaitSleepers(n int, done <-chan struct{}) bool {
	limit := time.NewTimer(20 * time.Second)
	defer limit.Stop()
	for {
		c.mu.Lock()
		k, ch := len(c.sleepers), c.changed
		c.mu.Unlock()
		if k >= n {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		case <-limit.C:
			return false
		}
	}
}
