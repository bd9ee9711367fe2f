package statestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// schemaProbe reads only the schema version, so a newer format is reported
// as ErrFutureSchema even when the rest would not decode into this build's types.
type schemaProbe struct {
	SchemaVersion *int `json:"schemaVersion"`
	// The panka that wrote a newer format, when it says (a record's
	// pankaVersion, a state's last deployment's), for the upgrade hint.
	PankaVersion   string `json:"pankaVersion"`
	LastDeployment struct {
		PankaVersion string `json:"pankaVersion"`
	} `json:"lastDeployment"`
}

// Hints that end the errors about a corrupt object, saying what to do next.
// They differ because the repairs differ: a stored state.json is replaced
// with state push --force; a history record is immutable and no panka
// command rewrites it; a file being pushed is the user's to fix.
const (
	corruptStateHint   = "; it was left as it is: restore an earlier version or push a good copy with `panka state push --force FILE`"
	corruptHistoryHint = "; it was left as it is: restore an earlier version of that record, or move it out of the history " +
		"(its deployment then no longer shows in panka history; docs/state.md, \"Errors\")"
	corruptPushHint = "; nothing was written: push a state printed by `panka state pull`"
)

// errCorruptRecord is ErrCorrupt (errors.Is) as the errors about a
// history record say it: "corrupt state" sent the reader to state.json
// and its repair (state push), which do not mend a record.
var errCorruptRecord error = corruptError("corrupt history record")

type corruptError string

func (e corruptError) Error() string        { return string(e) }
func (e corruptError) Is(target error) bool { return target == ErrCorrupt }

// corrupt is the ErrCorrupt that errors about what (a "history record",
// or a state) wrap.
func corrupt(what string) error {
	if what == "history record" {
		return errCorruptRecord
	}
	return ErrCorrupt
}

func checkSchema(data []byte, what, where, hint string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s %s is empty: %w%s", what, where, corrupt(what), hint)
	}
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		// Windows PowerShell 5.1 writes UTF-16 with `>` and Out-File:
		// `panka state pull > state.json` there gave a file that read as
		// "invalid character 'ÿ'".
		return fmt.Errorf("%s %s is UTF-16 text, not UTF-8 JSON (Windows PowerShell 5.1's > and Out-File write UTF-16: "+
			"use Set-Content -Encoding utf8, or PowerShell 7): %w%s", what, where, corrupt(what), hint)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		// A file that a crash or a disk problem left full of zero
		// bytes (its size written, its content not) read as "invalid
		// character '\x00'".
		line, col := position(data, int64(i))
		return fmt.Errorf("%s %s is damaged: it holds zero bytes from line %d, column %d on (%d of its %d bytes), as a crash or a disk problem leaves a file: %w%s",
			what, where, line, col, bytes.Count(data, []byte{0}), len(data), corrupt(what), hint)
	}
	if isNull(data) {
		// What `jq .field` writes for a field that is not there; it
		// decoded as an object with nothing set and read as "has no
		// valid schemaVersion".
		return fmt.Errorf("%s %s is not a JSON object (it holds null, as jq prints for a field that is not there): %w%s", what, where, corrupt(what), hint)
	}
	var p schemaProbe
	if err := json.Unmarshal(data, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return fmt.Errorf("%s %s is not a JSON object (it holds %s): %w%s", what, where, article(te.Value), corrupt(what), hint)
		}
		if errors.As(err, &te) {
			// Valid JSON whose schemaVersion is not a number: no version to read.
			return fmt.Errorf("%s %s has no valid schemaVersion (%s): %w%s", what, where, describeJSON(data, err), corrupt(what), hint)
		}
		return fmt.Errorf("%s %s is not valid JSON (%s): %w%s", what, where, describeJSON(data, err), corrupt(what), hint)
	}
	if p.SchemaVersion == nil {
		return fmt.Errorf("%s %s has no schemaVersion: %w%s", what, where, corrupt(what), hint)
	}
	by := p.PankaVersion
	if by == "" {
		by = p.LastDeployment.PankaVersion
	}
	return checkVersion(*p.SchemaVersion, what, where, hint, by)
}

