package planner

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/stacks"
)

func TestSavedRoundTripAndCheck(t *testing.T) {
	desired := base()
	desired.Variables = []stacks.ResolvedVar{
		{Name: "IMAGE_TAG", Value: "1.4.2", Source: "flag"},
		{Name: "DB_PASSWORD", Value: stacks.Sensitive{Clear: "hunter2", Hash: "sensitive:hmac-sha256:1111"}, Source: "env", Secret: true},
		{Name: "LOG_LEVEL", Value: "info", Source: "environment"},
	}
	p := Plan(desired, nil, Options{Header: Header{Desired: Desired{Source: "worktree", Commit: "8c1f0e2d4b6a8c1f0e2d4b6a8c1f0e2d4b6a8c1f"}}})
	vars := RecordVars(desired, nil)
	wantVars := map[string]string{"IMAGE_TAG": "1.4.2", "DB_PASSWORD": "sensitive:hmac-sha256:1111"}
	if !reflect.DeepEqual(vars, wantVars) {
		t.Errorf("RecordVars = %v, want %v", vars, wantVars)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if err := NewSaved(p, desired, vars, now, "test").Write(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "hunter2") {
		t.Fatal("saved plan holds a clear secret")
	}
	s, err := LoadSaved(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.StateSerial != 0 || s.DesiredHash != desired.Hash() || s.Commit != "8c1f0e2d4b6a8c1f0e2d4b6a8c1f0e2d4b6a8c1f" || !s.CreatedAt.Equal(now) {
		t.Errorf("saved = serial %d hash %s commit %s at %v", s.StateSerial, s.DesiredHash, s.Commit, s.CreatedAt)
	}
	vals, secrets := s.VarValues()
	if vals.Flags["IMAGE_TAG"] != "1.4.2" || len(vals.Env) != 0 || len(secrets) != 1 || secrets[0] != "DB_PASSWORD" {
		t.Errorf("VarValues = %+v, secrets %v", vals, secrets)
	}
	m, err := s.DesiredModel()
	if err != nil {
		t.Fatal(err)
	}
	// The decoded model plans as a no-op against the original.
	if again := Plan(desired, m, Options{}); again.HasChanges() {
		t.Errorf("decoded saved model differs from desired: %+v", again.Summary)
	}

	tests := []struct {
		name string
		// savedBasis is the state's PlanBasis when planned ("": a plan
		// of an older panka), basis the one now.
		savedBasis, basis string
		serial            int64
		hash              string
		want              string
	}{
		{"fresh", "b1", "b1", 0, desired.Hash(), ""},
		{"state moved on", "b1", "b2", 3, desired.Hash(), "planned against state serial 0, state is now at serial 3"},
		{"only a drift check since", "b1", "b1", 3, desired.Hash(), ""},
		{"older panka's plan, drift check since", "", "", 3, desired.Hash(), "planned against state serial 0, state is now at serial 3"},
		{"desired changed", "b1", "b1", 0, "abcdef0123456789", "the desired model changed since it was planned"},
		{"drift check since, desired changed", "b1", "b1", 3, "abcdef0123456789", "the desired model changed since it was planned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.StateBasis = tt.savedBasis
			err := s.Check(tt.serial, tt.basis, tt.hash)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "run panka plan again") {
				t.Fatalf("Check = %v, want stale error containing %q", err, tt.want)
			}
		})
	}
}

// TestSavedCheckSameSerialOtherContent: a plan saved against state serial
// 7 was applied over another state of serial 7 (a state pushed or restored
// over it with that serial, or serials numbered again after serial.json
// was deleted with state.json): Check compared serials only. The state's
// content (PlanBasis) decides; a plan of an older panka, which records no
// basis, still has only the serial.
func TestSavedCheckSameSerialOtherContent(t *testing.T) {
	s := &Saved{Stack: "orders", Environment: "dev", StateSerial: 7, StateBasis: "b1", DesiredHash: "h"}
	if err := s.Check(7, "b1", "h"); err != nil {
		t.Fatalf("Check of the state planned against: %v", err)
	}
	err := s.Check(7, "b2", "h")
	want := "saved plan for orders/dev is stale: the state is not the one it was planned against: its serial is 7 as then, but its content differs " +
		"(state.json was replaced: a state push, a state.json copied or restored over it, or serials numbered again after serial.json was deleted with it); run panka plan again and apply the new plan"
	if !errors.Is(err, ErrStale) || err.Error() != want {
		t.Fatalf("Check of another state with the same serial = %v\nwant %s", err, want)
	}
	if err := s.Check(7, "b2", "other"); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "the state is not the one it was planned against") {
		t.Fatalf("Check of another state and another model = %v", err)
	}
	s.StateBasis = ""
	if err := s.Check(7, "b2", "h"); err != nil {
		t.Fatalf("Check of an older panka's plan (no basis) at its serial: %v", err)
	}
}

func TestLoadSavedRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"not json", "hello", "not a plan written by panka plan --out"},
		{"other json", `{"kind":"something"}`, "not a plan written by panka plan --out"},
		{"future", `{"kind":"panka-plan","formatVersion":99,"plan":{}}`, "upgrade panka"},
		// Cut short or mangled: damaged, not "not a plan written by panka".
		{"truncated", `{"kind": "panka-plan", "formatVersion": 1, "stack": "orders", "pla`, "the file is damaged (unexpected end of JSON input): run panka plan --out again"},
		{"wrong type", `{"kind": "panka-plan", "stateSerial": "3", "plan": {}}`, "the file is damaged (json: cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadSaved(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSaved = %v, want %q", err, tt.want)
			}
		})
	}
	// A file that is not there, or a folder (apply stacks/shop): what
	// to run, not the system's "open ...: no such file or directory".
	missing := filepath.Join(dir, "plan.out")
	if _, err := LoadSaved(missing); err == nil || err.Error() != "read saved plan "+missing+": no such file: save one with panka plan --stack STACK --environment ENV --out "+missing+", or plan and apply in one go with panka apply --stack STACK --environment ENV" {
		t.Errorf("LoadSaved(missing) = %v", err)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadSaved(missing) = %v, not fs.ErrNotExist (apply then prints a NAME=VALUE argument, maybe a secret)", err)
	}
	if _, err := LoadSaved(dir); err == nil || err.Error() != "read saved plan "+dir+": it is a folder, not a plan file written by panka plan --out (to apply a stack, give --stack and --environment)" {
		t.Errorf("LoadSaved(folder) = %v", err)
	}
}

func TestSecretKey(t *testing.T) {
	k1, k2 := DeriveSecretKey("pass"), DeriveSecretKey("pass")
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Fatalf("derived keys: %x %x", k1, k2)
	}
	if string(DeriveSecretKey("other")) == string(k1) {
		t.Fatal("different passphrases give the same key")
	}
	if DeriveSecretKey("") != nil {
		t.Fatal("empty passphrase must give no key")
	}
}

// TestDecodeModelErrors: a stored model of the wrong shape (a state.json
// edited by hand or by another tool) is described in JSON terms, not
// encoding/json's Go types, and wraps ErrBadModel.
func TestDecodeModelErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`"hello"`, "decode resolved model: the model is a JSON string where the model has an object"},
		{`{"components":[{"name":5}]}`, "decode resolved model: components.name is a JSON number where the model has a string"},
		{`{"components":{"a":1}}`, "decode resolved model: components is a JSON object where the model has an array"},
		{`{"components":[`, "decode resolved model: unexpected end of JSON input"},
	} {
		_, err := DecodeModel([]byte(tt.in))
		if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "Go ") {
			t.Errorf("DecodeModel(%s) = %v, want %q wrapping ErrBadModel", tt.in, err, tt.want)
		}
	}
}

// TestSavedWriteBadFolder: --out into a folder that does not exist, or
// through a file, says what is wrong with the folder; it used to name the
// temporary file panka writes first (".panka-plan-123456").
func TestSavedWriteBadFolder(t *testing.T) {
	desired := base()
	s := NewSaved(Plan(desired, nil, Options{}), desired, nil, time.Now(), "test")
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing", "plan.json"), "folder " + filepath.Join(dir, "missing") + ": no such file or directory: create it first, or pass another --out"},
		{filepath.Join(file, "plan.json"), file + " is not a folder: pass another --out"},
	} {
		err := s.Write(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), ".panka-plan-") {
			t.Errorf("Write(%s) = %v, want %q and no temporary file name", c.path, err, c.want)
		}
	}
}

// TestSavedWriteNotAFile: --out naming a device, a named pipe or a link to
// one (/dev/stdout, /dev/null) is refused and left as it was: the rename
// that replaces the plan file replaced the node itself (as root,
// /dev/stdout became a plain file for every process). A folder is refused
// too; a link to a file keeps the link and replaces the file.
func TestSavedWriteNotAFile(t *testing.T) {
	desired := base()
	s := NewSaved(Plan(desired, nil, Options{}), desired, nil, time.Now(), "test")
	dir := t.TempDir()
	if err := s.Write(dir); err == nil || !strings.Contains(err.Error(), "save plan to "+dir+": it is a folder, not a file: the saved plan is a file for panka apply FILE; give a file name") {
		t.Errorf("Write(folder) = %v", err)
	}
	target := filepath.Join(dir, "real.json")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real.json", link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	if err := s.Write(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if _, err := LoadSaved(target); err != nil {
		t.Errorf("the link's target does not hold the plan: %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	fifo := filepath.Join(dir, "fifo")
	if out, err := exec.Command("mkfifo", fifo).CombinedOutput(); err != nil {
		t.Fatalf("mkfifo: %v %s", err, out)
	}
	toFifo := filepath.Join(dir, "stdout")
	if err := os.Symlink(fifo, toFifo); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, toFifo} {
		if err := s.Write(p); err == nil || !strings.Contains(err.Error(), "it is a named pipe, not a file") {
			t.Errorf("Write(%s) = %v", p, err)
		}
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the named pipe was replaced: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Lstat(toFifo); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link to the named pipe was replaced: %v %v", fi.Mode(), err)
	}
}
