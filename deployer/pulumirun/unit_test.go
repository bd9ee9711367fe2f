package pulumirun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	stackURN = "urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s"
	compType = "pankalocal:index:Component"
)

func urn(typ, name string) string { return "urn:pulumi:s::panka::" + typ + "::" + name }

func pre(op apitype.OpType, typ, name, parent string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{
		Metadata: apitype.StepEventMetadata{Op: op, URN: urn(typ, name), Type: typ,
			New: &apitype.StepEventStateMetadata{Parent: parent}, Diffs: []string{"spec"}}}}}
}

func outs(op apitype.OpType, typ, name string, old, new map[string]any) events.EngineEvent {
	md := apitype.StepEventMetadata{Op: op, URN: urn(typ, name), Type: typ}
	if old != nil {
		md.Old = &apitype.StepEventStateMetadata{Outputs: old}
	}
	if new != nil {
		md.New = &apitype.StepEventStateMetadata{Outputs: new}
	}
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: md}}}
}

func failed(typ, name string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOpFailedEvent: &apitype.ResOpFailedEvent{
		Metadata: apitype.StepEventMetadata{Op: apitype.OpCreate, URN: urn(typ, name), Type: typ}}}}
}

func diag(sev, msg string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Severity: sev, Message: msg}}}
}

// fakeClock advances one second per reading.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func TestTranslatorUp(t *testing.T) {
	var got []Event
	clk := &fakeClock{t: time.Unix(0, 0)}
	tr := newTranslator(nil, clk.now, func(e Event) { got = append(got, e) })
	for _, e := range []events.EngineEvent{
		pre(apitype.OpCreate, "pulumi:pulumi:Stack", "panka-s", ""),
		pre(apitype.OpCreate, "pulumi:providers:pankalocal", "default", ""),
		diag("warning", "using pulumi-resource-pankalocal from $PATH at /x\n"),
		pre(apitype.OpCreate, compType, "db", stackURN),
		pre(apitype.OpUpdate, "panka:aws:MicroService", "api", stackURN),
		pre(apitype.OpCreate, "aws:ecs/service:Service", "api-svc", urn("panka:aws:MicroService", "api")),
		outs(apitype.OpCreate, compType, "db", nil, map[string]any{}),
		failed("aws:ecs/service:Service", "api-svc"),
		diag("error", "boom\n"),
		pre(apitype.OpSame, compType, "cache", stackURN),
	} {
		tr.handle(e, modeApply)
	}
	want := []struct {
		comp   string
		status Status
	}{
		{"db", StatusCreating}, {"api", StatusUpdating}, {"api", StatusCreating}, {"db", StatusDone},
		{"api", StatusFailed}, {"", StatusDiagnostic}, {"cache", StatusUnchanged},
	}
	if len(got) != len(want) {
		t.Fatalf("events = %+v", got)
	}
	for i, w := range want {
		if got[i].Component != w.comp || got[i].Status != w.status {
			t.Errorf("event %d = %s/%s, want %s/%s", i, got[i].Component, got[i].Status, w.comp, w.status)
		}
	}
	if got[3].Elapsed != 3*time.Second { // db started at reading 1... done at reading 4 (providers and stack skipped)
		t.Logf("db elapsed %v", got[3].Elapsed)
	}
	if got[3].Elapsed <= 0 {
		t.Errorf("db done without elapsed time")
	}
	steps := tr.result()
	if len(steps) != 3 || steps[0].Component != "db" || steps[2].Name != "api-svc" || !steps[2].Failed || steps[2].Component != "api" {
		t.Errorf("steps = %+v", steps)
	}
	if e := tr.errors(); len(e) != 1 || e[0] != "boom" {
		t.Errorf("errors = %v", e)
	}
	// The engine's summary counts the root stack resource; the result says
	// what happened to it, so it can be told apart.
	if r := tr.root(); r != "create" {
		t.Errorf("root op = %q, want create", r)
	}
}

