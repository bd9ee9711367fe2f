package changes

import (
	"bytes"
	"io/fs"
	"path"
	"sort"
	"strings"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// quickHeader reads what identities need of a stack (its name and
// environments) without a YAML parse when stack.yaml is plainly written
// ("metadata:" then "  name: x"). ok is false for anything else; the caller
// then parses with stacks.ReadHeader, which also reports errors.
func quickHeader(fsys fs.FS, dir string) (*stacks.Header, bool) {
	p := path.Join(dir, stacks.StackFile)
	b, err := readStackFile(fsys, p)
	if err == nil && bytes.IndexByte(b, '\n') < 0 {
		// A stack.yaml that is a symbolic link reads, at a commit, as the
		// name of the file it points at: read that file (of the folder;
		// the parser reports any other link). Its name stays the stack's
		// when the stack does not load (as for a stack.yaml of its own),
		// not the folder's.
		if st, lerr := fs.Lstat(fsys, p); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			target, rerr := fs.ReadLink(fsys, p)
			t := path.Join(dir, target)
			if rerr != nil || path.IsAbs(target) || !strings.HasPrefix(t, dir+"/") {
				return nil, false
			}
			b, err = readStackFile(fsys, t)
		}
	}
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

// stackFileBlob reads the stack.yaml blob h for a stack's name and watch
// globs. One above the loader's limit (stacks.MaxFileSize) reads as empty
// instead of being held in memory: the stack does not load, and its load
// says why.
func stackFileBlob(repo *gitops.Repo, h gitops.Hash) ([]byte, error) {
	if n, err := repo.BlobSize(h); err == nil && n > stacks.MaxFileSize {
		return nil, nil
	}
	return repo.Blob(h)
}

// readStackFile is fs.ReadFile of a stack.yaml with stackFileBlob's limit.
func readStackFile(fsys fs.FS, name string) ([]byte, error) {
	if st, err := fs.Stat(fsys, name); err == nil && st.Mode().IsRegular() && st.Size() > stacks.MaxFileSize {
		return nil, nil
	}
	return fs.ReadFile(fsys, name)
}
