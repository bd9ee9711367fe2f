package stacks

import (
	"fmt"
	"sort"
	"strings"
)

// Graph is the dependency graph of a resolved stack/environment: an edge
// a -> b means a depends on b (b is deployed first).
type Graph struct {
	names []string            // sorted
	deps  map[string][]string // sorted, only known names
	rdeps map[string][]string // sorted
	order []string
	level [][]string
}

// CycleError is a dependency cycle. Path starts and ends with the same
// component: a -> b -> a.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ")
}

// Graph returns the dependency graph of r's components (DependsOn, which
// already includes reference edges). A cycle is a *CycleError.
func (r *Resolved) Graph() (*Graph, error) {
	deps := make(map[string][]string, len(r.Components))
	for i := range r.Components {
		c := &r.Components[i]
		deps[c.Name] = c.DependsOn
	}
	return NewGraph(deps)
}

// NewGraph builds a graph from each node's dependencies. Dependencies on
// names that are not nodes are ignored.
func NewGraph(deps map[string][]string) (*Graph, error) {
	g := &Graph{deps: map[string][]string{}, rdeps: map[string][]string{}}
	for n := range deps {
		g.names = append(g.names, n)
	}
	sort.Strings(g.names)
	for _, n := range g.names {
		var ds []string
		for _, d := range deps[n] {
			if _, ok := deps[d]; ok && !contains(ds, d) {
				ds = append(ds, d)
			}
		}
		sort.Strings(ds)
		g.deps[n] = ds
		for _, d := range ds {
			g.rdeps[d] = append(g.rdeps[d], n)
		}
	}
	if cyc := g.findCycle(); cyc != nil {
		return nil, &CycleError{Path: cyc}
	}
	// Levels: a node's level is one more than its deepest dependency.
	lv := map[string]int{}
	var depth func(string) int
	depth = func(n string) int {
		if l, ok := lv[n]; ok {
			return l
		}
		l := 0
		for _, d := range g.deps[n] {
			l = max(l, depth(d)+1)
		}
		lv[n] = l
		return l
	}
	for _, n := range g.names {
		l := depth(n)
		for len(g.level) <= l {
			g.level = append(g.level, nil)
		}
		g.level[l] = append(g.level[l], n)
	}
	for _, l := range g.level {
		g.order = append(g.order, l...)
	}
	return g, nil
}

// findCycle returns a cycle path (first == last) or nil. It is
// deterministic: nodes and edges are visited in name order.
func (g *Graph) findCycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range g.deps[n] {
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						found = append(append([]string(nil), stack[i:]...), d)
						return true
					}
				}
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range g.names {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return nil
}

// Order returns every component in a deployment order: dependencies first,
// ties broken by level then name. Destroy in the reverse order.
func (g *Graph) Order() []string { return append([]string(nil), g.order...) }

// Levels groups components that can be deployed in parallel: every
// component's dependencies are in earlier levels. Names in a level are sorted.
func (g *Graph) Levels() [][]string {
	out := make([][]string, len(g.level))
	for i, l := range g.level {
		out[i] = append([]string(nil), l...)
	}
	return out
}

// Dependencies returns the direct dependencies of name, sorted.
func (g *Graph) Dependencies(name string) []string { return append([]string(nil), g.deps[name]...) }

// Dependents returns the components that depend directly on name, sorted.
func (g *Graph) Dependents(name string) []string { return append([]string(nil), g.rdeps[name]...) }

// String renders the graph one "name -> deps" line per component.
func (g *Graph) String() string {
	var b strings.Builder
	for _, n := range g.order {
		fmt.Fprintf(&b, "%s -> %s\n", n, strings.Join(g.deps[n], ", "))
	}
	return b.String()
}
