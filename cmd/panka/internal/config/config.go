// Package config resolves panka's configuration from its layers (SPEC §8):
// flags > PANKA_* environment variables > stack.yaml spec.backend > repo
// panka.yaml > ~/.panka/config.yaml > defaults, and remembers where each
// value came from so `panka config show` can say.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// Config is panka's effective configuration. Every field is a key whose path
// is the chain of yaml tags (backend.usePathStyle) and whose env var is
// PANKA_ + the path in upper snake case (PANKA_BACKEND_USE_PATH_STYLE).
type Config struct {
	Version     string      `yaml:"version" doc:"config file format version"`
	Backend     Backend     `yaml:"backend"`
	Locks       Locks       `yaml:"locks"`
	AWS         AWS         `yaml:"aws"`
	Pulumi      Pulumi      `yaml:"pulumi"`
	Preferences Preferences `yaml:"preferences"`
	Logging     Logging     `yaml:"logging"`
	Stacks      Stacks      `yaml:"stacks"`
}

// Backend is where state lives.
type Backend struct {
	Type         string `yaml:"type" enum:"local,s3" doc:"state backend: local (.panka/state) or s3 (default: s3 when backend.bucket is set, else local)"`
	Region       string `yaml:"region" format:"region" doc:"AWS region of the state bucket"`
	Bucket       string `yaml:"bucket" doc:"S3 bucket for state"`
	Prefix       string `yaml:"prefix" format:"prefix" doc:"key prefix for every state object"`
	Endpoint     string `yaml:"endpoint" format:"url" doc:"custom S3 endpoint (S3-compatible servers)"`
	UsePathStyle bool   `yaml:"usePathStyle" doc:"path-style S3 addressing"`
	SSE          string `yaml:"sse" enum:",AES256,aws:kms" doc:"server-side encryption for state objects"`
	KMSKeyID     string `yaml:"kmsKeyId" doc:"KMS key for sse aws:kms"`
	Directory    string `yaml:"directory" doc:"local backend directory (default .panka in the repo)"`
}

// Locks is where leases live.
type Locks struct {
	Type      string   `yaml:"type" enum:",local,dynamodb,s3" doc:"lock backend: local, dynamodb or s3 (default: local with a local backend, s3 with an s3 backend)"`
	Region    string   `yaml:"region" format:"region" doc:"AWS region of the lock table"`
	Table     string   `yaml:"table" doc:"DynamoDB table for locks"`
	Endpoint  string   `yaml:"endpoint" format:"url" doc:"custom DynamoDB endpoint"`
	TTL       Duration `yaml:"ttl" doc:"lease time to live (seconds or Go duration; at least 2s)"`
	Heartbeat Duration `yaml:"heartbeat" doc:"lease heartbeat interval (seconds or Go duration; at least 500ms, shorter than ttl)"`
}

// AWS holds credentials settings shared by every AWS client.
type AWS struct {
	Profile    string     `yaml:"profile" doc:"shared config profile"`
	Region     string     `yaml:"region" format:"region" doc:"default AWS region"`
	AssumeRole AssumeRole `yaml:"assumeRole"`
}

// AssumeRole is an optional role to assume for state, locks and deployments.
type AssumeRole struct {
	RoleArn     string `yaml:"roleArn" doc:"role to assume"`
	SessionName string `yaml:"sessionName" doc:"session name for the assumed role"`
	ExternalID  string `yaml:"externalId" doc:"external id for the assumed role"`
}

// Pulumi configures the engine.
type Pulumi struct {
	Backend         string   `yaml:"backend" doc:"Pulumi backend URL; empty: DIY backend under the state prefix"`
	AccessToken     string   `yaml:"accessToken" secret:"true" doc:"Pulumi Cloud access token"`
	SecretsProvider string   `yaml:"secretsProvider" doc:"passphrase (PULUMI_CONFIG_PASSPHRASE) or awskms://..."`
	CLI             string   `yaml:"cli" doc:"path to the pulumi CLI (default: PATH)"`
	StallTimeout    Duration `yaml:"stallTimeout" doc:"stop an engine run silent this long with no resource operation in flight, as a request to its state got no answer (seconds or Go duration; default 5m)"`
}

// Preferences are CLI defaults.
type Preferences struct {
	ColorOutput bool `yaml:"colorOutput" doc:"colour on a TTY"`
	ProgressBar bool `yaml:"progressBar" doc:"live progress on a TTY"`
	AutoApprove bool `yaml:"autoApprove" doc:"default for --auto-approve"`
	ForwardOnly bool `yaml:"forwardOnly" doc:"default for apply --forward-only"`
	Parallelism int  `yaml:"parallelism" min:"1" doc:"max parallel resource operations"`
}

// Logging configures zerolog output.
type Logging struct {
	Level      string `yaml:"level" enum:"debug,info,warn,error" doc:"log level"`
	Format     string `yaml:"format" enum:"console,json" doc:"stderr log format"`
	File       string `yaml:"file" doc:"log file (rotated; a relative path is in the repository root); empty: none"`
	MaxSize    int    `yaml:"maxSize" min:"1" doc:"log file size in MB before rotation"`
	MaxBackups int    `yaml:"maxBackups" min:"0" doc:"rotated log files kept"`
	MaxAge     int    `yaml:"maxAge" min:"0" doc:"days rotated log files are kept"`
}

// Stacks configures stack discovery.
type Stacks struct {
	Root string `yaml:"root" doc:"folder under the repo that holds stacks"`
}