// TestTranslatorSummary: the engine's summary event, which it sends at the
// end of a failed update too, is what the failed run's Result counts.
func TestTranslatorSummary(t *testing.T) {
	tr := newTranslator(nil, time.Now, nil)
	if c := tr.changes(); c != nil {
		t.Errorf("changes before any summary = %v, want nil", c)
	}
	for _, e := range []events.EngineEvent{
		pre(apitype.OpCreate, "pulumi:pulumi:Stack", "panka-s", ""),
		pre(apitype.OpCreate, compType, "db", stackURN),
		outs(apitype.OpCreate, compType, "db", nil, map[string]any{}),
		pre(apitype.OpCreate, compType, "web", stackURN),
		failed(compType, "web"),
		{EngineEvent: apitype.EngineEvent{SummaryEvent: &apitype.SummaryEvent{
			ResourceChanges: map[apitype.OpType]int{apitype.OpCreate: 2}, Result: apitype.OperationResult("failed")}}},
	} {
		tr.handle(e, modeApply)
	}
	if c := tr.changes(); !reflect.DeepEqual(c, map[string]int{"create": 2}) || tr.root() != "create" {
		t.Errorf("changes = %v, root %q; want create: 2 (the stack and db), root create", c, tr.root())
	}
	// A destroy that failed at its first delete sends an empty summary:
	// it changed nothing, which is not the same as no summary.
	tr = newTranslator(nil, time.Now, nil)
	tr.handle(events.EngineEvent{EngineEvent: apitype.EngineEvent{SummaryEvent: &apitype.SummaryEvent{}}}, modeApply)
	if c := tr.changes(); c == nil || len(c) != 0 {
		t.Errorf("changes of an empty summary = %#v, want an empty map", c)
	}
}

func TestTranslatorComponentsFilter(t *testing.T) {
	tr := newTranslator([]string{"api"}, time.Now, nil)
	tr.handle(pre(apitype.OpCreate, "aws:ecs/cluster:Cluster", "shared-cluster", stackURN), modeApply)
	tr.handle(pre(apitype.OpCreate, compType, "api", stackURN), modeApply)
	steps := tr.result()
	if steps[0].Component != "" || steps[1].Component != "api" {
		t.Errorf("steps = %+v", steps)
	}
}

func TestTranslatorRefreshPreview(t *testing.T) {
	var got []Event
	tr := newTranslator(nil, time.Now, func(e Event) { got = append(got, e) })
	old := map[string]any{"spec": map[string]any{"size": "small", "engine": "pg"}, "path": "/p"}
	edited := map[string]any{"spec": map[string]any{"size": "huge", "engine": "pg"}, "path": "/p"}
	for _, e := range []events.EngineEvent{
		pre(apitype.OpRefresh, compType, "db", stackURN),
		pre(apitype.OpRefresh, compType, "events", stackURN),
		pre(apitype.OpRefresh, compType, "api", stackURN),
		// (the engine names only the top-level property)
		withDiffs(outs(apitype.OpUpdate, compType, "db", old, edited), "spec"),
		outs(apitype.OpDelete, compType, "events", old, nil),
		outs(apitype.OpSame, compType, "api", old, old),
	} {
		tr.handle(e, modeRefreshPreview)
	}
	steps := tr.result()
	want := []Step{
		{Component: "db", URN: urn(compType, "db"), Type: compType, Name: "db", Op: "update", Diffs: []string{"spec.size"}},
		{Component: "events", URN: urn(compType, "events"), Type: compType, Name: "events", Op: "delete"},
	}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("steps = %+v\nwant %+v", steps, want)
	}
	if len(got) != 3 || got[0].Status != StatusPending || got[2].Status != StatusUnchanged {
		t.Errorf("events = %+v", got)
	}
}

func withDiffs(e events.EngineEvent, diffs ...string) events.EngineEvent {
	e.ResOutputsEvent.Metadata.Diffs = diffs
	return e
}

func TestTranslatorPreview(t *testing.T) {
	var got []Event
	tr := newTranslator(nil, time.Now, func(e Event) { got = append(got, e) })
	tr.handle(pre(apitype.OpCreate, compType, "db", stackURN), modePreview)
	tr.handle(outs(apitype.OpCreate, compType, "db", nil, map[string]any{}), modePreview)
	if len(got) != 1 || got[0].Status != StatusPending || len(tr.result()) != 1 {
		t.Errorf("events = %+v steps = %+v", got, tr.result())
	}
}

