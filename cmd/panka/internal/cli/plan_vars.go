package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/stacks"
)

// planVarEnvPrefix starts the environment variables that set stack
// variables (PANKA_VAR_DB_HOST sets DB_HOST).
const planVarEnvPrefix = "PANKA_VAR_"

// planVarValues gathers variable values from --var KEY=VALUE flags, a
// --var-file (YAML/JSON mapping or KEY=VALUE lines; "-" reads stdin) and
// PANKA_VAR_<NAME> environment variables.
func planVarValues(flags []string, file string, stdin io.Reader, environ []string) (stacks.VarValues, error) {
	v := stacks.VarValues{Flags: map[string]string{}, File: map[string]string{}, Env: map[string]string{}}
	for _, kv := range flags {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return v, Usagef("--var %q: want KEY=VALUE", kv)
		}
		v.Flags[k] = val
	}
	if file != "" {
		var (
			b   []byte
			err error
		)
		name := file
		if file == "-" {
			name = "stdin"
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(file)
		}
		if err != nil {
			return v, fmt.Errorf("read --var-file %s: %w", name, err)
		}
		if v.File, err = planParseVarFile(b); err != nil {
			return v, fmt.Errorf("read --var-file %s: %w", name, err)
		}
	}
	for _, kv := range environ {
		if !strings.HasPrefix(kv, planVarEnvPrefix) {
			continue
		}
		k, val, _ := strings.Cut(kv[len(planVarEnvPrefix):], "=")
		if k != "" {
			v.Env[k] = val
		}
	}
	return v, nil
}

// planParseVarFile reads a YAML (or JSON) mapping of scalars, or
// KEY=VALUE lines (blank lines and # comments ignored).
func planParseVarFile(b []byte) (map[string]string, error) {
	out := map[string]string{}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return out, nil
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err == nil && m != nil {
		for k, val := range m {
			switch x := val.(type) {
			case map[string]any, []any:
				return nil, fmt.Errorf("variable %s: want a scalar value", k)
			case nil:
				out[k] = ""
			default:
				out[k] = fmt.Sprint(x)
			}
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("line %d: want KEY=VALUE or a YAML mapping", n)
		}
		out[strings.TrimSpace(k)] = val
	}
	return out, sc.Err()
}

// planSecretKey derives the key for hashing secret values from
// PULUMI_CONFIG_PASSPHRASE (see planner.DeriveSecretKey). Without a
// passphrase the hashes are unkeyed, which is said in verbose logs.
func (f *Factory) planSecretKey() []byte {
	key := planner.DeriveSecretKey(f.Getenv("PULUMI_CONFIG_PASSPHRASE"))
	if key == nil {
		f.Log.Debug().Msg("PULUMI_CONFIG_PASSPHRASE is empty: secret values are hashed without a key (unkeyed SHA-256)")
	}
	return key
}
