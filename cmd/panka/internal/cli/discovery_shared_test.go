package cli

import (
	"context"
	"path/filepath"
	"testing"

	"panka.dev/panka/gitops/gittest"
)

// TestWorkTreeDiscoveredOnce: plan and status find their stack in the
// discovery of the work tree findHeader made (or make it for findHeader),
// whichever asks first, so that a one-stack command on a big repository
// reads every stack.yaml once, not twice; the stack found is the same.
// With GIT_DIR set (which only planSource's repository follows) plan
// discovers its own view.
func TestWorkTreeDiscoveredOnce(t *testing.T) {
	g := gittest.New(t)
	for _, s := range []string{"a", "b"} {
		g.Write("stacks/team/"+s+"/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: "+s+"-stack\nspec: {}\n")
		g.Write("stacks/team/"+s+"/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	}
	g.Commit("stacks")
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		headerFirst bool
		gitDir      bool
		shared      bool
	}{
		{"plan: source first", false, false, true},
		{"status: header first", true, false, true},
		{"GIT_DIR set", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			env := []string{"HOME=" + t.TempDir()}
			if tc.gitDir {
				env = append(env, "GIT_DIR="+filepath.Join(g.Dir, ".git"))
			}
			f.Environ = func() []string { return env }
			f.Getwd = func() (string, error) { return g.Dir, nil }
			defer f.closeHeaders()
			if tc.headerFirst {
				if h, err := f.findHeader("b-stack"); err != nil || h == nil || h.Path != "stacks/team/b" {
					t.Fatalf("findHeader: %+v, %v", h, err)
				}
			}
			src, err := planSource(ctx, f, "")
			if err != nil {
				t.Fatal(err)
			}
			defer src.close()
			src.shareDiscovery = true
			ref, err := planFindStack(src, "stacks", "b-stack")
			if err != nil || ref.Path != "stacks/team/b" {
				t.Fatalf("planFindStack: %+v, %v", ref, err)
			}
			if h, err := f.findHeaderQuiet("b-stack"); err != nil || h == nil || h.Path != "stacks/team/b" {
				t.Fatalf("findHeader: %+v, %v", h, err)
			}
			if shared := src.discs["stacks"] == f.headersDisc; shared != tc.shared {
				t.Errorf("plan's discovery is findHeader's: %v, want %v", shared, tc.shared)
			}
			if st, err := src.discs["stacks"].disc.Load(ref); err != nil || st.Header().Name != "b-stack" {
				t.Errorf("load through the discovery: %v", err)
			}
		})
	}
}
