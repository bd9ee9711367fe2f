package local

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target"
	"panka.dev/panka/stacks"
)

// mocks records registered resources and answers with outputs shaped like
// the provider's.
type mocks struct {
	mu     sync.Mutex
	inputs map[string]resource.PropertyMap
	deps   map[string][]string
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inputs[args.Name] = args.Inputs
	var deps []string
	for _, d := range args.RegisterRPC.GetDependencies() {
		deps = append(deps, d[strings.LastIndex(d, "::")+2:])
	}
	m.deps[args.Name] = deps
	out := args.Inputs.Copy()
	out["outputs"] = resource.NewObjectProperty(resource.PropertyMap{
		"url":      resource.NewStringProperty("http://" + args.Name),
		"endpoint": resource.NewStringProperty(args.Name + ":5432"),
		"port":     resource.NewNumberProperty(5432),
	})
	return args.Name, out, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

func register(t *testing.T, r *stacks.Resolved, repo string) (*mocks, error) {
	t.Helper()
	m := &mocks{inputs: map[string]resource.PropertyMap{}, deps: map[string][]string{}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		return New().Register(ctx, r, target.Options{RepoRoot: repo})
	}, pulumi.WithMocks("panka", "s-e", m))
	return m, err
}

func TestRegisterWiresReferencesSecretsAndDependencies(t *testing.T) {
	r := &stacks.Resolved{Stack: "s", Environment: "e", Provider: stacks.Provider{Name: "local", Directory: "out"},
		Components: []stacks.Component{
			{Name: "web", Kind: stacks.KindMicroService, DependsOn: []string{"db"}, Spec: map[string]any{
				"env": map[string]any{
					"DB":     "${db.endpoint}",
					"PORT":   "${db.port}",
					"URL":    "jdbc://${db.endpoint}/x?port=${db.port}",
					"SECRET": stacks.Sensitive{Clear: "clear", Hash: "sensitive:h"},
					// Escaped text ("$${" in the model) is written as "${".
					"LIT":     "x $${db.endpoint}",
					"MIXED":   "$${db.port}=${db.port}",
					"SECRET2": stacks.Sensitive{Clear: "p$${w}", Hash: "sensitive:h2"},
					// A literal "$" right before a reference is "${$}".
					"DOLLAR": "pa${$}${db.endpoint}",
					// A reserved scope's reference stays text beside a
					// component's.
					"RESERVED": "${secret.k}/${db.port}/${var.v}${$}",
				},
				"list": []any{"${db.endpoint}", int64(3)},
			}},
			{Name: "db", Kind: stacks.KindDatabase, Spec: map[string]any{"engine": "postgres"}},
		}}
	m, err := register(t, r, "/repo")
	if err != nil {
		t.Fatal(err)
	}
	web := m.inputs["web"]
	if got := web["directory"].StringValue(); got != filepath.Join("/repo", "out") {
		t.Errorf("directory = %q", got)
	}
	if web["kind"].StringValue() != "MicroService" || web["component"].StringValue() != "web" || web["stack"].StringValue() != "s" {
		t.Errorf("inputs = %v", web)
	}
	env := web["spec"].ObjectValue()["env"].ObjectValue()
	if v := env["DB"]; v.StringValue() != "db:5432" {
		t.Errorf("DB = %v", v)
	}
	if v := env["PORT"]; !v.IsNumber() || v.NumberValue() != 5432 {
		t.Errorf("PORT = %v (a whole-string reference keeps the output's type)", v)
	}
	if v := env["URL"]; v.StringValue() != "jdbc://db:5432/x?port=5432" {
		t.Errorf("URL = %v", v)
	}
	if v := env["SECRET"]; !v.IsSecret() || v.SecretValue().Element.StringValue() != "sensitive:h" {
		t.Errorf("SECRET = %v, want a secret", v)
	}
	if v := env["LIT"]; v.StringValue() != "x ${db.endpoint}" {
		t.Errorf("LIT = %v, want the escaped text, not the reference", v)
	}
	if v := env["MIXED"]; v.StringValue() != "${db.port}=5432" {
		t.Errorf("MIXED = %v", v)
	}
	if v := env["DOLLAR"]; v.StringValue() != "pa$db:5432" {
		t.Errorf("DOLLAR = %v, want the text pa$ and the reference's value", v)
	}
	if v := env["RESERVED"]; v.StringValue() != "${secret.k}/5432/${var.v}$" {
		t.Errorf("RESERVED = %v", v)
	}
	if v := env["SECRET2"]; !v.IsSecret() || v.SecretValue().Element.StringValue() != "sensitive:h2" {
		t.Errorf("SECRET2 = %v", v)
	}
	list := web["spec"].ObjectValue()["list"].ArrayValue()
	if list[0].StringValue() != "db:5432" || list[1].NumberValue() != 3 {
		t.Errorf("list = %v", list)
	}
	if d := m.deps["web"]; len(d) != 1 || d[0] != "db" {
		t.Errorf("web depends on %v, want [db]", d)
	}
}

