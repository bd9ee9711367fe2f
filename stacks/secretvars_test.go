package stacks

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// A variable another stack declares secret is treated as secret here
// when its value comes from outside the repository (--var, --var-file,
// PANKA_VAR_*), and only then: a value this stack's own YAML holds is in
// git already, and hashing it would change what the stack deploys.
func TestSecretVarsFromOtherStacks(t *testing.T) {
	fsys := fstest.MapFS{
		"stacks/a/stack.yaml":            {Data: []byte(doc("Stack", "a", "variables:", "  DB_PASS: {secret: true}", "  TAG: {}"))},
		"stacks/b/stack.yaml":            {Data: []byte(doc("Stack", "b", "variables:", "  DB_PASS: {default: dev-pass}", "  TAG: {default: v1}"))},
		"stacks/b/environments/dev.yaml": {Data: []byte(doc("Environment", "dev"))},
		"stacks/b/infra/w.yaml":          {Data: []byte(doc("Worker", "w", "image: busybox", "env:", "  DB_PASS: ${DB_PASS}", "  TAG: ${TAG}"))},
		"stacks/c/stack.yaml":            {Data: []byte("not: [yaml, secret, DB_PASS\n")},
	}
	disc, _ := DiscoverStacks(fsys, "stacks")
	got := disc.SecretVars([]string{"DB_PASS", "TAG", "OTHER"})
	if want := map[string]bool{"DB_PASS": true}; !maps.Equal(got, want) {
		t.Fatalf("SecretVars = %v, want %v", got, want)
	}
	if got := disc.SecretVars(nil); got != nil {
		t.Errorf("SecretVars(nil) = %v, want nil", got)
	}
	i := slices.IndexFunc(disc.Refs, func(r Ref) bool { return r.Name == "b" })
	s, err := disc.Load(disc.Refs[i])
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(vars VarValues) *Resolved {
		t.Helper()
		r, err := s.Resolve("dev", ResolveOptions{Vars: vars, SecretKey: []byte("k"), SecretVars: got})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, vars := range []VarValues{
		{Flags: map[string]string{"DB_PASS": "hunter2", "TAG": "v7"}},
		{File: map[string]string{"DB_PASS": "hunter2", "TAG": "v7"}},
		{Env: map[string]string{"DB_PASS": "hunter2", "TAG": "v7"}},
	} {
		r := resolve(vars)
		env := r.Components[0].Spec["env"].(map[string]any)
		if !IsSensitive(env["DB_PASS"]) || env["TAG"] != "v7" {
			t.Errorf("given %+v: env = %v, want DB_PASS hashed and TAG in clear", vars, env)
		}
		for _, v := range r.Variables {
			if v.Secret != (v.Name == "DB_PASS") || strings.Contains(fmtAny(v.Value), "hunter2") {
				t.Errorf("given %+v: variable %+v", vars, v)
			}
		}
	}
	// b's own default is not the secret given for the run
	r := resolve(VarValues{})
	if env := r.Components[0].Spec["env"].(map[string]any); env["DB_PASS"] != "dev-pass" {
		t.Errorf("default: DB_PASS = %v, want dev-pass in clear", env["DB_PASS"])
	}
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if s, ok := v.(Sensitive); ok {
		return s.Hash
	}
	return ""
}

// A variable made secret by SecretVars in a number field is refused as a
// declared secret is, and the error says why it is secret in this stack,
// which declares it without secret: true.
func TestSecretVarsNumberFieldExplained(t *testing.T) {
	fsys := testFS(map[string]string{
		"stacks/s/stack.yaml":            doc("Stack", "s", "variables:", "  N: {}", "  NN: {}"),
		"stacks/s/infra/w.yaml":          doc("Worker", "w", "image: busybox", "replicas: ${N}", "cpu: ${NN}"),
		"stacks/s/environments/dev.yaml": doc("Environment", "dev"),
	})
	_, err := loadResolve(fsys, "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"N": "2", "NN": "256"}}, SecretVars: map[string]bool{"N": true}})
	got := strings.Join(errStrings(t, err), "\n")
	if !strings.Contains(got, "spec.replicas: secret variable N cannot be used in a number or boolean field") ||
		!strings.Contains(got, "(N is not declared secret in stacks/s/stack.yaml, but the value given for it, with --var N, is secret in this run: another stack declares N secret: true") {
		t.Errorf("errors:\n%s", got)
	}
	if strings.Count(got, "is not declared secret") != 1 {
		t.Errorf("NN, not made secret, is explained too:\n%s", got)
	}
}
