package cli

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// TestPulumiBackendURLPathStyle: Pulumi's DIY backend addresses the state
// bucket the way panka's own S3 client does. A custom endpoint implies
// path-style unless backend.usePathStyle is set: without it, Pulumi asked
// an S3-compatible server for http://<bucket>.127.0.0.1:port/... and every
// apply failed to open its stack.
func TestPulumiBackendURLPathStyle(t *testing.T) {
	// An S3-compatible server named only in the AWS profile (its
	// endpoint_url, or its services section's): the engine's SDK found
	// the endpoint itself, but addressed the bucket as a virtual host.
	home := t.TempDir()
	fakeAWSEnv(t, home)
	profiles := "[profile minio]\nendpoint_url = http://minio.internal:9000\n\n" +
		"[profile sections]\nservices = local\n\n[services local]\ns3 =\n  endpoint_url = http://s3.internal:9000\n"
	if err := os.WriteFile(filepath.Join(home, "c"), []byte(profiles), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []string
		want    string // use_path_style query value
		wantEnd string // endpoint query value
		profile string // AWS_PROFILE
	}{
		{name: "a profile's endpoint_url", want: "true", wantEnd: "http://minio.internal:9000", profile: "minio"},
		{name: "a profile's services section", want: "true", wantEnd: "http://s3.internal:9000", profile: "sections"},
		{name: "a profile's endpoint, path style off", env: []string{"PANKA_BACKEND_USE_PATH_STYLE=false"}, wantEnd: "http://minio.internal:9000", profile: "minio"},
		{name: "AWS_ENDPOINT_URL over a profile's", env: []string{"AWS_ENDPOINT_URL=http://127.0.0.1:7070"}, want: "true", wantEnd: "http://127.0.0.1:7070", profile: "minio"},
		{"endpoint, path style unset", []string{"PANKA_BACKEND_ENDPOINT=http://127.0.0.1:7070"}, "true", "http://127.0.0.1:7070", ""},
		{"AWS_ENDPOINT_URL_S3, path style unset", []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:7070"}, "true", "http://127.0.0.1:7070", ""},
		{"endpoint, path style off", []string{"PANKA_BACKEND_ENDPOINT=http://127.0.0.1:7070", "PANKA_BACKEND_USE_PATH_STYLE=false"}, "", "http://127.0.0.1:7070", ""},
		{"AWS, no endpoint", nil, "", "", ""},
		{"AWS, path style on", []string{"PANKA_BACKEND_USE_PATH_STYLE=true"}, "true", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tt.profile)
			env := append([]string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=state", "PANKA_BACKEND_REGION=us-east-1"}, tt.env...)
			cfg, err := config.Resolve(config.Layers{Env: env})
			if err != nil {
				t.Fatal(err)
			}
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			f.Environ = func() []string { return env }
			raw, err := f.pulumiBackendURL(context.Background(), cfg, statestore.Key{Stack: "shop", Environment: "dev"})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if got := q.Get("use_path_style"); got != tt.want {
				t.Errorf("%s: use_path_style = %q, want %q", raw, got, tt.want)
			}
			if got := q.Get("endpoint"); got != tt.wantEnd {
				t.Errorf("%s: endpoint = %q, want %q", raw, got, tt.wantEnd)
			}
			if u.Host != "state" || u.Path != "/stacks/shop/dev/pulumi" {
				t.Errorf("%s: want bucket state, prefix stacks/shop/dev/pulumi", raw)
			}
		})
	}
}

// TestPulumiBackendUnderPrefix: Pulumi's files go under the same normalised
// prefix as state.json. backend.prefix "team-a" (written without a slash,
// as the state store accepts it) put them under "team-astacks/...", outside
// the team's prefix, and "team-a" and "team-a/" named the same state but
// two different Pulumi backends.
func TestPulumiBackendUnderPrefix(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	for _, prefix := range []string{"team-a", "team-a/", "/team-a/"} {
		t.Run("s3 "+prefix, func(t *testing.T) {
			env := []string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=state", "PANKA_BACKEND_REGION=us-east-1", "PANKA_BACKEND_PREFIX=" + prefix}
			cfg, err := config.Resolve(config.Layers{Env: env})
			if err != nil {
				t.Fatal(err)
			}
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			f.Environ = func() []string { return env }
			raw, err := f.pulumiBackendURL(context.Background(), cfg, key)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if u.Host != "state" || u.Path != "/team-a/stacks/shop/dev/pulumi" {
				t.Errorf("%s: want bucket state, prefix team-a/stacks/shop/dev/pulumi", raw)
			}
		})
		t.Run("local "+prefix, func(t *testing.T) {
			dir := t.TempDir()
			env := []string{"PANKA_BACKEND_TYPE=local", "PANKA_BACKEND_DIRECTORY=" + dir, "PANKA_BACKEND_PREFIX=" + prefix}
			cfg, err := config.Resolve(config.Layers{Env: env})
			if err != nil {
				t.Fatal(err)
			}
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			f.Environ = func() []string { return env }
			f.Getwd = func() (string, error) { return dir, nil }
			raw, err := f.pulumiBackendURL(context.Background(), cfg, key)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, "state", "team-a", "stacks", "shop", "dev", "pulumi")
			if !strings.Contains(raw, filepath.ToSlash(want)) {
				t.Errorf("%s: want the folder %s", raw, want)
			}
			if _, err := os.Stat(want); err != nil {
				t.Errorf("the Pulumi backend folder was not created: %v", err)
			}
		})
	}
}

