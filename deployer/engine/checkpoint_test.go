package engine

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
)

// TestComponentsTouched: a component is touched when one of its resources
// (itself or one below it) was created or modified since, is pending or
// marked for deletion, or carries no timestamps; the stack's root and
// providers are no components.
func TestComponentsTouched(t *testing.T) {
	const doc = `{"version":3,"checkpoint":{"latest":{"resources":[
{"urn":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","type":"pulumi:pulumi:Stack","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::pulumi:providers:aws::default","type":"pulumi:providers:aws","created":"2026-01-03T00:00:00Z","modified":"2026-01-03T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Svc::web","type":"panka:Svc","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Svc$aws:ecs:Service::web","type":"aws:ecs:Service","parent":"urn:pulumi:s::panka::panka:Svc::web","created":"2026-01-01T00:00:00Z","modified":"2026-01-03T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Db::db","type":"panka:Db","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Q::jobs","type":"panka:Q","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:B::old","type":"panka:B","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s"}
],"pending_operations":[{"resource":{"urn":"urn:pulumi:s::panka::panka:Q$aws:sqs:Queue::jobs","parent":"urn:pulumi:s::panka::panka:Q::jobs"},"type":"updating"}]}}}`
	present, touched, ok := ComponentsTouched([]byte(doc), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if !ok {
		t.Fatal("not read")
	}
	for _, c := range []string{"web", "db", "jobs", "old"} {
		if !present[c] {
			t.Errorf("%s not present", c)
		}
	}
	if len(present) != 4 {
		t.Errorf("present = %v, want web, db, jobs, old", present)
	}
	for c, want := range map[string]bool{"web": true, "db": false, "jobs": true, "old": true} {
		if touched[c] != want {
			t.Errorf("touched[%s] = %v, want %v", c, touched[c], want)
		}
	}
	if _, _, ok := ComponentsTouched([]byte("not json"), time.Now()); ok {
		t.Error("garbage read as a checkpoint")
	}
}

// TestPassphraseMatches checks the passphrase against a secrets provider
// state made as Pulumi's passphrase provider makes it (its own crypter),
// and finds nothing to check in checkpoints without one.
func TestPassphraseMatches(t *testing.T) {
	salt := []byte("8bytes!!")
	check, err := config.NewSymmetricCrypterFromPassphrase("right", salt).EncryptValue(context.Background(), "pulumi")
	if err != nil {
		t.Fatal(err)
	}
	state := "v1:" + base64.StdEncoding.EncodeToString(salt) + ":" + check
	cp := `{"checkpoint":{"stack":"panka/shop-dev","latest":{"secrets_providers":{"type":"passphrase","state":{"salt":"` + state + `"}},"resources":[]}}}`
	for _, c := range []struct {
		name, checkpoint, passphrase string
		match, ok                    bool
	}{
		{"right", cp, "right", true, true},
		{"wrong", cp, "wrong", false, true},
		{"empty", cp, "", false, true},
		{"no checkpoint", "", "right", false, false},
		{"never deployed", `{"checkpoint":{"stack":"panka/shop-dev"}}`, "right", false, false},
		{"kms", `{"checkpoint":{"latest":{"secrets_providers":{"type":"cloud","state":{"url":"awskms://k"}}}}}`, "right", false, false},
		{"malformed", `{"checkpoint":{"latest":{"secrets_providers":{"type":"passphrase","state":{"salt":"v2:x"}}}}}`, "right", false, false},
		{"not json", `{`, "right", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			match, ok := PassphraseMatches([]byte(c.checkpoint), c.passphrase)
			if match != c.match || ok != c.ok {
				t.Errorf("PassphraseMatches = %v, %v; want %v, %v", match, ok, c.match, c.ok)
			}
		})
	}
}
