package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEveryKeyHasItsEnvVar pins SPEC §8: every configuration key has an
// environment variable named PANKA_ + its path in upper snake case (the
// SPEC's own examples are checked by name), and setting that variable
// sets the key, with "env (VAR)" as its source.
func TestEveryKeyHasItsEnvVar(t *testing.T) {
	for path, want := range map[string]string{
		"backend.bucket":         "PANKA_BACKEND_BUCKET",
		"backend.usePathStyle":   "PANKA_BACKEND_USE_PATH_STYLE",
		"backend.endpoint":       "PANKA_BACKEND_ENDPOINT",
		"locks.table":            "PANKA_LOCKS_TABLE",
		"locks.endpoint":         "PANKA_LOCKS_ENDPOINT",
		"aws.assumeRole.roleArn": "PANKA_AWS_ASSUME_ROLE_ROLE_ARN",
	} {
		k, ok := lookupKey(path)
		if !ok {
			t.Errorf("no key %s", path)
			continue
		}
		if k.Env != want {
			t.Errorf("%s: env %s, want %s", path, k.Env, want)
		}
	}
	// A value each kind of key accepts, other than its default.
	value := func(k Key, cur reflect.Value) string {
		switch {
		case cur.Type() == durationType:
			if strings.HasSuffix(k.Path, "heartbeat") {
				return "45s" // shorter than the default ttl
			}
			return "2h"
		case cur.Kind() == reflect.Bool:
			if cur.Bool() {
				return "false"
			}
			return "true"
		case cur.Kind() == reflect.Int:
			return "7"
		case len(k.enum) > 0:
			for _, e := range k.enum {
				if e != "" && e != cur.String() {
					return e
				}
			}
		case k.url:
			return "http://127.0.0.1:9000"
		case k.region:
			return "eu-central-1"
		case k.prefix:
			return "team-a/"
		}
		return "x-" + strings.ToLower(k.Env)
	}
	for _, k := range Keys() {
		t.Run(k.Path, func(t *testing.T) {
			def := Default()
			v := value(k, fieldByPath(reflect.ValueOf(&def).Elem(), k.Path))
			// backend.type s3 needs its bucket, locks.type s3 an s3 backend.
			env := []string{k.Env + "=" + v}
			if k.Path != "backend.bucket" {
				env = append(env, "PANKA_BACKEND_BUCKET=b")
			}
			r, err := Resolve(Layers{Env: env})
			if err != nil {
				t.Fatalf("%s=%s: %v", k.Env, v, err)
			}
			if got := r.Sources[k.Path]; got.Layer != "env" || got.Where != k.Env {
				t.Errorf("%s=%s: source %v, want env (%s)", k.Env, v, got, k.Env)
			}
			fv := fieldByPath(reflect.ValueOf(&r.Config).Elem(), k.Path)
			want := v
			if fv.Type() == durationType {
				d, _ := time.ParseDuration(v)
				want = d.String()
			}
			if got := format(fv); got != want {
				t.Errorf("%s=%s: %s is %q, want %q", k.Env, v, k.Path, got, want)
			}
		})
	}
}
