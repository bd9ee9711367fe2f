package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// PassphraseMatches reports whether passphrase is the one the secrets of
// checkpoint b (CheckpointPath) are encrypted with. Pulumi's passphrase
// secrets provider keeps, in the checkpoint, its salt and a check value
// ("pulumi" sealed with AES-256-GCM under the key PBKDF2-SHA256 derives
// from the passphrase and that salt, 1,000,000 rounds): a run given another
// passphrase fails only when it decrypts a secret, and a stack holding none
// was deployed, and re-keyed, under any passphrase without a word. ok is
// false when there is nothing to check against: no checkpoint, another
// secrets provider (awskms://...), or a state panka cannot read (the
// engine then says what is wrong itself). It costs the derivation (about
// half a second): call it once a run.
func PassphraseMatches(b []byte, passphrase string) (match, ok bool) {
	var doc struct {
		Checkpoint struct {
			Latest *struct {
				SecretsProviders *struct {
					Type  string `json:"type"`
					State struct {
						Salt string `json:"salt"`
					} `json:"state"`
				} `json:"secrets_providers"`
			} `json:"latest"`
		} `json:"checkpoint"`
	}
	if len(b) == 0 || json.Unmarshal(b, &doc) != nil || doc.Checkpoint.Latest == nil {
		return false, false
	}
	sp := doc.Checkpoint.Latest.SecretsProviders
	if sp == nil || sp.Type != "passphrase" {
		return false, false
	}
	// "v1:<salt>:v1:<nonce>:<sealed check value>"
	parts := strings.Split(sp.State.Salt, ":")
	if len(parts) != 5 || parts[0] != "v1" || parts[2] != "v1" {
		return false, false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[1])
	nonce, err2 := base64.StdEncoding.DecodeString(parts[3])
	sealed, err3 := base64.StdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || err3 != nil {
		return false, false
	}
	key, err := pbkdf2.Key(sha256.New, passphrase, salt, 1000000, 32)
	if err != nil {
		return false, false
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return false, false
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil || len(nonce) != gcm.NonceSize() {
		return false, false
	}
	check, err := gcm.Open(nil, nonce, sealed, nil)
	return err == nil && string(check) == "pulumi", true
}

// ComponentsTouched reads b, a DIY checkpoint (CheckpointPath), and
// returns the components it holds (top-level resources, by name; the
// stack's root resource and providers left out) and those of them that
// an operation may have changed at or after since: a resource of the
// component (itself or one below it) created or modified then, pending
// (an operation was in flight when the run stopped) or marked for
// deletion (a replacement that did not finish). ok is false when b is not
// a checkpoint panka can read. Pulumi stamps a resource's modified time
// only when a step creates or updates it; one a run left as it was keeps
// its earlier time.
func ComponentsTouched(b []byte, since time.Time) (present, touched map[string]bool, ok bool) {
	var doc struct {
		Checkpoint struct {
			Latest *struct {
				Resources []struct {
					URN      string     `json:"urn"`
					Type     string     `json:"type"`
					Parent   string     `json:"parent"`
					Delete   bool       `json:"delete"`
					Created  *time.Time `json:"created"`
					Modified *time.Time `json:"modified"`
				} `json:"resources"`
				Pending []struct {
					Resource struct {
						URN    string `json:"urn"`
						Parent string `json:"parent"`
					} `json:"resource"`
				} `json:"pending_operations"`
			} `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, false
	}
	present, touched = map[string]bool{}, map[string]bool{}
	latest := doc.Checkpoint.Latest
	if latest == nil {
		return present, touched, true
	}
	name := func(urn string) string { return urn[strings.LastIndex(urn, "::")+2:] }
	// Parents come before their children in a checkpoint.
	component := map[string]string{}
	root := map[string]bool{}
	of := func(urn, parent, typ string) string {
		if c, ok := component[parent]; ok {
			return c
		}
		if typ == "pulumi:pulumi:Stack" || strings.HasPrefix(typ, "pulumi:providers:") || (parent != "" && !root[parent]) {
			return ""
		}
		return name(urn)
	}
	for _, r := range latest.Resources {
		if r.Type == "pulumi:pulumi:Stack" {
			root[r.URN] = true
			continue
		}
		c := of(r.URN, r.Parent, r.Type)
		if c == "" {
			continue
		}
		component[r.URN] = c
		present[c] = true
		if r.Delete || r.Created == nil || r.Modified == nil || !r.Created.Before(since) || !r.Modified.Before(since) {
			touched[c] = true
		}
	}
	for _, p := range latest.Pending {
		if c := of(p.Resource.URN, p.Resource.Parent, ""); c != "" {
			touched[c] = true
		}
	}
	return present, touched, true
}