// isNull reports whether data is the JSON null, which decodes into a
// struct without an error.
func isNull(data []byte) bool { return bytes.Equal(bytes.TrimSpace(data), []byte("null")) }

// describeJSON says what is wrong with data, which failed to decode with
// err, in the document's terms (line and column, field names, JSON types)
// rather than encoding/json's, which names Go types ("cannot unmarshal
// string into Go struct field State.serial of type int64").
func describeJSON(data []byte, err error) string {
	var se *json.SyntaxError
	// A file cut inside a string and ended with a newline (head -n, an
	// editor's save) fails at that newline, with nothing after it: cut
	// short as well, not "invalid character '\n' in string literal".
	cutInString := errors.As(err, &se) && strings.HasSuffix(se.Error(), "in string literal") &&
		se.Offset >= 1 && len(bytes.TrimSpace(data[min(se.Offset-1, int64(len(data))):])) == 0
	if errors.Is(err, io.ErrUnexpectedEOF) || cutInString || se != nil && strings.Contains(se.Error(), "unexpected end of JSON input") {
		line, col := position(data, int64(len(bytes.TrimRight(data, " \t\r\n")))-1)
		return fmt.Sprintf("it ends at line %d, column %d in the middle of a value: truncated", line, col)
	}
	if se != nil {
		// Offset counts the bytes read, the offending one included.
		line, col := position(data, se.Offset-1)
		return fmt.Sprintf("line %d, column %d: %s", line, col, strings.TrimPrefix(se.Error(), "json: "))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, _ := position(data, te.Offset-1)
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Sprintf("line %d: %s is %s, want %s", line, field, article(te.Value), jsonKind(te.Type))
	}
	return err.Error()
}

