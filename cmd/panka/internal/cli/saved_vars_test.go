package cli

import (
	"strings"
	"testing"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/stacks"
)

// TestCheckSavedVarsLowerSource: a saved plan made with PANKA_VAR_REPLICAS
// set in the job's environment and --var REPLICAS=3 on the command line
// records REPLICAS=3 from the flag. apply FILE in the same job (the
// variable still set, no --var) replays the flag, which wins over the
// environment: it applies what was planned, and was refused ("the values
// given for variables REPLICAS ... are not the ones planned") because the
// value given by a lower source was compared.
func TestCheckSavedVarsLowerSource(t *testing.T) {
	saved := &planner.Saved{
		Vars:       map[string]string{"REPLICAS": "3", "TAG": "v1"},
		VarSources: map[string]string{"REPLICAS": stacks.SourceFlag, "TAG": stacks.SourceEnv},
	}
	vals := func(flags, file, env map[string]string) stacks.VarValues {
		return stacks.VarValues{Flags: flags, File: file, Env: env}
	}
	for _, tc := range []struct {
		name   string
		given  stacks.VarValues
		differ string // "" when accepted
	}{
		{"nothing given", vals(nil, nil, nil), ""},
		{"lower source, other value", vals(nil, map[string]string{"REPLICAS": "5"}, map[string]string{"REPLICAS": "5"}), ""},
		{"same source, other value", vals(map[string]string{"REPLICAS": "4"}, nil, nil), "REPLICAS"},
		{"same value, lower source", vals(nil, nil, map[string]string{"REPLICAS": "3"}), ""},
		{"higher source, other value", vals(map[string]string{"TAG": "v2"}, nil, nil), "TAG"},
		{"same source as recorded, other value", vals(nil, nil, map[string]string{"TAG": "v2"}), "TAG"},
		{"both differ", vals(map[string]string{"TAG": "v2", "REPLICAS": "1"}, nil, nil), "REPLICAS, TAG"},
	} {
		err := checkSavedVars("p.plan", saved, tc.given)
		switch {
		case tc.differ == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.differ != "" && (err == nil || !strings.Contains(err.Error(), "variables "+tc.differ+" (by")):
			t.Errorf("%s: err %v, want it to name %s", tc.name, err, tc.differ)
		}
	}
}

// TestCheckSavedVarsNotGivenAtPlan: a variable the plan took from the
// environment file or the stack's default, given now (--var, or a
// PANKA_VAR_<NAME> set in the apply job only), overrides it: the plan was
// refused as stale ("the desired model changed since it was planned")
// without saying why. It is refused by name.
func TestCheckSavedVarsNotGivenAtPlan(t *testing.T) {
	saved := &planner.Saved{
		Vars:       map[string]string{"REPLICAS": "3"},
		VarSources: map[string]string{"REPLICAS": stacks.SourceFlag},
		Desired: []byte(`{"stack":"shop","environment":"dev","variables":[` +
			`{"name":"GREETING","value":"hi","source":"default"},` +
			`{"name":"REGION","value":"eu","source":"environment"},` +
			`{"name":"REPLICAS","value":"3","source":"flag"}]}`),
	}
	err := checkSavedVars("p.plan", saved, stacks.VarValues{Env: map[string]string{"GREETING": "x", "UNUSED": "y"}, Flags: map[string]string{"REGION": "eu", "REPLICAS": "3"}})
	if err == nil || !strings.Contains(err.Error(), "variables GREETING, REGION are given now") || !strings.Contains(err.Error(), "unset PANKA_VAR_GREETING, PANKA_VAR_REGION") || strings.Contains(err.Error(), "UNUSED") {
		t.Errorf("err = %v, want GREETING and REGION named (not UNUSED, which the stack does not use)", err)
	}
	if err := checkSavedVars("p.plan", saved, stacks.VarValues{Flags: map[string]string{"REPLICAS": "3", "UNUSED": "y"}}); err != nil {
		t.Errorf("only what the plan recorded, and a variable the stack does not use: %v", err)
	}
}
