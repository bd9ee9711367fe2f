package stacks

import (
	"strings"
	"testing"
)

// TestEditDistanceTransposition: two letters swapped (--target-component
// wbe for web) is one typo, so "did you mean" names the component.
func TestEditDistanceTransposition(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"wbe", "web", 1}, {"web", "web", 0}, {"prdo", "prod", 1}, {"abc", "cba", 2}, {"", "ab", 2}, {"ca", "abc", 3}, {"kitten", "sitting", 3},
	} {
		if got := EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if got := DidYouMean("wbe", []string{"db", "web", "worker"}); !strings.Contains(got, `"web"`) {
		t.Errorf("DidYouMean(wbe) = %q, want it to name web", got)
	}
}