// TestEngineStateAcrossBackends: docs/state.md moves deployments from the
// embedded default to a bucket by copying .panka/state/ (Pulumi's files
// included). The token recorded for Pulumi's checkpoint was a SHA-256 of
// the file locally and an ETag in S3, so after the copy every apply warned
// that a run which recorded nothing had written the engine's state, and
// drift detect --exit-code exited 2 on every stack moved. A checkpoint
// copied byte for byte now matches the token of the backend it came from,
// both ways; one changed since does not.
func TestEngineStateAcrossBackends(t *testing.T) {
	ctx := context.Background()
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	bucket, s3env, _ := s3Env(t)
	factory := func(env []string, dir string) (*Factory, *config.Resolved) {
		cfg, err := config.Resolve(config.Layers{Env: env})
		if err != nil {
			t.Fatal(err)
		}
		ios, _, _, _ := Test()
		f := NewFactory(ios)
		f.Environ = func() []string { return env }
		f.Getwd = func() (string, error) { return dir, nil }
		return f, cfg
	}
	dir := t.TempDir()
	lf, lcfg := factory(nil, dir)
	sf, scfg := factory(s3env, dir)
	pdir, err := pulumiDir(lcfg, key)
	if err != nil {
		t.Fatal(err)
	}
	rel := path.Join(pdir, engine.CheckpointPath(engine.StackName(key.Stack, key.Environment)))
	checkpoint := []byte(`{"version":3,"checkpoint":{"stack":"organization/panka/shop-dev"}}` + "\n")
	file := filepath.Join(dir, ".panka", "state", filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, checkpoint, 0o644); err != nil {
		t.Fatal(err)
	}
	put := func(b []byte) {
		t.Helper()
		if _, err := testserver.S3Client(t).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(rel), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	put(checkpoint)
	local, remote := lf.engineStateFunc(lcfg, key), sf.engineStateFunc(scfg, key)
	token := func(fn func(context.Context, string) (string, error), recorded string) string {
		t.Helper()
		tok, err := fn(ctx, recorded)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	localTok, s3Tok := token(local, ""), token(remote, "")
	if !strings.HasPrefix(localTok, "sha256:") || !strings.HasPrefix(s3Tok, "etag:") {
		t.Fatalf("own forms: local %q, S3 %q", localTok, s3Tok)
	}
	if got := token(remote, localTok); got != localTok {
		t.Errorf("local to S3: the copied checkpoint gives %q, recorded %q: taken for a write", got, localTok)
	}
	if got := token(local, s3Tok); got != s3Tok {
		t.Errorf("S3 to local: the copied checkpoint gives %q, recorded %q: taken for a write", got, s3Tok)
	}
	// Another checkpoint while the stack has no update in its history:
	// set up by a run that refused (Pulumi's state was not copied), not
	// written by one that recorded nothing: unknown, not a change.
	put(append(checkpoint, ' '))
	if got := token(remote, localTok); got != "" {
		t.Errorf("a checkpoint of a stack never updated gives %q, want none (unknown)", got)
	}
	if err := os.WriteFile(file, append(checkpoint, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := token(local, s3Tok); got != "" {
		t.Errorf("a checkpoint of a stack never updated gives %q, want none (unknown)", got)
	}
	// With an update in its history it was written since.
	hist := path.Join(pdir, engine.HistoryPath(engine.StackName(key.Stack, key.Environment)), "shop-dev-1.history.json")
	put2 := func(k string) {
		t.Helper()
		if _, err := testserver.S3Client(t).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader([]byte("{}"))}); err != nil {
			t.Fatal(err)
		}
	}
	put2(hist)
	if got := token(remote, localTok); got == localTok || got == "" {
		t.Errorf("a checkpoint written since gives %q, recorded %q", got, localTok)
	}
	hfile := filepath.Join(dir, ".panka", "state", filepath.FromSlash(hist))
	if err := os.MkdirAll(filepath.Dir(hfile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hfile, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := token(local, s3Tok); got == s3Tok || got == "" {
		t.Errorf("a checkpoint written since gives %q, recorded %q", got, s3Tok)
	}
}
