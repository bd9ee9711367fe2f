package changes

import (
	"bytes"
	"io/fs"
	"path"
	"sort"
	"strings"

	"panka.dev/panka/stacks"
)

// quickHeader reads what identities need of a stack (its name and
// environments) without a YAML parse when stack.yaml is plainly written
// ("metadata:" then "  name: x"). ok is false for anything else; the caller
// then parses with stacks.ReadHeader, which also reports errors.
func quickHeader(fsys fs.FS, dir string) (*stacks.Header, bool) {
	b, err := fs.ReadFile(fsys, path.Join(dir, stacks.StackFile))
	if err != nil || mayHaveBackend(b) {
		return nil, false
	}
	name := stacks.QuickName(b)
	if name == "" {
		return nil, false
	}
	h := &stacks.Header{Ref: stacks.Ref{Name: name, Path: dir}}
	ents, err := fs.ReadDir(fsys, path.Join(dir, stacks.EnvironmentsDir))
	if err == nil {
		seen := map[string]bool{}
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			env := strings.TrimSuffix(strings.TrimSuffix(n, ".yaml"), ".yml")
			if stacks.CheckName(env) != "" || seen[env] {
				return nil, false // let the parser report it
			}
			seen[env] = true
			h.Environments = append(h.Environments, env)
		}
		sort.Strings(h.Environments)
	}
	return h, true
}

// mayHaveBackend reports whether a stack.yaml may set spec.backend, which
// the quick headers (name and environments only) leave out: such a stack
// is read by the parser, so --since-deployed looks for its state in its own
// backend (it was reported never deployed, every run).
func mayHaveBackend(data []byte) bool {
	return bytes.Contains(data, []byte("backend"))
}