// position is the 1-based line and column of the byte at index off in data.
func position(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	if t.String() == "time.Time" {
		return "a time string (RFC 3339)"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another type"
}

// article puts "a"/"an" before encoding/json's name of a JSON value
// ("string", "array", "number 1.5").
func article(v string) string {
	switch {
	case strings.HasPrefix(v, "array"), strings.HasPrefix(v, "object"):
		return "an " + v
	case v == "bool":
		return "true or false"
	}
	return "a " + v
}

// checkVersion accepts schema versions 1..SchemaVersion; hint ends the
// error of a missing one, and says which object it is about (see
// futureHint); by is the panka version that wrote it, when it says.
func checkVersion(v int, what, where, hint, by string) error {
	switch {
	case v < 1:
		return fmt.Errorf("%s %s has no valid schemaVersion: %w%s", what, where, corrupt(what), hint)
	case v > SchemaVersion:
		return fmt.Errorf("%s %s has schemaVersion %d but this panka reads up to %d: %w%s", what, where, v, SchemaVersion, ErrFutureSchema, futureHint(hint, by))
	}
	return nil
}

// futureHint ends the error about an object of a newer schema than this
// panka reads: upgrade panka (to the version that wrote it, when the
// object says), and the way out when no newer panka wrote it (a stored
// state is never overwritten, state push --force included, so that a
// newer panka's fields are not dropped: it was "upgrade panka" alone,
// and a hand-edited version had no way out the error named).
func futureHint(hint, by string) string {
	s := "; upgrade panka"
	if by != "" && len(by) <= 64 && !strings.ContainsFunc(by, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		s += fmt.Sprintf(" (it was written by panka %s)", by)
	}
	switch hint {
	case corruptStateHint:
		s += "; it was left as it is, and no panka command overwrites it (state push --force neither: the newer panka's fields would be lost); " +
			"if no newer panka wrote it (an edit by hand), replace it outside panka: restore its earlier version (a versioned bucket keeps them), " +
			"or delete it and push a good copy with `panka state push FILE`"
	case corruptHistoryHint:
		s += "; it was left as it is"
	case corruptPushHint:
		s += ", or push a state this panka pulled; nothing was written"
	}
	return s
}

// DecodeState parses a state.json read from where (bucket/key or file path,
// for errors) and checks that it belongs to key. Invalid JSON, a missing
// schema version or another stack/environment wrap ErrCorrupt, and so does
// a state without what every state panka writes holds (*DamagedError); a
// newer schema wraps ErrFutureSchema.
func DecodeState(data []byte, key Key, where string) (*State, error) {
	var st State
	if err := json.Unmarshal(data, &st); err != nil || isNull(data) {
		// Say why: not JSON, empty, null, or a newer format whose shape changed.
		if serr := checkSchema(data, "state", where, corruptStateHint); serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("state %s does not match the state format (%s): %w%s", where, describeJSON(data, err), ErrCorrupt, corruptStateHint)
	}
	by := ""
	if st.LastDeployment != nil {
		by = st.LastDeployment.PankaVersion
	}
	if err := checkVersion(st.SchemaVersion, "state", where, corruptStateHint, by); err != nil {
		return nil, err
	}
	if st.Stack != key.Stack || st.Environment != key.Environment {
		return nil, fmt.Errorf("state %s holds stack %q environment %q, not %s: %w%s", where, st.Stack, st.Environment, key, ErrCorrupt, corruptStateHint)
	}
	if st.Serial < 0 || st.Serial > MaxSerial {
		return nil, fmt.Errorf("state %s has serial %d, outside 0 to %d: %w%s", where, st.Serial, MaxSerial, ErrCorrupt, corruptStateHint)
	}
	if err := checkDamaged(&st, key, data, where); err != nil {
		return nil, err
	}
	return &st, nil
}

// EncodeState returns the stored form of st for key: indented JSON with a
// trailing newline. It fills SchemaVersion, Stack and Environment when unset
// (on a copy) and refuses a state that names another stack/environment.
func EncodeState(st *State, key Key) ([]byte, error) {
	if st == nil {
		return nil, fmt.Errorf("write state of %s: no state given", key)
	}
	c := *st
	if c.SchemaVersion == 0 {
		c.SchemaVersion = SchemaVersion
	}
	if c.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("write state of %s: schemaVersion %d is newer than this panka's %d: %w", key, c.SchemaVersion, SchemaVersion, ErrFutureSchema)
	}
	if c.Stack == "" {
		c.Stack = key.Stack
	}
	if c.Environment == "" {
		c.Environment = key.Environment
	}
	if c.Stack != key.Stack || c.Environment != key.Environment {
		return nil, fmt.Errorf("write state of %s: the state names stack %q environment %q: %w", key, c.Stack, c.Environment, ErrInvalidKey)
	}
	if c.Serial < 0 || c.Serial > MaxSerial {
		// What DecodeState would refuse is never written.
		return nil, fmt.Errorf("write state of %s: serial %d is outside 0 to %d", key, c.Serial, MaxSerial)
	}
	return marshal(&c)
}

