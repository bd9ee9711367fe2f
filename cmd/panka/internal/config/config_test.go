package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestResolveImpliedTypes: a bucket given anywhere selects the s3 backend
// unless backend.type says otherwise, so --backend-bucket / PANKA_BACKEND_BUCKET
// are never silently ignored in favour of .panka/; lock types follow SPEC §8.
func TestResolveImpliedTypes(t *testing.T) {
	repoFile := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(repoFile, []byte("backend:\n  bucket: from-repo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userLocal := write("config.yaml", "version: v1\nbackend:\n  type: local\n")
	userBucket := write("config.yaml", "version: v1\nbackend:\n  bucket: from-user\n")
	repoLocal := write("panka.yaml", "backend:\n  type: local\n")
	for _, tt := range []struct {
		name                   string
		layers                 Layers
		wantBackend, wantLocks string
		wantBackendSrc         string
		wantLocksSrc           string
	}{
		{name: "nothing configured", wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "default", wantLocksSrc: "default (implied by backend.type=local)"},
		{name: "bucket flag", layers: Layers{Flags: map[string]string{"backend.bucket": "b"}, FlagNames: map[string]string{"backend.bucket": "backend-bucket"}},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by backend.type=s3)"},
		{name: "bucket env", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET=b"}},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by backend.type=s3)"},
		{name: "bucket in panka.yaml", layers: Layers{RepoFile: repoFile},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by backend.type=s3)"},
		{name: "bucket and table", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET=b", "PANKA_LOCKS_TABLE=t"}},
			wantBackend: "s3", wantLocks: "dynamodb",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by locks.table)"},
		{name: "explicit local wins over a bucket", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET=b", "PANKA_BACKEND_TYPE=local"}},
			wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "env (PANKA_BACKEND_TYPE)", wantLocksSrc: "default (implied by backend.type=local)"},
		// panka init writes type: local into ~/.panka/config.yaml; a bucket
		// set above it (the team's panka.yaml, a CI job's env) still selects s3
		{name: "bucket in panka.yaml over type local in the user file", layers: Layers{UserFile: userLocal, RepoFile: repoFile},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket from repo (" + repoFile + ":2), which overrides backend.type=local from user (" + userLocal + ":3))",
			wantLocksSrc:   "default (implied by backend.type=s3)"},
		{name: "bucket env over type local in the user file", layers: Layers{UserFile: userLocal, Env: []string{"PANKA_BACKEND_BUCKET=b"}},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket from env (PANKA_BACKEND_BUCKET), which overrides backend.type=local from user (" + userLocal + ":3))",
			wantLocksSrc:   "default (implied by backend.type=s3)"},
		{name: "type local in panka.yaml over a bucket in the user file", layers: Layers{UserFile: userBucket, RepoFile: repoLocal},
			wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "repo (" + repoLocal + ":2)", wantLocksSrc: "default (implied by backend.type=local)"},
		{name: "empty bucket", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET="}},
			wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "default", wantLocksSrc: "default (implied by backend.type=local)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(tt.layers)
			if err != nil {
				t.Fatal(err)
			}
			if r.Backend.Type != tt.wantBackend || r.Locks.Type != tt.wantLocks {
				t.Errorf("backend.type, locks.type = %q, %q; want %q, %q", r.Backend.Type, r.Locks.Type, tt.wantBackend, tt.wantLocks)
			}
			if got := r.Sources["backend.type"].String(); got != tt.wantBackendSrc {
				t.Errorf("backend.type source = %q; want %q", got, tt.wantBackendSrc)
			}
			if got := r.Sources["locks.type"].String(); got != tt.wantLocksSrc {
				t.Errorf("locks.type source = %q; want %q", got, tt.wantLocksSrc)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestLoadFileProblems: a config file is read strictly, like stack files: a
// key set twice (the last one silently won) and a format version this panka
// does not know are errors naming file:line:column.
func TestLoadFileProblems(t *testing.T) {
	for _, tt := range []struct {
		name, data, want string
	}{
		{"duplicate key", "backend:\n  type: s3\n  bucket: a\n  type: local\n", `panka.yaml:4:3: duplicate key "backend.type" (first set at line 2): remove one of them`},
		{"duplicate section", "backend:\n  bucket: a\nlocks:\n  table: t\nbackend:\n  type: local\n", `panka.yaml:5:1: duplicate key "backend" (first set at line 1): remove one of them`},
		{"unknown version", "version: v2\n", `panka.yaml:1:1: key version: "v2" is not one of v1`},
		// YAML syntax errors name the line (and column where known), as
		// stack files do, not yaml.v3's "yaml: line N" one line early.
		{"unclosed flow sequence", "version: v1\nbackend:\n  type: s3\n  bucket: [x\n", `panka.yaml:4: not valid YAML: did not find expected ',' or ']'`},
		// README's one-line sections with a bucket read from the
		// environment: YAML ends the plain value at ${'s {.
		{"reference in a flow mapping", "backend: {type: s3, bucket: ${STATE_BUCKET}, region: eu-west-1}\n", `panka.yaml:1:29: not valid YAML: did not find expected ',' or '}': ${STATE_BUCKET} inside { } or [ ] must be quoted, as YAML ends a plain value there at its {: write "${STATE_BUCKET}"`},
		{"tab indentation", "version: v1\nbackend:\n\ttype: s3\n", `panka.yaml:3:1: not valid YAML: a tab in the indentation`},
		// A file saved in Latin-1: where, not yaml.v3's line-less
		// "invalid leading UTF-8 octet".
		{"not UTF-8", "# caf\xe9 team\nbackend:\n  bucket: \"acme-state\xa0\"\n", `panka.yaml:1:6: not valid YAML: invalid UTF-8 (byte 0xe9): the file must be UTF-8; save it as UTF-8 (it is probably in Latin-1 or another legacy encoding)`},
		{"missing colon", "version: v1\nbackend\n  type: s3\n", `panka.yaml:2: not valid YAML: could not find expected ':'`},
		// A section given a value is known, not an "unknown key".
		{"section with a value", "backend: s3\n", `panka.yaml:1:1: backend is a section, not a value: write its keys under it (backend.type, backend.region, backend.bucket,`},
		// A key and value under a section without the colon between them
		// are the section's value to YAML.
		{"missing colon in a section", "backend:\n  bucket acme-state\n", `panka.yaml:2:3: backend is a section, but its value is the text "bucket acme-state": a colon is missing after bucket; write each key as KEY: VALUE on its own line under backend:, e.g. bucket: acme-state`},
		{"missing colons on two lines", "backend:\n  bucket acme-state\n  region eu-west-1\n", `backend is a section, but its value is the text "bucket acme-state region eu-west-1": a colon is missing after bucket; write each key as KEY: VALUE on its own line under backend:, e.g. bucket: acme-state`},
		{"missing colon on the section's line", "aws:\n  assumeRole: roleArn arn:aws:iam::1:role/x\n", `panka.yaml:2:15: aws.assumeRole is a section, but its value is the text "roleArn arn:aws:iam::1:role/x": a colon is missing after roleArn; write each key as KEY: VALUE on its own line under assumeRole:, e.g. roleArn: arn:aws:iam::1:role/x`},
		{"section with a list", "locks: [a]\n", `panka.yaml:1:1: locks is a section, not a value: write its keys under it (locks.type,`},
		// A tag was dropped and the value kept: region: !Ref r set the
		// region "r", bucket: !Sub an empty bucket.
		{"local tag", "backend:\n  type: s3\n  region: !Ref r\n", `panka.yaml:3:11: key backend.region: YAML tag !Ref is not supported: config files hold plain values; remove the tag (write ${NAME}`},
		{"empty tagged value", "backend:\n  bucket: !Sub\n", `panka.yaml:2:11: key backend.bucket: YAML tag !Sub is not supported`},
		{"binary tag", "locks:\n  table: !!binary dGFibGU=\n", `panka.yaml:2:10: key locks.table: YAML tag !!binary is not supported`},
		{"merge key", "backend: &b\n  type: local\nlocks:\n  <<: *b\n", `panka.yaml:4:3: merge keys (<<: *name) are not supported in config files: write the keys out under locks`},
		{"tagged section", "backend: !Foo\n  type: s3\n", `panka.yaml:1:10: key backend: YAML tag !Foo is not supported`},
		// The second document was never read: locks.type bogus was ignored.
		{"second document", "backend:\n  type: local\n---\nlocks:\n  type: bogus\n", `panka.yaml:4: a second YAML document (after ---): a config file holds one document; move its keys into the first and remove the ---`},
		// An unknown key names the key it most likely means.
		{"misspelt key", "backend:\n  buckt: x\n", `panka.yaml:2:3: unknown key "backend.buckt" (did you mean "backend.bucket"?); see ` + "`panka config show`"},
		{"transposed letters", "locks:\n  tyep: local\n", `unknown key "locks.tyep" (did you mean "locks.type"?)`},
		{"snake case", "backend:\n  use_path_style: true\n", `unknown key "backend.use_path_style" (did you mean "backend.usePathStyle"?)`},
		{"key in the wrong section", "backend:\n  table: t\n", `unknown key "backend.table" (did you mean "locks.table"?)`},
		{"key at the top", "bucket: b\n", `unknown key "bucket" (did you mean "backend.bucket"?)`},
		{"misspelt section", "backnd:\n  bucket: b\n", `panka.yaml:1:1: unknown key "backnd" (did you mean "backend"?)`},
		{"misspelt nested section", "aws:\n  asumeRole:\n    roleArn: r\n", `unknown key "aws.asumeRole" (did you mean "aws.assumeRole"?)`},
		// Another tool's name for a key: the key's name with a word more.
		{"key name with a word more", "backend:\n  bucketName: acme-state\n", `panka.yaml:2:3: unknown key "backend.bucketName" (did you mean "backend.bucket"?)`},
		{"endpoint URL", "locks:\n  endpoint_url: http://127.0.0.1:8000\n", `unknown key "locks.endpoint_url" (did you mean "locks.endpoint"?)`},
		{"a word more, several keys", "logging:\n  maxSizeMB: 5\n", `unknown key "logging.maxSizeMB" (did you mean "logging.maxSize"?)`},
		// The passphrase is no key: where it goes instead.
		{"passphrase", "pulumi:\n  passphrase: hunter2\n", `panka.yaml:2:3: unknown key "pulumi.passphrase": panka's configuration holds no passphrase (a config file is read in clear); give it in PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, which pulumi.secretsProvider: passphrase (the default) reads`},
		{"config passphrase", "pulumi:\n  configPassphrase: hunter2\n", `unknown key "pulumi.configPassphrase": panka's configuration holds no passphrase`},
		{"nothing close", "backend:\n  frobnicate: x\n", `unknown key "backend.frobnicate"; see`},
		// An explicit empty root was read as the default, stacks.
		{"empty stacks root", "stacks:\n  root: ''\n", `panka.yaml:2:3: key stacks.root is empty: set the folder that holds your stacks ("." for the repository root), or remove the key for the default, stacks`},
		{"blank stacks root", "stacks:\n  root:\n", `panka.yaml:2:3: key stacks.root is empty`},
		// A known key given a mapping is not an "unknown key".
		{"key with a mapping", "backend:\n  bucket:\n    name: acme-state\n", `panka.yaml:3:5: key backend.bucket must be a single value, not a mapping: write it as bucket: VALUE`},
		{"key with a flow mapping", "locks:\n  ttl: {seconds: 5}\n", `panka.yaml:2:8: key locks.ttl must be a single value, not a mapping`},
		// A dotted key is one key with a dot in its name to YAML (and to
		// every other tool reading the file): it was taken as the path.
		{"dotted key", "version: v1\nlocks.table: panka-locks\n", `panka.yaml:2:1: key "locks.table": a dotted key is not a path in YAML; write it nested: locks: {table: panka-locks}`},
		{"dotted key with a reference", "backend.endpoint: ${S3_URL}\n", `panka.yaml:1:1: key "backend.endpoint": a dotted key is not a path in YAML; write it nested: backend: {endpoint: "${S3_URL}"}`},
		{"dotted key in a section", "aws:\n  assumeRole.roleArn: arn:aws:iam::1:role/x\n", `panka.yaml:2:3: key "assumeRole.roleArn": a dotted key is not a path in YAML; write it nested under aws: assumeRole: {roleArn: "arn:aws:iam::1:role/x"}`},
		{"dotted section", "aws.assumeRole:\n  roleArn: r\n", `panka.yaml:1:1: key "aws.assumeRole": a dotted key is not a path in YAML; write it nested: aws: {assumeRole: VALUE}`},
		{"dotted unknown key", "backend.buckt: b\n", `panka.yaml:1:1: unknown key "backend.buckt" (did you mean "backend.bucket"?)`},
		{"nested section with a value", "aws:\n  assumeRole: arn:aws:iam::1:role/x\n", `panka.yaml:2:3: aws.assumeRole is a section, not a value: write its keys under it (aws.assumeRole.roleArn, aws.assumeRole.sessionName, aws.assumeRole.externalId), or remove it`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "panka.yaml")
			if err := os.WriteFile(file, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Resolve(Layers{RepoFile: file})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	file := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(file, []byte("version: v1\nbackend:\n  type: local\nlocks:\n  type: local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(Layers{RepoFile: file}); err != nil {
		t.Errorf("valid file: %v", err)
	}
	// A --- before the document, or after it with nothing more: fine.
	if err := os.WriteFile(file, []byte("---\nbackend:\n  bucket: acme\n---\n# done\n...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Resolve(Layers{RepoFile: file}); err != nil || r.Backend.Bucket != "acme" {
		t.Errorf("--- around one document: %v, %+v", err, r)
	}
	// The core schema's tags only say what the value is: fine.
	if err := os.WriteFile(file, []byte("backend: !!map\n  bucket: !!str acme\nlocks:\n  ttl: ! 2h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Resolve(Layers{RepoFile: file}); err != nil || r.Backend.Bucket != "acme" {
		t.Errorf("core tags: %v, %+v", err, r)
	}
	// Anchors and aliases work as in stack files (a value, or a section).
	if err := os.WriteFile(file, []byte("backend:\n  region: &r eu-west-1\n  bucket: acme-state\nlocks: &l\n  ttl: 2h\naws:\n  region: *r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Resolve(Layers{RepoFile: file}); err != nil || r.AWS.Region != "eu-west-1" || r.Locks.TTL.D() != 2*time.Hour {
		t.Errorf("aliases: %v, %+v", err, r)
	}
	// A section whose keys are all commented out is empty, not an error.
	if err := os.WriteFile(file, []byte("backend:\n  # bucket: acme-state\nlocks: ~\naws:\n  assumeRole:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Resolve(Layers{RepoFile: file}); err != nil || r.Backend.Type != "local" {
		t.Errorf("empty sections: %v", err)
	}
}

// TestEndpointMustBeURL: an endpoint that is not an http(s) URL with a host
// is refused where it is set (file:line, env var), not on the first request
// as the AWS SDK's "endpoint rule error, Custom endpoint `x` was not a
// valid URI".
func TestEndpointMustBeURL(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(file, []byte("backend:\n  type: s3\n  endpoint: 127.0.0.1:7070\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		l    Layers
		want string
	}{
		{"file, no scheme", Layers{RepoFile: file}, `panka.yaml:3:3: key backend.endpoint: "127.0.0.1:7070" is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:7070`},
		{"env, not a URL", Layers{Env: []string{"PANKA_BACKEND_ENDPOINT=not-a-url"}}, `environment variable PANKA_BACKEND_ENDPOINT: key backend.endpoint: "not-a-url" is not an http:// or https:// URL`},
		{"env, broken host", Layers{Env: []string{"PANKA_LOCKS_ENDPOINT=http://[::1"}}, `environment variable PANKA_LOCKS_ENDPOINT: key locks.endpoint: "http://[::1" is not an http:// or https:// URL`},
		{"env, other scheme", Layers{Env: []string{"PANKA_LOCKS_ENDPOINT=ftp://host"}}, `key locks.endpoint: "ftp://host" is not an http:// or https:// URL`},
		// A path would be read as the bucket by an S3-compatible server:
		// "bucket does not exist" for a bucket that does.
		{"env, path", Layers{Env: []string{"PANKA_BACKEND_ENDPOINT=http://127.0.0.1:7070/state"}}, `environment variable PANKA_BACKEND_ENDPOINT: key backend.endpoint: "http://127.0.0.1:7070/state" has a path (/state): give only the server's scheme, host and port`},
		{"env, query", Layers{Env: []string{"PANKA_LOCKS_ENDPOINT=http://127.0.0.1:7070/?x=1"}}, `key locks.endpoint: "http://127.0.0.1:7070/?x=1" has a path (?x=1)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.l)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"http://127.0.0.1:7070", "https://s3.eu-west-1.amazonaws.com", "http://minio.internal:9000/", ""} {
		if _, err := Resolve(Layers{Env: []string{"PANKA_BACKEND_ENDPOINT=" + ok, "PANKA_LOCKS_ENDPOINT=" + ok}}); err != nil {
			t.Errorf("endpoint %q: %v", ok, err)
		}
	}
}

// TestPrefixCheckedWhereSet: a backend.prefix the store refuses ("..",
// empty segments) is refused with the file:line or variable that set it,
// not later as a bare "invalid state key".
func TestPrefixCheckedWhereSet(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(file, []byte("backend:\n  prefix: teams//orders\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		l    Layers
		want string
	}{
		{"file", Layers{RepoFile: file}, `panka.yaml:2:3: key backend.prefix: invalid state key: prefix "teams//orders" has an empty, '.' or '..' segment`},
		{"env", Layers{Env: []string{"PANKA_BACKEND_PREFIX=../x"}}, `environment variable PANKA_BACKEND_PREFIX: key backend.prefix: invalid state key: prefix "../x"`},
		{"stack", Layers{Stack: map[string]string{"backend.prefix": "a/./b"}, StackFile: "stacks/shop/stack.yaml"}, `stacks/shop/stack.yaml: spec.backend: key backend.prefix: invalid state key: prefix "a/./b"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.l)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Resolve(Layers{Env: []string{"PANKA_BACKEND_PREFIX=/teams/orders/"}}); err != nil {
		t.Errorf("a valid prefix: %v", err)
	}
}

// TestDurationTooLong: a number of seconds whose nanoseconds do not fit a
// time.Duration is an error naming the file and key, not a lease that
// wrapped around to a negative or a fraction of a second.
func TestDurationTooLong(t *testing.T) {
	for _, v := range []string{"9223372037", "18446744074", "99999999999999999"} {
		f := filepath.Join(t.TempDir(), "panka.yaml")
		if err := os.WriteFile(f, []byte("locks:\n  ttl: "+v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Resolve(Layers{RepoFile: f})
		if err == nil {
			t.Fatalf("ttl %s resolved to %v, want an error", v, r.Config.Locks.TTL)
		}
		if msg := err.Error(); !strings.Contains(msg, f+":2:3") || !strings.Contains(msg, "too long") {
			t.Errorf("ttl %s: error %q does not name the file and say what is wrong", v, msg)
		}
		if _, err := Resolve(Layers{Env: []string{"PANKA_LOCKS_TTL=" + v}}); err == nil || !strings.Contains(err.Error(), "PANKA_LOCKS_TTL") {
			t.Errorf("PANKA_LOCKS_TTL=%s: %v, want an error naming the variable", v, err)
		}
	}
}

// TestDurationsTrimmed: a CI variable with a stray space around a
// duration, number or boolean (PANKA_LOCKS_TTL=" 1h") is read as the
// value, as a ref is; it was refused as "not a positive duration".
func TestDurationsTrimmed(t *testing.T) {
	r, err := Resolve(Layers{Env: []string{"PANKA_LOCKS_TTL= 1h", "PANKA_LOCKS_HEARTBEAT=20 ", "PANKA_PULUMI_STALL_TIMEOUT= 10m ",
		"PANKA_BACKEND_USE_PATH_STYLE= true", "PANKA_LOGGING_MAX_AGE= 7"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Locks.TTL.D() != time.Hour || r.Locks.Heartbeat.D() != 20*time.Second || r.Pulumi.StallTimeout.D() != 10*time.Minute ||
		!r.Backend.UsePathStyle || r.Logging.MaxAge != 7 {
		t.Errorf("got ttl %v heartbeat %v stallTimeout %v usePathStyle %v maxAge %d", r.Locks.TTL, r.Locks.Heartbeat, r.Pulumi.StallTimeout,
			r.Backend.UsePathStyle, r.Logging.MaxAge)
	}
	// Strings keep their spaces (a prefix or a path may hold them).
	if r, err := Resolve(Layers{Env: []string{"PANKA_STACKS_ROOT=my stacks "}}); err != nil || r.Stacks.Root != "my stacks " {
		t.Errorf("stacks.root: %q, %v", r.Stacks.Root, err)
	}
}

// TestPathStyleImpliedByEndpoint: a custom S3 endpoint means path-style
// addressing unless backend.usePathStyle is set (the S3 client does so), and
// config show must print that value and why, not "false, default".
func TestPathStyleImpliedByEndpoint(t *testing.T) {
	for _, tt := range []struct {
		name      string
		env       []string
		want      bool
		wantWhere string
	}{
		{"no endpoint", nil, false, "default"},
		{"backend.endpoint", []string{"PANKA_BACKEND_ENDPOINT=http://127.0.0.1:7070"}, true, "default (implied by the custom endpoint backend.endpoint)"},
		{"AWS_ENDPOINT_URL_S3", []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:7070"}, true, "default (implied by the custom endpoint AWS_ENDPOINT_URL_S3)"},
		{"AWS_ENDPOINT_URL", []string{"AWS_ENDPOINT_URL=http://127.0.0.1:7070"}, true, "default (implied by the custom endpoint AWS_ENDPOINT_URL)"},
		{"set false explicitly", []string{"PANKA_BACKEND_ENDPOINT=http://127.0.0.1:7070", "PANKA_BACKEND_USE_PATH_STYLE=false"}, false, "env (PANKA_BACKEND_USE_PATH_STYLE)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(Layers{Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if got, where := r.Backend.UsePathStyle, r.Sources["backend.usePathStyle"].String(); got != tt.want || where != tt.wantWhere {
				t.Errorf("backend.usePathStyle = %v from %q, want %v from %q", got, where, tt.want, tt.wantWhere)
			}
		})
	}
}

// TestFileValuesExpandEnv: the seed's config file writes the Pulumi Cloud
// token as `accessToken: ${PULUMI_ACCESS_TOKEN}`. The text itself was
// handed to Pulumi as the token (over the real PULUMI_ACCESS_TOKEN); ${NAME}
// in a file value is the environment variable, "" when unset.
func TestFileValuesExpandEnv(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		env         []string
		want        string
	}{
		{"set", "${PULUMI_ACCESS_TOKEN}", []string{"PULUMI_ACCESS_TOKEN=pul-123"}, "pul-123"},
		{"unset", "${PULUMI_ACCESS_TOKEN}", nil, ""},
		{"inside text", "tok-${A}-${B}", []string{"A=1", "B=2"}, "tok-1-2"},
		{"not a reference", "a$b ${9x} $HOME", []string{"HOME=/h"}, "a$b ${9x} $HOME"},
		// ${NAME:-default}: the default when NAME is unset or empty, as
		// in the shell (and as PANKA_* variables set to nothing count as
		// unset).
		{"default, unset", "${TOKEN:-pul-dev}", nil, "pul-dev"},
		{"default, empty", "${TOKEN:-pul-dev}", []string{"TOKEN="}, "pul-dev"},
		{"default, set", "${TOKEN:-pul-dev}", []string{"TOKEN=pul-1"}, "pul-1"},
		{"empty default", "a${TOKEN:-}b", nil, "ab"},
		{"default with colons and spaces", "${TOKEN:-a b:c-d}", nil, "a b:c-d"},
		{"message, set", "${TOKEN:?give the token}", []string{"TOKEN=pul-2"}, "pul-2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte("pulumi:\n  accessToken: \""+tt.value+"\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Resolve(Layers{UserFile: file, Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if r.Pulumi.AccessToken != tt.want {
				t.Errorf("accessToken = %q, want %q", r.Pulumi.AccessToken, tt.want)
			}
		})
	}
	// The seed's file as written (unquoted) resolves, with its source.
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("pulumi:\n  backend: s3\n  accessToken: ${PULUMI_ACCESS_TOKEN}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(Layers{UserFile: file, Env: []string{"PULUMI_ACCESS_TOKEN=pul-9"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pulumi.AccessToken != "pul-9" || r.Sources["pulumi.accessToken"].Where != file+":3" {
		t.Errorf("accessToken = %q from %+v", r.Pulumi.AccessToken, r.Sources["pulumi.accessToken"])
	}
}

// TestFileValuesEnvErrors: ${NAME:?message} with NAME unset or empty is
// an error at the value's file:line:column saying the file's message (a
// default one without); a reference inside a default (the value would end
// at its first }) is refused rather than read as a stray text.
func TestFileValuesEnvErrors(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		env        []string
		want       string
	}{
		{"message, unset", "backend:\n  bucket: ${STATE_BUCKET:?set it to the team's bucket}\n", nil,
			`panka.yaml:2:11: key backend.bucket: ${STATE_BUCKET:?...}: STATE_BUCKET is not set in the environment (or empty): set it to the team's bucket`},
		{"message, empty", "locks:\n  table: \"${LOCK_TABLE:?}\"\n", []string{"LOCK_TABLE="},
			`panka.yaml:2:10: key locks.table: ${LOCK_TABLE:?...}: LOCK_TABLE is not set in the environment (or empty): export it, or write the value in the file`},
		// The shell's other forms were kept as text: the bucket became
		// "${STATE_BUCKET-acme}".
		{"default without the colon", "backend:\n  bucket: ${STATE_BUCKET-acme}\n", nil,
			`panka.yaml:2:11: key backend.bucket: ${STATE_BUCKET-acme} is not read: a config file takes ${NAME}, ${NAME:-default} (NAME unset or empty) and ${NAME:?message}: write ${STATE_BUCKET:-acme}`},
		{"assigning default", "backend:\n  region: ${REGION:=eu-west-1}\n", []string{"REGION=us-east-1"},
			`panka.yaml:2:11: key backend.region: ${REGION:=eu-west-1} is not read: a config file takes ${NAME}, ${NAME:-default} (NAME unset or empty) and ${NAME:?message}: write ${REGION:-eu-west-1}`},
		{"after a default", "backend:\n  prefix: ${TEAM:-a}-${AREA-b}/\n", nil,
			`panka.yaml:2:11: key backend.prefix: ${AREA-b} is not read: a config file takes ${NAME}, ${NAME:-default} (NAME unset or empty) and ${NAME:?message}: write ${AREA:-b}`},
		{"message without the colon", "locks:\n  table: ${LOCK_TABLE?set it}\n", nil,
			`panka.yaml:2:10: key locks.table: ${LOCK_TABLE?set it} is not read: a config file takes ${NAME}, ${NAME:-default} (NAME unset or empty) and ${NAME:?message}: write ${LOCK_TABLE:?set it}`},
		{"nested default", "backend:\n  endpoint: ${S3_URL:-${MINIO_URL}}\n", nil,
			`panka.yaml:2:13: key backend.endpoint: the text after ${S3_URL:- cannot hold ${...}: nested references are not supported; write the value itself there`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "panka.yaml")
			if err := os.WriteFile(file, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Resolve(Layers{RepoFile: file, Env: tt.env})
			if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to end with %q", err, tt.want)
			}
			// The pre-push hook's check of a pushed file: a variable
			// unset on the pusher's machine is no problem in the file.
			err = CheckRepoFile("panka.yaml", []byte(tt.data), tt.env)
			if strings.Contains(tt.want, ":?...}") {
				if err != nil {
					t.Errorf("CheckRepoFile: %v, want nil (${NAME:?} is checked where panka runs)", err)
				}
			} else if err == nil || err.Error() != tt.want {
				t.Errorf("CheckRepoFile: %v, want %q", err, tt.want)
			}
			// So does Resolve with NotRequired, NAME recorded unset.
			r, err := Resolve(Layers{RepoFile: file, Env: tt.env, NotRequired: true})
			if strings.Contains(tt.want, ":?...}") {
				if err != nil {
					t.Errorf("Resolve NotRequired: %v", err)
				} else if key := strings.TrimSuffix(strings.Fields(strings.SplitN(tt.want, " key ", 2)[1])[0], ":"); r.Sources[key].Unset == "" {
					t.Errorf("Resolve NotRequired: source of %s %+v records no unset variable", key, r.Sources[key])
				}
			} else if err == nil {
				t.Errorf("Resolve NotRequired: nil error, want %q", tt.want)
			}
		})
	}
}

// TestFileValuesUnsetEnv: a file value whose ${NAME} reads an unset or
// empty variable records the names in its source (Source.Unset), so the
// commands that open the state can refuse a bucket that came out empty
// (the local backend) instead of reading another place than the file
// means; a variable set, or a higher layer, leaves nothing recorded.
func TestFileValuesUnsetEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	// endpoint: AWS's own unless DDB_URL names a server; a default stands
	// for the variable, so nothing is recorded unset (the source says the
	// default was taken).
	if err := os.WriteFile(file, []byte("backend:\n  bucket: ${STATE_BUCKET}\n  prefix: ${TEAM}-${AREA}/\nlocks:\n  table: ${LOCK_TABLE}\n  endpoint: ${DDB_URL:-}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name                         string
		env                          []string
		bucket, prefix, table        string
		bucketSrc, prefixSrc, tblSrc string
	}{
		{"unset", nil, "", "-/", "",
			"repo (" + file + ":2, ${STATE_BUCKET} unset)", "repo (" + file + ":3, ${TEAM}, ${AREA} unset)", "repo (" + file + ":5, ${LOCK_TABLE} unset)"},
		{"empty counts as unset", []string{"STATE_BUCKET=", "TEAM=a", "AREA="}, "", "a-/", "",
			"repo (" + file + ":2, ${STATE_BUCKET} unset)", "repo (" + file + ":3, ${AREA} unset)", "repo (" + file + ":5, ${LOCK_TABLE} unset)"},
		{"set", []string{"STATE_BUCKET=b", "TEAM=a", "AREA=x", "LOCK_TABLE=t"}, "b", "a-x/", "t",
			"repo (" + file + ":2)", "repo (" + file + ":3)", "repo (" + file + ":5)"},
		{"a higher layer wins", []string{"PANKA_BACKEND_BUCKET=e", "PANKA_BACKEND_PREFIX=p/", "PANKA_LOCKS_TABLE=l"}, "e", "p/", "l",
			"env (PANKA_BACKEND_BUCKET)", "env (PANKA_BACKEND_PREFIX)", "env (PANKA_LOCKS_TABLE)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(Layers{RepoFile: file, Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if r.Backend.Bucket != tt.bucket || r.Backend.Prefix != tt.prefix || r.Locks.Table != tt.table {
				t.Errorf("bucket %q prefix %q table %q, want %q %q %q", r.Backend.Bucket, r.Backend.Prefix, r.Locks.Table, tt.bucket, tt.prefix, tt.table)
			}
			for key, want := range map[string]string{"backend.bucket": tt.bucketSrc, "backend.prefix": tt.prefixSrc, "locks.table": tt.tblSrc, "locks.endpoint": "repo (" + file + ":6, default of ${DDB_URL:-...})"} {
				if got := r.Sources[key].String(); got != want {
					t.Errorf("source of %s = %q, want %q", key, got, want)
				}
			}
		})
	}
}

// TestUnknownEnv: a PANKA_ variable that is no configuration key (a typo)
// is listed with the key's variable it most likely means; the variables
// panka reads otherwise (PANKA_VAR_*, PANKA_CONFIG, ...) are not.
func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"PANKA_BACKEND_BUKET=acme", "PANKA_BACKEND_USEPATHSTYLE=true", "PANKA_LOCK_TABLE=t",
		"PANKA_BACKEND_BUCKET=acme", "PANKA_VAR_IMAGE=x", "PANKA_CONFIG=/c.yaml", "PANKA_GIT_BINARY=false",
		"PANKA_TEST_S3_ENDPOINT=http://x", "PANKA_INSTALL_DIR=/opt", "HOME=/root", "PANKA_BACKEND_BUKKET="})
	want := []string{"PANKA_BACKEND_BUKET (did you mean PANKA_BACKEND_BUCKET?)",
		"PANKA_BACKEND_USEPATHSTYLE (did you mean PANKA_BACKEND_USE_PATH_STYLE?)", "PANKA_INSTALL_DIR",
		"PANKA_LOCK_TABLE (did you mean PANKA_LOCKS_TABLE?)"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestValidateSaysWhere: a conflict between keys names where each value was
// set, so the one to change is found (here an environment variable against
// a file line and a default).
func TestValidateSaysWhere(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(file, []byte("locks:\n  ttl: 20s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"PANKA_LOCKS_HEARTBEAT=1m"}, "locks.heartbeat (1m0s, env (PANKA_LOCKS_HEARTBEAT)) must be shorter than locks.ttl (20s, repo (" + file + ":2))"},
		{[]string{"PANKA_LOCKS_TYPE=s3", "PANKA_LOCKS_HEARTBEAT=5s"}, "locks.type s3 (env (PANKA_LOCKS_TYPE)) needs backend.type s3, but backend.type is local (default): the lock object lives next to the state"},
		{[]string{"PANKA_BACKEND_TYPE=s3", "PANKA_LOCKS_HEARTBEAT=5s"}, "backend.type is s3 (env (PANKA_BACKEND_TYPE)) but backend.bucket is empty"},
		{[]string{"PANKA_LOCKS_TYPE=dynamodb", "PANKA_LOCKS_HEARTBEAT=5s"}, "locks.type is dynamodb (env (PANKA_LOCKS_TYPE)) but locks.table is empty"},
	} {
		r, err := Resolve(Layers{RepoFile: file, Env: tt.env})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.env, err, tt.want)
		}
	}
}

// TestEmptyEnvIsUnset: a PANKA_* variable set to nothing (a CI secret that
// expands to nothing) is as if unset: the bucket panka.yaml names stays,
// rather than an empty bucket switching panka to the local backend.
func TestEmptyEnvIsUnset(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(file, []byte("backend:\n  type: s3\n  bucket: acme-state\n  region: eu-west-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(Layers{RepoFile: file, Env: []string{"PANKA_BACKEND_BUCKET=", "PANKA_BACKEND_TYPE=", "PANKA_LOGGING_LEVEL="}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Backend.Bucket != "acme-state" || r.Backend.Type != "s3" || !strings.HasPrefix(r.Sources["backend.bucket"].String(), "repo") {
		t.Errorf("backend %s %q from %s; want s3 acme-state from the repository file", r.Backend.Type, r.Backend.Bucket, r.Sources["backend.bucket"])
	}
	r, err = Resolve(Layers{RepoFile: file, Env: []string{"PANKA_BACKEND_BUCKET=other-state"}})
	if err != nil || r.Backend.Bucket != "other-state" {
		t.Errorf("a set variable: bucket %q, %v; want other-state", r.Backend.Bucket, err)
	}
}

// TestValuesMaskURLPassword: config show prints a URL's password (a
// Pulumi DIY backend on postgres) as (sensitive), the rest as it is.
func TestValuesMaskURLPassword(t *testing.T) {
	r, err := Resolve(Layers{Env: []string{"PANKA_PULUMI_BACKEND=postgres://deploy:hunter2@db.internal:5432/pulumi?sslmode=require", "PANKA_LOCKS_ENDPOINT=http://127.0.0.1:8000"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range r.Values() {
		got[v.Key] = v.Value
	}
	if want := "postgres://deploy:(sensitive)@db.internal:5432/pulumi?sslmode=require"; got["pulumi.backend"] != want {
		t.Errorf("pulumi.backend = %q, want %q", got["pulumi.backend"], want)
	}
	if got["locks.endpoint"] != "http://127.0.0.1:8000" {
		t.Errorf("locks.endpoint = %q, want it as set", got["locks.endpoint"])
	}
	if r.Pulumi.Backend != "postgres://deploy:hunter2@db.internal:5432/pulumi?sslmode=require" {
		t.Errorf("the resolved value itself changed: %q", r.Pulumi.Backend)
	}
}

// TestValuesMaskUnparsedURLPassword: a URL whose password holds "/", "#"
// or "%" as it is, or whose port is wrong, is not one url.Parse takes (or
// it reads the password as a path): config show printed it whole,
// password and all.
func TestValuesMaskUnparsedURLPassword(t *testing.T) {
	for in, want := range map[string]string{
		"https://deploy:hunter2@host:badport/":   "https://deploy:(sensitive)@host:badport/",
		"postgres://deploy:hun%ter2@db/pulumi":   "postgres://deploy:(sensitive)@db/pulumi",
		"postgres://deploy:hun#ter2@db/pulumi":   "postgres://deploy:(sensitive)@db/pulumi",
		"postgres://deploy:12/hunter2@db/pulumi": "postgres://deploy:(sensitive)@db/pulumi",
		"https://deploy:hunter2@h ost/":          "https://deploy:(sensitive)@h ost/",
		"s3://bucket/prefix@x":                   "s3://bucket/prefix@x",
	} {
		r, err := Resolve(Layers{Env: []string{"PANKA_PULUMI_BACKEND=" + in}})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range r.Values() {
			if v.Key == "pulumi.backend" && v.Value != want {
				t.Errorf("pulumi.backend %s shows as %q, want %q", in, v.Value, want)
			}
		}
	}
}

// TestHeartbeatFollowsShortTTL: a lease ttl set alone used to be refused
// when it was not longer than the default 30 s heartbeat ("locks.heartbeat
// (30s, default) must be shorter than locks.ttl (20s, ...)"): the heartbeat
// the user never set now defaults to a third of a shorter ttl, as
// locker.LeaseOptions does; one that is set stays, and is still checked.
func TestHeartbeatFollowsShortTTL(t *testing.T) {
	for _, tt := range []struct {
		env     []string
		want    time.Duration
		source  string
		wantErr string
	}{
		{[]string{"PANKA_LOCKS_TTL=20s"}, 6 * time.Second, "default (a third of locks.ttl)", ""},
		{[]string{"PANKA_LOCKS_TTL=8"}, 2 * time.Second, "default (a third of locks.ttl)", ""},
		{[]string{"PANKA_LOCKS_TTL=40s"}, 13 * time.Second, "default (a third of locks.ttl)", ""},
		{[]string{"PANKA_LOCKS_TTL=2s"}, 666 * time.Millisecond, "default (a third of locks.ttl)", ""},
		{nil, 30 * time.Second, "default", ""},
		{[]string{"PANKA_LOCKS_TTL=10m"}, 30 * time.Second, "default", ""},
		{[]string{"PANKA_LOCKS_TTL=20s", "PANKA_LOCKS_HEARTBEAT=10s"}, 10 * time.Second, "env (PANKA_LOCKS_HEARTBEAT)", ""},
		{[]string{"PANKA_LOCKS_TTL=20s", "PANKA_LOCKS_HEARTBEAT=1m"}, time.Minute, "env (PANKA_LOCKS_HEARTBEAT)",
			"locks.heartbeat (1m0s, env (PANKA_LOCKS_HEARTBEAT)) must be shorter than locks.ttl (20s, env (PANKA_LOCKS_TTL))"},
		// Too short to be a lease: said of the key set, not blamed on the
		// default heartbeat (30s), which a third of 1ms (0) did not replace.
		{[]string{"PANKA_LOCKS_TTL=1ms"}, 30 * time.Second, "default",
			"locks.ttl (1ms, env (PANKA_LOCKS_TTL)) is too short: a lease must last at least 2s"},
		// A heartbeat of 1ns renewed the lease without pause.
		{[]string{"PANKA_LOCKS_HEARTBEAT=1ns"}, time.Nanosecond, "env (PANKA_LOCKS_HEARTBEAT)",
			"locks.heartbeat (1ns, env (PANKA_LOCKS_HEARTBEAT)) is too short: renew the lease at most every 500ms"},
	} {
		r, err := Resolve(Layers{Env: tt.env})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Locks.Heartbeat.D(); got != tt.want {
			t.Errorf("%v: locks.heartbeat = %s, want %s", tt.env, got, tt.want)
		}
		if got := r.Sources["locks.heartbeat"].String(); got != tt.source {
			t.Errorf("%v: locks.heartbeat comes from %q, want %q", tt.env, got, tt.source)
		}
		err = r.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: Validate: %v", tt.env, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: Validate: %v, want %q", tt.env, err, tt.wantErr)
		}
	}
}

// TestRegionNameCheckedWhereSet: a region the AWS SDK does not take (a
// stray space from a CI variable, an underscore) is refused where it was
// set, not by the first request as "invalid input region us-east-1 "; any
// name the SDK takes passes, since an S3-compatible server may call its
// region auto or garage.
func TestRegionNameCheckedWhereSet(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	for _, tt := range []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"trailing space in a file", "backend:\n  region: \"us-east-1 \"\n", nil, file + `:2:3: key backend.region: "us-east-1 " is not a region name: letters, digits and hyphens, e.g. us-east-1`},
		{"underscores in a file", "aws:\n  region: us_east_1\n", nil, file + `:2:3: key aws.region: "us_east_1" is not a region name`},
		{"a newline in a variable", "", []string{"PANKA_LOCKS_REGION=eu-west-1\n"}, "environment variable PANKA_LOCKS_REGION: key locks.region: \"eu-west-1\\n\" is not a region name"},
		{"a leading hyphen", "", []string{"PANKA_BACKEND_REGION=-x"}, `key backend.region: "-x" is not a region name`},
		{"AWS", "backend:\n  region: eu-west-1\n", nil, ""},
		{"an S3-compatible server's", "backend:\n  region: auto\nlocks:\n  region: garage\naws:\n  region: nyc3\n", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Resolve(Layers{RepoFile: file, Env: tt.env})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Resolve: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Resolve: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestNotRequiredKeepsStacksRoot: Layers.NotRequired (the pre-push hook,
// validate, show, changed) reads ${NAME:?message} unset as ${NAME}, but
// not in stacks.root, which every command reads: an empty root would be
// the default "stacks", another folder than the file means.
func TestNotRequiredKeepsStacksRoot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(file, []byte("stacks:\n  root: ${ROOT:?set ROOT}\npulumi:\n  accessToken: ${TOKEN:?set TOKEN}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(Layers{RepoFile: file, NotRequired: true})
	if err == nil || !strings.HasSuffix(err.Error(), "panka.yaml:2:9: key stacks.root: ${ROOT:?...}: ROOT is not set in the environment (or empty): set ROOT") {
		t.Errorf("err = %v, want stacks.root's ${ROOT:?} refused", err)
	}
	r, err := Resolve(Layers{RepoFile: file, NotRequired: true, Env: []string{"ROOT=infra"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stacks.Root != "infra" || r.Pulumi.AccessToken != "" || r.Sources["pulumi.accessToken"].Unset != "TOKEN" {
		t.Errorf("root %q, token %q from %+v", r.Stacks.Root, r.Pulumi.AccessToken, r.Sources["pulumi.accessToken"])
	}
}
