package gitops

import (
	"os/exec"
	"path/filepath"
	"testing"
)

func TestRemoteID(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"https://github.com/Acme/payments.git", "github.com/Acme/payments"},
		{"https://x-access-token:secret@GitHub.com/acme/payments", "github.com/acme/payments"},
		{"ssh://git@github.com:22/acme/payments.git/", "github.com/acme/payments"},
		{"git@github.com:acme/payments.git", "github.com/acme/payments"},
		{"github.com:acme/payments", "github.com/acme/payments"},
		{"file:///srv/git/payments.git", "/srv/git/payments"},
		{"/srv/git/payments.git", "/srv/git/payments"},
		{"../payments.git", "/work/payments"},
	} {
		if got := remoteID(c.url, "/work/repo"); got != c.want {
			t.Errorf("remoteID(%q) = %q, want %q", c.url, got, c.want)
		}
	}

	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main")
	for _, opts := range []Options{{}, {NoGitBinary: true}} {
		r, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if id := r.RemoteID(); id != "" {
			t.Errorf("no remote: RemoteID = %q, want empty", id)
		}
		r.Close()
	}
	run("remote", "add", "upstream", "git@example.com:team/app.git")
	run("remote", "add", "origin", "https://example.com/team/app")
	r, err := Open(filepath.Join(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if id := r.RemoteID(); id != "example.com/team/app" {
		t.Errorf("RemoteID = %q, want origin's, example.com/team/app", id)
	}
}