// DecodeDeployment parses a history record read from where.
func DecodeDeployment(data []byte, key Key, where string) (*Deployment, error) {
	var d Deployment
	if err := json.Unmarshal(data, &d); err != nil || isNull(data) {
		if serr := checkSchema(data, "history record", where, corruptHistoryHint); serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("history record %s does not match the record format (%s): %w%s", where, describeJSON(data, err), errCorruptRecord, corruptHistoryHint)
	}
	if err := checkVersion(d.SchemaVersion, "history record", where, corruptHistoryHint, d.PankaVersion); err != nil {
		return nil, err
	}
	if d.Stack != key.Stack || d.Environment != key.Environment {
		return nil, fmt.Errorf("history record %s is for stack %q environment %q, not %s: %w%s", where, d.Stack, d.Environment, key, errCorruptRecord, corruptHistoryHint)
	}
	// The name's serial is what Deployment(serial), NewerHistory and the
	// listing order go by; a record that says another one (edited by hand,
	// copied under another name) was listed out of order, warned about as
	// "ahead of the state" at every apply, and not found by the serial it
	// showed.
	if named, ok := ParseHistoryName(where[strings.LastIndexAny(where, `/\`)+1:]); ok && named != d.Serial {
		return nil, fmt.Errorf("history record %s holds serial %d, but its name says serial %d: %w%s", where, d.Serial, named, errCorruptRecord, corruptHistoryHint)
	}
	return &d, nil
}

// NotARecord is the ErrCorrupt error of the history record named where that
// is no record file (a folder, a symbolic link in the local backend): what
// says what it is instead.
func NotARecord(where, what string) error {
	return fmt.Errorf("history record %s is %s, not a record file: %w%s", where, what, errCorruptRecord, corruptHistoryHint)
}

// serialMark is the content of the serial mark (Store.MarkSerial).
type serialMark struct {
	Serial int64 `json:"serial"`
}

// EncodeSerialMark returns the stored form of the serial mark n.
func EncodeSerialMark(n int64) ([]byte, error) { return marshal(&serialMark{Serial: n}) }

// DecodeSerialMark parses the serial mark read from where. One that does
// not parse is ErrCorrupt naming it: numbering a state without it could
// give a serial twice, and only removing it (at the cost of that
// guarantee) or putting back the serial it held mends it.
func DecodeSerialMark(data []byte, where string) (int64, error) {
	var m serialMark
	if err := json.Unmarshal(data, &m); err != nil || isNull(data) || m.Serial < 0 || m.Serial > MaxSerial {
		return 0, NotASerialMark(where, fmt.Sprintf(`not {"serial": N} with N from 0 to %d`, MaxSerial))
	}
	return m.Serial, nil
}

// NotASerialMark is the ErrCorrupt error of the serial mark at where that
// is what (not {"serial": N}, a directory) instead, with its repair.
func NotASerialMark(where, what string) error {
	return fmt.Errorf(`serial mark %s is %s: %w; it keeps the serials of state writes without a history record (state rm, state push, drift checks) from being given again: `+
		`write {"serial": N} there with N the highest serial the state had, or remove it`, where, what, ErrCorrupt)
}

// NotAState is the ErrCorrupt error of a state.json, read from where, that
// is no state file but a folder (what says what it holds) and so read as
// "no state": a restore into the wrong place. fix says how to put the
// state file in its place, for the backend. Get returns no version with
// it: state push --force cannot replace a folder, and panka deletes none.
func NotAState(where, what, fix string) error {
	return fmt.Errorf("state %s is %s, not a state file: %w; it was left as it is: %s, then re-run", where, what, ErrCorrupt, fix)
}

// EncodeDeployment returns the stored form of a history record, filling
// SchemaVersion, Stack and Environment on a copy when unset.
func EncodeDeployment(d *Deployment, key Key) ([]byte, error) {
	if d == nil {
		return nil, fmt.Errorf("append history of %s: no record given", key)
	}
	c := *d
	if c.SchemaVersion == 0 {
		c.SchemaVersion = SchemaVersion
	}
	if c.Stack == "" {
		c.Stack = key.Stack
	}
	if c.Environment == "" {
		c.Environment = key.Environment
	}
	if c.Stack != key.Stack || c.Environment != key.Environment {
		return nil, fmt.Errorf("append history of %s: the record names stack %q environment %q: %w", key, c.Stack, c.Environment, ErrInvalidKey)
	}
	return marshal(&c)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// CheckRemovable says whether stored, the history record read from where,
// is the record of d, so that RemoveHistory may delete it: nil when its ID
// is d.ID, an error wrapping ErrConflict when it is another deployment's,
// ErrCorrupt when it cannot be read as a record. Backends share it so they
// refuse the same things.
func CheckRemovable(stored []byte, key Key, d *Deployment, where string) error {
	if d == nil || d.ID == "" {
		return fmt.Errorf("remove history record %s: the record to remove has no ID", where)
	}
	got, err := DecodeDeployment(stored, key, where)
	if err != nil {
		return fmt.Errorf("remove history record %s: left in place: %w", where, err)
	}
	if got.ID != d.ID {
		return fmt.Errorf("remove history record %s: it is the record of deployment %s, not %s; left in place: %w", where, got.ID, d.ID, ErrConflict)
	}
	return nil
}
