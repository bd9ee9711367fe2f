package statestore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/statestore"
)

// FuzzDecode feeds arbitrary bytes to the state.json and history record
// decoders: each is a value or an error wrapping ErrCorrupt or
// ErrFutureSchema that names where it was read, never a panic; a value
// encodes and decodes back to the same encoding.
func FuzzDecode(f *testing.F) {
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	st, _ := statestore.EncodeState(&statestore.State{Serial: 3, Status: "deployed",
		LastDeployment: &statestore.Deployment{ID: "d1", Operation: "apply", Commit: strings.Repeat("a", 40)},
		Spec:           []byte(`{"stack":"orders","components":[{"name":"q","kind":"Queue","spec":{"fifo":true}}]}`),
		Outputs:        map[string]map[string]any{"q": {"url": "x"}}, UpdatedAt: time.Unix(1, 0)}, k)
	d, _ := statestore.EncodeDeployment(&statestore.Deployment{ID: "d1", Operation: "apply", Vars: map[string]string{"A": "b"}}, k)
	for _, b := range [][]byte{st, d, nil, []byte("null"), []byte("[]"), []byte(`{"schemaVersion":"1"}`),
		[]byte(`{"schemaVersion":99}`), []byte(`{"schemaVersion":1,"stack":"orders","environment":"dev","serial":1e999}`),
		[]byte("{\"schemaVersion\":1,\n\"updatedAt\":\"yesterday\"}"), st[:len(st)/2]} {
		f.Add(b)
	}
	const where = "s3://bucket/stacks/orders/dev/state.json"
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if !errors.Is(err, statestore.ErrCorrupt) && !errors.Is(err, statestore.ErrFutureSchema) {
				t.Fatalf("error wraps neither ErrCorrupt nor ErrFutureSchema: %v", err)
			}
			if !strings.Contains(err.Error(), where) {
				t.Fatalf("error does not say where: %v", err)
			}
		}
		if s, err := statestore.DecodeState(b, k, where); err != nil {
			check(err)
		} else {
			out, err := statestore.EncodeState(s, k)
			if err != nil {
				t.Fatalf("decoded state does not encode: %v", err)
			}
			s2, err := statestore.DecodeState(out, k, where)
			if err != nil {
				t.Fatalf("encoded state does not decode: %v\n%s", err, out)
			}
			if out2, _ := statestore.EncodeState(s2, k); string(out2) != string(out) {
				t.Fatalf("state changed on a round trip:\n%s\n%s", out, out2)
			}
		}
		if d, err := statestore.DecodeDeployment(b, k, where); err != nil {
			check(err)
		} else if _, err := statestore.EncodeDeployment(d, k); err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
	})
}