// Duration is a time.Duration written as seconds (3600) or a Go duration ("1h").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Default returns the configuration with nothing set.
func Default() Config {
	return Config{
		Version:     "v1",
		Locks:       Locks{TTL: Duration(time.Hour), Heartbeat: Duration(30 * time.Second)},
		Pulumi:      Pulumi{SecretsProvider: "passphrase", StallTimeout: Duration(5 * time.Minute)},
		Preferences: Preferences{ColorOutput: true, ProgressBar: true, Parallelism: 10},
		Logging:     Logging{Level: "info", Format: "console", MaxSize: 100, MaxBackups: 10, MaxAge: 30},
		Stacks:      Stacks{Root: "stacks"},
	}
}

// layerRank orders Source layers by priority, lowest first.
var layerRank = map[string]int{"default": 0, "user": 1, "repo": 2, "stack": 3, "env": 4, "flag": 5}

// Source names where a value came from.
type Source struct {
	Layer string // "default", "user", "repo", "stack", "env", "flag"
	Where string // file:line, env var name or flag name
	// Unset names the ${NAME} references of a config file value whose
	// environment variable was unset or empty (comma-separated), "" when
	// there were none: the value read is not the one the file meant.
	Unset string
	// Defaulted names the ${NAME:-default} references whose variable was
	// unset or empty, so the default was taken (comma-separated): shown,
	// not refused, as the file says what to do then.
	Defaulted string
}

func (s Source) String() string {
	if s.Where == "" {
		return s.Layer
	}
	if s.Unset != "" {
		return s.Layer + " (" + s.Where + ", ${" + strings.ReplaceAll(s.Unset, ", ", "}, ${") + "} unset)"
	}
	if s.Defaulted != "" {
		return s.Layer + " (" + s.Where + ", default of ${" + strings.ReplaceAll(s.Defaulted, ", ", ":-...}, ${") + ":-...})"
	}
	return s.Layer + " (" + s.Where + ")"
}

// Resolved is a configuration with the source of every key.
type Resolved struct {
	Config
	Sources map[string]Source
	// notRequired is Layers.NotRequired, while the files are read.
	notRequired bool
}

