package stacks

import (
	"fmt"
	"strings"
	"testing"
)

// TestValidateChecksWhatEveryEnvironmentOverrides: a value in a
// component's file that every environment overrides is read by no
// environment's resolution, so one of the wrong type passed validate
// (and broke the next environment added without the override). Validate
// now reports it at its file:line; a value some environment keeps is
// reported by that environment, once, as before.
func TestValidateChecksWhatEveryEnvironmentOverrides(t *testing.T) {
	prod := "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  variables:\n    HOST: prod.example\n  overrides:\n" +
		"    db:\n      storageGB: 100\n      backupRetentionDays: 7\n    q:\n      deadLetter: null\n"
	dev := devYAML + "  overrides:\n    db:\n      storageGB: 20\n    q:\n      deadLetter: {maxReceives: 3}\n"
	files := map[string]string{
		"stacks/s/environments/dev.yaml":  dev,
		"stacks/s/environments/prod.yaml": prod,
		"stacks/s/infra/db.yaml": doc("Database", "db", "engine: postgres", "storageGB: lots", "backupRetentionDays: weekly") +
			"---\n" + doc("Queue", "q", "deadLetter: {maxReceives: many}"),
	}
	s, err := Load(testFS(files), "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	const every = " (every environment overrides this value, so no deployment uses it: fix it, or remove it from stacks/s/infra/db.yaml)"
	wantErrs(t, s.Validate(ResolveOptions{}),
		`stacks/s/infra/db.yaml:7:14: spec.storageGB: want an integer, got a string ("lots")`+every,
		`stacks/s/infra/db.yaml:8:24: spec.backupRetentionDays: want an integer, got a string ("weekly")`, // dev keeps it
		`stacks/s/infra/db.yaml:15:29: spec.deadLetter.maxReceives: want an integer, got a string ("many")`+every,
	)
	wantErrs(t, s.CheckOverridden(ResolveOptions{}),
		`stacks/s/infra/db.yaml:7:14: spec.storageGB`, `stacks/s/infra/db.yaml:15:29: spec.deadLetter.maxReceives`)

	// Valid values overridden everywhere: nothing to say.
	files["stacks/s/infra/db.yaml"] = doc("Database", "db", "engine: postgres", "storageGB: 30", "backupRetentionDays: 10")
	files["stacks/s/environments/prod.yaml"] = prod[:len(prod)-len("    q:\n      deadLetter: null\n")]
	files["stacks/s/environments/dev.yaml"] = devYAML + "  overrides:\n    db:\n      storageGB: 20\n"
	if s, err = Load(testFS(files), "stacks/s"); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(ResolveOptions{}); err != nil {
		t.Errorf("valid overridden values: %v", err)
	}
}

// overriddenEnv is a component whose env map has n keys and an environment
// file that overrides each of them, with bad (a list, where env wants a
// string) set at env keys shadowed (which dev overrides) and kept (which it
// does not).
func overriddenEnv(n, shadowed, kept int) map[string]string {
	var env, over strings.Builder
	for i := range n {
		v := fmt.Sprintf("v%d", i)
		if i == shadowed || i == kept {
			v = "[bad]"
		}
		fmt.Fprintf(&env, "    K%d: %s\n", i, v)
		if i != kept {
			fmt.Fprintf(&over, "        K%d: dev%d\n", i, i)
		}
	}
	return map[string]string{
		cf:                               ms("env:") + env.String(),
		"stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n      env:\n" + over.String(),
	}
}

// TestCheckOverriddenLargeMapping: the values every environment overrides
// are found through an index, and still exactly: in an env map of 20,000
// keys overridden key by key, the bad value dev overrides is said to be
// used by no deployment, the one it keeps is reported by dev as before.
func TestCheckOverriddenLargeMapping(t *testing.T) {
	const n = 20_000
	s, err := Load(testFS(overriddenEnv(n, 123, n-2)), "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	const every = " (every environment overrides this value, so no deployment uses it: fix it, or remove it from " + cf + ")"
	wantErrs(t, s.Validate(ResolveOptions{}),
		cf+":131:11: spec.env.K123: want a string, got a list"+every, // "    K123: [bad]"
		cf+":20006:13: spec.env.K19998: want a string, got a list",   // "    K19998: [bad]"
	)
}

// BenchmarkCheckOverridden validates an env map of 10,000 and 35,000 keys
// that an environment overrides key by key: ns/key stays flat when the
// time is linear in the size (searching every base key for each override
// took 8 s at 35,000 keys).
func BenchmarkCheckOverridden(b *testing.B) {
	for _, n := range []int{10_000, 35_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s, err := Load(testFS(overriddenEnv(n, 7, -1)), "stacks/s")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.CheckOverridden(ResolveOptions{}); err == nil {
					b.Fatal("the shadowed bad value was not found")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
		})
	}
}

// TestCheckFieldsAgreesWithValidate: CheckFields (stack list's check)
// reports exactly the unknown fields Validate reports, at the same
// file:line with the same message, and nothing where Validate finds
// none (an env map's keys, a value filled by a variable, a wrong type).
func TestCheckFieldsAgreesWithValidate(t *testing.T) {
	dev := func(over string) string { return devYAML + "  overrides:\n" + over }
	tests := []struct {
		name  string
		files map[string]string
		want  int // unknown fields
	}{
		{"valid", map[string]string{cf: ms("env: {ANY_KEY: x, other: y}", "secrets: {S: /p}", "healthCheck: {path: /h}", "dependsOn: []")}, 0},
		{"other problems only", map[string]string{cf: ms("port: high", "replicas: ${HOST}", "healthCheck: ${HOST}", "dependsOn: [nope]")}, 0},
		{"misspelt fields", map[string]string{cf: ms("replicaz: 2", "healthCheck: {pth: /x, interval: 5}")}, 2},
		{"spec under spec", map[string]string{cf: ms("spec: {replicas: 2}")}, 1},
		{"in a list of objects", map[string]string{cf: doc("Topic", "t", "subscriptions: [{queue: q, rawMessage: true}, {protocol: https, endpont: x}]") + "---\n" + doc("Queue", "q")}, 2},
		{"through a merge key", map[string]string{cf: ms("<<: {replicaz: 1, cpu: 256}")}, 1},
		{"in an override", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": dev("    api:\n      replicaz: 2\n      healthCheck: {pth: /x}\n      spec: {cpu: 1}\n")}, 3},
		{"an override's null", map[string]string{cf: ms("cpu: 256"), "stacks/s/environments/dev.yaml": dev("    api:\n      cpu: null\n")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(testFS(tt.files), "stacks/s")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range errStrings(t, s.Validate(ResolveOptions{})) {
				if strings.Contains(e, ": unknown field") {
					want = append(want, e)
				}
			}
			got := errStrings(t, s.CheckFields())
			if len(want) != tt.want || strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("CheckFields:\n%s\nValidate's unknown fields (want %d):\n%s", strings.Join(got, "\n"), tt.want, strings.Join(want, "\n"))
			}
		})
	}
}
