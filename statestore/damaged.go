package statestore

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DamagedError is the ErrCorrupt of a state.json that is valid JSON of the
// state format but lacks what every state panka writes holds: a serial
// (from 1), a known status, and the deployed spec while it records
// deployed components or outputs. A hand edit that removed or blanked one
// of them read as "nothing deployed yet" (no serial) or planned every
// component as new (no spec). State is the state as stored, so that
// `panka state pull` can print it for the repair the error names.
type DamagedError struct {
	Key      Key
	Where    string   // bucket/key or file path
	Problems []string // what is wrong, in the document's terms
	Fixes    []string // what to put back before pushing it again
	State    *State
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("state %s is damaged: %s: %v; it was left as it is: restore an earlier version of it (a versioned bucket keeps them), "+
		"or repair it: `panka state pull -s %s -e %s > state.json` prints it as stored; %s; then `panka state push --force state.json`",
		e.Where, strings.Join(e.Problems, "; "), ErrCorrupt, e.Key.Stack, e.Key.Environment, e.fixes())
}

func (e *DamagedError) fixes() string {
	if len(e.Fixes) == 0 {
		// Only the serial is missing: the push numbers the state.
		return "it needs no serial: the push numbers it after the newest history record"
	}
	return strings.Join(e.Fixes, "; ")
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *DamagedError) Unwrap() error { return ErrCorrupt }

// knownStatus reports whether s is a status panka writes.
func knownStatus(s string) bool {
	switch s {
	case StatusDeployed, StatusFailed, StatusDestroyed, StatusApplying:
		return true
	}
	return false
}

// expectedStatus is the status the last deployment st records leaves
// (what nextState writes), "" when st records none.
func expectedStatus(st *State) string {
	d := st.LastDeployment
	switch {
	case d == nil:
		return ""
	case d.Result != ResultSucceeded:
		return StatusFailed
	case d.Operation == OpDestroy:
		return StatusDestroyed
	}
	return StatusDeployed
}

// hasSpec reports whether st holds a deployed spec.
func hasSpec(st *State) bool {
	s := strings.TrimSpace(string(st.Spec))
	return s != "" && s != "null"
}

// specHoldsComponents reports whether spec, a resolved model, lists a
// component, or is no model at all (the planner says what is wrong with
// that): only an emptied model is damage here.
func specHoldsComponents(spec json.RawMessage) bool {
	var m struct {
		Components []json.RawMessage `json:"components"`
	}
	return json.Unmarshal(spec, &m) != nil || len(m.Components) > 0
}

// damage lists what st lacks that every state panka writes holds (the
// serial left out: a pushed state gets the next one) and, for each, what
// to put back; where names st's stored object, for a record beside it.
func damage(st *State, where string) (problems, fixes []string) {
	switch {
	case st.Status == "":
		problems = append(problems, `it has no "status"`)
	case !knownStatus(st.Status):
		problems = append(problems, fmt.Sprintf(`its "status" is %q, not one of deployed, failed, destroyed`, st.Status))
	}
	if len(problems) > 0 {
		if want := expectedStatus(st); want != "" {
			fixes = append(fixes, fmt.Sprintf(`set "status" to %q (what its last deployment, serial %d, left)`, want, st.LastDeployment.Serial))
		} else {
			fixes = append(fixes, `set "status" to "deployed", "failed" or "destroyed"`)
		}
	}
	if hasSpec(st) && st.Resources.Components > 0 && !specHoldsComponents(st.Spec) {
		// "spec": {} (a hand edit that emptied it) planned every
		// component as created, and the provider as changed.
		problems = append(problems, fmt.Sprintf(`its "spec" holds no components while it records %d deployed (resources.components), so a plan against it would create every component again`, st.Resources.Components))
		fixes = append(fixes, specFix(st, where))
	}
	if !hasSpec(st) && (st.Resources.Components > 0 || len(st.Outputs) > 0) {
		what := fmt.Sprintf("%d components (resources.components)", st.Resources.Components)
		if st.Resources.Components == 0 {
			what = fmt.Sprintf("outputs of %d components", len(st.Outputs))
		}
		problems = append(problems, fmt.Sprintf(`it records %s deployed but has no "spec" (the deployed model), so a plan against it would create every component again`, what))
		fixes = append(fixes, specFix(st, where))
	}
	return problems, fixes
}

// specFix says where the spec a damaged state lost can be had: the history
// record of the deployment it records, which holds the spec it applied.
func specFix(st *State, where string) string {
	d := st.LastSuccessful
	if d == nil && st.LastDeployment != nil && st.LastDeployment.Result == ResultSucceeded {
		d = st.LastDeployment
	}
	if d == nil {
		return `put back "spec" from the history record of its last successful deployment (panka history lists them), which holds the spec that deployment applied`
	}
	loc := "under history/ beside state.json"
	if name, err := HistoryName(d); err == nil && where != "" {
		i := strings.LastIndexAny(where, `/\`)
		sep := "/"
		if i >= 0 {
			sep = where[i : i+1]
		}
		loc = where[:i+1] + strings.TrimSuffix(historyDir, "/") + sep + name
	}
	return fmt.Sprintf(`put back "spec" from the history record of serial %d (%s), which holds the spec that deployment applied`, d.Serial, loc)
}

// checkDamaged returns a *DamagedError when st, the state stored at where
// (data as read), lacks what every state panka writes holds.
func checkDamaged(st *State, key Key, data []byte, where string) error {
	problems, fixes := damage(st, where)
	if st.Serial == 0 {
		var probe struct {
			Serial json.RawMessage `json:"serial"`
		}
		_ = json.Unmarshal(data, &probe)
		p := `its "serial" is 0 (panka numbers states from 1)`
		if probe.Serial == nil || string(probe.Serial) == "null" {
			p = `it has no "serial"`
		}
		problems = append([]string{p}, problems...)
	}
	if len(problems) == 0 {
		return nil
	}
	return &DamagedError{Key: key, Where: where, Problems: problems, Fixes: fixes, State: st}
}