// Value is one key of a resolved configuration, for display.
type Value struct {
	Key    string `json:"key"`
	Env    string `json:"env"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Doc    string `json:"doc,omitempty"`
}

// Layers are the inputs of Resolve, lowest priority first within files.
type Layers struct {
	UserFile string // ~/.panka/config.yaml (may not exist)
	RepoFile string // <repo>/panka.yaml (may not exist)
	// RepoData, when not nil, is read as the repository's panka.yaml in
	// place of RepoFile's content (a committed version of it); RepoFile
	// names it in sources and messages.
	RepoData  []byte
	Stack     map[string]string // stack.yaml spec.backend keys, "backend.bucket" -> value
	StackFile string            // for Source
	// StackLines gives the line in StackFile of each Stack key (0 or
	// missing: not known), for Source.
	StackLines map[string]int
	Env        []string          // os.Environ()
	Flags      map[string]string // config key -> value set by flags
	FlagNames  map[string]string // config key -> flag name, for Source
	// NotRequired reads ${NAME:?message} with NAME unset or empty as
	// ${NAME} (empty, NAME recorded in Source.Unset), not as an error,
	// but in stacks.root: for the pre-push hook, which checks what the
	// pushed files say on the pusher's machine, not in the environment
	// they are run in (a CI secret such as PULUMI_ACCESS_TOKEN refused
	// every git push), and for validate, show and changed, which deploy
	// nothing (a CI job of panka changed has no deploy secrets).
	NotRequired bool
}

// envMap is an environment (os.Environ()) as a map.
func envMap(environ []string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		if i := strings.IndexByte(kv, '='); i > 0 {
			env[kv[:i]] = kv[i+1:]
		}
	}
	return env
}

// CheckRepoFile returns what Resolve would refuse in a repository
// panka.yaml holding data (another commit's, read from git), named name
// in its messages; environ expands ${NAME} as Resolve does.
//
// ${NAME:?message} with NAME unset is no error here (Layers.NotRequired):
// the file is checked on a machine that need not be where it runs.
func CheckRepoFile(name string, data []byte, environ []string) error {
	r := &Resolved{Config: Default(), Sources: map[string]Source{}, notRequired: true}
	return r.loadData(name, data, "repo", envMap(environ))
}

// Resolve builds the effective configuration from its layers.
func Resolve(l Layers) (*Resolved, error) {
	r := &Resolved{Config: Default(), Sources: map[string]Source{}, notRequired: l.NotRequired}
	for _, k := range Keys() {
		r.Sources[k.Path] = Source{Layer: "default"}
	}
	env := envMap(l.Env)
	for _, f := range []struct{ path, layer string }{{l.UserFile, "user"}, {l.RepoFile, "repo"}} {
		if f.path == "" {
			continue
		}
		if f.layer == "repo" && l.RepoData != nil {
			if err := r.loadData(f.path, l.RepoData, f.layer, env); err != nil {
				return nil, err
			}
			continue
		}
		if err := r.loadFile(f.path, f.layer, env); err != nil {
			return nil, err
		}
	}
	for _, k := range sortedKeys(l.Stack) {
		where := l.StackFile
		if line := l.StackLines[k]; line > 0 && where != "" && !strings.Contains(where, " ") {
			// (Not "stack.yaml at abc1234": a committed file's line
			// reads as the work tree's.)
			where = fmt.Sprintf("%s:%d", where, line)
		}
		if err := r.set(k, l.Stack[k], Source{Layer: "stack", Where: where}); err != nil {
			return nil, fmt.Errorf("%s: spec.backend: %w", l.StackFile, err)
		}
	}
	for _, k := range Keys() {
		// An empty variable is as if unset: a CI secret that expands to
		// nothing (PANKA_BACKEND_BUCKET: ${{ secrets.BUCKET }}) must not
		// blank out the bucket panka.yaml names.
		if v, ok := env[k.Env]; ok && v != "" {
			if err := r.set(k.Path, v, Source{Layer: "env", Where: k.Env}); err != nil {
				return nil, fmt.Errorf("environment variable %s: %w", k.Env, err)
			}
		}
	}
	for _, k := range sortedKeys(l.Flags) {
		name := l.FlagNames[k]
		if err := r.set(k, l.Flags[k], Source{Layer: "flag", Where: "--" + name}); err != nil {
			return nil, fmt.Errorf("flag --%s: %w", name, err)
		}
	}
	r.applyImplied(env)
	return r, nil
}

// applyImplied fills values that depend on others (SPEC §8): a bucket
// without a backend type means an s3 backend (a bucket given with
// --backend-bucket or PANKA_BACKEND_BUCKET must not be ignored in favour of
// .panka/), with nothing configured both backends are local, with an s3
// backend and no lock settings locks default to s3; regions fall back to
// aws.region. A bucket set at a higher priority than backend.type: local
// counts as set without a type: `panka init` writes type: local into
// ~/.panka/config.yaml, and a team's panka.yaml bucket (or a CI job's
// PANKA_BACKEND_BUCKET) must not be ignored on every machine where someone
// once ran it. A custom S3 endpoint (backend.endpoint, or the SDK's
// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL in env) implies path-style
// addressing unless backend.usePathStyle is set, so config show prints what
// the S3 client uses.
func (r *Resolved) applyImplied(env map[string]string) {
	bucketSrc, typeSrc := r.Sources["backend.bucket"], r.Sources["backend.type"]
	switch {
	case r.Backend.Type == "":
		r.Backend.Type = "local"
		if r.Backend.Bucket != "" {
			r.Backend.Type = "s3"
			r.Sources["backend.type"] = Source{Layer: "default", Where: "implied by backend.bucket"}
		}
	case r.Backend.Type == "local" && r.Backend.Bucket != "" && layerRank[bucketSrc.Layer] > layerRank[typeSrc.Layer]:
		r.Backend.Type = "s3"
		r.Sources["backend.type"] = Source{Layer: "default", Where: "implied by backend.bucket from " + bucketSrc.String() +
			", which overrides backend.type=local from " + typeSrc.String()}
	}
	if r.Locks.Type == "" {
		switch {
		case r.Locks.Table != "":
			r.Locks.Type = "dynamodb"
			r.Sources["locks.type"] = Source{Layer: "default", Where: "implied by locks.table"}
		case r.Backend.Type == "s3":
			r.Locks.Type = "s3"
			r.Sources["locks.type"] = Source{Layer: "default", Where: "implied by backend.type=s3"}
		default:
			r.Locks.Type = "local"
			r.Sources["locks.type"] = Source{Layer: "default", Where: "implied by backend.type=" + r.Backend.Type}
		}
	}
	if r.Sources["backend.usePathStyle"].Layer == "default" && !r.Backend.UsePathStyle {
		by := ""
		switch {
		case r.Backend.Endpoint != "":
			by = "backend.endpoint"
		case env["AWS_ENDPOINT_URL_S3"] != "":
			by = "AWS_ENDPOINT_URL_S3"
		case env["AWS_ENDPOINT_URL"] != "":
			by = "AWS_ENDPOINT_URL"
		}
		if by != "" {
			r.Backend.UsePathStyle = true
			r.Sources["backend.usePathStyle"] = Source{Layer: "default", Where: "implied by the custom endpoint " + by}
		}
	}
	if r.Backend.Region == "" && r.AWS.Region != "" {
		r.Backend.Region = r.AWS.Region
		r.Sources["backend.region"] = Source{Layer: "default", Where: "from aws.region"}
	}
	if r.Locks.Region == "" && r.Backend.Region != "" {
		r.Locks.Region = r.Backend.Region
		r.Sources["locks.region"] = Source{Layer: "default", Where: "from backend.region"}
	}
	// An unset heartbeat is 30 s, or a third of a shorter lease's ttl (as
	// locker.LeaseOptions defaults it): locks.ttl: 20s alone was refused
	// for the default heartbeat it did not set, and a 40s ttl was renewed
	// only once before it ran out.
	if r.Sources["locks.heartbeat"].Layer == "default" {
		hb := r.Locks.TTL.D() / 3
		if hb >= time.Second {
			hb = hb.Truncate(time.Second)
		} else {
			hb = hb.Truncate(time.Millisecond)
		}
		if hb > 0 && hb < r.Locks.Heartbeat.D() {
			r.Locks.Heartbeat = Duration(hb)
			r.Sources["locks.heartbeat"] = Source{Layer: "default", Where: "a third of locks.ttl"}
		}
	}
}

// MinLockTTL and MinLockHeartbeat bound locks.ttl and locks.heartbeat.
const (
	MinLockTTL       = 2 * time.Second
	MinLockHeartbeat = 500 * time.Millisecond
)

// Validate checks cross-key rules (bucket required for s3 etc.). Each
// message says where the values in conflict were set, so the one to change
// can be found (an environment variable, a file line, a flag, a default).
func (r *Resolved) Validate() error {
	var errs []error
	if r.Backend.Type == "s3" && r.Backend.Bucket == "" {
		errs = append(errs, fmt.Errorf("backend.type is s3 (%s) but backend.bucket is empty: set it in panka.yaml, PANKA_BACKEND_BUCKET or --backend-bucket", r.Sources["backend.type"]))
	}
	if r.Locks.Type == "dynamodb" && r.Locks.Table == "" {
		errs = append(errs, fmt.Errorf("locks.type is dynamodb (%s) but locks.table is empty: set it in panka.yaml, PANKA_LOCKS_TABLE or --lock-table", r.Sources["locks.type"]))
	}
	if r.Locks.Type == "s3" && r.Backend.Type != "s3" {
		errs = append(errs, fmt.Errorf("locks.type s3 (%s) needs backend.type s3, but backend.type is %s (%s): the lock object lives next to the state", r.Sources["locks.type"], r.Backend.Type, r.Sources["backend.type"]))
	}
	// A lease shorter than a few round trips to the lock table runs out
	// between two renewals, and a heartbeat of 1ns renews without pause
	// (hammering the table): both are refused by name, not blamed on the
	// other key's default.
	switch {
	case r.Locks.TTL.D() < MinLockTTL:
		errs = append(errs, fmt.Errorf("locks.ttl (%s, %s) is too short: a lease must last at least %s (the default is 1h; the heartbeat renews it)", r.Locks.TTL, r.Sources["locks.ttl"], MinLockTTL))
	case r.Locks.Heartbeat.D() < MinLockHeartbeat:
		errs = append(errs, fmt.Errorf("locks.heartbeat (%s, %s) is too short: renew the lease at most every %s (the default is 30s, or a third of a shorter locks.ttl)", r.Locks.Heartbeat, r.Sources["locks.heartbeat"], MinLockHeartbeat))
	case r.Locks.Heartbeat.D() >= r.Locks.TTL.D():
		errs = append(errs, fmt.Errorf("locks.heartbeat (%s, %s) must be shorter than locks.ttl (%s, %s)", r.Locks.Heartbeat, r.Sources["locks.heartbeat"], r.Locks.TTL, r.Sources["locks.ttl"]))
	}
	return errors.Join(errs...)
}

// Values lists every key with its value and source, sorted by key.
// Secret keys are shown as (sensitive) when set, and so is the password
// of a URL that carries one (pulumi.backend: postgres://user:pw@host/db).
func (r *Resolved) Values() []Value {
	var out []Value
	for _, k := range Keys() {
		fv := fieldByPath(reflect.ValueOf(&r.Config).Elem(), k.Path)
		s := format(fv)
		if k.Secret && s != "" {
			s = "(sensitive)"
		} else {
			s = maskURLPassword(s)
		}
		out = append(out, Value{Key: k.Path, Env: k.Env, Value: s, Source: r.Sources[k.Path].String(), Doc: k.Doc})
	}
	return out
}

// maskURLPassword returns s with the password of its URL's user
// information shown as (sensitive); s itself when it has none.
func maskURLPassword(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		// Not a URL Go reads (a password holding "/", "#" or "%" as it
		// is, a bad port): its text was printed whole, password and all.
		return maskUserInfo(s)
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "(sensitive)")
	if out, err := url.PathUnescape(u.String()); err == nil {
		return out
	}
	return u.String()
}

// maskUserInfo shows the password of a URL url.Parse does not take,
// scheme://user:password@host..., as (sensitive): everything between the
// first ":" after the user and the last "@". s itself when it has no such
// part.
func maskUserInfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return s
	}
	return s[:i+3] + rest[:colon+1] + "(sensitive)" + rest[at:]
}

// Key describes one configuration key.
type Key struct {
	Path   string
	Env    string
	Doc    string
	Secret bool
	enum   []string
	min    *int
	url    bool
	prefix bool
	region bool
}

var keysCache []Key

// Keys lists every configuration key in declaration order.
func Keys() []Key {
	if keysCache == nil {
		walk(reflect.TypeOf(Config{}), "", &keysCache)
	}
	return keysCache
}

func walk(t reflect.Type, prefix string, out *[]Key) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		path := prefix + name
		if f.Type.Kind() == reflect.Struct {
			walk(f.Type, path+".", out)
			continue
		}
		k := Key{Path: path, Env: EnvName(path), Doc: f.Tag.Get("doc"), Secret: f.Tag.Get("secret") == "true"}
		if e, ok := f.Tag.Lookup("enum"); ok {
			k.enum = strings.Split(e, ",")
		}
		if m, ok := f.Tag.Lookup("min"); ok {
			n, _ := strconv.Atoi(m)
			k.min = &n
		}
		k.url = f.Tag.Get("format") == "url"
		k.prefix = f.Tag.Get("format") == "prefix"
		k.region = f.Tag.Get("format") == "region"
		*out = append(*out, k)
	}
}

// EnvName returns the environment variable of a key path:
// backend.usePathStyle -> PANKA_BACKEND_USE_PATH_STYLE.
func EnvName(path string) string {
	var b strings.Builder
	b.WriteString("PANKA_")
	for i, part := range strings.Split(path, ".") {
		if i > 0 {
			b.WriteByte('_')
		}
		for j, r := range part {
			if unicode.IsUpper(r) && j > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

func lookupKey(path string) (Key, bool) {
	for _, k := range Keys() {
		if k.Path == path {
			return k, true
		}
	}
	return Key{}, false
}

func (r *Resolved) set(path, value string, src Source) error {
	k, ok := lookupKey(path)
	if !ok {
		if strings.Contains(strings.ToLower(path), "passphrase") {
			// pulumi.passphrase: the key people look for first, and
			// none of the known ones is near it.
			return fmt.Errorf("unknown key %q: panka's configuration holds no passphrase (a config file is read in clear); give it in PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, which pulumi.secretsProvider: passphrase (the default) reads", path)
		}
		return fmt.Errorf("unknown key %q%s; see `panka config show` for the known keys", path, suggestKey(path, false))
	}
	fv := fieldByPath(reflect.ValueOf(&r.Config).Elem(), path)
	if err := assign(fv, value); err != nil {
		return fmt.Errorf("key %s: %w", path, err)
	}
	if k.enum != nil && !contains(k.enum, value) {
		return fmt.Errorf("key %s: %q is not one of %s", path, value, strings.Join(nonEmpty(k.enum), ", "))
	}
	if path == "stacks.root" && value == "" {
		// Read as unset it was the default, stacks, where one meant
		// the repository root may have meant "." (an empty environment
		// variable is unset, and never comes here).
		return fmt.Errorf(`key %s is empty: set the folder that holds your stacks ("." for the repository root), or remove the key for the default, stacks`, path)
	}
	if k.min != nil && fv.Kind() == reflect.Int && int(fv.Int()) < *k.min {
		return fmt.Errorf("key %s: %s is below the minimum %d", path, value, *k.min)
	}
	if k.url && value != "" {
		if err := CheckEndpoint(value); err != nil {
			return fmt.Errorf("key %s: %w", path, err)
		}
	}
	if k.region && value != "" && !IsRegionName(value) {
		// The SDK would refuse it on the first request ("invalid input
		// region us-east-1 "), naming neither the key nor where it was
		// set: a stray space from a CI variable, an underscore.
		return fmt.Errorf("key %s: %q is not a region name: letters, digits and hyphens, e.g. us-east-1", path, value)
	}
	if k.prefix {
		// Checked here, not only when the store opens, so the error names
		// the file:line or variable that set it.
		if _, err := statestore.NormalizePrefix(value); err != nil {
			return fmt.Errorf("key %s: %w", path, err)
		}
	}
	r.Sources[path] = src
	return nil
}

// CheckEndpoint refuses an endpoint URL the AWS SDK would fail on, or
// send to the wrong place: one without http(s):// and a host (the SDK only
// says so on the first request, as an "endpoint rule error"), and one with
// a path, under which the SDK sends every request: an S3-compatible server
// reads its first segment as the bucket, so the bucket "does not exist"
// (and backend create makes the wrong one).
func CheckEndpoint(value string) error {
	if !isEndpointURL(value) {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:7070", value)
	}
	if rest := endpointPath(value); rest != "" {
		return fmt.Errorf("%q has a path (%s): give only the server's scheme, host and port, e.g. http://127.0.0.1:7070 (the bucket is backend.bucket, the table locks.table)", value, rest)
	}
	return nil
}

// regionName is what the AWS SDK takes as a region: a host name (its
// labels of letters, digits and inner hyphens). An S3-compatible server may
// name its region anything of that shape (auto, garage, nyc3), so no more
// is asked here; AWS's own shape (us-east-1) is checked where a client
// talks to AWS.
var regionName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// IsRegionName reports whether s is a region name the AWS SDK takes.
func IsRegionName(s string) bool { return len(s) <= 63 && regionName.MatchString(s) }

// isEndpointURL reports whether s is an endpoint the AWS SDK accepts: an
// absolute http(s) URL with a host.
func isEndpointURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// endpointPath returns what an endpoint URL has after its host (a path
// other than "/", a query, a fragment), or "".
func endpointPath(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	rest := strings.TrimSuffix(u.EscapedPath(), "/")
	if u.RawQuery != "" || u.ForceQuery {
		rest += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		rest += "#" + u.EscapedFragment()
	}
	return rest
}

func (r *Resolved) loadFile(path, layer string, env map[string]string) error {
	// Stat first: reading a named pipe waits for a writer for ever, and
	// a device (a link to /dev/zero) never ends.
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// Not there. ENOTDIR: a folder above it is a file, as with
		// HOME=/dev/null (service accounts, hermetic builds): no
		// ~/.panka/config.yaml can exist there, which is no error (a file
		// named with --config or PANKA_CONFIG is checked before).
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	switch {
	case st.IsDir():
		return fmt.Errorf("read config %s: it is a folder: the config is a YAML file (remove or rename the folder)", path)
	case !st.Mode().IsRegular():
		kind := "a device"
		if st.Mode()&os.ModeNamedPipe != 0 {
			kind = "a named pipe"
		} else if st.Mode()&os.ModeDevice == 0 {
			kind = "a special file"
		}
		return fmt.Errorf("read config %s: not a regular file (%s): the config is a plain YAML file", path, kind)
	case st.Size() > stacks.MaxFileSize:
		return fmt.Errorf("read config %s: the file is %d bytes, more than the %d MB a config file may be", path, st.Size(), stacks.MaxFileSize>>20)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		// The folders above it could be searched (the stat worked): the
		// file itself is not readable, typically one written with sudo
		// (sudo panka init) or by a container. Said of the file, not
		// left to the generic advice about the folder it is in.
		return fmt.Errorf("read config %s: %w: you may not read the file: check its owner and mode (ls -l %s); one written with sudo or by a container belongs to root: chown it back, or chmod a+r it", path, fs.ErrPermission, path)
	}
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	return r.loadData(path, data, layer, env)
}

// loadData loads a config file's content; path names it in messages.
func (r *Resolved) loadData(path string, data []byte, layer string, env map[string]string) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		// As stack files report it: file:line:column, what is wrong.
		line, col, msg := stacks.YAMLErrorPos(err, data)
		where := path
		if line > 0 {
			where += fmt.Sprintf(":%d", line)
			if col > 0 {
				where += fmt.Sprintf(":%d", col)
			}
		}
		return fmt.Errorf("%s: not valid YAML: %s (fix the file; `panka config show` reads it back)", where, msg)
	}
	// A second document (after ---) was never read: its keys were
	// silently ignored.
	for {
		var more yaml.Node
		if err := dec.Decode(&more); err != nil {
			break // io.EOF, or an error in a document that is not read anyway
		}
		if len(more.Content) > 0 && !(more.Content[0].Kind == yaml.ScalarNode && more.Content[0].ShortTag() == "!!null") {
			return fmt.Errorf("%s:%d: a second YAML document (after ---): a config file holds one document; move its keys into the first and remove the ---", path, more.Content[0].Line)
		}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return r.loadNode(path, layer, "", doc.Content[0], env)
}

// envRef is a reference to an environment variable in a config file
// value: ${NAME}, ${NAME:-default} (the default when NAME is unset or
// empty) or ${NAME:?message} (an error saying message when it is), as in
// the shell and docker compose files. Group 1 is NAME, 2 the operator, 3
// the text after it, up to the first }.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// otherShellForm is a ${...} in one of the shell's forms other than ":-"
// and ":?" (NAME-default, NAME=default, NAME:=default, NAME?message,
// NAME:default): group 1 is NAME, 2 the operator, 3 the rest.
var otherShellForm = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:=|-|=|\?|:)([^}]*)\}`)

