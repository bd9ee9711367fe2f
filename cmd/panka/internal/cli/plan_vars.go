package cli

import (
	"os"
	"path/filepath"
	"strings"

	"panka.dev/panka/deployer/planner"
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
	passphrase := f.Getenv("PULUMI_CONFIG_PASSPHRASE")
	if file := f.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE"); passphrase == "" && file != "" {
		p := file
		if !filepath.IsAbs(p) {
			if wd, err := f.Getwd(); err == nil {
				p = filepath.Join(wd, p)
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Warnf("PULUMI_CONFIG_PASSPHRASE_FILE: %v: secret values are hashed without a key, which can be guessed for short secrets; make the file readable (Pulumi needs it too)", err)
		}
		passphrase = strings.TrimSpace(string(b))
	}
	key := planner.DeriveSecretKey(passphrase)
	if key == nil {
		f.Log.Debug().Msg("neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE gives a passphrase: secret values are hashed without a key (unkeyed SHA-256)")
	}
	return key
}
