package hooks

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParsePrePush(t *testing.T) {
	a := strings.Repeat("a", 40)
	tests := []struct {
		name    string
		in      string
		want    []PushUpdate
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "one update", in: "refs/heads/main " + a + " refs/heads/main " + ZeroSHA + "\n",
			want: []PushUpdate{{"refs/heads/main", a, "refs/heads/main", ZeroSHA}}},
		{name: "blank lines skipped", in: "\n\nrefs/heads/x " + a + " refs/heads/x " + a + "\n\n",
			want: []PushUpdate{{"refs/heads/x", a, "refs/heads/x", a}}},
		{name: "too few fields", in: "refs/heads/main " + a, wantErr: "line 1"},
		{name: "not a sha", in: "refs/heads/main zzz refs/heads/main " + a, wantErr: `"zzz" is not a commit SHA`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrePush(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d updates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("update %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	u := PushUpdate{LocalSHA: ZeroSHA, RemoteSHA: strings.Repeat("b", 40)}
	if !u.Deleting() || u.NewBranch() {
		t.Errorf("deleting/new-branch flags wrong for %+v", u)
	}
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	path, _, err := Install(dir, "/opt/my tools/panka", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `panka='/opt/my tools/panka'`) || !strings.Contains(string(b), `exec "$panka" hooks run pre-push "$@"`) {
		t.Errorf("script does not run panka:\n%s", b)
	}
	// The script runs the recorded binary, else panka from PATH, else
	// says what to do.
	bin := t.TempDir()
	fake := filepath.Join(bin, "panka")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"ran $0 $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		recorded, path, want string
		fails                bool
	}{
		{recorded: fake, path: "/usr/bin:/bin", want: "ran " + fake + " hooks run pre-push origin url"},
		{recorded: "/moved/away/panka", path: bin + ":/usr/bin:/bin", want: "ran " + fake + " hooks run pre-push origin url"},
		{recorded: "/moved/away/panka", path: "/usr/bin:/bin", want: "panka is neither at /moved/away/panka nor on PATH: install it (then run panka hooks install again, to record where it is)", fails: true},
	} {
		p, _, err := Install(filepath.Join(t.TempDir(), "hooks"), tt.recorded, false)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(p, "origin", "url")
		cmd.Env = []string{"PATH=" + tt.path}
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.fails || !strings.Contains(string(out), tt.want) {
			t.Errorf("hook recording %s, PATH=%s: %v\n%s", tt.recorded, tt.path, err, out)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode()&0o111 == 0 {
		t.Errorf("hook is not executable: %v", st.Mode())
	}
	// Re-installing our own hook is fine.
	if _, _, err := Install(dir, "panka", false); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	// A foreign hook is kept unless forced.
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho mine\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err = Install(dir, "panka", false)
	if !errors.Is(err, ErrForeignHook) {
		t.Fatalf("err = %v, want ErrForeignHook", err)
	}
	// The refusal says how to add panka to that hook so that it gets the
	// pushed refs too: a plain `panka hooks run pre-push "$@"` line after
	// a command that reads them (git lfs pre-push) finds its input empty
	// and checks nothing.
	for _, line := range strings.Split(ChainExample, "\n") {
		if !strings.Contains(err.Error(), "\n    "+line) {
			t.Errorf("refusal %q does not show %q", err, line)
		}
	}
	if !strings.Contains(err.Error(), "standard input") {
		t.Errorf("refusal %q does not say why a plain line is not enough", err)
	}
	testChainExample(t)
	if b, _ := os.ReadFile(path); string(b) != "#!/bin/sh\necho mine\n" {
		t.Errorf("foreign hook was modified")
	}
	if _, _, err := Install(dir, "panka", true); err != nil {
		t.Fatalf("forced install: %v", err)
	}
}

// TestInstallForceKeepsBackup: a forced install keeps the hook it
// replaces (a file, or a link as it is) under a backup name git does not
// run, never overwriting an earlier backup; re-installing over panka's
// own hook keeps nothing.
func TestInstallForceKeepsBackup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pre-push")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho mine\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is less the umask (0700 under umask 077): the
	// backup is checked to keep exactly this mode.
	if err := os.Chmod(path, 0o750); err != nil {
		t.Fatal(err)
	}
	_, _, err := Install(dir, "panka", false)
	if err == nil || !strings.Contains(err.Error(), "use --force to replace it (it is kept as "+filepath.Join(dir, BackupName)+")") {
		t.Errorf("refusal %v does not say where --force keeps the hook", err)
	}
	_, backup, err := Install(dir, "panka", true)
	if err != nil || backup != filepath.Join(dir, BackupName) {
		t.Fatalf("forced install: backup %q, %v", backup, err)
	}
	if b, err := os.ReadFile(backup); err != nil || string(b) != "#!/bin/sh\necho mine\n" {
		t.Errorf("backup %q: %v", b, err)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("backup mode: %v %v", st, err)
	}
	if b, _ := os.ReadFile(path); string(b) != Script("panka") {
		t.Errorf("hook not installed:\n%s", b)
	}
	// panka's own hook replaced: no backup.
	if _, backup, err := Install(dir, "panka", true); err != nil || backup != "" {
		t.Errorf("reinstall: backup %q, %v", backup, err)
	}
	// A second foreign hook (a link, as hook managers write) forced over:
	// kept as .2, the first backup untouched.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lfs.sh"), []byte("#!/bin/sh\ngit lfs pre-push \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("lfs.sh", path); err != nil {
		t.Fatal(err)
	}
	_, backup, err = Install(dir, "panka", true)
	if err != nil || backup != filepath.Join(dir, BackupName+".2") {
		t.Fatalf("second forced install: backup %q, %v", backup, err)
	}
	if target, err := os.Readlink(backup); err != nil || target != "lfs.sh" {
		t.Errorf("backup of a link: %q, %v", target, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, BackupName)); string(b) != "#!/bin/sh\necho mine\n" {
		t.Errorf("first backup overwritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "lfs.sh")); !strings.Contains(string(b), "git lfs") {
		t.Errorf("the link's target was overwritten: %q", b)
	}
}

// TestUninstall: uninstall removes panka's hook, again finds nothing to
// do, refuses a hook panka did not write (leaving it as it is), and names
// the backups a forced install kept.
func TestUninstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	// No hooks folder at all.
	if _, removed, _, err := Uninstall(dir); err != nil || removed {
		t.Fatalf("uninstall without a hook: removed %v, %v", removed, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pre-push")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho mine\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, removed, _, err := Uninstall(dir)
	if !errors.Is(err, ErrForeignHook) || removed || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it yourself") {
		t.Errorf("uninstall of a foreign hook: removed %v, %v", removed, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "#!/bin/sh\necho mine\n" {
		t.Errorf("foreign hook modified: %q", b)
	}
	if _, _, err := Install(dir, "panka", true); err != nil {
		t.Fatal(err)
	}
	p, removed, backups, err := Uninstall(dir)
	if err != nil || !removed || p != path || len(backups) != 1 || backups[0] != filepath.Join(dir, BackupName) {
		t.Fatalf("uninstall: %s removed %v, backups %q, %v", p, removed, backups, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hook still there: %v", err)
	}
	if _, removed, _, err := Uninstall(dir); err != nil || removed {
		t.Errorf("second uninstall: removed %v, %v", removed, err)
	}
	// A dangling link is not panka's either.
	if err := os.Symlink("gone.sh", path); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Uninstall(dir); !errors.Is(err, ErrForeignHook) {
		t.Errorf("uninstall of a dangling link: %v", err)
	}
}

// TestInstallConcurrently: several `panka hooks install` at once (a setup
// script run in parallel, two terminals) all succeed and leave one whole
// hook and no temporary files.
func TestInstallConcurrently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	for round := range 8 {
		errs := make(chan error, 16)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := Install(dir, "/usr/local/bin/panka", false)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "pre-push"))
	if err != nil || string(b) != Script("/usr/local/bin/panka") {
		t.Errorf("hook after concurrent installs (%v):\n%s", err, b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left in %s: %v", dir, names)
	}
}

// testChainExample runs ChainExample as a hook, with a git lfs and a
// panka that print what they read: both get the pushed refs.
func testChainExample(t *testing.T) {
	t.Helper()
	bin := t.TempDir()
	for _, name := range []string{"git", "panka"} {
		script := "#!/bin/sh\necho \"" + name + " $*: $(cat)\"\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hook := filepath.Join(t.TempDir(), "pre-push")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"+ChainExample+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	refs := "refs/heads/main " + strings.Repeat("1", 40) + " refs/heads/main " + ZeroSHA
	cmd := exec.Command(hook, "origin", "url")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(refs + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ChainExample as a hook: %v\n%s", err, out)
	}
	for _, want := range []string{"git lfs pre-push origin url: " + refs, "panka hooks run pre-push origin url: " + refs} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ChainExample as a hook printed\n%s\nwant a line %q", out, want)
		}
	}
}

// TestInstallKeepsDanglingLink: a pre-push hook that is a link to a file
// that is not there (a hook manager's, its target on another branch or
// not installed yet) is someone else's hook, as Uninstall says: install
// refuses it without --force, and a forced install keeps the link.
func TestInstallKeepsDanglingLink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pre-push")
	if err := os.Symlink("../../tools/githooks/pre-push", path); err != nil {
		t.Fatal(err)
	}
	_, _, err := Install(dir, "panka", false)
	if !errors.Is(err, ErrForeignHook) || !strings.Contains(err.Error(), "use --force") {
		t.Fatalf("install over a dangling link: %v, want ErrForeignHook", err)
	}
	if target, err := os.Readlink(path); err != nil || target != "../../tools/githooks/pre-push" {
		t.Fatalf("the link was replaced: %q, %v", target, err)
	}
	_, backup, err := Install(dir, "panka", true)
	if err != nil || backup != filepath.Join(dir, BackupName) {
		t.Fatalf("forced install: backup %q, %v", backup, err)
	}
	if target, err := os.Readlink(backup); err != nil || target != "../../tools/githooks/pre-push" {
		t.Errorf("backup of the dangling link: %q, %v", target, err)
	}
	if b, _ := os.ReadFile(path); string(b) != Script("panka") {
		t.Errorf("hook not installed:\n%s", b)
	}
}
