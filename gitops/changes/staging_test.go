package changes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
)

// TestStagingIndexAgrees checks that detection gives exactly the same
// result whether head's stack index comes from the staging index
// (.git/index of the checked-out head, with stack.yaml contents from the
// work tree) or from a walk of trees: for layouts that test the walk's
// rules (nested stacks, skipped folders, odd environment folders), at
// either stacks root, in both modes, on both engines, with the work tree
// clean or edited.
func TestStagingIndexAgrees(t *testing.T) {
	for _, root := range []string{"stacks", ""} {
		t.Run("root="+root, func(t *testing.T) {
			g := gittest.New(t)
			at := func(p string) string {
				if root == "" {
					return p
				}
				return root + "/" + p
			}
			seed(g, at("a"), "a")
			seed(g, at("a/nested"), "nested") // inside a: not a stack
			seed(g, at(".hidden/h"), "hidden")
			seed(g, at("node_modules/n"), "nm")
			seed(g, at("team/b"), "b")
			g.Write(at("team/b/environments/stack.yaml"), envYAML("stack", "  variables: {}\n"))
			g.Write(at("team/b/environments/old/dev.yaml"), envYAML("dev", "  variables: {}\n"))
			g.Write(at("team/b/environments/qa.yml"), envYAML("qa", "  variables: {}\n"))
			g.Write(at("team/b/environments/README.md"), "not an environment\n")
			seed(g, at("c"), "c")
			g.Write(at("c/environments/Bad_Name.yaml"), envYAML("Bad_Name", "  variables: {}\n"))
			seed(g, at("w"), "w", "shared/**")
			g.Write("shared/x.json", "{}")
			if root != "" {
				g.Write("outside/stack.yaml", stackYAML("outside", ""))
			}
			commits := []gitops.Hash{g.Commit("base")}
			edits := []func(){
				func() { g.Write(at("team/b/environments/staging.yaml"), envYAML("staging", "  variables: {}\n")) },
				func() { g.Remove(at("team/b/environments/qa.yml")) },
				func() { g.Write(at("a/environments/dev.yaml"), envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n")) },
				func() { g.Move(at("c"), at("moved/c")) },
				func() { g.Write(at("team/b/stack.yaml"), stackYAML("b2", "")) },
				func() { g.Remove(at("a/stack.yaml")) }, // a/nested shows
				func() { g.Write("shared/x.json", "[]") },
				func() {
					for _, d := range []string{".hidden/h", "node_modules/n", "a/nested"} {
						g.Write(at(d+"/environments/dev.yaml"), envYAML("dev", "  variables:\n    LOG_LEVEL: warn\n"))
					}
				},
				func() { g.Write(at("team/b/environments/old/prod.yaml"), envYAML("prod", "  variables: {}\n")) },
			}
			for i, e := range edits {
				e()
				commits = append(commits, g.Commit(fmt.Sprint("edit ", i)))
			}
			index := filepath.Join(g.Dir, ".git", "index")
			detect := func(t *testing.T, m gitops.Options, opts changes.Options) string {
				t.Helper()
				repo, err := gitops.Open(g.Dir, m)
				if err != nil {
					t.Fatal(err)
				}
				defer repo.Close()
				res, err := changes.Detect(context.Background(), repo, opts)
				if err != nil {
					t.Fatal(err)
				}
				return mustJSON(res)
			}
			compare := func(t *testing.T) {
				// The precondition: the staging index holds head's tree.
				repo, err := gitops.Open(g.Dir, gitops.Options{})
				if err != nil {
					t.Fatal(err)
				}
				tree, _ := repo.CommitTree(commits[len(commits)-1])
				if _, ok := repo.IndexedTree(tree, func([]byte) bool { return true }); !ok {
					t.Fatal("the staging index does not hold head's tree: the test compares nothing")
				}
				repo.Close()
				for _, m := range modes {
					for _, paths := range []bool{true, false} {
						for _, base := range commits[:len(commits)-1] {
							opts := changes.Options{Base: base.String(), StacksRoot: root, Paths: paths, NoCache: true}
							staged := detect(t, m.opts, opts)
							if err := os.Rename(index, index+".away"); err != nil {
								t.Fatal(err)
							}
							walked := detect(t, m.opts, opts)
							if err := os.Rename(index+".away", index); err != nil {
								t.Fatal(err)
							}
							if staged != walked {
								t.Errorf("%s paths=%v base %s:\nfrom the staging index %s\nfrom trees             %s", m.name, paths, base.String()[:8], staged, walked)
							}
						}
					}
				}
			}
			t.Run("clean", compare)
			t.Run("edited work tree", func(t *testing.T) {
				// The staging index still holds HEAD; the edited files'
				// contents no longer match their blobs and are read from git.
				g.WriteFile(at("team/b/stack.yaml"), stackYAML("renamed-in-worktree", ""))
				g.WriteFile(at("w/stack.yaml"), stackYAML("w", ""))
				compare(t)
			})
		})
	}
}
