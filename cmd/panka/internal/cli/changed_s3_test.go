package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
)

// TestChangedSinceDeployedS3: changed --since-deployed reads every
// stack/environment's deployed commit from state in S3 (versitygw), many
// at once, and compares each with head: only what changed since its own
// deployment, or was never deployed, is reported.
func TestChangedSinceDeployedS3(t *testing.T) {
	_, env, store := s3Env(t)
	g := gittest.New(t)
	const n = 40
	stack := func(i int, devLevel string) {
		dir := fmt.Sprintf("stacks/s%02d", i)
		g.Write(dir+"/stack.yaml", fmt.Sprintf("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: s%02d\nspec:\n  provider:\n    name: local\n  variables:\n    LOG_LEVEL:\n      default: info\n", i))
		g.Write(dir+"/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec:\n  variables:\n    LOG_LEVEL: "+devLevel+"\n")
		g.Write(dir+"/environments/prod.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: prod\nspec: {}\n")
		g.Write(dir+"/services/api/service.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: api\nspec: {}\n---\napiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n  name: api\nspec:\n  image: nginx:1.0\n  port: 8080\n  env:\n    LOG_LEVEL: ${LOG_LEVEL}\n")
	}
	for i := 0; i < n; i++ {
		stack(i, "debug")
	}
	c0 := g.Commit("stacks")
	for _, i := range []int{3, 4, 5} {
		stack(i, "warn")
	}
	c1 := g.Commit("dev log levels")
	g.Write("stacks/s07/environments/prod.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  variables:\n    LOG_LEVEL: error\n")
	c2 := g.Commit("s07 prod")

	serial := int64(0)
	for i := 0; i < n; i++ {
		for _, e := range []string{"dev", "prod"} {
			commit := c0
			switch {
			case i == 3 && e == "dev", i == 20:
				commit = c1
			case i == 30:
				commit = c2
			case i == 10 && e == "prod":
				continue // never deployed
			}
			serial++
			putState(t, store, &stacks.Resolved{Stack: fmt.Sprintf("s%02d", i), Environment: e}, serial, commit.String())
		}
	}

	ios, _, out, errOut := Test()
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return g.Dir, nil }
	f.Home = func() (string, error) { return t.TempDir(), nil }
	f.Environ = func() []string { return env }
	if code := Run(context.Background(), f, []string{"changed", "--since-deployed", "-o", "json"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res changes.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var got []string
	for _, s := range res.Stacks {
		for _, e := range s.Environments {
			got = append(got, s.Stack+"/"+e+":"+string(s.EnvironmentChanges[e])+"@"+s.Deployed[e][:min(7, len(s.Deployed[e]))])
		}
	}
	sort.Strings(got)
	want := []string{"s04/dev:modified@" + c0.String()[:7], "s05/dev:modified@" + c0.String()[:7], "s07/prod:modified@" + c0.String()[:7], "s10/prod:added@"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q\n%s", got, want, strings.TrimSpace(errOut.String()))
	}
}
