package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/statestore"
)

// listCounter is a store that counts its listings. Only the listing
// methods are used: the others would panic on the nil Store.
type listCounter struct {
	statestore.Store
	stacks       []string
	lists, skips int
}

func (l *listCounter) List(context.Context) ([]statestore.Key, error) {
	l.lists++
	return nil, nil
}

func (l *listCounter) ListSkipping(_ context.Context, skip func(statestore.Key) bool) ([]statestore.Key, error) {
	l.skips++
	for _, s := range l.stacks {
		if !skip(statestore.Key{Stack: s}) {
			// What a skip that keeps a stack costs: one listing of it.
			l.lists++
		}
	}
	return nil, nil
}

// TestElsewhereAlikeListsOnce: panka.yaml's backend.prefix moved, and
// changed --since-deployed lists every stack as not deployed, a new one
// first. The earlier prefix is listed once, by its stacks (no listing of
// each stack's environments), and tells each stack apart: the first one
// alone was looked at before, and a new stack there hid the move.
func TestElsewhereAlikeListsOnce(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stack := func(name string) {
		write("stacks/"+name+"/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: "+name+"\nspec:\n  provider:\n    name: local\n")
		write("stacks/"+name+"/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	}
	const repoYAML = "backend: {type: s3, bucket: team-state, region: us-east-1, endpoint: \"http://127.0.0.1:1\", prefix: PREFIX}\n"
	git("init", "-q", "-b", "main")
	git("config", "user.email", "dev@example.com")
	git("config", "user.name", "Dev")
	write("panka.yaml", strings.ReplaceAll(repoYAML, "PREFIX", "team-a/"))
	stack("bbb")
	stack("ccc")
	git("add", "-A")
	git("commit", "-qm", "c1")
	write("panka.yaml", strings.ReplaceAll(repoYAML, "PREFIX", "team-b/"))
	stack("aaa")
	git("add", "-A")
	git("commit", "-qm", "c2: prefix team-b/, a new stack")

	ios, _, _, _ := Test()
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return dir, nil }
	f.Home = func() (string, error) { return home, nil }
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	earlier := &listCounter{stacks: []string{"bbb", "ccc", "other"}}
	opened := map[string]int{}
	open := func(_ context.Context, c *config.Resolved) (statestore.Store, error) {
		opened[c.Backend.Prefix]++
		if c.Backend.Prefix != "team-a/" {
			t.Errorf("opened the backend of prefix %q, want only the earlier team-a/", c.Backend.Prefix)
		}
		return earlier, nil
	}
	d := &storeDeployed{f: f, open: open, stores: map[string]statestore.Store{}}
	res := &changes.Result{}
	for _, s := range []string{"aaa", "bbb", "ccc"} {
		res.Stacks = append(res.Stacks, &changes.Stack{Stack: s, Path: "stacks/" + s, Environments: []string{"dev"},
			EnvironmentChanges: map[string]changes.Kind{"dev": changes.Added}})
		d.look(statestore.Key{Stack: s, Environment: "dev"}, "")
	}
	holds := d.elsewhereAlike(context.Background(), res, "", "aaa", cfg)
	if holds == nil {
		t.Fatal("no earlier backend holds anything: the move of panka.yaml's prefix was not seen")
	}
	for s, want := range map[string]bool{"aaa": false, "bbb": true, "ccc": true} {
		where := holds(statestore.Key{Stack: s, Environment: "dev"})
		if (where != "") != want || want && !strings.Contains(where, "team-a/") {
			t.Errorf("%s/dev: held in %q, want held in team-a/: %v", s, where, want)
		}
	}
	if earlier.skips != 1 || earlier.lists != 0 || opened["team-a/"] != 1 {
		t.Errorf("the earlier backend was opened %d times, listed by its stacks %d times and stack by stack %d times; want one listing of its stacks alone", opened["team-a/"], earlier.skips, earlier.lists)
	}
}
