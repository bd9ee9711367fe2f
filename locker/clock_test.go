package locker

import (
	"testing"
	"time"
)

// TestServerClock: a server's Date within the noise of its one-second
// resolution and the answer's trip is no skew; beyond it, Now is the
// server's time; a fixed clock (a test's) ignores servers.
func TestServerClock(t *testing.T) {
	local := time.Date(2026, 11, 27, 12, 0, 0, 700_000_000, time.UTC)
	c := NewServerClock(func() time.Time { return local })
	if c.Known() || !c.Now().Equal(local) {
		t.Fatalf("before any answer: known %v, now %s", c.Known(), c.Now())
	}
	c.Observe(local.Truncate(time.Second), local)
	if !c.Known() || c.Skew() != 0 {
		t.Fatalf("a Date truncated to the second: skew %s", c.Skew())
	}
	c.Observe(local.Add(-2*time.Hour).Truncate(time.Second), local)
	if c.Skew() != -2*time.Hour-time.Second || !c.Now().Equal(local.Add(-2*time.Hour-time.Second)) {
		t.Fatalf("a server two hours behind: skew %s, now %s", c.Skew(), c.Now())
	}
	c.Observe(local.Add(2*time.Second), local)
	if c.Skew() != 0 {
		t.Fatalf("back within the noise: skew %s", c.Skew())
	}
	c.Observe(time.Time{}, local)
	if c.Skew() != 0 {
		t.Fatalf("no Date: skew %s", c.Skew())
	}
	f := FixedClock(func() time.Time { return local })
	f.Observe(local.Add(time.Hour), local)
	if !f.Known() || !f.Now().Equal(local) {
		t.Fatalf("fixed clock: known %v, now %s", f.Known(), f.Now())
	}
}