func TestFindCLI(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pulumi")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := FindCLI(exe); err != nil || got != exe {
		t.Errorf("FindCLI(%s) = %q, %v", exe, got, err)
	}
	for _, p := range []string{plain, filepath.Join(dir, "missing"), dir} {
		_, err := FindCLI(p)
		if !errors.Is(err, ErrCLINotFound) || !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "pulumi.cli") {
			t.Errorf("FindCLI(%s) error = %v", p, err)
		}
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := FindCLI(""); !errors.Is(err, ErrCLINotFound) || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("FindCLI on an empty PATH: %v", err)
	}
	t.Setenv("PATH", dir)
	if got, err := FindCLI(""); err != nil || got != exe {
		t.Errorf("FindCLI from PATH = %q, %v", got, err)
	}
}

// TestCLIVersionInterrupted: a Ctrl-C or SIGTERM while the engine asks
// the Pulumi CLI for its version (the first thing an apply's engine does)
// said "run `pulumi version`: signal: killed", which reads as a crash; it
// says the run was interrupted.
func TestCLIVersionInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script as the CLI")
	}
	cli := filepath.Join(t.TempDir(), "pulumi")
	if err := os.WriteFile(cli, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := newCLICommand(ctx, cli, nil, time.Second)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted (Ctrl-C or a stop signal)") || strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("err = %v, want it to say the run was interrupted", err)
	}
}

func TestNewFailsClearlyWithoutCLI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := New(context.Background(), Options{Stack: "s", BackendURL: "file:///tmp/x", Program: func(*pulumi.Context) error { return nil }})
	if !errors.Is(err, ErrCLINotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestListFileLocks(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) { writeLockFile(t, dir, rel, content) }
	write("organization/panka/orders-dev/a.json", `{"pid":42,"username":"ci","hostname":"runner","timestamp":"2026-01-02T03:04:05Z"}`)
	write("organization/panka/orders-prod/b.json", `{}`)
	write("organization/other/orders-dev/c.json", `{}`)
	locks, err := listFileLocks(dir, "panka", "orders-dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].PID != 42 || locks[0].Hostname != "runner" || locks[0].Created.Year() != 2026 {
		t.Fatalf("locks = %+v", locks)
	}
	rec := &Recovery{Locks: locks, PendingOperations: []PendingOperation{{Type: "creating", URN: "urn:x"}}}
	if s := rec.String(); !strings.Contains(s, "ci@runner pid 42") || !strings.Contains(s, "pending creating of urn:x") {
		t.Errorf("String() = %q", s)
	}
	if none, _ := listFileLocks(t.TempDir(), "panka", "orders-dev"); len(none) != 0 {
		t.Errorf("locks in an empty backend: %v", none)
	}
}

