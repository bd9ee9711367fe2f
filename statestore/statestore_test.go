package statestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
	"panka.dev/panka/statestore/storetest"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true}, {"a", true}, {"user-platform", true}, {"0day", true}, {"a-", true},
		{"", false}, {"..", false}, {".", false}, {"a/b", false}, {"A", false}, {"-a", false},
		{"a_b", false}, {"a.b", false}, {"a b", false}, {"a\\b", false}, {strings.Repeat("a", 129), false},
	} {
		err := statestore.ValidateName("stack", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, statestore.ErrInvalidKey) {
			t.Errorf("ValidateName(%q) error %v does not wrap ErrInvalidKey", tc.name, err)
		}
	}
}

func TestNormalizePrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true}, {"/", "", true}, {"team-a", "team-a/", true}, {"team-a/", "team-a/", true},
		{"/teams/identity/", "teams/identity/", true}, {"a//b", "", false}, {"a/../b", "", false},
		{"..", "", false}, {"./a", "", false}, {"a\\b", "", false},
	} {
		got, err := statestore.NormalizePrefix(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizePrefix(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLayout(t *testing.T) {
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	if got := statestore.StatePath("team-a/", k); got != "team-a/stacks/orders/dev/state.json" {
		t.Errorf("StatePath = %q", got)
	}
	if got := statestore.HistoryPrefix("", k); got != "stacks/orders/dev/history/" {
		t.Errorf("HistoryPrefix = %q", got)
	}
	if got := statestore.PulumiPrefix("", k); got != "stacks/orders/dev/pulumi/" {
		t.Errorf("PulumiPrefix = %q", got)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600))
	name, err := statestore.HistoryName(&statestore.Deployment{Serial: 42, StartedAt: at})
	if err != nil || name != "20260304T040607.000000008Z-000000000042.json" {
		t.Fatalf("HistoryName = %q, %v", name, err)
	}
	if n, ok := statestore.ParseHistoryName(name); !ok || n != 42 {
		t.Errorf("ParseHistoryName(%q) = %d, %v", name, n, ok)
	}
	for _, bad := range []string{"x.json", "20260304T040607.000000008Z-42", "20260304T040607Z-000000000042.json", "20260304T040607.000000008Z--1.json", ".tmp-123"} {
		if _, ok := statestore.ParseHistoryName(bad); ok {
			t.Errorf("ParseHistoryName(%q) accepted", bad)
		}
	}
	// Lexical order of names is time order, across digits that roll over.
	a, _ := statestore.HistoryName(&statestore.Deployment{Serial: 9, StartedAt: time.Date(2026, 1, 1, 9, 59, 59, 999999999, time.UTC)})
	b, _ := statestore.HistoryName(&statestore.Deployment{Serial: 10, StartedAt: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)})
	if !(a < b) {
		t.Errorf("%q sorts after %q", a, b)
	}
	if _, err := statestore.HistoryName(&statestore.Deployment{Serial: 1}); err == nil {
		t.Error("HistoryName without times succeeded")
	}
	for path, want := range map[string]string{
		"p/stacks/orders/dev/state.json":          "orders/dev",
		"p/stacks/orders/dev/history/x.json":      "",
		"p/stacks/orders/dev/pulumi/state.json":   "",
		"stacks/orders/dev/state.json":            "",
		"p/stacks/Orders/dev/state.json":          "",
		"p/stacks/orders/dev/extra/../state.json": "",
	} {
		k, ok := statestore.ParseStatePath("p/", path)
		got := ""
		if ok {
			got = k.String()
		}
		if got != want {
			t.Errorf("ParseStatePath(%q) = %q, want %q", path, got, want)
		}
	}
	for _, tc := range []struct{ n, off, lim, lo, hi int }{
		{10, 0, 0, 0, 10}, {10, 3, 4, 3, 7}, {10, 8, 5, 8, 10}, {10, 20, 5, 10, 10}, {10, -1, 2, 0, 2}, {0, 0, 0, 0, 0},
		// A huge limit (history --offset 1 --limit 9223372036854775807)
		// wrapped lo+limit around to a negative bound: History panicked.
		{10, 1, math.MaxInt, 1, 10}, {10, math.MaxInt, math.MaxInt, 10, 10}, {0, 1, math.MaxInt, 0, 0},
	} {
		if lo, hi := statestore.Page(tc.n, tc.off, tc.lim); lo != tc.lo || hi != tc.hi {
			t.Errorf("Page(%d,%d,%d) = %d,%d; want %d,%d", tc.n, tc.off, tc.lim, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestCodec(t *testing.T) {
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	for _, tc := range []struct {
		name, data string
		want       error
	}{
		{"ok", `{"schemaVersion":1,"stack":"orders","environment":"dev","serial":3,"status":"deployed"}`, nil},
		{"unknown fields are kept compatible", `{"schemaVersion":1,"stack":"orders","environment":"dev","serial":1,"status":"failed","newThing":true}`, nil},
		{"empty", ``, statestore.ErrCorrupt},
		{"whitespace", " \n", statestore.ErrCorrupt},
		{"not json", `<html>`, statestore.ErrCorrupt},
		{"truncated", `{"schemaVersion":1,"stack":"ord`, statestore.ErrCorrupt},
		{"no schema", `{"stack":"orders","environment":"dev"}`, statestore.ErrCorrupt},
		{"schema zero", `{"schemaVersion":0,"stack":"orders","environment":"dev"}`, statestore.ErrCorrupt},
		{"wrong key", `{"schemaVersion":1,"stack":"billing","environment":"dev"}`, statestore.ErrCorrupt},
		{"future", `{"schemaVersion":2,"stack":"orders","environment":"dev"}`, statestore.ErrFutureSchema},
		{"future with a changed shape", `{"schemaVersion":2,"serial":"x","stack":["orders"]}`, statestore.ErrFutureSchema},
		{"array", `[1,2]`, statestore.ErrCorrupt},
		{"negative serial", `{"schemaVersion":1,"stack":"orders","environment":"dev","serial":-3}`, statestore.ErrCorrupt},
		{"serial past the history names' 12 digits", `{"schemaVersion":1,"stack":"orders","environment":"dev","serial":1000000000000}`, statestore.ErrCorrupt},
		{"highest serial", `{"schemaVersion":1,"stack":"orders","environment":"dev","serial":999999999999,"status":"destroyed"}`, nil},
	} {
		_, err := statestore.DecodeState([]byte(tc.data), k, "WHERE")
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: DecodeState error %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "WHERE") {
			t.Errorf("%s: error %q does not say where", tc.name, err)
		}
	}
}

// TestEncodeStateSerialRange: a state DecodeState would refuse for its
// serial (see MaxSerial) is never written.
func TestEncodeStateSerialRange(t *testing.T) {
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	for serial, ok := range map[int64]bool{0: true, statestore.MaxSerial: true, statestore.MaxSerial + 1: false, -1: false, math.MinInt64: false} {
		_, err := statestore.EncodeState(&statestore.State{Serial: serial}, k)
		if (err == nil) != ok {
			t.Errorf("EncodeState with serial %d: %v", serial, err)
		}
	}
}

func TestImportAndUpdate(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(local.Options{Dir: filepath.Join(t.TempDir(), ".panka")})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	now := func() time.Time { return time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC) }
	doc := func(stack string, serial int) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":1,"serial":%d,"stack":%q,"environment":"dev","status":"deployed"}`, serial, stack))
	}
	st, err := statestore.Import(ctx, s, k, doc("orders", 5), statestore.ImportOptions{Now: now})
	if err != nil || st.Serial != 6 || !st.UpdatedAt.Equal(now()) {
		t.Fatalf("first import: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		force bool
		want  int64 // 0: refused
	}{
		{"older", doc("orders", 4), false, 0},
		{"same as stored", doc("orders", 6), false, 7},
		{"newer", doc("orders", 10), false, 11},
		{"older forced", doc("orders", 1), true, 12},
		{"other stack", doc("billing", 50), false, 0},
		{"other stack forced", doc("billing", 50), true, 51},
		// A document that names no stack/environment is the key's (state
		// push -s S -e E): it needed --force.
		{"no stack", doc("", 51), false, 52},
		{"no stack or environment", []byte(`{"schemaVersion":1,"serial":52,"status":"deployed"}`), false, 53},
		{"not json", []byte("nope"), true, 0},
		{"future", []byte(`{"schemaVersion":9,"stack":"orders","environment":"dev"}`), true, 0},
		// A serial the next write would take past MaxSerial, or a negative
		// one: the int64 wrapped around and state push wrote serial
		// -9223372036854775808, after which every apply ran the engine and
		// failed to record it ("negative serial").
		{"serial that overflows", doc("orders", math.MaxInt64), true, 0},
		{"serial past the history names' digits", doc("orders", int(statestore.MaxSerial)), true, 0},
		{"negative serial", doc("orders", -7), true, 0},
	} {
		before, _, _ := s.Get(ctx, k)
		st, err := statestore.Import(ctx, s, k, tc.data, statestore.ImportOptions{Force: tc.force, Now: now, Source: "FILE"})
		after, _, _ := s.Get(ctx, k)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("%s: import succeeded, want refused", tc.name)
			} else if !strings.Contains(err.Error(), "FILE") {
				t.Errorf("%s: error %q does not name the file", tc.name, err)
			}
			if after.Serial != before.Serial {
				t.Errorf("%s: refused import changed the state", tc.name)
			}
			continue
		}
		if err != nil || st.Serial != tc.want || after.Serial != tc.want || after.Stack != "orders" || after.Environment != "dev" {
			t.Errorf("%s: import gave %v (stored %+v), %v; want serial %d", tc.name, st, after, err, tc.want)
		}
	}
	st, _, err = statestore.Update(ctx, s, k, now, func(st *statestore.State) error { st.Status = statestore.StatusFailed; return nil })
	if err != nil || st.Serial != 54 || st.Status != statestore.StatusFailed {
		t.Fatalf("Update: %+v, %v", st, err)
	}
	boom := errors.New("boom")
	if _, _, err := statestore.Update(ctx, s, k, now, func(*statestore.State) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update with a failing fn: %v", err)
	}
	if _, _, err := statestore.Update(ctx, s, statestore.Key{Stack: "none", Environment: "dev"}, now, func(*statestore.State) error { return nil }); !errors.Is(err, statestore.ErrNotFound) {
		t.Fatalf("Update of missing state: %v", err)
	}
	data, err := statestore.Export(ctx, s, k)
	if err != nil || !strings.Contains(string(data), `"serial": 54`) {
		t.Fatalf("Export: %s, %v", data, err)
	}
}

// TestImportForceReplacesCorruptState: a corrupt state.json is refused by
// every write except the repair its error suggests (state push --force),
// which goes on from the newest history serial, since the corrupt state's
// own serial cannot be read.
func TestImportForceReplacesCorruptState(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocalStore(t)
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	if err := s.AppendHistory(ctx, k, &statestore.Deployment{Serial: 8, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state", filepath.FromSlash(statestore.StatePath("", k)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"schemaVersion":1,"serial":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	good := []byte(`{"schemaVersion":1,"serial":3,"stack":"orders","environment":"dev","status":"deployed"}`)
	_, err := statestore.Import(ctx, s, k, good, statestore.ImportOptions{Source: "FILE"})
	if !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), "push --force") {
		t.Fatalf("push over a corrupt state without --force: %v, want ErrCorrupt naming the repair", err)
	}
	st, err := statestore.Import(ctx, s, k, good, statestore.ImportOptions{Source: "FILE", Force: true})
	if err != nil || st.Serial != 9 {
		t.Fatalf("push --force over a corrupt state: %+v, %v; want serial 9 (after history's 8)", st, err)
	}
	if got, _, err := s.Get(ctx, k); err != nil || got.Serial != 9 || got.Status != statestore.StatusDeployed {
		t.Fatalf("state after the repair: %+v, %v", got, err)
	}
	// The newest record damaged too (a truncated file): its name still
	// says serial 10, and the repaired state follows it. It took the
	// document's serial, behind the history, and the next apply refused
	// to run past the record it could not read.
	name, err := statestore.HistoryName(&statestore.Deployment{Serial: 10, StartedAt: time.Date(2026, 5, 6, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "state", filepath.FromSlash(statestore.HistoryPrefix("", k)), name)
	if err := os.WriteFile(rec, []byte(`{"schemaVersion":1,"ser`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"schemaVersion":1,"serial":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = statestore.Import(ctx, s, k, good, statestore.ImportOptions{Source: "FILE", Force: true})
	if err != nil || st.Serial != 11 {
		t.Fatalf("push --force over a corrupt state, the newest record corrupt: %+v, %v; want serial 11 (after the record named 10)", st, err)
	}
}

// TestImportRestoresLostState: state.json deleted or lost while history is
// not (the restore apply and destroy ask for: state push FILE) goes on
// from the newest history serial. It took the pushed document's serial + 1,
// behind the deployments its history records: the next apply then warned of
// a run killed before recording its state, and status showed an old serial.
func TestImportRestoresLostState(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(local.Options{Dir: filepath.Join(t.TempDir(), ".panka")})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	if err := s.AppendHistory(ctx, k, &statestore.Deployment{Serial: 8, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		serial int
		want   int64
	}{{"older than history", 3, 9}, {"newer than history", 12, 13}} {
		doc := []byte(fmt.Sprintf(`{"schemaVersion":1,"serial":%d,"stack":"orders","environment":"dev","status":"deployed"}`, tc.serial))
		st, err := statestore.Import(ctx, s, k, doc, statestore.ImportOptions{Source: "FILE"})
		if err != nil || st.Serial != tc.want {
			t.Fatalf("%s: push with no state: %+v, %v; want serial %d", tc.name, st, err, tc.want)
		}
		if got, v, err := s.Get(ctx, k); err != nil || got.Serial != tc.want {
			t.Fatalf("%s: stored %+v, %v", tc.name, got, err)
		} else if err := s.Delete(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkCodec200 separates JSON cost from backend I/O: encode and decode
// of a 200-component state.
func BenchmarkCodec200(b *testing.B) {
	k := statestore.Key{Stack: "bench", Environment: "dev"}
	st := storetest.BigState(k, 200)
	data, err := statestore.EncodeState(st, k)
	if err != nil {
		b.Fatal(err)
	}
	var enc, dec time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := statestore.EncodeState(st, k); err != nil {
			b.Fatal(err)
		}
		enc += time.Since(t0)
		t0 = time.Now()
		if _, err := statestore.DecodeState(data, k, "x"); err != nil {
			b.Fatal(err)
		}
		dec += time.Since(t0)
	}
	b.ReportMetric(float64(enc.Microseconds())/1000/float64(b.N), "encode-ms")
	b.ReportMetric(float64(dec.Microseconds())/1000/float64(b.N), "decode-ms")
	b.ReportMetric(float64(len(data))/1024, "state-KB")
}

// TestCodecSaysWhatIsWrong: a state.json or history record edited by hand
// into something panka cannot read is described in the document's terms
// (line, column, field, JSON type), never encoding/json's Go types, and
// ends with the repair.
func TestCodecSaysWhatIsWrong(t *testing.T) {
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"string serial", "{\n  \"schemaVersion\": 1,\n  \"serial\": \"one\",\n  \"stack\": \"orders\",\n  \"environment\": \"dev\"\n}",
			[]string{"does not match the state format (line 3: serial is a string, want a whole number)", "push --force"}},
		{"nested field", `{"schemaVersion":1,"stack":"orders","environment":"dev","lastDeployment":{"dirty":"yes"}}`,
			[]string{"(line 1: lastDeployment.dirty is a string, want true or false)"}},
		{"array", `[1,2]`, []string{"is not a JSON object (it holds an array)", "push --force"}},
		{"string", `"state"`, []string{"is not a JSON object (it holds a string)"}},
		// jq .field > state.json of a field that is not there; it read as
		// "has no valid schemaVersion".
		{"null", "null\n", []string{"state WHERE is not a JSON object (it holds null, as jq prints for a field that is not there): corrupt state", "push --force"}},
		{"syntax", "{\n  \"schemaVersion\": 1,,\n}", []string{"is not valid JSON (line 2, column 22: invalid character ','", "push --force"}},
		{"truncated", "{\n  \"schemaVersion\": 1,\n  \"stack\": \"ord", []string{"is not valid JSON (it ends at line 3, column 15 in the middle of a value: truncated)"}},
		{"string schema", `{"schemaVersion":"1","stack":"orders","environment":"dev"}`,
			[]string{"has no valid schemaVersion (line 1: schemaVersion is a string, want a whole number)", "push --force"}},
		{"schema zero", `{"schemaVersion":0,"stack":"orders","environment":"dev"}`, []string{"has no valid schemaVersion: corrupt state; it was left as it is: restore"}},
		{"utf-16", "\xff\xfe{\x00}\x00", []string{"is UTF-16 text, not UTF-8 JSON (Windows PowerShell 5.1's > and Out-File write UTF-16"}},
		{"truncated in a string, newline after", "{\n  \"schemaVersion\": 1,\n  \"stack\": \"ord\n",
			[]string{"is not valid JSON (it ends at line 3, column 15 in the middle of a value: truncated)"}},
		{"zero bytes", "\x00\x00\x00\x00", []string{"is damaged: it holds zero bytes from line 1, column 1 on (4 of its 4 bytes), as a crash or a disk problem leaves a file: corrupt state"}},
		{"zero bytes after JSON", "{\n  \"schemaVersion\": 1,\n\x00\x00", []string{"is damaged: it holds zero bytes from line 3, column 1 on (2 of its 26 bytes)"}},
	} {
		_, err := statestore.DecodeState([]byte(tc.data), k, "WHERE")
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q\ndoes not contain %q", tc.name, err, w)
			}
		}
		for _, goText := range []string{"Go struct", "Go value", "statestore.", "int64", "json: "} {
			if strings.Contains(err.Error(), goText) {
				t.Errorf("%s: error %q names Go internals (%q)", tc.name, err, goText)
			}
		}
		if n := strings.Count(err.Error(), "it was left as it is"); n != 1 {
			t.Errorf("%s: error %q says %d times that it was left as it is", tc.name, err, n)
		}
	}
	_, err := statestore.DecodeDeployment([]byte(`{"schemaVersion":1,"serial":"2","stack":"orders","environment":"dev"}`), k, "REC")
	if err == nil || !strings.Contains(err.Error(), "history record REC does not match the record format (line 1: serial is a string, want a whole number)") {
		t.Errorf("history record with a string serial: %v", err)
	}
	// A record copied from another stack/environment's history is read by
	// every history listing: the error says how to get it out of the way.
	_, err = statestore.DecodeDeployment([]byte(`{"schemaVersion":1,"serial":2,"stack":"orders","environment":"prod"}`), k, "REC")
	if err == nil || !strings.Contains(err.Error(), `history record REC is for stack "orders" environment "prod", not orders/dev`) ||
		!strings.Contains(err.Error(), "move it out of the history") {
		t.Errorf("history record of another environment: %v", err)
	}
	// A broken record is a corrupt history record, not "corrupt state"
	// (whose repair, state push, does not mend it); still ErrCorrupt.
	for _, data := range []string{`{garbage`, ``, `{"schemaVersion":0}`, `[1]`, `null`} {
		_, err = statestore.DecodeDeployment([]byte(data), k, "REC")
		if !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), ": corrupt history record; it was left as it is") ||
			strings.Contains(err.Error(), "corrupt state") || !strings.Contains(err.Error(), "docs/state.md") {
			t.Errorf("history record %q: %v, want ErrCorrupt saying corrupt history record and where the repair is", data, err)
		}
	}
}

// TestNewestFrom: the newest records of a listing that starts at from are
// the newest of the whole history only when the last one needed is named
// at least HistoryPageSkew after from; otherwise (or with too few) the
// whole history must be listed.
func TestNewestFrom(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	name := func(at time.Time, serial int64) string {
		n, err := statestore.HistoryName(&statestore.Deployment{Serial: serial, StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return "p/history/" + n
	}
	day := 24 * time.Hour
	names := []string{
		name(from.Add(20*day), 10), name(from.Add(9*day), 12), // 12: a clock days behind
		name(from.Add(21*day), 11), name(from.Add(8*day), 9), name(from.Add(time.Hour), 8),
	}
	got, ok := statestore.NewestFrom(names, from, 3)
	if want := []string{names[1], names[2], names[0]}; !ok || !slices.Equal(got, want) {
		t.Errorf("NewestFrom(3) = %v, %v; want %v, true", got, ok, want)
	}
	if got, ok := statestore.NewestFrom(names, from, 4); !ok || got[3] != names[3] {
		t.Errorf("NewestFrom(4) = %v, %v; want serial 9 last", got, ok)
	}
	// The fifth is named within HistoryPageSkew of from: an older listing
	// might hold a newer record.
	if _, ok := statestore.NewestFrom(names, from, 5); ok {
		t.Error("NewestFrom(5) trusted a record named within HistoryPageSkew of from")
	}
	if _, ok := statestore.NewestFrom(names, from, 6); ok {
		t.Error("NewestFrom(6) of 5 names said they are the 6 newest")
	}
}

// TestPlanBasis: a drift check that finds what the last one found, or a
// new serial and write time, leave the digest as it is; what a plan reads
// (the deployed spec, the last deployment, drift found) changes it.
func TestPlanBasis(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := func() *statestore.State {
		return &statestore.State{Serial: 4, Stack: "shop", Environment: "dev", Status: statestore.StatusDeployed,
			LastDeployment: &statestore.Deployment{ID: "d4", Serial: 4, Commit: "c4"},
			Spec:           json.RawMessage(`{"components":{"web":{"replicas":1}}}`), UpdatedAt: at}
	}
	want := base().PlanBasis()
	if want == "" || (*statestore.State)(nil).PlanBasis() != "" {
		t.Fatalf("PlanBasis of a state %q, of none %q", want, (*statestore.State)(nil).PlanBasis())
	}
	tests := []struct {
		name   string
		change func(*statestore.State)
		same   bool
	}{
		{"serial and write time", func(s *statestore.State) { s.Serial, s.UpdatedAt = 5, at.Add(time.Hour) }, true},
		{"drift check finding none", func(s *statestore.State) {
			s.Serial, s.LastDriftCheck = 5, &statestore.DriftCheck{At: at}
		}, true},
		{"drift check finding drift", func(s *statestore.State) {
			s.Serial, s.LastDriftCheck = 5, &statestore.DriftCheck{At: at, Drifted: []string{"web"}}
		}, false},
		{"deployed spec", func(s *statestore.State) { s.Spec = json.RawMessage(`{"components":{}}`) }, false},
		{"last deployment", func(s *statestore.State) { s.LastDeployment = &statestore.Deployment{ID: "d5", Serial: 5} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.change(s)
			if got := s.PlanBasis(); (got == want) != tt.same {
				t.Errorf("PlanBasis after a change of %s: same = %v, want %v", tt.name, got == want, tt.same)
			}
		})
	}
	// One drift check after another that found the same: the same basis.
	a, b := base(), base()
	a.LastDriftCheck = &statestore.DriftCheck{At: at}
	b.Serial, b.LastDriftCheck = 6, &statestore.DriftCheck{At: at.Add(time.Hour)}
	if a.PlanBasis() != b.PlanBasis() {
		t.Error("a second drift check that found no drift changed the basis")
	}
	b.LastDriftCheck.Drifted = []string{"web"}
	if a.PlanBasis() == b.PlanBasis() {
		t.Error("a drift check that found drift left the basis as it was")
	}
}

// TestDamagedState: a state.json that is valid JSON but lost (by a hand
// edit) what every state panka writes holds. Without "serial" it read as
// serial 0, and plan said "nothing deployed yet"; without "spec" every
// component planned as new while its resources and outputs said
// otherwise; without "status" status printed a blank and a destroyed
// deployment read as live. Each is ErrCorrupt naming the file, the field
// and the repair; Export prints it as stored for that repair, and Import
// takes the repaired copy (numbered after the history, serial or not) but
// not a copy as damaged.
func TestDamagedState(t *testing.T) {
	ctx := context.Background()
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	started := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	last := fmt.Sprintf(`{"schemaVersion":1,"id":"d7","serial":7,"stack":"orders","environment":"dev","operation":"apply","commit":"%s","startedAt":"2026-05-06T07:00:00Z","endedAt":"2026-05-06T07:01:00Z","result":"succeeded"}`, strings.Repeat("a", 40))
	spec := `{"stack":"orders","environment":"dev","components":[{"name":"api","kind":"Queue","spec":{}}]}`
	doc := func(fields ...string) string {
		return `{"schemaVersion":1,"stack":"orders","environment":"dev"` + strings.Join(append([]string{""}, fields...), ",") + `}`
	}
	serial, status := `"serial":7`, `"status":"deployed"`
	lastDep, comps, outs := `"lastDeployment":`+last, `"resources":{"components":1,"resources":1}`, `"outputs":{"api":{"url":"u"}}`
	for _, tc := range []struct {
		name, data string
		want       []string // in the error; none: not damaged
	}{
		{"whole", doc(serial, status, lastDep, `"spec":`+spec, comps, outs), nil},
		{"destroyed: no spec, nothing deployed", doc(serial, `"status":"destroyed"`, `"resources":{"components":0,"resources":0}`), nil},
		{"first deployment failed: no spec", doc(`"serial":1`, `"status":"failed"`), nil},
		{"serial removed", doc(status, lastDep, `"spec":`+spec, comps), []string{`it has no "serial"`, "it needs no serial: the push numbers it after every serial used (history records, serial.json)"}},
		{"serial zero", doc(`"serial":0`, status, `"spec":`+spec, comps), []string{`its "serial" is 0 (panka numbers states from 1)`}},
		{"serial null", doc(`"serial":null`, status, `"spec":`+spec, comps), []string{`it has no "serial"`}},
		{"status removed", doc(serial, lastDep, `"spec":`+spec, comps), []string{`it has no "status"`, `set "status" to "deployed" (what its last deployment, serial 7, left)`}},
		{"status unknown", doc(serial, `"status":"live"`, `"spec":`+spec, comps), []string{`its "status" is "live", not one of deployed, failed, destroyed`, `set "status" to "deployed", "failed" or "destroyed"`}},
		{"spec removed", doc(serial, status, lastDep, comps, outs), []string{
			`it records 1 components (resources.components) deployed but has no "spec" (the deployed model), so a plan against it would create every component again`,
			`put back "spec" from the history record of serial 7 (DIR/history/20260506T070000.000000000Z-000000000007.json), which holds the spec that deployment applied`}},
		{"spec emptied", doc(serial, status, lastDep, `"spec":{}`, comps), []string{
			`its "spec" holds no components while it records 1 deployed (resources.components), so a plan against it would create every component again`,
			`put back "spec" from the history record of serial 7 (DIR/history/20260506T070000.000000000Z-000000000007.json)`}},
		{"spec cut short of what it counts", doc(serial, status, lastDep, `"spec":`+spec, `"resources":{"components":3,"resources":3,"byKind":{"Queue":3}}`), []string{
			`its "spec" lists 1 components while it records 3 deployed (resources.components), so a plan against it would create the 2 missing from "spec" again`,
			`put back "spec" from the history record of serial 7 (DIR/history/20260506T070000.000000000Z-000000000007.json)`,
			`or, if components were taken out of "spec" on purpose, set "resources.components" to 1 and "resources.byKind" to match`}},
		{"spec listing more than it counts", doc(serial, status, lastDep, `"spec":{"components":[{"name":"a"},{"name":"b"}]}`, comps), []string{
			`its "spec" lists 2 components while it records 1 deployed (resources.components), so a plan against it would take components never recorded as deployed for deployed ones`}},
		{"components null", doc(serial, status, lastDep, `"spec":{"components":null}`, comps), []string{`its "spec" holds no components while it records 1 deployed`}},
		// Keys as encoding/json (and so the planner) reads them: in any
		// case, escaped, the last of two; values that only look like
		// lists of components are not counted (the spec is counted in a
		// scan of its bytes, not decoded a second time).
		{"key in another case", doc(serial, status, `"spec":{"Components":[]}`, comps), []string{`its "spec" holds no components`}},
		{"escaped key", doc(serial, status, `"spec":{"\u0063omponents":[ ]}`, comps), []string{`its "spec" holds no components`}},
		{"the last of two keys", doc(serial, status, `"spec":{"components":[{}],"components":[]}`, comps), []string{`its "spec" holds no components`}},
		{"brackets and quotes in values", doc(serial, status, `"spec" : { "x" : "components", "y":[{"components":[1,2,3]}], "components" : [ {"s":"a\"],[{b"} , {"t":[[],{}]} ] , "z": -1.5e3 }`, `"resources":{"components":2}`), nil},
		{"escaped key counted", doc(serial, status, `"spec":{"\u0063omponents":[{}, {}]}`, comps), []string{`its "spec" lists 2 components while it records 1`}},
		{"the last of two keys counted", doc(serial, status, `"spec":{"components":[{},{}],"components":[{"a":"]"}]}`, comps), nil},
		{"components not a list: the planner's to say", doc(serial, status, `"spec":{"components":{"a":1}}`, comps), nil},
		{"spec of no components, none counted", doc(serial, status, lastDep, `"spec":{"components":[]}`, `"resources":{"components":0,"resources":0}`), nil},
		{"spec not a model: the planner's to say", doc(serial, status, `"spec":"x"`, comps), nil},
		{"spec null, outputs left", doc(serial, status, `"spec":null`, outs), []string{`it records outputs of 1 components deployed but has no "spec"`, "from the history record of its last successful deployment"}},
	} {
		_, err := statestore.DecodeState([]byte(tc.data), k, "DIR/state.json")
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v, want no error", tc.name, err)
			}
			continue
		}
		var de *statestore.DamagedError
		if !errors.Is(err, statestore.ErrCorrupt) || !errors.As(err, &de) {
			t.Errorf("%s: %v, want a DamagedError (ErrCorrupt)", tc.name, err)
			continue
		}
		for _, w := range append(tc.want, "state DIR/state.json is damaged: ", "restore an earlier version of it",
			"`panka state pull -s orders -e dev > state.json` prints it as stored", "then `panka state push --force state.json`") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not say %q:\n%v", tc.name, w, err)
			}
		}
	}

	// The repair end to end on the local backend: pull prints the damaged
	// state, the copy with "spec" put back pushes, and the store reads it.
	s, dir := newLocalStore(t)
	if err := s.AppendHistory(ctx, k, &statestore.Deployment{ID: "d7", Serial: 7, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: started, Spec: json.RawMessage(spec)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state", filepath.FromSlash(statestore.StatePath("", k)))
	if err := os.WriteFile(path, []byte(doc(status, lastDep, comps, outs)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, k); !strings.Contains(err.Error(), `it has no "serial"; it records 1 components`) ||
		!strings.Contains(err.Error(), filepath.Join(dir, "state", "stacks", "orders", "dev", "history", "20260506T070000.000000000Z-000000000007.json")) {
		t.Fatalf("Get of a state without serial and spec: %v, want both named and the record's path", err)
	}
	pulled, err := statestore.Export(ctx, s, k)
	var de *statestore.DamagedError
	if !errors.As(err, &de) || !strings.Contains(string(pulled), `"resources"`) {
		t.Fatalf("Export of a damaged state: %s, %v; want it as stored with its DamagedError", pulled, err)
	}
	_, err = statestore.Import(ctx, s, k, pulled, statestore.ImportOptions{Source: "FILE", Force: true})
	if !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), `state FILE is damaged: it records 1 components`) || !strings.Contains(err.Error(), "nothing was written: put back \"spec\"") {
		t.Fatalf("push of the state as damaged: %v, want it refused naming the spec", err)
	}
	var m map[string]any
	if err := json.Unmarshal(pulled, &m); err != nil {
		t.Fatal(err)
	}
	m["spec"] = json.RawMessage(spec)
	repaired, _ := json.Marshal(m)
	st, err := statestore.Import(ctx, s, k, repaired, statestore.ImportOptions{Source: "FILE", Force: true})
	if err != nil || st.Serial != 8 {
		t.Fatalf("push --force of the repaired copy: %+v, %v; want serial 8 (after history's 7)", st, err)
	}
	var compact bytes.Buffer
	if got, _, err := s.Get(ctx, k); err != nil || got.Serial != 8 || json.Compact(&compact, got.Spec) != nil || compact.String() != spec {
		t.Fatalf("state after the repair: %+v, %v", got, err)
	}
}

// TestImportSerialNeverRepeats: a pushed state is numbered after every
// serial the store shows was used: the stored state's (also when it is
// damaged but says its serial), the newest history record's (also when a
// record is ahead of a readable state: a run killed before its state
// write), and those the pushed document records for its deployments. A
// document that lost its serial, pushed over a damaged state at serial 2
// whose newest record is 1, got serial 2 again; one pushed over a state at
// 3 with a record 4 ahead got 4, the record's serial.
func TestImportSerialNeverRepeats(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocalStore(t)
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	at := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	record := func(serial int64) {
		t.Helper()
		if err := s.AppendHistory(ctx, k, &statestore.Deployment{ID: fmt.Sprint("d", serial), Serial: serial, Operation: statestore.OpApply,
			Result: statestore.ResultSucceeded, StartedAt: at.Add(time.Duration(serial) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "state", filepath.FromSlash(statestore.StatePath("", k)))
	write := func(doc string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noSerial := []byte(`{"schemaVersion":1,"stack":"orders","environment":"dev","status":"deployed"}`)

	// Serial 2 is a state rm after the apply of record 1; then "status"
	// was removed by hand. The stored serial is still readable.
	record(1)
	write(`{"schemaVersion":1,"serial":2,"stack":"orders","environment":"dev","lastDeployment":{"id":"d1","serial":1,"operation":"apply","result":"succeeded"}}`)
	if _, _, err := s.Get(ctx, k); !errors.Is(err, statestore.ErrCorrupt) {
		t.Fatalf("Get of a state without status: %v, want ErrCorrupt", err)
	}
	st, err := statestore.Import(ctx, s, k, noSerial, statestore.ImportOptions{Source: "FILE", Force: true})
	if err != nil || st.Serial != 3 {
		t.Fatalf("push --force over a damaged state at serial 2: %+v, %v; want serial 3, after the stored state's 2", st, err)
	}

	// A record ahead of the state (a run killed between its record and its
	// state write): the push is numbered after it.
	record(4)
	st, err = statestore.Import(ctx, s, k, []byte(`{"schemaVersion":1,"serial":3,"stack":"orders","environment":"dev","status":"deployed"}`), statestore.ImportOptions{Source: "FILE"})
	if err != nil || st.Serial != 5 {
		t.Fatalf("push over state 3 with record 4 ahead: %+v, %v; want serial 5, after the record", st, err)
	}

	// The document records a deployment later than anything here (a
	// state carried from another backend without its history, serial
	// removed): numbered after it.
	doc := []byte(`{"schemaVersion":1,"stack":"orders","environment":"dev","status":"deployed","lastDeployment":{"id":"x","serial":9,"operation":"apply","result":"succeeded"}}`)
	st, err = statestore.Import(ctx, s, k, doc, statestore.ImportOptions{Source: "FILE", Force: true})
	if err != nil || st.Serial != 10 {
		t.Fatalf("push of a document without serial recording deployment 9: %+v, %v; want serial 10", st, err)
	}
}

// TestImportSerialPastMax: a document that records a deployment serial
// the next state could not follow (see MaxSerial) is refused before
// anything is written, naming the document.
func TestImportSerialPastMax(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(local.Options{Dir: filepath.Join(t.TempDir(), ".panka")})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	doc := []byte(fmt.Sprintf(`{"schemaVersion":1,"serial":1,"stack":"orders","environment":"dev","status":"deployed","lastDeployment":{"id":"x","serial":%d}}`, statestore.MaxSerial))
	_, err = statestore.Import(ctx, s, k, doc, statestore.ImportOptions{Source: "FILE", Force: true})
	if !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), "state FILE would be stored as serial 1000000000000, past 999999999999") {
		t.Fatalf("push recording deployment serial MaxSerial: %v, want it refused", err)
	}
	if _, _, err := s.Get(ctx, k); !errors.Is(err, statestore.ErrNotFound) {
		t.Fatalf("after the refused push: %v, want no state", err)
	}
}

// TestUpdateAfterRecordAhead: a state rm or drift check over a state at
// serial 3 with a history record 4 ahead of it (a run killed between its
// record and its state write) took serial 4, the record's; it now takes 5.
// A LastWrite fn sets with serial 0 gets the serial written.
func TestUpdateAfterRecordAhead(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(local.Options{Dir: filepath.Join(t.TempDir(), ".panka")})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	now := func() time.Time { return time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC) }
	if _, err := s.Put(ctx, k, &statestore.State{Serial: 3, Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, k, &statestore.Deployment{ID: "d4", Serial: 4, Operation: statestore.OpApply, StartedAt: now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st, _, err := statestore.Update(ctx, s, k, now, func(st *statestore.State) error {
		st.LastWrite = &statestore.Write{Operation: statestore.WriteStateRm}
		return nil
	})
	if err != nil || st.Serial != 5 || st.LastWrite.Serial != 5 {
		t.Fatalf("Update over state 3 with record 4 ahead: %+v, %v; want serial 5, its LastWrite too", st, err)
	}
	if got, _, err := s.Get(ctx, k); err != nil || got.Serial != 5 || got.LastWrite == nil || got.LastWrite.Serial != 5 {
		t.Fatalf("stored: %+v, %v", got, err)
	}
}

// TestSerialOfAWriteWithoutRecordNeverRepeats: a drift check (Update)
// numbered the state past its newest history record; with state.json then
// lost, the next state push numbered after the record and gave the drift
// check's serial again (a plan saved against that serial then matched a
// different state). The serial mark beside state.json keeps it: the push
// numbers after it, as does the next Update over a state restored to an
// earlier version.
func TestSerialOfAWriteWithoutRecordNeverRepeats(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocalStore(t)
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	at := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return at }
	d1 := &statestore.Deployment{ID: "d1", Serial: 1, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: at.Add(-time.Hour)}
	if err := s.AppendHistory(ctx, k, d1); err != nil {
		t.Fatal(err)
	}
	st1 := &statestore.State{Serial: 1, Status: statestore.StatusDeployed, LastDeployment: d1, LastSuccessful: d1}
	if _, err := s.Put(ctx, k, st1, ""); err != nil {
		t.Fatal(err)
	}
	pulled, err := statestore.Export(ctx, s, k)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.MarkedSerial(ctx, k); err != nil || n != 0 {
		t.Fatalf("MarkedSerial before any write without a record: %d, %v; want 0", n, err)
	}
	// Two drift checks: serials 2 and 3, no record.
	for want := int64(2); want <= 3; want++ {
		st, _, err := statestore.Update(ctx, s, k, now, func(st *statestore.State) error {
			st.LastDriftCheck = &statestore.DriftCheck{At: at}
			return nil
		})
		if err != nil || st.Serial != want {
			t.Fatalf("drift check record: %+v, %v; want serial %d", st, err, want)
		}
	}
	if n, err := s.MarkedSerial(ctx, k); err != nil || n != 3 {
		t.Fatalf("MarkedSerial after the drift checks: %d, %v; want 3", n, err)
	}
	// state.json lost; the copy pulled at serial 1 pushed back.
	path := filepath.Join(dir, "state", filepath.FromSlash(statestore.StatePath("", k)))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	st, err := statestore.Import(ctx, s, k, pulled, statestore.ImportOptions{Source: "FILE", Force: true, Now: now})
	if err != nil || st.Serial != 4 {
		t.Fatalf("push after the state was lost: %+v, %v; want serial 4, after the drift checks' 3 (not 2 again)", st, err)
	}
	// Restored to an earlier version (serial 1) by hand: a drift check
	// numbers after the mark (4), not after the state.
	if err := os.WriteFile(path, mustEncode(t, st1, k), 0o600); err != nil {
		t.Fatal(err)
	}
	st, _, err = statestore.Update(ctx, s, k, now, func(*statestore.State) error { return nil })
	if err != nil || st.Serial != 5 {
		t.Fatalf("drift check over a state restored to serial 1: %+v, %v; want serial 5", st, err)
	}
	// A mark that does not parse is an error naming it, and nothing is written.
	mark := filepath.Join(dir, "state", filepath.FromSlash(statestore.SerialPath("", k)))
	if err := os.WriteFile(mark, []byte("five"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = statestore.Update(ctx, s, k, now, func(*statestore.State) error { return nil })
	if !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), "serial mark "+mark+` is not {"serial": N}`) || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("Update with a damaged serial mark: %v; want ErrCorrupt naming it", err)
	}
	if got, _, err := s.Get(ctx, k); err != nil || got.Serial != 5 {
		t.Fatalf("state after the refused Update: %+v, %v; want serial 5 still", got, err)
	}
	// A directory in its place (a copy into the wrong place) is said as
	// such, with the repair, not as "read ...: is a directory".
	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mark, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = s.MarkedSerial(ctx, k)
	if !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), "serial mark "+mark+" is a directory, not a file") || !strings.Contains(err.Error(), `write {"serial": N} there`) {
		t.Fatalf("MarkedSerial with a directory in its place: %v; want ErrCorrupt naming it and the repair", err)
	}
}

func mustEncode(t *testing.T, st *statestore.State, k statestore.Key) []byte {
	t.Helper()
	b, err := statestore.EncodeState(st, k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newLocalStore is a local store in a fresh <tmp>/.panka, and that folder.
func newLocalStore(t *testing.T) (*local.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".panka")
	s, err := local.New(local.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}
