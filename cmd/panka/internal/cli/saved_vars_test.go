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