// expandEnv replaces the references of a config file value with the
// environment variables' values ("" for ${NAME} unset), as the seed's
// config file does for `accessToken: ${PULUMI_ACCESS_TOKEN}`: keeping the
// text would hand Pulumi "${PULUMI_ACCESS_TOKEN}" as the token, over the
// real one. unset names the ${NAME} references (no default) whose variable
// is unset or empty, comma-separated, "" when none: the value read is not
// the one the file meant. A variable set to nothing counts as unset
// throughout (as PANKA_* variables do).
//
// With notRequired, ${NAME:?message} reads as ${NAME} (Layers.NotRequired).
func expandEnv(v string, env map[string]string, notRequired bool) (out, unset, defaulted string, err error) {
	var names, defs []string
	out, err = expandRefs(v, func(name string) string { return env[name] }, notRequired, func(name string, hasDefault bool) {
		list := &names
		if hasDefault {
			list = &defs
		}
		if !slices.Contains(*list, name) {
			*list = append(*list, name)
		}
	})
	return out, strings.Join(names, ", "), strings.Join(defs, ", "), err
}

// ExpandEnv is what Resolve does to a config file value, its references
// replaced by getenv's values, for a value read outside it (the panka.yaml
// of another commit); the error is that of ${NAME:?message} with NAME
// unset, or of a reference Resolve refuses.
func ExpandEnv(v string, getenv func(string) string) (string, error) {
	return expandRefs(v, getenv, false, func(string, bool) {})
}

