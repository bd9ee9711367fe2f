package cli

import (
	"os"
	"path/filepath"
	"strings"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/stacks"
)

// planSecretKey derives the key for hashing secret values from the Pulumi
// passphrase (see planner.DeriveSecretKey): PULUMI_CONFIG_PASSPHRASE, or,
// as Pulumi reads it, the content of the file PULUMI_CONFIG_PASSPHRASE_FILE
// names (spaces around it trimmed). Without a passphrase the hashes are
// unkeyed, which is said in verbose logs. It is derived once a run.
func (f *Factory) planSecretKey() []byte {
	f.secretKeyOnce.Do(func() { f.secretKey = f.deriveSecretKey() })
	return f.secretKey
}

func (f *Factory) deriveSecretKey() []byte {
	passphrase, err := f.passphrase()
	if err != nil {
		f.Warnf("PULUMI_CONFIG_PASSPHRASE_FILE: %v: secret values are hashed without a key, which can be guessed for short secrets; make the file readable (Pulumi needs it too)", err)
	}
	key := planner.DeriveSecretKey(passphrase)
	if key == nil {
		f.Log.Debug().Msg("neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE gives a passphrase: secret values are hashed without a key (unkeyed SHA-256)")
	}
	return key
}

// passphrase is the secrets passphrase as panka and Pulumi read it:
// PULUMI_CONFIG_PASSPHRASE, or, when that is empty, the content of the file
// PULUMI_CONFIG_PASSPHRASE_FILE names (spaces around it trimmed); "" when
// neither gives one. err is the file's read error.
func (f *Factory) passphrase() (string, error) {
	passphrase := f.Getenv("PULUMI_CONFIG_PASSPHRASE")
	if p := f.passphraseFile(); passphrase == "" && p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		passphrase = strings.TrimSpace(string(b))
	}
	return passphrase, nil
}

// passphraseFile is the file PULUMI_CONFIG_PASSPHRASE_FILE names, a
// relative name resolved against the working directory panka was started
// in; "" when unset. The engine is given this absolute path: Pulumi runs in
// a workspace of its own, where a relative name names another file.
func (f *Factory) passphraseFile() string {
	p := f.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE")
	if p != "" && !filepath.IsAbs(p) {
		if wd, err := f.Getwd(); err == nil {
			p = filepath.Join(wd, p)
		}
	}
	return p
}

// engineEnviron is the environment panka-engine (and the Pulumi CLI it
// runs) gets: panka's own, except that a PULUMI_CONFIG_PASSPHRASE set but
// empty is left out when PULUMI_CONFIG_PASSPHRASE_FILE is set. panka then
// keys its secret hashes from the file (an empty value counts as unset, as
// for panka's own variables), and Pulumi, which prefers a set variable
// even when empty, would encrypt with the empty passphrase instead: both
// use the file's passphrase.
func (f *Factory) engineEnviron() []string {
	env := f.Environ()
	if f.passphraseFile() == "" {
		return env
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if kv == "PULUMI_CONFIG_PASSPHRASE=" {
			f.Log.Debug().Msg("PULUMI_CONFIG_PASSPHRASE is empty: Pulumi is given the passphrase of PULUMI_CONFIG_PASSPHRASE_FILE, as panka uses")
			continue
		}
		out = append(out, kv)
	}
	return out
}

// warnUnkeyedSecrets warns, once a run, when model holds secret values and
// they are hashed without a key because the configured secrets provider
// is not the passphrase one (awskms://...): panka derives the hash key from
// the Pulumi passphrase only (it never calls AWS KMS itself), so the
// hashes that state, history, saved plans and local manifests keep are
// unkeyed SHA-256, which can be brute-forced for short or guessable
// secrets. With the passphrase provider a missing passphrase stops apply
// before anything is written, but PULUMI_CONFIG_PASSPHRASE set and empty
// (without PULUMI_CONFIG_PASSPHRASE_FILE) does not: Pulumi accepts the
// empty passphrase on purpose, so that case is said too.
func (f *Factory) warnUnkeyedSecrets(cfg *config.Resolved, model *stacks.Resolved, key []byte) {
	if len(key) > 0 || cfg == nil || model == nil {
		return
	}
	sp := cfg.Pulumi.SecretsProvider
	if sp == "" || sp == "passphrase" {
		if !f.emptyPassphrase() || !hasSecretValues(model) {
			return
		}
		f.unkeyedOnce.Do(func() {
			f.Warnf("%s/%s: PULUMI_CONFIG_PASSPHRASE is set but empty (and no PULUMI_CONFIG_PASSPHRASE_FILE is set), so Pulumi encrypts secrets with the empty passphrase and the hashes of secret values that state, history and manifests keep are unkeyed SHA-256, which can be guessed for short or common secrets: set PULUMI_CONFIG_PASSPHRASE to a value kept secret, the same on every run (see docs/plan.md)",
				model.Stack, model.Environment)
		})
		return
	}
	if !hasSecretValues(model) {
		return
	}
	f.unkeyedOnce.Do(func() {
		f.Warnf("%s/%s: pulumi.secretsProvider is %s and no PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is set, so the hashes of secret values that state, history and manifests keep are unkeyed SHA-256, which can be guessed for short or common secrets: set PULUMI_CONFIG_PASSPHRASE to a value kept secret, the same on every run, to key them (the awskms provider ignores it; see docs/plan.md)",
			model.Stack, model.Environment, secretsProviderScheme(sp))
	})
}

// emptyPassphrase reports whether PULUMI_CONFIG_PASSPHRASE is in the
// environment with an empty value and PULUMI_CONFIG_PASSPHRASE_FILE is not
// set: Pulumi then uses the empty passphrase (when it is unset, apply stops).
func (f *Factory) emptyPassphrase() bool {
	if f.passphraseFile() != "" || f.Environ == nil {
		return false
	}
	for _, kv := range f.Environ() {
		if kv == "PULUMI_CONFIG_PASSPHRASE=" {
			return true
		}
	}
	return false
}

// secretsProviderScheme returns the scheme of a secrets provider URL
// ("awskms://"), not the key it names.
func secretsProviderScheme(sp string) string {
	if scheme, _, ok := strings.Cut(sp, "://"); ok {
		return scheme + "://..."
	}
	return sp
}

// hasSecretValues reports whether model holds a secret value (in its
// variables or its components' specs) that is hashed when recorded.
func hasSecretValues(model *stacks.Resolved) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		default:
			return stacks.IsSensitive(x)
		}
		return false
	}
	for _, v := range model.Variables {
		if walk(v.Value) {
			return true
		}
	}
	for _, c := range model.Components {
		if walk(c.Spec) {
			return true
		}
	}
	return false
}