func TestRegisterErrors(t *testing.T) {
	tests := []struct {
		name  string
		comps []stacks.Component
		want  string
	}{
		{"unknown component", []stacks.Component{{Name: "a", Kind: stacks.KindWorker, Spec: map[string]any{"x": "${nope.url}"}}},
			`depends on "nope"`},
		{"unknown output", []stacks.Component{
			{Name: "a", Kind: stacks.KindWorker, Spec: map[string]any{"x": "${q.endpoint}"}},
			{Name: "q", Kind: stacks.KindQueue, Spec: map[string]any{}}},
			`a Queue has no output "endpoint" (it has url, arn, name)`},
		{"cycle", []stacks.Component{
			{Name: "a", Kind: stacks.KindWorker, DependsOn: []string{"b"}, Spec: map[string]any{}},
			{Name: "b", Kind: stacks.KindWorker, Spec: map[string]any{"x": "${a.serviceName}"}}},
			"cycle: a -> b -> a"},
		{"hashed secret", []stacks.Component{{Name: "a", Kind: stacks.KindWorker, Spec: map[string]any{
			"env": map[string]any{"K": "sensitive:hmac-sha256:abc"}}}},
			"spec.env.K: the secret is only known by its hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &stacks.Resolved{Stack: "s", Environment: "e", Components: tt.comps}
			_, err := register(t, r, "/repo")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOrderIsDeterministic(t *testing.T) {
	r := &stacks.Resolved{Components: []stacks.Component{
		{Name: "z", DependsOn: []string{"m"}},
		{Name: "m", Spec: map[string]any{"a": []any{"${b.url}"}}},
		{Name: "b"},
		{Name: "a"},
	}}
	for range 5 {
		order, err := Order(r)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range order {
			names = append(names, c.Name)
		}
		if got := strings.Join(names, ","); got != "a,b,m,z" {
			t.Fatalf("order = %s", got)
		}
	}
}

func TestFindRefs(t *testing.T) {
	refs := findRefs("x ${db.endpoint} ${var.name} ${env.HOME} ${q.url}${bad} $${lit.eral}")
	var got []string
	for _, r := range refs {
		got = append(got, r.component+"."+r.output)
	}
	if strings.Join(got, " ") != "db.endpoint q.url" {
		t.Errorf("refs = %v", got)
	}
}

func TestDirectory(t *testing.T) {
	for _, tt := range []struct{ dir, want string }{
		{"", "/repo/.panka/local"}, {"out/m", "/repo/out/m"}, {"/abs", "/abs"},
	} {
		got, err := Directory(&stacks.Resolved{Provider: stacks.Provider{Directory: tt.dir}}, "/repo")
		if err != nil || got != tt.want {
			t.Errorf("Directory(%q) = %q, %v; want %q", tt.dir, got, err, tt.want)
		}
	}
}