// expandRefs replaces the references of v, calling unset with the name of
// each ${NAME} or ${NAME:-default} (hasDefault) whose variable is unset or
// empty, and of each ${NAME:?message} as well with notRequired.
func expandRefs(v string, getenv func(string) string, notRequired bool, unset func(name string, hasDefault bool)) (string, error) {
	if !strings.Contains(v, "${") {
		return v, nil
	}
	for _, m := range otherShellForm.FindAllStringSubmatch(v, -1) {
		if strings.HasPrefix(m[2]+m[3], ":-") || strings.HasPrefix(m[2]+m[3], ":?") {
			continue
		}
		// Kept as text, ${IMAGE-latest} became the value itself (a
		// bucket named "${STATE_BUCKET-acme}"), where the shell reads a
		// default; stack files refuse these forms too.
		op := ":-"
		if m[2] == "?" {
			op = ":?"
		}
		return v, fmt.Errorf("%s is not read: a config file takes ${NAME}, ${NAME:-default} (NAME unset or empty) and ${NAME:?message}: write ${%s%s%s}", m[0], m[1], op, m[3])
	}
	var errs []error
	out := envRef.ReplaceAllStringFunc(v, func(m string) string {
		sm := envRef.FindStringSubmatch(m)
		name, op, word := sm[1], sm[2], sm[3]
		if strings.Contains(word, "${") {
			// ${A:-${B}} ends at the first "}": the default would be
			// the text "${B" and a stray "}" would follow.
			errs = append(errs, fmt.Errorf("the text after ${%s%s cannot hold ${...}: nested references are not supported; write the value itself there", name, op))
			return m
		}
		val := getenv(name)
		switch {
		case val != "":
			return val
		case op == ":-":
			unset(name, true)
			return word
		case op == ":?" && !notRequired:
			msg := strings.TrimSpace(word)
			if msg == "" {
				msg = "export it, or write the value in the file"
			}
			errs = append(errs, fmt.Errorf("${%s:?...}: %s is not set in the environment (or empty): %s", name, name, msg))
			return m
		}
		unset(name, false)
		return ""
	})
	return out, errors.Join(errs...)
}

