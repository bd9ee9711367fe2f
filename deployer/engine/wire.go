package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"panka.dev/panka/stacks"
)

// ProtocolVersion guards against a panka and a panka-engine from different builds.
const ProtocolVersion = 4 // 2: AllowDestroy, AllowReplace; 3: preview-refresh; 4: Deployed

// EnvLocalDirectory tells the local target's provider
// (pulumi-resource-pankalocal, which has the same constant) the absolute
// manifest directory of the checkout that runs the engine, so that a
// refresh or delete whose engine state names another folder (a moved
// checkout, another clone) finds the manifests here.
const EnvLocalDirectory = "PANKALOCAL_DIRECTORY"

// Request starts an engine session: the first line panka writes.
type Request struct {
	Protocol int `json:"protocol"`
	// Stack is the Pulumi stack name; BackendURL where its state lives.
	Stack           string `json:"stack"`
	BackendURL      string `json:"backendUrl"`
	SecretsProvider string `json:"secretsProvider,omitempty"`
	PulumiCLI       string `json:"pulumiCli,omitempty"`
	PulumiHome      string `json:"pulumiHome,omitempty"`
	// PluginDirs go in front of PATH so the engine finds provider plugins.
	PluginDirs  []string          `json:"pluginDirs,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Parallelism int               `json:"parallelism,omitempty"`
	// RepoRoot resolves relative paths of targets (the local target's directory).
	RepoRoot string `json:"repoRoot"`
	// StallLimit stops an engine run that made no progress for this long
	// with no resource operation in flight (0: the runner's default).
	StallLimit time.Duration `json:"stallLimit,omitempty"`
	// HealthTimeout bounds the post-apply health check (0: 10 minutes).
	HealthTimeout time.Duration `json:"healthTimeout,omitempty"`
	// Desired is the model to deploy (nil: destroy/refresh of what is deployed).
	Desired *Model `json:"desired,omitempty"`
	// Deployed names the components the engine's state may hold (the
	// deployed model's): a top-level resource of one that Desired no
	// longer has is that component's too, so the events of its delete
	// name it, as the plan's delete does.
	Deployed []string `json:"deployed,omitempty"`
	// The resources holding data-holding components' data are protected
	// in the engine's state, so that the engine refuses to replace or
	// delete them whatever decides it; AllowReplace leaves them
	// unprotected (--allow-replace), and AllowDestroy clears the
	// protection of the components up deletes (those not in Desired) and
	// of every component before destroy (--allow-destroy).
	AllowDestroy bool `json:"allowDestroy,omitempty"`
	AllowReplace bool `json:"allowReplace,omitempty"`
}

// Command is one operation in a session.
type Command struct {
	Op string `json:"op"` // recover, up, destroy, preview, preview-refresh, refresh-preview, refresh, outputs
}

// Operations.
const (
	OpRecover        = "recover"
	OpUp             = "up"
	OpDestroy        = "destroy"
	OpPreview        = "preview"
	OpPreviewRefresh = "preview-refresh" // preview of an up after a refresh
	OpRefreshPreview = "refresh-preview"
	OpRefresh        = "refresh"
	OpOutputs        = "outputs"
	OpHealth         = "health"
)

// Message is one line panka-engine writes: a progress event, or the end of
// a command (Done) with its result or error.
type Message struct {
	Ready    bool              `json:"ready,omitempty"`
	Event    *Event            `json:"event,omitempty"`
	Done     bool              `json:"done,omitempty"`
	Result   *Result           `json:"result,omitempty"`
	Recovery *Recovery         `json:"recovery,omitempty"`
	Outputs  map[string]Output `json:"outputs,omitempty"`
	Error    string            `json:"error,omitempty"`
	// Canceled is set when the error came from cancellation (Ctrl-C).
	Canceled bool `json:"canceled,omitempty"`
	// Protected is set when the error is the engine's refusal to replace
	// or delete protected resources.
	Protected *ProtectedError `json:"protected,omitempty"`
	// MissingPlugin is set when the error is a provider plugin the engine
	// could not find.
	MissingPlugin *MissingPluginError `json:"missingPlugin,omitempty"`
	// Passphrase is set when the error is a secrets passphrase that does
	// not decrypt the stack's engine state.
	Passphrase *PassphraseError `json:"passphrase,omitempty"`
	// PulumiBusy is set when the error is RecoverStale's refusal to clear
	// the Pulumi lock of a process that still runs on this host.
	PulumiBusy *PulumiBusyError `json:"pulumiBusy,omitempty"`
}

// Model carries a resolved model across the process boundary with its
// secret values: stacks.Resolved's own JSON encoding writes only their
// hashes, which is right for state and wrong for deploying.
type Model struct {
	Resolved json.RawMessage `json:"resolved"`
	// Secrets maps each hash present in Resolved to its clear value.
	Secrets map[string]string `json:"secrets,omitempty"`
}

// EncodeModel encodes r with the clear values of its sensitive values.
func EncodeModel(r *stacks.Resolved) (*Model, error) {
	if r == nil {
		return nil, nil
	}
	secrets := map[string]string{}
	for _, c := range r.Components {
		collectSecrets(c.Spec, secrets)
	}
	for _, v := range r.Variables {
		collectSecrets(v.Value, secrets)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode the model of %s/%s: %w", r.Stack, r.Environment, err)
	}
	m := &Model{Resolved: b}
	if len(secrets) > 0 {
		m.Secrets = secrets
	}
	return m, nil
}

func collectSecrets(v any, out map[string]string) {
	switch x := v.(type) {
	case stacks.Sensitive:
		out[x.Hash] = x.Clear
	case *stacks.Sensitive:
		out[x.Hash] = x.Clear
	case map[string]any:
		for _, e := range x {
			collectSecrets(e, out)
		}
	case []any:
		for _, e := range x {
			collectSecrets(e, out)
		}
	}
}

// Decode returns the model with its sensitive values restored. Numbers
// decode as int64 where they are whole, as the loader produces them.
func (m *Model) Decode() (*stacks.Resolved, error) {
	var r stacks.Resolved
	dec := json.NewDecoder(bytesReader(m.Resolved))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode the model: %w", err)
	}
	for i := range r.Components {
		r.Components[i].Spec, _ = restore(r.Components[i].Spec, m.Secrets).(map[string]any)
	}
	for i := range r.Variables {
		r.Variables[i].Value = restore(r.Variables[i].Value, m.Secrets)
	}
	return &r, nil
}

func restore(v any, secrets map[string]string) any {
	switch x := v.(type) {
	case string:
		if clear, ok := secrets[x]; ok && stacks.IsSensitive(x) {
			return stacks.Sensitive{Clear: clear, Hash: x}
		}
		return x
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = restore(e, secrets)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = restore(e, secrets)
		}
		return x
	}
	return v
}