func TestBackendURLs(t *testing.T) {
	tests := []struct {
		b    S3Backend
		want string
	}{
		{S3Backend{Bucket: "b", Prefix: "/panka/orders/dev/pulumi/", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070", PathStyle: true},
			"s3://b/panka/orders/dev/pulumi?endpoint=http%3A%2F%2F127.0.0.1%3A7070&region=us-east-1&use_path_style=true"},
		{S3Backend{Bucket: "b", Region: "eu-west-1"}, "s3://b?region=eu-west-1"},
	}
	for _, tt := range tests {
		if got := tt.b.URL(); got != tt.want {
			t.Errorf("URL() = %s, want %s", got, tt.want)
		}
	}
	if got, ok := fileBackendDir(FileBackendURL("/tmp/state")); !ok || got != "/tmp/state" {
		t.Errorf("fileBackendDir = %q, %v", got, ok)
	}
	if _, ok := fileBackendDir("s3://b/p"); ok {
		t.Error("s3 URL taken for a file backend")
	}
	if got := StackName("orders", "dev/eu"); got != "orders-dev_eu" {
		t.Errorf("StackName = %q", got)
	}
}

func TestWrapLockedError(t *testing.T) {
	r := &Runner{opts: Options{Stack: "orders-dev"}}
	err := r.wrap(context.Background(), "pulumi up", errors.New("failed to run update: exit status 255\nstderr: error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///x/.pulumi/locks/organization/panka/orders-dev/u.json: created by root@h (pid 7) at 2026-01-01T00:00:00Z\n"), nil)
	var locked *LockedError
	if !errors.As(err, &locked) || !strings.Contains(locked.Detail, "pid 7") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.wrap(ctx, "pulumi up", errors.New("exit status 1"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted error = %v", err)
	}
	tr := newTranslator(nil, time.Now, nil)
	tr.handle(diag("error", "provider said no"), modeApply)
	if err := r.wrap(context.Background(), "pulumi up", errors.New("exit status 1\nstdout: lots"), tr); !strings.Contains(err.Error(), "provider said no") || strings.Contains(err.Error(), "lots") {
		t.Errorf("error = %v", err)
	}
	// The Automation API's own tail (exit code, then the CLI's output) is left out.
	if err := r.wrap(context.Background(), "pulumi up", errors.New("failed to run update: exit status 1\ncode: 1\nstdout: lots\nstderr: more"), tr); strings.Contains(err.Error(), "code: 1") || strings.Contains(err.Error(), "lots") || !strings.HasSuffix(err.Error(), "failed to run update: exit status 1") {
		t.Errorf("error = %q", err)
	}
	err = r.wrap(context.Background(), "pulumi up", errors.New("exit status 255\nstderr: error: no resource plugin 'pulumi-resource-pankalocal' found in the workspace or on your $PATH"), nil)
	if err == nil || !strings.Contains(err.Error(), "provider plugin pulumi-resource-pankalocal") || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing plugin error = %v", err)
	}
}

// TestRemoveBrokenAttrs: unreadable attribute files under .pulumi/stacks
// (empty, cut short) are removed; readable ones, other files and the
// attribute files elsewhere in the backend are left alone.
func TestRemoveBrokenAttrs(t *testing.T) {
	dir := t.TempDir()
	good := `{"user.content_type":"text/plain; charset=utf-8","md5":"vL5tR8PFyzlzslIqTFNCmQ=="}` + "\n"
	files := map[string]string{
		".pulumi/stacks/panka/shop-dev.json":           "{}",
		".pulumi/stacks/panka/shop-dev.json.attrs":     "",
		".pulumi/stacks/panka/shop-dev.json.bak.attrs": good[:20],
		".pulumi/stacks/panka/shop-prod.json.attrs":    good,
		".pulumi/history/panka/shop-dev/x.json.attrs":  "",
		".pulumi/stacks/legacy.json.attrs":             "",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := removeBrokenAttrs(dir)
	for i := range got {
		got[i], _ = filepath.Rel(dir, got[i])
		got[i] = filepath.ToSlash(got[i])
	}
	sort.Strings(got)
	want := []string{".pulumi/stacks/legacy.json.attrs", ".pulumi/stacks/panka/shop-dev.json.attrs", ".pulumi/stacks/panka/shop-dev.json.bak.attrs"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("removed %q, want %q", got, want)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if gone := slices.Contains(want, name); gone != os.IsNotExist(err) {
			t.Errorf("%s: removed %v, want %v", name, !gone, gone)
		}
	}
}

// A workspace left by a killed process is removed by a later run once it is
// an hour old; live processes' and young ones stay, and so does anything
// not named like a workspace.
func TestSweepWorkspaces(t *testing.T) {
	dir := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := gone.Process.Pid
	now := time.Now()
	old := now.Add(-2 * time.Hour)
	mk := func(name string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "Pulumi.yaml"), []byte("name: panka\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(fmt.Sprintf("panka-pulumi-p%d-123", dead), old)
	young := mk(fmt.Sprintf("panka-pulumi-p%d-456", dead), now.Add(-time.Minute))
	live := mk(fmt.Sprintf("panka-pulumi-p%d-789", os.Getppid()), old)
	own := mk(fmt.Sprintf("panka-pulumi-p%d-1", os.Getpid()), old)
	legacy := mk("panka-pulumi-1015257892", old)
	other := mk(fmt.Sprintf("other-p%d-1", dead), old)
	sweepWorkspaces(dir, now)
	for p, want := range map[string]bool{stale: false, young: true, live: true, own: true, legacy: true, other: true} {
		_, err := os.Stat(p)
		if got := err == nil; got != want {
			t.Errorf("%s: exists=%v, want %v", filepath.Base(p), got, want)
		}
	}
}

func TestCountResources(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      int
	}{
		{"missing", "", 0},
		{"null", "null", 0},
		{"stack and provider only", `[{"type":"pulumi:pulumi:Stack"},{"type":"pulumi:providers:pankalocal"}]`, 0},
		{"components", `[{"type":"pulumi:pulumi:Stack"},{"type":"pulumi:providers:pankalocal"},{"type":"pankalocal:index:Component"},{"type":"pankalocal:index:Component"}]`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := countResources(json.RawMessage(tc.raw))
			if err != nil || n == nil || *n != tc.want {
				t.Fatalf("countResources(%s) = %v, %v; want %d", tc.raw, n, err, tc.want)
			}
		})
	}
}

// TestListFileLocksUnfinished: the temporary file of a lock file that was
// never renamed into place (a Pulumi killed while taking its lock, or a
// full disk: "<lock>.json.<hex>.tmp", empty or cut short) is listed with
// the stack's locks, so RecoverStale removes it; the backend lists it as
// a lock, and every later run failed with "unexpected end of JSON input".
func TestListFileLocksUnfinished(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) { writeLockFile(t, dir, rel, content) }
	write("organization/panka/orders-dev/ee591cb0.json.18ebd5bd8c0d2afc.tmp", "")
	write("organization/panka/orders-dev/notes.tmp", "")
	write("organization/panka/orders-dev/x.json.zz.tmp", "")
	write("organization/panka/orders-prod/b.json.18ebd5bd8c0d2afd.tmp", "")
	locks, err := listFileLocks(dir, "panka", "orders-dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || filepath.Base(locks[0].Path) != "ee591cb0.json.18ebd5bd8c0d2afc.tmp" || locks[0].PID != 0 {
		t.Fatalf("locks = %+v; want the stack's unfinished lock file only", locks)
	}
	for p, want := range map[string]bool{
		"a/b.json.18ebd5bd8c0d2afc.tmp": true, "a/b.json.tmp": false, "a/b.json": false,
		"a/b.yaml.18ebd5bd8c0d2afc.tmp": false, "a/b.json.xyz.tmp": false,
	} {
		if got := isLockTemp(p); got != want {
			t.Errorf("isLockTemp(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestTempWorkspaceNamesTMPDIR: a TMPDIR that is missing or a file (a CI
// runner's, cleaned up) is an error naming the folder and TMPDIR, not a
// bare "stat /x: no such file or directory".
func TestTempWorkspaceNamesTMPDIR(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("TMPDIR is not the temporary folder's variable on Windows")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tmp := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		t.Setenv("TMPDIR", tmp)
		_, err := tempWorkspace(time.Now())
		if err == nil || !strings.Contains(err.Error(), "temporary folder "+tmp+":") || !strings.Contains(err.Error(), "point TMPDIR at a folder that exists and is writable") {
			t.Errorf("TMPDIR=%s: %v", tmp, err)
		}
	}
	t.Setenv("TMPDIR", t.TempDir())
	dir, err := tempWorkspace(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("workspace %s: %v", dir, err)
	}
}

// writeLockFile writes content at rel under the DIY backend's lock folder
// of dir (.pulumi/locks).
func writeLockFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, ".pulumi", "locks", filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRedactBackendURL: the credentials of a backend URL are hidden in
// messages, a password holding an unescaped "@" included ("p@ss" showed
// as "****@ss@host").
func TestRedactBackendURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:hunter2@api.example/":     "https://****@api.example/",
		"postgres://user:hun@ter2@db:5432/p":    "****@db:5432/p",
		"s3://bucket/prefix":                    "s3://bucket/prefix",
		"file:///home/me/state":                 "file:///home/me/state",
		"postgres://user:hun/te@r2@db:5432/p?x": "postgres://****@db:5432/p?x",
	} {
		if got := redact(in); !strings.HasSuffix(got, want) || strings.Contains(got, "hun") || strings.Contains(got, "ter2") {
			t.Errorf("redact(%q) = %q, want ...%q", in, got, want)
		}
	}
}

// TestStateObjectError: the engine's failure to write its checkpoint to an
// s3:// backend (as the CLI reported it with the state server answering
// 503 SlowDown to every attempt, through a fault proxy) is said as which
// object, what the server answered and what to do.
func TestStateObjectError(t *testing.T) {
	const backend = "s3://team-state/stacks/shop/dev/pulumi?endpoint=http%3A%2F%2F127.0.0.1%3A7070&region=us-east-1&use_path_style=true"
	for _, c := range []struct{ out, want string }{
		{`pre-step event returned an error: failed to save snapshot: An IO error occurred while writing the new snapshot file: blob (key ".pulumi/stacks/panka/shop-dev.json") (code=Unknown): operation error S3: PutObject, exceeded maximum number of attempts, 3, https response error StatusCode: 503, RequestID: , HostID: , api error SlowDown: injected SlowDown`,
			"the engine's PutObject of its own state s3://team-state/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json failed: the S3 server answered SlowDown (HTTP 503), still after 3 attempts; " +
				"the server is throttling or failing: wait and re-run (and if it goes on, check its health, backend.endpoint for an S3-compatible server); the next run goes on from the last state the engine saved"},
		{`blob (key ".pulumi/stacks/panka/shop-dev.json") (code=PermissionDenied): operation error S3: GetObject, https response error StatusCode: 403, RequestID: 1, HostID: 2, api error AccessDenied: Access Denied`,
			"the engine's GetObject of its own state s3://team-state/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json failed: the S3 server answered AccessDenied (HTTP 403); " +
				"check that the AWS credentials (aws.profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, aws.assumeRole) may read and write the state bucket, then re-run"},
		{`update failed: some provider error`, ""},
	} {
		if got := stateObjectError(c.out, backend); !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("stateObjectError(%q)\n= %q\nwant %q", c.out, got, c.want)
		}
	}
}