func (r *Resolved) loadNode(file, layer, prefix string, n *yaml.Node, env map[string]string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: %s must be a mapping", file, n.Line, strings.TrimSuffix(prefix, ".")+orTop(prefix))
	}
	var errs []error
	seen := map[string]int{} // key -> line
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		for vn.Kind == yaml.AliasNode && vn.Alias != nil {
			// *name: the anchored value, as in stack files.
			vn = vn.Alias
		}
		path := prefix + kn.Value
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			errs = append(errs, fmt.Errorf("%s:%d:%d: merge keys (<<: *name) are not supported in config files: write the keys out%s", file, kn.Line, kn.Column, under(prefix)))
			continue
		}
		if t := unsupportedTag(kn, vn); t != nil {
			// yaml.v3 keeps the tag aside and the value as written:
			// region: !Ref r would set the region "r".
			errs = append(errs, fmt.Errorf("%s:%d:%d: key %s: YAML tag %s is not supported: config files hold plain values; remove the tag (write ${NAME} for an environment variable's value)", file, t.Line, t.Column, path, t.Tag))
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			// yaml.v3 keeps both; the last would silently win.
			errs = append(errs, fmt.Errorf("%s:%d:%d: duplicate key %q (first set at line %d): remove one of them", file, kn.Line, kn.Column, path, line))
			continue
		}
		seen[kn.Value] = kn.Line
		if strings.Contains(kn.Value, ".") && kn.Kind == yaml.ScalarNode {
			if _, known := lookupKey(path); known || hasPrefix(path+".") {
				// locks.table: x is one key named "locks.table" to YAML,
				// and was taken as the key locks.table: a file written
				// that way is read by no other tool the same, and a
				// second "locks:" section beside it was not seen to set
				// the same key.
				errs = append(errs, fmt.Errorf("%s:%d:%d: key %q: a dotted key is not a path in YAML; write it nested%s: %s",
					file, kn.Line, kn.Column, kn.Value, under(prefix), nestedForm(kn.Value, vn)))
				continue
			}
		}
		if vn.Kind == yaml.MappingNode {
			if _, known := lookupKey(path); known {
				// Not "unknown key": the key is known, its value is not
				// one (bucket: {name: x}, or its value indented a line
				// below it as name: x).
				errs = append(errs, fmt.Errorf("%s:%d:%d: key %s must be a single value, not a mapping: write it as %s: VALUE", file, vn.Line, vn.Column, path, kn.Value))
				continue
			}
			if !hasPrefix(path + ".") {
				errs = append(errs, fmt.Errorf("%s:%d:%d: unknown key %q%s; see `panka config show` for the known keys", file, kn.Line, kn.Column, path, suggestKey(path, true)))
				continue
			}
			if err := r.loadNode(file, layer, path+".", vn, env); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if hasPrefix(path + ".") {
			if vn.Kind == yaml.ScalarNode && vn.Tag == "!!null" {
				// "backend:" with every key under it commented out.
				continue
			}
			// Not "unknown key": it is known, as a section.
			if vn.Kind == yaml.ScalarNode {
				// "bucket acme-state" under backend: is one value to
				// YAML, the section's; the colon after bucket is missing.
				if key, value, ok := strings.Cut(vn.Value, " "); ok {
					if _, known := lookupKey(path + "." + key); known {
						// Several such lines fold into one text: the
						// example takes the first word after the key.
						errs = append(errs, fmt.Errorf("%s:%d:%d: %s is a section, but its value is the text %q: a colon is missing after %s; write each key as KEY: VALUE on its own line under %s:, e.g. %s: %s",
							file, vn.Line, vn.Column, path, vn.Value, key, kn.Value, key, strings.Fields(value + " VALUE")[0]))
						continue
					}
				}
			}
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s is a section, not a value: write its keys under it (%s), or remove it", file, kn.Line, kn.Column, path, sectionKeys(path)))
			continue
		}
		if vn.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s:%d:%d: key %s must be a single value", file, vn.Line, vn.Column, path))
			continue
		}
		if path == "version" && vn.Value != "v1" {
			// Checked in files only: PANKA_VERSION is often set in CI
			// for other purposes (the panka release to install).
			errs = append(errs, fmt.Errorf("%s:%d:%d: key version: %q is not one of v1 (a file written for another panka release?)", file, kn.Line, kn.Column, vn.Value))
			continue
		}
		// stacks.root is read by every command: what it means is never
		// left empty for a variable that is not set.
		value, unset, defaulted, err := expandEnv(vn.Value, env, r.notRequired && path != "stacks.root")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d:%d: key %s: %w", file, vn.Line, vn.Column, path, err))
			continue
		}
		if err := r.set(path, value, Source{Layer: layer, Where: fmt.Sprintf("%s:%d", file, kn.Line), Unset: unset, Defaulted: defaulted}); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %w", file, kn.Line, kn.Column, err))
		}
	}
	return errors.Join(errs...)
}

