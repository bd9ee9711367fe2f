package cli

import "panka.dev/panka/deployer/planner"

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