// TestFileStateError: the engine's failure to write its own state in the
// embedded default's file:// backend on a full disk (as the CLI reported it
// with .panka on a full tmpfs: its backup, its update history, a copy) or
// a read-only one came as the CLI's whole output and "failed to run
// update: exit status 1", with no word on what to do.
func TestFileStateError(t *testing.T) {
	const backend = "file:///repo/.panka/state/stacks/shop/dev/pulumi"
	for _, c := range []struct{ out, want string }{
		{`stderr: error: saving backup: blob (key ".pulumi/backups/panka/shop-dev/shop-dev.1795804018651192777.json") (code=Unknown): write /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/backups/panka/shop-dev/shop-dev.1795804018651192777.json.18ebfa3d89ed7241.tmp: no space left on device`,
			"the engine could not write its own state /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/backups/panka/shop-dev/shop-dev.1795804018651192777.json: no space left on device; " +
				"the disk (or your quota) is full: free some space and re-run; the next run goes on from the last state the engine saved"},
		{`stderr: error: saving update info: blob (key ".pulumi/stacks/panka/shop-dev.json -> .pulumi/history/panka/shop-dev/shop-dev-1795804014035398608.checkpoint.json") (code=Unknown): write /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/history/panka/shop-dev/shop-dev-1795804014035398608.checkpoint.json.18ebfa3c76cfb6a4.tmp: no space left on device`,
			"the engine could not write its own state /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/history/panka/shop-dev/shop-dev-1795804014035398608.checkpoint.json: no space left on device"},
		{`failed to save snapshot: An IO error occurred while writing the new snapshot file: blob (key ".pulumi/stacks/panka/shop-dev.json") (code=Unknown): open /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json.1.tmp: read-only file system`,
			"the engine could not write its own state /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json: read-only file system; the file system is read-only"},
		{`blob (key ".pulumi/stacks/panka/shop-dev.json") (code=Unknown): open /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json.1.tmp: permission denied`,
			"the engine could not write its own state /repo/.panka/state/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json: permission denied; check the owner and mode of /repo/.panka/state/stacks/shop/dev/pulumi"},
		{`pankalocal: write manifest /repo/.panka/local/shop/dev/web.json: no space left on device`, ""},
	} {
		if got := stateObjectError(c.out, backend); !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("stateObjectError(%q)\n= %q\nwant %q", c.out, got, c.want)
		}
	}
}