// nestedForm is a dotted key (locks.table) with its value written nested,
// in YAML's one-line form: locks: {table: x}. A value that YAML would not
// read as plain text there is quoted (QuoteYAML), and a value that is not
// a single one is VALUE.
func nestedForm(key string, vn *yaml.Node) string {
	v := "VALUE"
	if vn.Kind == yaml.ScalarNode && vn.Value != "" {
		v = QuoteYAML(vn.Value)
	}
	parts := strings.Split(key, ".")
	out := parts[len(parts)-1] + ": " + v
	for i := len(parts) - 2; i >= 0; i-- {
		out = parts[i] + ": {" + out + "}"
	}
	return out
}

// plainYAML is text YAML reads as that text, in a block and inside { }
// alike; plainYAMLOther is such text that YAML reads as something else (a
// boolean, null, a number).
var (
	plainYAML      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
	plainYAMLOther = regexp.MustCompile(`^(true|false|yes|no|on|off|null|[0-9.]+)$`)
)

// QuoteYAML quotes s when plain YAML would read it as something else, for
// a value panka writes or shows as YAML (panka init, a config error's
// nested form).
func QuoteYAML(s string) string {
	if plainYAML.MatchString(s) && !plainYAMLOther.MatchString(strings.ToLower(s)) {
		return s
	}
	return fmt.Sprintf("%q", s)
}

// under is " under SECTION" for a key prefix "SECTION.", "" at the top.
func under(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " under " + strings.TrimSuffix(prefix, ".")
}

// plainTags are the YAML tags a config file may carry: the core schema's,
// which only say what the value already is, as in stack files.
var plainTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!map": true, "!!seq": true,
}

// unsupportedTag returns the first of nodes carrying a tag other than the
// core schema's (!Ref, !Sub, !!binary), or nil.
func unsupportedTag(nodes ...*yaml.Node) *yaml.Node {
	for _, n := range nodes {
		if n.Tag != "" && n.Tag != "!" && !plainTags[n.ShortTag()] {
			return n
		}
	}
	return nil
}

