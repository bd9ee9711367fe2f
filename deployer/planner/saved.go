package planner

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"time"

	"panka.dev/panka/stacks"
)

// SavedKind marks a saved plan file.
const SavedKind = "panka-plan"

// Saved is a plan written with plan --out: the plan itself plus what apply
// needs to refuse a stale plan (the state serial it was planned against and
// the hash of the desired model) and to redo the same deployment (the
// canonical desired model, the commit and the vars; secrets as keyed hashes
// only, so apply must be given secret values again and re-resolve to the
// same hash).
type Saved struct {
	Kind          string    `json:"kind"`
	FormatVersion int       `json:"formatVersion"`
	CreatedAt     time.Time `json:"createdAt"`
	PankaVersion  string    `json:"pankaVersion,omitempty"`
	Stack         string    `json:"stack"`
	Environment   string    `json:"environment"`
	// Commit, Ref and Dirty say where the desired model came from.
	Commit string `json:"commit,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Dirty  bool   `json:"dirty"`
	// StateSerial is the serial of state.json the plan was made against (0
	// = no state).
	StateSerial int64 `json:"stateSerial"`
	// StateBasis is statestore's (*State).PlanBasis of that state: a state
	// written since by a drift check alone (serial moved, basis the same)
	// does not make the plan stale. Empty in plans of older panka, which
	// are stale once the serial moved.
	StateBasis string `json:"stateBasis,omitempty"`
	// DesiredHash is stacks.(*Resolved).Hash of Desired ("" for a destroy
	// plan).
	DesiredHash string `json:"desiredHash"`
	// Desired is the canonical desired model (null for a destroy plan).
	Desired json.RawMessage `json:"desired"`
	// Vars are the variable values given from outside the repository
	// (--var, --var-file, PANKA_VAR_*), secrets as keyed hashes.
	Vars map[string]string `json:"vars,omitempty"`
	// VarSources says where each of Vars came from: "flag", "var-file" or
	// "env" (the source is part of the desired model, hence of its hash).
	VarSources map[string]string `json:"varSources,omitempty"`
	// TargetComponents are the components a plan --target-component
	// planned, sorted (none: every component): apply FILE deploys only
	// them, as apply --target-component does. Desired and DesiredHash
	// are of the targeted model (the others at their deployed spec), so
	// an older panka that does not know this field refuses such a plan
	// as stale wherever deploying every component would differ.
	TargetComponents []string `json:"targetComponents,omitempty"`
	Plan             *Result  `json:"plan"`
}

// ErrStale is returned (wrapped in a *StaleError) when a saved plan no
// longer matches state or the desired model.
var ErrStale = errors.New("saved plan is stale")

// StaleError says why a saved plan cannot be applied.
type StaleError struct {
	Stack, Environment string
	Reason             string
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("saved plan for %s/%s is stale: %s; run panka plan again and apply the new plan", e.Stack, e.Environment, e.Reason)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// NewSaved wraps a plan for saving. desired is nil for a destroy plan.
func NewSaved(p *Result, desired *stacks.Resolved, vars map[string]string, now time.Time, version string) *Saved {
	s := &Saved{Kind: SavedKind, FormatVersion: FormatVersion, CreatedAt: now.UTC(), PankaVersion: version,
		Stack: p.Header.Stack, Environment: p.Header.Environment,
		Commit: p.Header.Desired.Commit, Ref: p.Header.Desired.Ref, Dirty: p.Header.Desired.Dirty,
		StateSerial: p.Header.Deployed.Serial, Desired: json.RawMessage("null"), Vars: vars, Plan: p}
	if desired != nil {
		s.Desired = desired.Canonical()
		s.DesiredHash = desired.Hash()
		for _, v := range desired.Variables {
			if _, ok := vars[v.Name]; ok {
				if s.VarSources == nil {
					s.VarSources = map[string]string{}
				}
				s.VarSources[v.Name] = v.Source
			}
		}
	}
	return s
}

// VarValues returns the recorded variables that can be replayed, in the
// sources they came from, so apply can re-resolve the same model without
// the user repeating --var flags. Secret values are recorded as hashes
// only: their names are returned in secrets, and apply must be given them
// again (--var, --var-file or PANKA_VAR_*).
func (s *Saved) VarValues() (vals stacks.VarValues, secrets []string) {
	vals = stacks.VarValues{Flags: map[string]string{}, File: map[string]string{}, Env: map[string]string{}}
	for name, v := range s.Vars {
		if stacks.IsSensitive(v) {
			secrets = append(secrets, name)
			continue
		}
		vals.Set(s.VarSources[name], name, v)
	}
	sort.Strings(secrets)
	return vals, secrets
}

// Write saves the plan to path (atomically, mode 0600: it may name
// infrastructure details).
func (s *Saved) Write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode saved plan: %w", err)
	}
	b = append(b, '\n')
	// The file is replaced by a rename: over a device, a named pipe or
	// /dev/stdout (a link to the process's pipe) that rename replaced the
	// node itself -- as root, /dev/stdout or /dev/null became a plain file
	// for every process on the machine -- and over a folder it failed
	// naming the temporary file.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("save plan to %s: it is %s, not a file: the saved plan is a file for panka apply FILE; give a file name (the plan is printed on stdout anyway, -o json for JSON)", path, stacks.FileKind(st.Mode()))
	}
	// A link to a file: replace the file it points at, keep the link.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".panka-plan-*")
	if err != nil {
		// The error names the temporary file, which the user never asked
		// for: say what is wrong with the folder instead.
		if fi, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("save plan to %s: folder %s: %w: create it first, or pass another --out", path, dir, errors.Unwrap(serr))
		} else if !fi.IsDir() {
			return fmt.Errorf("save plan to %s: %s is not a folder: pass another --out", path, dir)
		}
		return fmt.Errorf("save plan to %s: cannot write in folder %s: %w", path, dir, errors.Unwrap(err))
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	return nil
}

// missingPlanError is LoadSaved's error for a file that does not exist;
// it is fs.ErrNotExist to errors.Is (apply tells a NAME=VALUE argument,
// which may hold a secret and is not printed, from a plan file by it).
type missingPlanError struct{ path string }

func (e *missingPlanError) Error() string {
	return fmt.Sprintf("read saved plan %s: no such file: save one with panka plan --stack STACK --environment ENV --out %s, or plan and apply in one go with panka apply --stack STACK --environment ENV", e.path, e.path)
}

func (e *missingPlanError) Unwrap() error { return fs.ErrNotExist }

// LoadSaved reads a plan written by Write.
func LoadSaved(path string) (*Saved, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// apply PLANFILE names a file panka plan --out wrote; a newcomer
		// gives it a stack or an environment, or a plan never saved.
		return nil, &missingPlanError{path}
	case err != nil:
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			return nil, fmt.Errorf("read saved plan %s: it is a folder, not a plan file written by panka plan --out (to apply a stack, give --stack and --environment)", path)
		}
		return nil, fmt.Errorf("read saved plan: %w", err)
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil {
		if !bytes.Contains(b, []byte(`"`+SavedKind+`"`)) {
			return nil, fmt.Errorf("read saved plan %s: not a plan written by panka plan --out", path)
		}
		// A plan file cut short (a disk that filled up, a partial CI
		// artifact download) or edited by hand: say so.
		return nil, fmt.Errorf("read saved plan %s: the file is damaged (%v): run panka plan --out again", path, err)
	}
	if s.Kind != SavedKind {
		return nil, fmt.Errorf("read saved plan %s: not a plan written by panka plan --out", path)
	}
	if s.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("read saved plan %s: format version %d is newer than this panka understands (%d); upgrade panka", path, s.FormatVersion, FormatVersion)
	}
	if s.Plan == nil {
		return nil, fmt.Errorf("read saved plan %s: no plan in the file", path)
	}
	return &s, nil
}

// Check refuses the plan when state has moved on (currentSerial differs
// from the serial it was planned against; 0 = no state), unless only a
// drift check wrote it since (basis, the state's PlanBasis now, is the one
// planned against), or when the state is not the one planned against
// though its serial is (its content differs: a state.json pushed, copied
// or restored over it, or a serial given again after serial.json was
// deleted with state.json), or when the desired model now resolves to
// another hash ("" for a destroy). The error is a *StaleError
// (errors.Is(err, ErrStale)). As terraform refuses a saved plan whose
// state lineage differs though its serial matches, the serial alone does
// not name a state's content.
func (s *Saved) Check(currentSerial int64, basis, desiredHash string) error {
	if currentSerial == s.StateSerial && s.StateBasis != "" && basis != s.StateBasis {
		return &StaleError{Stack: s.Stack, Environment: s.Environment,
			Reason: fmt.Sprintf("the state is not the one it was planned against: its serial is %d as then, but its content differs "+
				"(state.json was replaced: a state push, a state.json copied or restored over it, or serials numbered again after serial.json was deleted with it)", currentSerial)}
	}
	if currentSerial != s.StateSerial && (s.StateBasis == "" || basis != s.StateBasis) {
		return &StaleError{Stack: s.Stack, Environment: s.Environment,
			Reason: fmt.Sprintf("state changed since it was planned (planned against state serial %d, state is now at serial %d)", s.StateSerial, currentSerial)}
	}
	if desiredHash != s.DesiredHash {
		return &StaleError{Stack: s.Stack, Environment: s.Environment,
			Reason: fmt.Sprintf("the desired model changed since it was planned (hash %s, now %s)", short(s.DesiredHash), short(desiredHash))}
	}
	return nil
}

// DesiredModel decodes the saved desired model (nil for a destroy plan).
// Sensitive values in it are keyed hashes, not clear values.
func (s *Saved) DesiredModel() (*stacks.Resolved, error) {
	if len(s.Desired) == 0 || string(s.Desired) == "null" {
		return nil, nil
	}
	return DecodeModel(s.Desired)
}

// DecodeModel decodes a canonical model as stored in state.json or a saved
// plan. Numbers decode as int64 when integral, else float64, like a freshly
// resolved model.
func DecodeModel(b []byte) (*stacks.Resolved, error) {
	var r stacks.Resolved
	if err := json.Unmarshal(b, &r); err != nil {
		// In the model's terms, not encoding/json's Go types ("cannot
		// unmarshal string into Go value of type stacks.Resolved").
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "the model"
			}
			return nil, fmt.Errorf("decode resolved model: %s is a JSON %s where the model has %s: %w", field, te.Value, jsonKind(te.Type), ErrBadModel)
		}
		return nil, fmt.Errorf("decode resolved model: %w (%w)", err, ErrBadModel)
	}
	for i := range r.Components {
		for k, v := range r.Components[i].Spec {
			r.Components[i].Spec[k] = fixNumbers(v)
		}
	}
	return &r, nil
}

// ErrBadModel is wrapped by DecodeModel's errors: the stored model is not
// one panka wrote.
var ErrBadModel = errors.New("not a resolved model written by panka")

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct, reflect.Interface:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another type"
}

func fixNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) && x >= -(1<<53) && x <= 1<<53 {
			return int64(x)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fixNumbers(e)
		}
	}
	return v
}

// RecordVars returns the variables of a model that came from outside the
// repository (--var, --var-file, PANKA_VAR_*) as they are recorded in saved
// plans and deployment records: clear values for ordinary variables, the
// keyed hash for secret ones (hashed with key when the model holds a clear
// value for a secret).
func RecordVars(r *stacks.Resolved, key []byte) map[string]string {
	if r == nil {
		return nil
	}
	out := map[string]string{}
	for _, v := range r.Variables {
		if !stacks.GivenOutside(v.Source) {
			continue
		}
		var s string
		switch x := v.Value.(type) {
		case stacks.Sensitive:
			s = x.Hash
		case *stacks.Sensitive:
			s = x.Hash
		case string:
			s = x
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if v.Secret && !stacks.IsSensitive(s) {
			s = stacks.HashSensitiveAt(key, r.Stack, r.Environment, v.Name, s).Hash
		}
		out[v.Name] = s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// MaskVars returns recorded vars for display: secret values (keyed
// hashes) become "(sensitive)".
func MaskVars(vars map[string]string) map[string]string {
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		if stacks.IsSensitive(v) {
			v = Masked
		}
		out[k] = v
	}
	return out
}

// MaskOutputs returns component outputs for display: sensitive ones
// (keyed hashes) become "(sensitive)". outs itself is not changed.
func MaskOutputs(outs map[string]map[string]any) map[string]map[string]any {
	if outs == nil {
		return nil
	}
	out := make(map[string]map[string]any, len(outs))
	for c, o := range outs {
		out[c] = make(map[string]any, len(o))
		for n, v := range o {
			out[c][n] = mask(v)
		}
	}
	return out
}

// MaskModel returns an encoded resolved model (the spec of a state or a
// history record) for display as plan and show print it: every secret's
// keyed hash, and every value under a component's spec.secrets (SSM /
// Secrets Manager references, kept in clear for the runtime), become
// "(sensitive)"; field names and the rest stay. raw itself is not
// changed, and comes back as it is when it holds nothing to mask or is
// not a JSON object.
func MaskModel(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !bytes.Contains(raw, []byte(`"`+stacks.SensitivePrefix)) && !bytes.Contains(raw, []byte(`"secrets"`)) {
		return raw
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil || m == nil {
		return raw
	}
	masked, _ := mask(m).(map[string]any)
	if comps, ok := masked["components"].([]any); ok {
		comps = slices.Clone(comps)
		for i, c := range comps {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			spec, ok := cm["spec"].(map[string]any)
			if !ok || spec["secrets"] == nil {
				continue
			}
			spec = maps.Clone(spec)
			spec["secrets"], _ = maskAll(spec["secrets"])
			cm = maps.Clone(cm)
			cm["spec"] = spec
			comps[i] = cm
		}
		masked = maps.Clone(masked)
		masked["components"] = comps
	}
	b, err := json.Marshal(masked)
	if err != nil {
		return raw
	}
	return b
}

// secretKeyLabel is the HKDF info that derives the secret-hash key; it must
// never change, or every recorded hash would look like a changed secret.
const secretKeyLabel = "panka secret value hash v1"

// DeriveSecretKey derives the key for hashing sensitive values from the
// Pulumi passphrase secrets provider's passphrase (PULUMI_CONFIG_PASSPHRASE):
// HKDF-SHA256 with no salt and the fixed label "panka secret value hash
// v1", 32 bytes. An empty passphrase gives nil: hashes are then unkeyed
// SHA-256, good for change detection but guessable for short secrets.
func DeriveSecretKey(passphrase string) []byte {
	if passphrase == "" {
		return nil
	}
	k, err := hkdf.Key(sha256.New, []byte(passphrase), nil, secretKeyLabel, 32)
	if err != nil {
		// Only fails for lengths HKDF-SHA256 cannot produce.
		panic("planner: derive secret key: " + err.Error())
	}
	return k
}
