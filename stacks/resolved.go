package stacks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Resolved is the fully merged, validated model of one stack in one
// environment: overlays applied, variables substituted, defaults filled in.
// References between components (${users-db.endpoint}) stay symbolic so the
// model is stable across deployments. Resolved is what plans compare, what
// change detection compares and what state stores.
//
// Its JSON encoding (Canonical) is deterministic: components sorted by name,
// map keys sorted, defaults explicit. Sensitive values are encoded as a keyed
// hash (see Sensitive) and never in clear.
type Resolved struct {
	Stack       string        `json:"stack"`
	Environment string        `json:"environment"`
	Provider    Provider      `json:"provider"`
	Variables   []ResolvedVar `json:"variables,omitempty"`
	Components  []Component   `json:"components"`
	// Legacy are the problems Resolve accepted, as panka did before it
	// refused them, of a stack LoadLegacy loaded: warnings, never part
	// of the model.
	Legacy []*Error `json:"-"`
}

// Provider is the deployment target of a stack/environment (stack.yaml
// spec.provider with the environment's spec.provider merged over it).
type Provider struct {
	// Name is the target: "aws" or "local".
	Name string `json:"name"`
	// Region is the AWS region (aws target).
	Region string `json:"region,omitempty"`
	// AssumeRole is the ARN of the role to assume for deployments (aws target).
	AssumeRole string `json:"assumeRole,omitempty"`
	// Directory is where the local target writes manifests, relative to the
	// repository root unless absolute (local target; default ".panka/local").
	Directory string `json:"directory,omitempty"`
	// Network is the networking the aws target deploys into.
	Network *Network `json:"network,omitempty"`
	// Tags are extra tags applied to every resource (aws target).
	Tags map[string]string `json:"tags,omitempty"`
}

// Network names existing AWS networking (aws target).
type Network struct {
	VpcID          string   `json:"vpcId,omitempty"`
	PublicSubnets  []string `json:"publicSubnets,omitempty"`
	PrivateSubnets []string `json:"privateSubnets,omitempty"`
	// ListenerArn is the HTTPS listener of an existing ALB that
	// loadBalancer-enabled MicroServices attach rules to.
	ListenerArn string `json:"listenerArn,omitempty"`
}

// ResolvedVar records one declared variable and where its value came from.
// Secret values are stored as their keyed hash only.
type ResolvedVar struct {
	Name   string `json:"name"`
	Value  any    `json:"value,omitempty"` // string, or Sensitive for secrets
	Source string `json:"source"`          // "flag", "var-file", "env", "environment", "default", "unset"
	Secret bool   `json:"secret,omitempty"`
}

// Component is one resolved component of a stack/environment.
type Component struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Service is the Service document that groups this component, if any.
	Service string `json:"service,omitempty"`
	// Labels are the component's metadata.labels (e.g. for resource tags).
	Labels map[string]string `json:"labels,omitempty"`
	// File is the repo-relative file that declares the component (for errors
	// and `changed --why`); it is not part of the canonical model.
	File string `json:"-"`
	// DependsOn lists, sorted, every component this one depends on:
	// spec.dependsOn plus every component referenced via ${component.output}.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Spec is the component's resolved spec in its canonical JSON shape
	// (camelCase keys as in the YAML, defaults filled in, dependsOn removed).
	// Values are string, bool, int64, float64, []any, map[string]any or
	// Sensitive. References stay as "${component.output}" strings.
	Spec map[string]any `json:"spec"`
}

// Kind is a document kind.
type Kind string

// Component kinds (SPEC §3).
const (
	KindMicroService Kind = "MicroService"
	KindWorker       Kind = "Worker"
	KindCronJob      Kind = "CronJob"
	KindDatabase     Kind = "Database"
	KindCache        Kind = "Cache"
	KindQueue        Kind = "Queue"
	KindBucket       Kind = "Bucket"
	KindTopic        Kind = "Topic"
)

// ComponentKinds lists every component kind in a stable order.
var ComponentKinds = []Kind{KindMicroService, KindWorker, KindCronJob, KindDatabase, KindCache, KindQueue, KindBucket, KindTopic}

// HoldsData reports whether deleting or replacing a component of this kind
// loses data (SPEC §7): Database, Cache, Bucket, Queue.
func (k Kind) HoldsData() bool {
	switch k {
	case KindDatabase, KindCache, KindBucket, KindQueue:
		return true
	}
	return false
}

// Outputs lists the outputs a component of this kind provides for
// ${component.output} references (SPEC §3).
func (k Kind) Outputs() []string {
	switch k {
	case KindMicroService:
		return []string{"url", "serviceName"}
	case KindWorker:
		return []string{"serviceName"}
	case KindCronJob:
		return []string{"ruleName"}
	case KindDatabase:
		return []string{"endpoint", "address", "port", "secretArn"}
	case KindCache:
		return []string{"endpoint", "port"}
	case KindQueue:
		return []string{"url", "arn", "name"}
	case KindBucket:
		return []string{"name", "arn"}
	case KindTopic:
		return []string{"arn"}
	}
	return nil
}

// Sensitive is a secret value inside a resolved model. It never encodes its
// clear value: JSON and String give Hash ("sensitive:hmac-sha256:<hex>", keyed
// by the configured secrets provider), so state and plans see a changed secret
// without storing it. Clear is only for handing to Pulumi as a secret input.
type Sensitive struct {
	Clear string
	Hash  string
	// Legacy is the hash as deployments before hash v2 recorded it (see
	// HashSensitiveAt); "" when not known. Never encoded.
	Legacy string
}

// SensitivePrefix starts the encoded form of every sensitive value.
const SensitivePrefix = "sensitive:"

// MarshalJSON encodes the keyed hash only.
func (s Sensitive) MarshalJSON() ([]byte, error) { return json.Marshal(s.Hash) }

// String returns the keyed hash only.
func (s Sensitive) String() string { return s.Hash }

// IsSensitive reports whether v is a sensitive value, either live (Sensitive)
// or as read back from JSON (a string starting with SensitivePrefix).
func IsSensitive(v any) bool {
	switch x := v.(type) {
	case Sensitive, *Sensitive:
		return true
	case string:
		return len(x) > len(SensitivePrefix) && x[:len(SensitivePrefix)] == SensitivePrefix
	}
	return false
}

// Canonical returns the deterministic JSON encoding of the model.
func (r *Resolved) Canonical() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Every value in a Resolved is JSON-encodable by construction.
		panic("stacks: canonical encoding: " + err.Error())
	}
	return b
}

// Hash returns the hex SHA-256 of Canonical.
func (r *Resolved) Hash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// Component returns the named component, or nil.
func (r *Resolved) Component(name string) *Component {
	for i := range r.Components {
		if r.Components[i].Name == name {
			return &r.Components[i]
		}
	}
	return nil
}
