package stacks

import "testing"

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
