package planner

import (
	"strings"
	"testing"

	"panka.dev/panka/stacks"
)

// TestPlanReadsChangedInPlace checks that a component reading an output
// that changes with an in-place update of its component is planned as
// changing, as the engine updates it with the new value: on aws a
// MicroService's url follows its port (no load balancer) or its load
// balancer's host and path. It used to be planned as a no-op while apply updated it.
func TestPlanReadsChangedInPlace(t *testing.T) {
	// front reads api's url, jobs the database's address (made from
	// names).
	with := func(provider stacks.Provider, edit func(r *stacks.Resolved)) *stacks.Resolved {
		r := base()
		r.Provider = provider
		r.Components = append(r.Components,
			stacks.Component{Name: "front", Kind: stacks.KindMicroService, Service: "api", DependsOn: []string{"api"},
				Spec: map[string]any{"image": "front:1", "port": int64(80), "env": map[string]any{"API": "${api.url}", "LOG": "debug"}}},
			stacks.Component{Name: "jobs", Kind: stacks.KindWorker, Service: "worker", DependsOn: []string{"orders-db"},
				Spec: map[string]any{"image": "jobs:1", "env": map[string]any{"DB": "${orders-db.address}"}}})
		if edit != nil {
			edit(r)
		}
		return r
	}
	aws, local := base().Provider, stacks.Provider{Name: "local"}
	noLB := func(r *stacks.Resolved) { delete(r.Component("api").Spec, "loadBalancer") }
	lb := func(r *stacks.Resolved) map[string]any {
		return r.Component("api").Spec["loadBalancer"].(map[string]any)
	}
	for _, tt := range []struct {
		name          string
		provider      stacks.Provider
		deployed      func(r *stacks.Resolved)
		edit          func(r *stacks.Resolved)
		want          map[string]Action
		reader, field string
		reason        string
	}{
		{name: "load balancer host", provider: aws, edit: func(r *stacks.Resolved) { lb(r)["host"] = "shop.example.com" },
			want:   map[string]Action{"api": ActionUpdate, "front": ActionUpdate, "jobs": ActionNoOp},
			reader: "front", field: "spec.env.API", reason: "api.url changes in place with spec.loadBalancer.host"},
		{name: "load balancer path", provider: aws, edit: func(r *stacks.Resolved) { lb(r)["path"] = "/orders" },
			want:   map[string]Action{"api": ActionUpdate, "front": ActionUpdate},
			reader: "front", field: "spec.env.API", reason: "api.url changes in place with spec.loadBalancer.path"},
		{name: "load balancer added", provider: aws, deployed: noLB,
			edit:   func(r *stacks.Resolved) { r.Component("api").Spec["loadBalancer"] = map[string]any{"public": true} },
			want:   map[string]Action{"api": ActionUpdate, "front": ActionUpdate},
			reader: "front", field: "spec.env.API", reason: "api.url changes in place with spec.loadBalancer"},
		{name: "port without load balancer", provider: aws, deployed: noLB,
			edit:   func(r *stacks.Resolved) { noLB(r); r.Component("api").Spec["port"] = int64(9090) },
			want:   map[string]Action{"api": ActionUpdate, "front": ActionUpdate},
			reader: "front", field: "spec.env.API", reason: "api.url changes in place with spec.port"},
		{name: "load balancer public", provider: aws, edit: func(r *stacks.Resolved) { lb(r)["public"] = false },
			want: map[string]Action{"api": ActionUpdate, "front": ActionNoOp}},
		{name: "replicas", provider: aws, edit: func(r *stacks.Resolved) { r.Component("api").Spec["replicas"] = int64(3) },
			want: map[string]Action{"api": ActionUpdate, "front": ActionNoOp}},
		{name: "reader changes too", provider: aws, edit: func(r *stacks.Resolved) {
			lb(r)["host"] = "shop.example.com"
			r.Component("front").Spec["env"].(map[string]any)["LOG"] = "info"
		},
			want:   map[string]Action{"api": ActionUpdate, "front": ActionUpdate},
			reader: "front", field: "spec.env.API", reason: "api.url changes in place with spec.loadBalancer.host"},
		{name: "local load balancer host", provider: local, edit: func(r *stacks.Resolved) { lb(r)["host"] = "shop.example.com" },
			// The local target's url is made from names only.
			want: map[string]Action{"api": ActionUpdate, "front": ActionNoOp}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			deployed := with(tt.provider, tt.deployed)
			desired := with(tt.provider, tt.deployed)
			tt.edit(desired)
			p := Plan(desired, fromState(t, deployed), Options{})
			for _, c := range p.Changes {
				if want, ok := tt.want[c.Component]; ok && c.Action != want {
					t.Errorf("%s: %s, want %s: %+v", c.Component, c.Action, want, c.Fields)
				}
				if c.Component != tt.reader {
					continue
				}
				found := false
				for _, fc := range c.Fields {
					if fc.Path == tt.field {
						found = true
						if !strings.HasPrefix(fc.Reason, tt.reason) {
							t.Errorf("%s %s: reason %q, want %q", c.Component, fc.Path, fc.Reason, tt.reason)
						}
						if fc.ForcesReplace != (c.Action == ActionReplace) {
							t.Errorf("%s %s: forcesReplace %v with %s", c.Component, fc.Path, fc.ForcesReplace, c.Action)
						}
					}
				}
				if !found {
					t.Errorf("%s: no field %s in %+v", c.Component, tt.field, c.Fields)
				}
				if c.Action == ActionReplace && !c.DataLoss {
					t.Errorf("%s: replaced without dataLoss", c.Component)
				}
			}
		})
	}
}