func hasPrefix(p string) bool {
	for _, k := range Keys() {
		if strings.HasPrefix(k.Path, p) {
			return true
		}
	}
	return false
}

// suggestKey returns ` (did you mean "backend.bucket"?)` for the key
// closest to the unknown path, or for a section (a mapping in the file)
// the section closest to it: the same letters in another case or with
// '_'/'-' (backend.use_path_style), at most two edits away (backend.buckt),
// the one key whose name starts the unknown one's in its section
// (backend.bucketName), or the one key of that name in another section (backend.table:
// locks.table; bucket at the top: backend.bucket). A typo otherwise left
// the reader to find the key in `panka config show`'s forty lines.
func suggestKey(path string, section bool) string {
	squash := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	var cands []string
	seen := map[string]bool{}
	for _, k := range Keys() {
		if !section {
			cands = append(cands, k.Path)
			continue
		}
		parts := strings.Split(k.Path, ".")
		for i := 1; i < len(parts); i++ {
			if p := strings.Join(parts[:i], "."); !seen[p] {
				seen[p] = true
				cands = append(cands, p)
			}
		}
	}
	best, bd := "", 3
	for _, c := range cands {
		if d := stacks.EditDistance(squash(path), squash(c)); d < bd {
			best, bd = c, d
		}
	}
	if best == "" {
		// The key's name with a word more, in its section
		// (backend.bucketName, backend.endpointUrl, locks.tableName:
		// names other tools use), when one key's name starts it.
		sect, last := "", squash(path)
		if i := strings.LastIndex(path, "."); i >= 0 {
			sect, last = squash(path[:i+1]), squash(path[i+1:])
		}
		for _, c := range cands {
			i := strings.LastIndex(c, ".")
			name := squash(c[i+1:])
			if squash(c[:i+1]) != sect || len(name) < 4 || !strings.HasPrefix(last, name) {
				continue
			}
			if best != "" {
				best = ""
				break
			}
			best = c
		}
	}
	if best == "" {
		// The right name in the wrong section (or at the top).
		last := squash(path[strings.LastIndex(path, ".")+1:])
		for _, c := range cands {
			if squash(c[strings.LastIndex(c, ".")+1:]) != last {
				continue
			}
			if best != "" {
				return "" // several: no single guess
			}
			best = c
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// sectionKeys lists the keys of a section, e.g. "backend.type, backend.region, ...".
func sectionKeys(section string) string {
	var ks []string
	for _, k := range Keys() {
		if strings.HasPrefix(k.Path, section+".") {
			ks = append(ks, k.Path)
		}
	}
	return strings.Join(ks, ", ")
}

func orTop(prefix string) string {
	if prefix == "" {
		return "the file"
	}
	return ""
}

func fieldByPath(v reflect.Value, path string) reflect.Value {
	for _, part := range strings.Split(path, ".") {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("yaml") == part {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

var durationType = reflect.TypeOf(Duration(0))

func assign(fv reflect.Value, s string) error {
	if fv.Kind() != reflect.String {
		// Spaces around a duration, number or boolean mean nothing (a CI
		// variable with a stray one, PANKA_LOCKS_TTL=" 1h").
		s = strings.TrimSpace(s)
	}
	switch {
	case fv.Type() == durationType:
		if n, err := strconv.Atoi(s); err == nil {
			if n <= 0 {
				return fmt.Errorf("%q must be positive", s)
			}
			if n > math.MaxInt64/int(time.Second) {
				// time.Duration(n) * time.Second would wrap around, to a
				// negative or a tiny lease.
				return fmt.Errorf("%q seconds is too long (at most %d, about 292 years)", s, math.MaxInt64/int(time.Second))
			}
			fv.SetInt(int64(time.Duration(n) * time.Second))
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration (seconds, or e.g. 90s, 1h)", s)
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		fv.SetInt(int64(n))
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}

func format(v reflect.Value) string {
	if v.Type() == durationType {
		return Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.Itoa(int(v.Int()))
	}
	return v.String()
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// otherEnv are PANKA_ variables panka reads that are not configuration
// keys; otherEnvPrefixes are families of them (variables, tests).
var (
	otherEnv         = map[string]bool{"PANKA_CONFIG": true, "PANKA_GIT_BINARY": true}
	otherEnvPrefixes = []string{"PANKA_VAR_", "PANKA_TEST_", "PANKA_BENCH_", "PANKA_E2E_", "PANKA_ENGINE_", "PANKA_UNLOCK_", "PANKA_DEMO_"}
)

// UnknownEnv lists the PANKA_* variables of env, set to a value, that panka does not read,
// sorted, each with the key's variable it most likely means
// ("PANKA_BACKEND_BUKET (did you mean PANKA_BACKEND_BUCKET?)"): a typo in
// one is otherwise silently ignored, and the setting falls back to a
// lower layer (for a bucket: state in .panka/).
func UnknownEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PANKA_") || value == "" || otherEnv[name] {
			continue
		}
		known := false
		for _, p := range otherEnvPrefixes {
			known = known || strings.HasPrefix(name, p)
		}
		for _, k := range Keys() {
			known = known || k.Env == name
		}
		if known {
			continue
		}
		out = append(out, name+suggestEnv(name))
	}
	sort.Strings(out)
	return out
}

// suggestEnv returns ` (did you mean PANKA_X?)` for the configuration
// variable closest to name: the same letters with other underscores
// (PANKA_BACKEND_USEPATHSTYLE), or at most two edits away.
func suggestEnv(name string) string {
	squash := func(s string) string { return strings.ReplaceAll(strings.ToUpper(s), "_", "") }
	best, bd := "", 3
	for _, k := range Keys() {
		d := stacks.EditDistance(squash(name), squash(k.Env))
		if d < bd {
			best, bd = k.Env, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}
