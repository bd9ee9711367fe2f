package stacks

import (
	"strconv"
	"strings"
)

// SpecPos returns where a component's spec field is written for
// environment env: in the environment's spec.overrides when it sets the
// field, else in the component's file; for a field written nowhere (a
// default) the closest enclosing field that is, and for path "" or a
// top-level field not written (a name derived from the component's) the
// component's name. path is a field path below spec as a deployment
// target names it ("cpu", "secrets.TOKEN", "subscriptions[0].endpoint");
// text after a space is ignored. ok is false for a component the stack
// does not declare. Targets check the resolved model, which keeps no
// positions: this gives their problems the line to edit.
func (s *Stack) SpecPos(env, component, path string) (file string, line, col int, ok bool) {
	c := s.compIdx[component]
	if c == nil {
		return "", 0, 0, false
	}
	at := c.pos
	spec := c.spec
	if e := s.envs[env]; e != nil && !s.dupComps[component] {
		var over *node
		for _, o := range e.overrides {
			if o.key.value == component {
				over = o.spec // the last one, as Resolve takes it
			}
		}
		if over != nil {
			spec = merge(spec, over)
		}
	}
	path, _, _ = strings.Cut(path, " ")
	if path != "" && spec != nil && spec.kind == nMap {
		n := spec
	walk:
		for _, part := range strings.Split(path, ".") {
			key, rest, _ := strings.Cut(part, "[")
			if key != "" {
				if n = n.get(key); n == nil {
					break
				}
				at = n.pos()
			}
			for rest != "" {
				idx, after, found := strings.Cut(rest, "]")
				i, err := strconv.Atoi(idx)
				if !found || err != nil || n.kind != nSeq || i < 0 || i >= len(n.items) {
					break walk
				}
				n = n.items[i]
				at = n.pos()
				rest = strings.TrimPrefix(after, "[")
			}
		}
	}
	return at.file, at.line, at.col, true
}
