package statestore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DamagedError is the ErrCorrupt of a state.json that is valid JSON of the
// state format but lacks what every state panka writes holds: a serial
// (from 1), a known status, and the deployed spec while it records
// deployed components or outputs, listing as many components as
// resources.components counts. A hand edit that removed or blanked one
// of them read as "nothing deployed yet" (no serial) or planned every
// component as new (no spec), or those cut out of the spec. State is the state as stored, so that
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
		return "it needs no serial: the push numbers it after every serial used (history records, serial.json)"
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
	// bytes, not a string: a copy of a 200-component spec on every read.
	s := bytes.TrimSpace(st.Spec)
	return len(s) > 0 && !bytes.Equal(s, []byte("null"))
}

// specComponents counts the components of spec, a resolved model that
// decoded as JSON, in one scan of its bytes: decoding the spec a second
// time doubled the cost of reading a state (every plan, apply and status
// reads one). ok is false when spec is no model at all (not an object, or
// "components" neither a list nor null): the planner says what is wrong
// with that. Keys match as encoding/json matches them (case-insensitively,
// the last of a repeated key winning).
func specComponents(spec []byte) (n int, ok bool) {
	i := skipSpace(spec, 0)
	if i >= len(spec) || spec[i] != '{' {
		return 0, false
	}
	i++
	for {
		i = skipSpace(spec, i)
		if i >= len(spec) || spec[i] == '}' {
			return n, true
		}
		if spec[i] == ',' {
			i++
			continue
		}
		end := stringEnd(spec, i)
		if end < 0 {
			return 0, false
		}
		name := spec[i:end]
		i = skipSpace(spec, end)
		if i >= len(spec) || spec[i] != ':' {
			return 0, false
		}
		i = skipSpace(spec, i+1)
		if !isComponentsKey(name) {
			if i = skipValue(spec, i); i < 0 {
				return 0, false
			}
			continue
		}
		switch {
		case bytes.HasPrefix(spec[i:], []byte("null")):
			n, i = 0, i+len("null")
		case i < len(spec) && spec[i] == '[':
			if n, i = countElements(spec, i); i < 0 {
				return 0, false
			}
		default:
			return 0, false
		}
	}
}

// isComponentsKey reports whether name, a JSON string with its quotes,
// is a key encoding/json decodes into the model's "components".
func isComponentsKey(name []byte) bool {
	if bytes.IndexByte(name, '\\') < 0 {
		return bytes.EqualFold(name[1:len(name)-1], []byte("components"))
	}
	var s string
	return json.Unmarshal(name, &s) == nil && strings.EqualFold(s, "components")
}

// countElements counts the elements of the JSON array that starts at
// b[i], and returns the index after it (-1: not a whole array).
func countElements(b []byte, i int) (n, next int) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return 0, i + 1
	}
	for i < len(b) {
		if i = skipValue(b, i); i < 0 {
			return 0, -1
		}
		n++
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ']':
			return n, i + 1
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		default:
			return 0, -1
		}
	}
	return 0, -1
}

// skipValue returns the index after the JSON value that starts at b[i]
// (-1: none does).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = stringEnd(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(b) && !strings.ContainsRune(",]} \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at b[i]
// (-1: none does).
func stringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		escapes := 0
		for e := j - 1; e > i && b[e] == '\\'; e-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1
		}
		j++
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
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
	if n, ok := countedSpec(st); ok && n != st.Resources.Components {
		// Every state panka writes counts the components of its spec
		// (a failed apply keeps both of the state before it, state rm
		// takes components out of both), so a difference is a hand edit
		// of one: "spec": {} planned every component as created, and
		// the provider as changed; a component cut out of the spec
		// planned it as created again, over what still runs.
		problems = append(problems, specCountProblem(n, st.Resources.Components))
		fix := specFix(st, where)
		if n > 0 {
			fix += fmt.Sprintf(`; or, if components were taken out of "spec" on purpose, set "resources.components" to %d and "resources.byKind" to match (panka state rm --resource does both on a state that is not damaged)`, n)
		}
		fixes = append(fixes, fix)
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

// countedSpec returns how many components st's spec lists when st has a
// spec (a model) and counts its components: only then can they disagree.
func countedSpec(st *State) (int, bool) {
	if st.Resources.Components <= 0 || !hasSpec(st) {
		return 0, false
	}
	return specComponents(st.Spec)
}

// specCountProblem says what is wrong with a spec that lists n components
// while resources.components counts m.
func specCountProblem(n, m int) string {
	switch {
	case n == 0:
		return fmt.Sprintf(`its "spec" holds no components while it records %d deployed (resources.components), so a plan against it would create every component again`, m)
	case n < m:
		return fmt.Sprintf(`its "spec" lists %d components while it records %d deployed (resources.components), so a plan against it would create the %d missing from "spec" again`, n, m, m-n)
	}
	return fmt.Sprintf(`its "spec" lists %d components while it records %d deployed (resources.components), so a plan against it would take components never recorded as deployed for deployed ones`, n, m)
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
