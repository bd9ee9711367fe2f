package gitops

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"panka.dev/panka/gitops/gittest"
)

// fuzzRepo is a small repository with a packed history and a staged
// change: real trees, index and pack index files for the seed corpora.
func fuzzRepo(f *testing.F) *gittest.Repo {
	g := gittest.New(f)
	g.Write("stacks/a/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata: {name: a}\n")
	g.Write("stacks/a/environments/dev.yaml", "kind: Environment\n")
	g.Commit("one")
	g.Write("stacks/b/stack.yaml", "kind: Stack\n")
	g.Commit("two")
	g.Git("gc", "-q", "--prune=now")
	g.WriteFile("stacks/a/new.yaml", "x: 1\n")
	g.Git("add", "-N", "stacks/a/new.yaml")
	return g
}

// FuzzParseTree: a corrupt tree object is an error, never a panic.
func FuzzParseTree(f *testing.F) {
	g := fuzzRepo(f)
	for _, rev := range []string{"HEAD^{tree}", "HEAD:stacks", "HEAD:stacks/a", "HEAD~1^{tree}"} {
		raw := g.Git("cat-file", "tree", rev)
		f.Add([]byte(raw))
	}
	f.Add([]byte("100644 a\x00" + string(make([]byte, 20))))
	f.Add([]byte("40000 \x00" + string(make([]byte, 19))))
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, err := parseTree(plumbing.ZeroHash, b)
		if err != nil {
			return
		}
		var out []byte
		for _, e := range ents {
			if bytes.IndexByte([]byte(e.Name), 0) >= 0 {
				t.Fatalf("entry name %q holds a NUL", e.Name)
			}
			out = append(out, e.Name...)
		}
		_ = newTree(ents)
	})
}

// FuzzWalkIndex: a corrupt staging index (any version, any extensions)
// is refused, never a panic or an endless loop.
func FuzzWalkIndex(f *testing.F) {
	g := fuzzRepo(f)
	for _, args := range [][]string{
		nil,
		{"update-index", "--index-version", "4"},
		{"update-index", "--split-index"},
	} {
		if args != nil {
			g.Git(args...)
		}
		b, err := os.ReadFile(filepath.Join(g.Dir, ".git", "index"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		walkIndex(b, func(e *rawIndexEntry) bool {
			n++
			_ = newIndexRecord(e)
			return true
		}, func(sig string, data []byte) bool {
			if sig == "link" && len(data) >= 20 {
				if del, rest, err := readEWAH(data[20:], 1000); err == nil {
					if len(del) != 1000 {
						t.Fatalf("readEWAH gave %d bits, want 1000", len(del))
					}
					_, _, _ = readEWAH(rest, 1000)
				}
			}
			return true
		})
		if n > len(b) {
			t.Fatalf("%d entries from %d bytes", n, len(b))
		}
	})
}

// FuzzOffsetIndex: a pack index that go-git's decoder accepts (the fuzzer
// mutates it and the checksum is recomputed, so it gets that far) never
// makes offsetIndex panic.
func FuzzOffsetIndex(f *testing.F) {
	g := fuzzRepo(f)
	idxs, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "objects", "pack", "pack-*.idx"))
	for _, p := range idxs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:len(b)-20])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha1.Sum(body)
		b := append(bytes.Clone(body), sum[:]...)
		x, err := indexOf(b)
		if err != nil {
			return
		}
		for i := 0; i+hashLen <= len(x.names); i += hashLen {
			var h plumbing.Hash
			copy(h[:], x.names[i:])
			if off, err := x.FindOffset(h); err == nil {
				_, _ = x.FindHash(off)
			}
			_, _ = x.FindCRC32(h)
		}
		if it, err := x.EntriesByOffset(); err == nil {
			for {
				if _, err := it.Next(); err != nil {
					break
				}
			}
		}
		for _, o := range []int64{0, 12, 1 << 31, -1} {
			_, _ = x.FindHash(o)
		}
		var h plumbing.Hash
		binary.BigEndian.PutUint32(h[:], 0xffffffff)
		_, _ = x.FindOffset(h)
	})
}

// FuzzResolveRef feeds arbitrary --base/--head strings to ResolveRef with
// go-git alone and with the git binary: a commit or an error, never a
// panic, and both engines agree on which commit when both find one.
func FuzzResolveRef(f *testing.F) {
	g := fuzzRepo(f)
	g.Git("tag", "-a", "-m", "t", "v1", "HEAD~1")
	g.Git("branch", "feature")
	for _, s := range []string{"HEAD", "HEAD~1", "HEAD^", "HEAD^2", "HEAD~99999999999999999999", "v1", "v1^{commit}", "v1^{tree}",
		"feature@{upstream}", "@{-1}", "HEAD@{1}", "HEAD^{/one}", "HEAD^{/[}", ":/one", "main..feature", "HEAD:stacks",
		"0000000", "abc", "-x", "refs/heads/feature", "HEAD~-1", "HEAD^^^^", "@", "v1^0~0", strings.Repeat("a", 40),
		"HEAD@{1}^2", "main@{0}~1", "@{1}", "main@{99}", "HEAD^3", "HEAD~1^4~2", " HEAD~1\n", "HEAD main", "main...HEAD", "v1..", "@{-1}~1"} {
		f.Add(s)
	}
	goGit, err := Open(g.Dir, Options{NoGitBinary: true})
	if err != nil {
		f.Fatal(err)
	}
	withGit, err := Open(g.Dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { goGit.Close(); withGit.Close() })
	f.Fuzz(func(t *testing.T, ref string) {
		a, errA := goGit.ResolveRef(ref)
		b, errB := withGit.ResolveRef(ref)
		if errA == nil && errB == nil && a != b {
			t.Fatalf("ResolveRef(%q): go-git %s, git %s", ref, a, b)
		}
		for _, err := range []error{errA, errB} {
			if err != nil && err.Error() == "" {
				t.Fatalf("ResolveRef(%q): empty error", ref)
			}
		}
	})
}