// TestPlanReadsChangedSameValue: an output's input swapped for the value
// it has (SameValue) changes no output, so the reader stays a no-op; a
// reader of a reader follows the change.
func TestPlanReadsChangedSameValue(t *testing.T) {
	with := func(host string) *stacks.Resolved {
		r := base()
		r.Component("api").Spec["loadBalancer"].(map[string]any)["host"] = host
		r.Components = append(r.Components,
			stacks.Component{Name: "front", Kind: stacks.KindMicroService, Service: "api", DependsOn: []string{"api"},
				Spec: map[string]any{"image": "front:1", "loadBalancer": map[string]any{"host": "${api.url}"}}},
			stacks.Component{Name: "edge", Kind: stacks.KindWorker, Service: "api", DependsOn: []string{"front"},
				Spec: map[string]any{"image": "edge:1", "env": map[string]any{"FRONT": "${front.url}"}}})
		return r
	}
	actions := func(p *Result) map[string]Action {
		m := map[string]Action{}
		for _, c := range p.Changes {
			m[c.Component] = c.Action
		}
		return m
	}
	// As state.json has them: the readers' fields are then compared by
	// value once api is known to stay.
	outputs := map[string]map[string]any{"orders-db": {"address": "db.example.com"},
		"api": {"url": "https://db.example.com"}, "front": {"url": "https://front.example.com"}}
	deployed := with("${orders-db.address}")
	p := Plan(with("db.example.com"), fromState(t, deployed), Options{Outputs: outputs})
	if got := actions(p); got["api"] != ActionNoOp || got["front"] != ActionNoOp || got["edge"] != ActionNoOp {
		t.Errorf("host swapped for its value: %v", got)
	}
	p = Plan(with("shop.example.com"), fromState(t, deployed), Options{Outputs: outputs})
	if got := actions(p); got["api"] != ActionUpdate || got["front"] != ActionUpdate || got["edge"] != ActionUpdate {
		t.Errorf("new host: %v", got)
	}
	for _, c := range p.Changes {
		if c.Component == "edge" && (len(c.Fields) != 1 || c.Fields[0].Reason != "front.url changes in place with spec.loadBalancer.host: the value is known after apply") {
			t.Errorf("edge fields: %+v", c.Fields)
		}
	}
}
