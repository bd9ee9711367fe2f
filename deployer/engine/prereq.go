package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrPulumiNotFound is returned (wrapped) when the Pulumi CLI cannot be found.
var ErrPulumiNotFound = errors.New("pulumi CLI not found")

// ErrNoPassphrase is returned (wrapped) when the passphrase secrets provider
// has no passphrase.
var ErrNoPassphrase = errors.New("the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)")

// FindPulumi returns the Pulumi CLI a session uses: configured (the
// pulumi.cli config key) when set, else `pulumi` on the PATH of environ.
// It is what panka-engine runs, so panka can check it before it starts one.
func FindPulumi(configured string, environ []string) (string, error) {
	if configured != "" {
		if !executable(configured) {
			return "", fmt.Errorf("%w at %s (config pulumi.cli): point pulumi.cli at a pulumi binary, or unset it to use PATH; `make tools` builds one into .tools/bin", ErrPulumiNotFound, configured)
		}
		return configured, nil
	}
	path, _ := lookup(environ, "PATH")
	for _, dir := range filepath.SplitList(path) {
		// Like exec.LookPath, never a binary found through a relative PATH entry.
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, "pulumi"); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w on PATH: panka runs deployments through the Pulumi CLI (tested with v3.274.1); "+
		"run `make tools` in the panka repository to build it into .tools/bin and add that to PATH, "+
		"or set pulumi.cli (PANKA_PULUMI_CLI) to its path", ErrPulumiNotFound)
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func lookup(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Prerequisites are what an engine session needs on this machine.
type Prerequisites struct {
	// Binary is the panka-engine path (default FindBinary).
	Binary string
	// PulumiCLI is the pulumi.cli config value ("" : `pulumi` on PATH).
	PulumiCLI string
	// SecretsProvider is the pulumi.secretsProvider config value; "" and
	// "passphrase" need a passphrase in Environ.
	SecretsProvider string
	// Environ is the environment panka-engine gets.
	Environ []string
}

// Check reports every missing prerequisite in one error, nil when none is
// missing. It starts nothing and writes nothing, so a deployment calls it
// before it takes its lease or records anything: a run that cannot start
// the engine leaves no trace.
func (p Prerequisites) Check() error {
	var errs []error
	if p.Binary == "" {
		if _, err := FindBinary(); err != nil {
			errs = append(errs, err)
		}
	} else if !executable(p.Binary) {
		errs = append(errs, fmt.Errorf("%w at %s", ErrBinaryNotFound, p.Binary))
	}
	if _, err := FindPulumi(p.PulumiCLI, p.Environ); err != nil {
		errs = append(errs, err)
	}
	if p.SecretsProvider == "" || p.SecretsProvider == "passphrase" {
		_, ok1 := lookup(p.Environ, "PULUMI_CONFIG_PASSPHRASE")
		_, ok2 := lookup(p.Environ, "PULUMI_CONFIG_PASSPHRASE_FILE")
		if !ok1 && !ok2 {
			errs = append(errs, fmt.Errorf("%w: export it, with the same value on every run, or set pulumi.secretsProvider to an awskms:// key", ErrNoPassphrase))
		}
	}
	return errors.Join(errs...)
}
