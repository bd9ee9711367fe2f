package planner

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/stacks"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// base returns a fresh hand-built model of orders/dev.
func base() *stacks.Resolved {
	return &stacks.Resolved{
		Stack: "orders", Environment: "dev",
		Provider: stacks.Provider{Name: "aws", Region: "eu-west-1"},
		Components: []stacks.Component{
			{Name: "api", Kind: stacks.KindMicroService, Service: "api", DependsOn: []string{"orders-db", "orders-events"},
				Spec: map[string]any{
					"image": "ghcr.io/acme/orders-api:1.4.2", "port": int64(8080), "cpu": int64(256), "memory": int64(512), "replicas": int64(2),
					"env":          map[string]any{"LOG_LEVEL": "info", "DB_HOST": "${orders-db.endpoint}", "QUEUE_URL": "${orders-events.url}"},
					"secrets":      map[string]any{"DB_PASSWORD": stacks.Sensitive{Clear: "hunter2", Hash: "sensitive:hmac-sha256:1111"}},
					"healthCheck":  map[string]any{"path": "/healthz", "interval": int64(30), "timeout": int64(5)},
					"autoscaling":  map[string]any{"min": int64(2), "max": int64(6), "cpuTarget": 70.5},
					"loadBalancer": map[string]any{"public": true, "host": "orders.example.com", "path": "/"},
					"command":      []any{"/app/orders-api", "--serve"},
				}},
			{Name: "assets", Kind: stacks.KindBucket, Spec: map[string]any{"versioning": true, "public": false,
				"lifecycle": map[string]any{"expireAfterDays": int64(90)}}},
			{Name: "orders-db", Kind: stacks.KindDatabase, Spec: map[string]any{"engine": "postgres", "version": "16",
				"instanceClass": "db.t4g.micro", "storageGB": int64(20), "multiAZ": false, "backupRetentionDays": int64(7), "deletionProtection": true}},
			{Name: "orders-events", Kind: stacks.KindQueue, Spec: map[string]any{"fifo": false, "visibilityTimeout": int64(30),
				"retentionPeriod": int64(345600), "deadLetter": map[string]any{"maxReceives": int64(5)}}},
			{Name: "worker", Kind: stacks.KindWorker, Service: "worker", DependsOn: []string{"orders-events"},
				Spec: map[string]any{"image": "ghcr.io/acme/orders-worker:1.4.2", "cpu": int64(256), "memory": int64(512), "replicas": int64(1),
					"command": []any{"sh", "-c", "set -e\nmigrate --wait\nexec worker --queue \"$QUEUE_URL\"\n"},
					"env":     map[string]any{"QUEUE_URL": "${orders-events.url}"}}},
		},
	}
}

// localBase is base on the local target, with front (a MicroService that
// reads api's url) and jobs (a Worker that only depends on the queue).
func localBase() *stacks.Resolved {
	r := base()
	r.Provider = stacks.Provider{Name: "local"}
	r.Components = append(r.Components,
		stacks.Component{Name: "front", Kind: stacks.KindMicroService, Service: "api", DependsOn: []string{"api"},
			Spec: map[string]any{"image": "front:1", "port": int64(80), "env": map[string]any{"API": "${api.url}"}}},
		stacks.Component{Name: "jobs", Kind: stacks.KindWorker, Service: "worker", DependsOn: []string{"orders-events"},
			Spec: map[string]any{"image": "jobs:1"}})
	return r
}

// TestPlanReadsRecreated checks what a plan says of the components that
// read outputs of a re-created one, as the engine does it on the local
// target (delete before replace): those whose kind has
// replacement-forcing fields are re-created too, the others (a
// MicroService: its port replaces only with a load balancer, on aws)
// updated; a kind change re-creates the component there too (the
// pankalocal provider replaces on it), so its readers are treated alike.
func TestPlanReadsRecreated(t *testing.T) {
	actions := func(p *Result) map[string]Action {
		m := map[string]Action{}
		for _, c := range p.Changes {
			m[c.Component] = c.Action
		}
		return m
	}
	t.Run("database engine", func(t *testing.T) {
		d := localBase()
		d.Component("orders-db").Spec["engine"] = "mysql"
		p := Plan(d, fromState(t, localBase()), Options{})
		// api reads the endpoint, whose port changes with the engine: an
		// update; front reads api's url, which stays.
		want := map[string]Action{"orders-db": ActionReplace, "api": ActionUpdate, "front": ActionNoOp,
			"orders-events": ActionNoOp, "worker": ActionNoOp, "jobs": ActionNoOp, "assets": ActionNoOp}
		if got := actions(p); !reflect.DeepEqual(got, want) {
			t.Errorf("actions = %v, want %v", got, want)
		}
		for _, c := range p.Changes {
			if c.Component == "api" {
				if len(c.ReplaceReasons) > 0 || c.DataLoss {
					t.Errorf("api: replaceReasons %v, dataLoss %v", c.ReplaceReasons, c.DataLoss)
				}
				if len(c.Fields) != 1 || c.Fields[0].ForcesReplace || c.Fields[0].After != "${orders-db.endpoint}" || c.Fields[0].Reason == "" {
					t.Errorf("api fields = %+v", c.Fields)
				}
			}
		}
	})
	t.Run("updated too", func(t *testing.T) {
		d := localBase()
		d.Component("orders-events").Spec["fifo"] = true
		d.Component("api").Spec["replicas"] = int64(3)
		d.Component("worker").Spec["env"].(map[string]any)["QUEUE_URL"] = "${orders-events.arn}"
		p := Plan(d, fromState(t, localBase()), Options{})
		for _, c := range p.Changes {
			switch c.Component {
			case "api":
				// It reads the queue's url, which the re-created queue keeps.
				if c.Action != ActionUpdate || len(c.Fields) != 1 || c.Fields[0].Path != "spec.replicas" {
					t.Errorf("api: %s %+v", c.Action, c.Fields)
				}
			case "worker":
				if c.Action != ActionUpdate || len(c.Fields) != 1 || c.Fields[0].Before != "${orders-events.url}" || c.Fields[0].Reason == "" {
					t.Errorf("worker: %s %+v", c.Action, c.Fields)
				}
			}
		}
	})
	t.Run("kept values", func(t *testing.T) {
		// A component the engine only updates changes when a value it
		// reads from a re-created one does: the queue keeps its url when
		// fifo changes, not its arn or name; the database keeps its
		// address and secretArn, not its endpoint or port when the engine
		// changes them. It used to be planned as an update whatever it
		// read, while apply updated nothing.
		for _, tt := range []struct {
			name, ref string
			edit      func(r *stacks.Resolved)
			want      Action
		}{
			{"queue url", "${orders-events.url}", func(r *stacks.Resolved) { r.Component("orders-events").Spec["fifo"] = true }, ActionNoOp},
			{"queue arn", "${orders-events.arn}", func(r *stacks.Resolved) { r.Component("orders-events").Spec["fifo"] = true }, ActionUpdate},
			{"queue name in text", "q=${orders-events.name}", func(r *stacks.Resolved) { r.Component("orders-events").Spec["fifo"] = true }, ActionUpdate},
			{"url and arn", "${orders-events.url}|${orders-events.arn}", func(r *stacks.Resolved) { r.Component("orders-events").Spec["fifo"] = true }, ActionUpdate},
			{"db address", "${orders-db.address}", func(r *stacks.Resolved) { r.Component("orders-db").Spec["engine"] = "mysql" }, ActionNoOp},
			{"db secretArn", "${orders-db.secretArn}", func(r *stacks.Resolved) { r.Component("orders-db").Spec["engine"] = "mysql" }, ActionNoOp},
			{"db endpoint", "${orders-db.endpoint}", func(r *stacks.Resolved) { r.Component("orders-db").Spec["engine"] = "mysql" }, ActionUpdate},
			{"db port", "${orders-db.port}", func(r *stacks.Resolved) { r.Component("orders-db").Spec["engine"] = "mysql" }, ActionUpdate},
			{"db same port", "${orders-db.port}", func(r *stacks.Resolved) { r.Component("orders-db").Spec["version"] = "17" }, ActionNoOp},
		} {
			t.Run(tt.name, func(t *testing.T) {
				with := func() *stacks.Resolved {
					r := localBase()
					r.Component("worker").Spec["env"] = map[string]any{"X": tt.ref}
					return r
				}
				d := with()
				tt.edit(d)
				p := Plan(d, fromState(t, with()), Options{})
				if got := actions(p)["worker"]; got != tt.want {
					t.Errorf("worker reading %s: %s, want %s: %+v", tt.ref, got, tt.want, p.Changes)
				}
			})
		}
		// Elsewhere (aws) a re-created resource's values are new.
		d := localBase()
		d.Provider = base().Provider
		d.Component("orders-events").Spec["fifo"] = true
		dep := localBase()
		dep.Provider = base().Provider
		if got := actions(Plan(d, fromState(t, dep), Options{}))["worker"]; got != ActionUpdate {
			t.Errorf("aws: worker reading the re-created queue's url: %s, want update", got)
		}
	})
	t.Run("kind change keeps a value", func(t *testing.T) {
		// A MicroService becoming a Worker keeps its serviceName (the
		// manifest is updated in place, then the value is compared): a
		// reader of it does not change; one of a Queue's arn becoming a
		// Bucket's does.
		with := func() *stacks.Resolved {
			r := localBase()
			r.Component("worker").Spec["env"] = map[string]any{"X": "${api.serviceName}"}
			return r
		}
		d := with()
		c := d.Component("api")
		c.Kind = stacks.KindWorker
		delete(c.Spec, "port")
		delete(c.Spec, "healthCheck")
		delete(c.Spec, "loadBalancer")
		p := Plan(d, fromState(t, with()), Options{})
		if got := actions(p); got["api"] != ActionReplace || got["worker"] != ActionNoOp {
			t.Errorf("actions = %v, want api replace (kind), worker no-op", got)
		}
	})
	t.Run("data-holding reader", func(t *testing.T) {
		with := func() *stacks.Resolved {
			r := localBase()
			r.Components = append(r.Components, stacks.Component{Name: "archive", Kind: stacks.KindBucket, DependsOn: []string{"orders-db"},
				Spec: map[string]any{"name": "archive-${orders-db.address}"}})
			return r
		}
		d := with()
		d.Component("orders-db").Spec["engine"] = "mysql"
		p := Plan(d, fromState(t, with()), Options{})
		if !reflect.DeepEqual(p.Summary.DataLoss, []string{"orders-db", "archive"}) && !reflect.DeepEqual(p.Summary.DataLoss, []string{"archive", "orders-db"}) {
			t.Errorf("dataLoss = %v, want orders-db and archive", p.Summary.DataLoss)
		}
	})
	t.Run("local region", func(t *testing.T) {
		// The local target writes no region anywhere: the engine changes
		// nothing, and no Database is "replaced" (DATA LOSS). The plan has
		// no changes (--detailed-exitcode 0), as for a label: it lists the
		// region, which apply records.
		d := localBase()
		d.Provider.Region = "eu-central-1"
		d.Provider.Tags = map[string]string{"team": "shop"}
		p := Plan(d, fromState(t, localBase()), Options{})
		if want := (Summary{NoOp: 7}); !reflect.DeepEqual(p.Summary, want) {
			t.Errorf("summary = %+v, want %+v", p.Summary, want)
		}
		if len(p.Provider) != 2 || p.Provider[0].Path != "provider.region" || p.HasChanges() || p.Runs() || !p.Recorded() {
			t.Errorf("provider = %+v, HasChanges %v, Runs %v, Recorded %v: want the region and tag listed, no changes, recorded", p.Provider, p.HasChanges(), p.Runs(), p.Recorded())
		}
		var text bytes.Buffer
		if err := p.WriteText(&text, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`provider.region: (none) → "eu-central-1"`, "provider changes nothing deployed (the local target does not use it): apply records it",
			"No changes to deploy. orders/dev differs from the deployed state only in service, labels, dependsOn, variables, references written as the values they have, or provider settings the local target does not use, which apply records."} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("text lacks %q:\n%s", want, text.String())
			}
		}
		// Off the local target a region replaces everything.
		aws := localBase()
		aws.Provider = stacks.Provider{Name: "aws", Region: "eu-west-1"}
		moved := localBase()
		moved.Provider = stacks.Provider{Name: "aws", Region: "eu-central-1"}
		if p := Plan(moved, fromState(t, aws), Options{}); !p.Summary.ProviderChanged || p.Summary.Replace != 7 {
			t.Errorf("aws region: summary = %+v, want every component replaced, provider changed", p.Summary)
		}
	})
	t.Run("aws tags", func(t *testing.T) {
		// The aws provider puts spec.provider.tags on every resource
		// (default tags), and every component has tagged resources: a
		// tags change re-tags each in place. The plan said only
		// "0 to update (deployment target changed)" and named none of
		// them, where pulumi preview shows an update on each.
		dep := base()
		dep.Provider.Tags = map[string]string{"team": "shop"}
		d := base()
		d.Provider.Tags = map[string]string{"team": "checkout", "cost-center": "42"}
		d.Component("api").Spec["replicas"] = int64(3)
		p := Plan(d, fromState(t, dep), Options{})
		if p.Summary.Update != 5 || p.Summary.NoOp != 0 || !p.Summary.ProviderChanged {
			t.Fatalf("summary = %+v, want every component updated (re-tagged), provider changed", p.Summary)
		}
		for _, c := range p.Changes {
			if len(c.Fields) < 2 || c.Fields[0].Path != "provider.tags.cost-center" || c.Fields[1].Path != "provider.tags.team" || c.Fields[1].After != "checkout" {
				t.Errorf("%s: fields %+v, want the two tag changes first", c.Component, c.Fields)
			}
		}
		if f := changeOf(t, p, "api").Fields; len(f) != 3 || f[2].Path != "spec.replicas" {
			t.Errorf("api: fields %+v, want the tags then spec.replicas", f)
		}
		var text bytes.Buffer
		if err := p.WriteText(&text, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"~ assets (Bucket)", `provider.tags.team: "shop" → "checkout" # default tags: the provider re-tags every resource of the component in place`,
			"Plan: 0 to create, 5 to update, 0 to delete (deployment target changed)"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("text lacks %q:\n%s", want, text.String())
			}
		}
		// A region change replaces everything anyway: no tag fields on
		// the replacements.
		d.Provider.Region = "eu-central-1"
		p = Plan(d, fromState(t, dep), Options{})
		if p.Summary.Replace != 5 || p.Summary.Update != 0 {
			t.Errorf("tags and region: summary %+v, want every component replaced", p.Summary)
		}
		for _, fc := range changeOf(t, p, "assets").Fields {
			if strings.HasPrefix(fc.Path, "provider.tags") {
				t.Errorf("tags and region: assets lists %s, want only the replacement", fc.Path)
			}
		}
	})
	t.Run("local directory spelled differently", func(t *testing.T) {
		// "./.panka//local/" is the folder ".panka/local" names: the
		// engine moves no manifest (it used to plan every component as
		// an update, a move, while apply updated none).
		d := localBase()
		d.Provider.Directory = "./.panka//local/"
		dep := localBase()
		dep.Provider.Directory = ".panka/local"
		p := Plan(d, fromState(t, dep), Options{})
		if want := (Summary{NoOp: 7}); !reflect.DeepEqual(p.Summary, want) || p.Runs() {
			t.Errorf("summary = %+v (runs %v), want %+v", p.Summary, p.Runs(), want)
		}
		d.Provider.Directory = "out"
		if p := Plan(d, fromState(t, dep), Options{}); p.Summary.Update != 7 || !p.Summary.ProviderChanged {
			t.Errorf("another directory: summary = %+v, want every component updated (moved)", p.Summary)
		}
	})
	t.Run("kind change alone", func(t *testing.T) {
		d := localBase()
		c := d.Component("api")
		c.Kind = stacks.KindWorker
		delete(c.Spec, "port")
		delete(c.Spec, "healthCheck")
		delete(c.Spec, "loadBalancer")
		p := Plan(d, fromState(t, localBase()), Options{})
		// front reads api's url, which a Worker does not have: it is
		// updated (and must be edited) but not re-created.
		if got := actions(p); got["api"] != ActionReplace || got["front"] != ActionUpdate {
			t.Errorf("actions = %v, want api replace (kind), front update", got)
		}
	})
	t.Run("re-created and kind changed", func(t *testing.T) {
		// api reads the re-created database and a queue that becomes a
		// Bucket (re-created too): both values are new, each said why;
		// nothing forces api's replacement (no field of a MicroService
		// does here).
		d := localBase()
		d.Component("orders-db").Spec["engine"] = "mysql"
		q := d.Component("orders-events")
		q.Kind = stacks.KindBucket
		q.Spec = map[string]any{"versioning": false}
		p := Plan(d, fromState(t, localBase()), Options{})
		for _, c := range p.Changes {
			if c.Component != "api" {
				continue
			}
			if c.Action != ActionUpdate || len(c.ReplaceReasons) > 0 || len(c.Fields) != 2 ||
				c.Fields[0].ForcesReplace || !strings.Contains(c.Fields[0].Reason, "deleted and created again") ||
				c.Fields[1].ForcesReplace || !strings.Contains(c.Fields[1].Reason, "orders-events is deleted and created again") {
				t.Errorf("api: %s %v %+v", c.Action, c.ReplaceReasons, c.Fields)
			}
		}
	})
	t.Run("kind change changes outputs", func(t *testing.T) {
		// A Queue becoming a Bucket is re-created, and its arn is
		// another: worker, which reads it, is updated (no field of a
		// Worker forces its replacement).
		d := localBase()
		q := d.Component("orders-events")
		q.Kind = stacks.KindBucket
		q.Spec = map[string]any{"versioning": false}
		w := d.Component("worker")
		w.Spec["env"].(map[string]any)["QUEUE_URL"] = "${orders-events.arn}"
		dep := localBase()
		dep.Component("worker").Spec["env"].(map[string]any)["QUEUE_URL"] = "${orders-events.arn}"
		p := Plan(d, fromState(t, dep), Options{})
		got := actions(p)
		if got["orders-events"] != ActionReplace || got["worker"] != ActionUpdate || got["api"] != ActionUpdate || got["front"] != ActionNoOp {
			t.Errorf("actions = %v, want orders-events replace (kind), worker and api update, front no-op", got)
		}
		for _, c := range p.Changes {
			if c.Component == "worker" && (len(c.Fields) != 1 || !strings.Contains(c.Fields[0].Reason, "orders-events is deleted and created again")) {
				t.Errorf("worker fields = %+v", c.Fields)
			}
		}
	})
	t.Run("kind change re-creates a data-holding reader", func(t *testing.T) {
		// The local engine deletes a component whose kind changes first,
		// and with it archive, whose spec reads its outputs; a Bucket has
		// replacement-forcing fields (its name), so archive is re-created,
		// even though the Worker keeps the serviceName it reads.
		with := func() *stacks.Resolved {
			r := localBase()
			r.Components = append(r.Components, stacks.Component{Name: "archive", Kind: stacks.KindBucket, DependsOn: []string{"jobs"},
				Spec: map[string]any{"name": "archive-${jobs.serviceName}"}})
			return r
		}
		d := with()
		j := d.Component("jobs")
		j.Kind = stacks.KindMicroService
		j.Spec["port"] = int64(8080)
		p := Plan(d, fromState(t, with()), Options{})
		if got := actions(p); got["jobs"] != ActionReplace || got["archive"] != ActionReplace || got["front"] != ActionNoOp {
			t.Errorf("actions = %v, want jobs replace (kind), archive replace (reads it), front no-op", got)
		}
		if !reflect.DeepEqual(p.Summary.DataLoss, []string{"archive"}) {
			t.Errorf("dataLoss = %v, want archive", p.Summary.DataLoss)
		}
	})
}

// fromState returns r as it reads back from state.json (JSON round trip:
// numbers float64, secrets as their hash strings).
func fromState(t testing.TB, r *stacks.Resolved) *stacks.Resolved {
	t.Helper()
	var out stacks.Resolved
	if err := json.Unmarshal(r.Canonical(), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func deployedHeader() Header {
	at := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	return Header{
		Desired:  Desired{Source: "worktree", Commit: "8c1f0e2d4b6a8c1f0e2d4b6a8c1f0e2d4b6a8c1f"},
		Vars:     map[string]string{"IMAGE_TAG": "1.4.2", "DB_PASSWORD": Masked},
		Deployed: Deployed{Serial: 7, Commit: "1b2c3d4e5f601b2c3d4e5f601b2c3d4e5f601b2c", At: &at, By: "alice", Status: "deployed"},
	}
}

func TestPlanGolden(t *testing.T) {
	comp := func(r *stacks.Resolved, name string) *stacks.Component { return r.Component(name) }
	tests := []struct {
		name     string
		desired  func() *stacks.Resolved
		deployed func() *stacks.Resolved
		header   Header
		want     Summary
	}{
		{"create-from-empty", base, nil,
			Header{Desired: Desired{Source: "worktree"}}, Summary{Create: 5}},
		{"update-one-field", func() *stacks.Resolved {
			r := base()
			comp(r, "api").Spec["env"].(map[string]any)["LOG_LEVEL"] = "debug"
			return r
		}, base, deployedHeader(), Summary{Update: 1, NoOp: 4}},
		{"delete-component", func() *stacks.Resolved {
			r := base()
			r.Components = append(r.Components[:1], r.Components[2:]...) // drop assets
			return r
		}, base, deployedHeader(), Summary{Delete: 1, NoOp: 4, DataLoss: []string{"assets"}}},
		{"replace", func() *stacks.Resolved {
			r := base()
			comp(r, "orders-events").Spec["fifo"] = true
			comp(r, "orders-db").Spec["engine"] = "mysql"
			comp(r, "orders-db").Spec["version"] = "8.0"
			return r
			// api and worker read their outputs: updated
		}, base, deployedHeader(), Summary{Update: 2, Replace: 2, NoOp: 1, DataLoss: []string{"orders-db", "orders-events"}}},
		{"no-op", base, base, deployedHeader(), Summary{NoOp: 5}},
		{"secrets-hidden", func() *stacks.Resolved {
			r := base()
			sec := comp(r, "api").Spec["secrets"].(map[string]any)
			sec["DB_PASSWORD"] = stacks.Sensitive{Clear: "correct horse", Hash: "sensitive:hmac-sha256:2222"}
			sec["API_TOKEN"] = stacks.Sensitive{Clear: "tok", Hash: "sensitive:hmac-sha256:3333"}
			return r
		}, base, deployedHeader(), Summary{Update: 1, NoOp: 4}},
		// SSM / Secrets Manager references are never printed either, but
		// a changed, added or removed one still plans as a change.
		{"secret-refs", func() *stacks.Resolved {
			r := base()
			sec := comp(r, "api").Spec["secrets"].(map[string]any)
			sec["STRIPE_KEY"] = "arn:aws:ssm:eu-west-1:123456789012:parameter/orders/stripe-v2"
			sec["NEW_KEY"] = "/orders/new-key"
			comp(r, "worker").Spec["secrets"] = map[string]any{"QUEUE_TOKEN": "/orders/queue-token"}
			return r
		}, func() *stacks.Resolved {
			r := base()
			sec := comp(r, "api").Spec["secrets"].(map[string]any)
			sec["STRIPE_KEY"] = "arn:aws:ssm:eu-west-1:123456789012:parameter/orders/stripe"
			sec["OLD_KEY"] = "/orders/old-key"
			return r
		}, deployedHeader(), Summary{Update: 2, NoOp: 3}},
		{"multi-line-diff", func() *stacks.Resolved {
			r := base()
			comp(r, "worker").Spec["command"] = []any{"sh", "-c", "set -e\nmigrate --wait --timeout 60\nexec worker --queue \"$QUEUE_URL\"\n"}
			comp(r, "api").Spec["policy"] = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"sqs:SendMessage\"},\n    {\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\"}\n  ]\n}\n"
			return r
		}, func() *stacks.Resolved {
			r := base()
			comp(r, "api").Spec["policy"] = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"sqs:SendMessage\"}\n  ]\n}\n"
			return r
		}, deployedHeader(), Summary{Update: 2, NoOp: 3}},
		{"kind-change", func() *stacks.Resolved {
			r := base()
			c := comp(r, "worker")
			c.Kind = stacks.KindCronJob
			c.Spec["schedule"] = "rate(5 minutes)"
			delete(c.Spec, "replicas")
			return r
		}, base, deployedHeader(), Summary{Replace: 1, NoOp: 4}},
		{"replace-local-dependents", func() *stacks.Resolved {
			r := localBase()
			comp(r, "orders-events").Spec["fifo"] = true
			return r
			// api and worker read the queue's url, which the re-created
			// queue keeps (only its name and arn take .fifo): the engine
			// leaves them alone (a MicroService's port forces nothing
			// without a load balancer's target group, and the local
			// target has none), as it does front, which reads api's, and
			// jobs, which only depends on the queue.
		}, localBase, deployedHeader(), Summary{Replace: 1, NoOp: 6, DataLoss: []string{"orders-events"}}},
		{"destroy", nil, base, Header{Deployed: deployedHeader().Deployed},
			Summary{Delete: 5, DataLoss: []string{"orders-events", "orders-db", "assets"}}},
		{"provider-region", func() *stacks.Resolved {
			r := base()
			r.Provider.Region = "eu-central-1"
			return r
		}, base, deployedHeader(), Summary{Replace: 5, DataLoss: []string{"assets", "orders-db", "orders-events"}, ProviderChanged: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var desired, deployed *stacks.Resolved
			if tt.desired != nil {
				desired = tt.desired()
			}
			if tt.deployed != nil {
				deployed = fromState(t, tt.deployed())
			}
			p := Plan(desired, deployed, Options{Header: tt.header})
			if !reflect.DeepEqual(p.Summary, tt.want) {
				t.Errorf("summary = %+v, want %+v", p.Summary, tt.want)
			}
			var text, colored, js bytes.Buffer
			var opts TextOptions
			if desired == nil {
				opts.Command = "destroy"
			}
			if err := p.WriteText(&text, opts); err != nil {
				t.Fatal(err)
			}
			opts.Color = true
			if err := p.WriteText(&colored, opts); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".txt", text.Bytes())
			golden(t, tt.name+".json", js.Bytes())
			if strings.Contains(text.String(), "\x1b[") {
				t.Error("uncoloured text has ANSI escapes")
			}
			if p.HasChanges() && !strings.Contains(colored.String(), "\x1b[") {
				t.Error("coloured text has no ANSI escapes")
			}
			for _, out := range []string{text.String(), colored.String(), js.String()} {
				for _, secret := range []string{"hunter2", "correct horse", "sensitive:", "tok\"", "/orders/"} {
					if strings.Contains(out, secret) {
						t.Errorf("rendering leaks %q", secret)
					}
				}
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestPlanActions(t *testing.T) {
	type want struct {
		action   Action
		dataLoss bool
		reasons  []string
	}
	tests := []struct {
		name   string
		mutate func(r *stacks.Resolved)
		comp   string
		want   want
	}{
		{"int vs float from state is equal", func(r *stacks.Resolved) {}, "api", want{ActionNoOp, false, nil}},
		{"float widened to int is equal", func(r *stacks.Resolved) {
			r.Component("api").Spec["cpu"] = float64(256)
		}, "api", want{ActionNoOp, false, nil}},
		{"reference unchanged stays symbolic", func(r *stacks.Resolved) {}, "worker", want{ActionNoOp, false, nil}},
		{"reference changed", func(r *stacks.Resolved) {
			r.Component("worker").Spec["env"].(map[string]any)["QUEUE_URL"] = "${orders-events.arn}"
		}, "worker", want{ActionUpdate, false, nil}},
		{"database engine replaces", func(r *stacks.Resolved) {
			r.Component("orders-db").Spec["engine"] = "mysql"
		}, "orders-db", want{ActionReplace, true, []string{"spec.engine"}}},
		{"database storage is an update", func(r *stacks.Resolved) {
			r.Component("orders-db").Spec["storageGB"] = int64(50)
		}, "orders-db", want{ActionUpdate, false, nil}},
		{"queue fifo replaces", func(r *stacks.Resolved) {
			r.Component("orders-events").Spec["fifo"] = true
		}, "orders-events", want{ActionReplace, true, []string{"spec.fifo"}}},
		{"bucket name replaces", func(r *stacks.Resolved) {
			r.Component("assets").Spec["name"] = "acme-assets"
		}, "assets", want{ActionReplace, true, []string{"spec.name"}}},
		{"bucket lifecycle is an update", func(r *stacks.Resolved) {
			r.Component("assets").Spec["lifecycle"] = map[string]any{"expireAfterDays": int64(30)}
		}, "assets", want{ActionUpdate, false, nil}},
		{"service port replaces, no data loss", func(r *stacks.Resolved) {
			r.Component("api").Spec["port"] = int64(9090)
		}, "api", want{ActionReplace, false, []string{"spec.port"}}},
		// Only a load-balanced service has a target group to re-create:
		// with the load balancer removed it is deleted, and the port is
		// an update of the task definition (TestPlanServicePort).
		{"service port with the load balancer removed is an update", func(r *stacks.Resolved) {
			r.Component("api").Spec["port"] = int64(9090)
			delete(r.Component("api").Spec, "loadBalancer")
		}, "api", want{ActionUpdate, false, nil}},
		{"nested field under a forcing one", func(r *stacks.Resolved) {
			r.Component("orders-events").Spec["fifo"] = map[string]any{"x": true}
		}, "orders-events", want{ActionReplace, true, []string{"spec.fifo"}}},
		{"kind change replaces", func(r *stacks.Resolved) {
			r.Component("orders-events").Kind = stacks.KindTopic
		}, "orders-events", want{ActionReplace, true, []string{"kind"}}},
		{"kind change to a data kind loses nothing", func(r *stacks.Resolved) {
			r.Component("worker").Kind = stacks.KindBucket
		}, "worker", want{ActionReplace, false, []string{"kind"}}},
		// No target deploys service, labels or dependsOn: apply records
		// them and changes no resource (they used to plan as updates).
		{"dependsOn change deploys nothing", func(r *stacks.Resolved) {
			r.Component("worker").DependsOn = []string{"orders-db", "orders-events"}
		}, "worker", want{ActionNoOp, false, nil}},
		{"labels change deploys nothing", func(r *stacks.Resolved) {
			r.Component("worker").Labels = map[string]string{"team": "b"}
		}, "worker", want{ActionNoOp, false, nil}},
		{"service change deploys nothing", func(r *stacks.Resolved) {
			r.Component("worker").Service = "jobs"
		}, "worker", want{ActionNoOp, false, nil}},
		{"labels with a spec change", func(r *stacks.Resolved) {
			r.Component("worker").Labels = map[string]string{"team": "b"}
			r.Component("worker").Spec["replicas"] = int64(2)
		}, "worker", want{ActionUpdate, false, nil}},
		{"changed secret is an update", func(r *stacks.Resolved) {
			r.Component("api").Spec["secrets"] = map[string]any{"DB_PASSWORD": stacks.Sensitive{Hash: "sensitive:hmac-sha256:9999"}}
		}, "api", want{ActionUpdate, false, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := base()
			tt.mutate(desired)
			p := Plan(desired, fromState(t, base()), Options{})
			got := changeOf(t, p, tt.comp)
			if got.Action != tt.want.action || got.DataLoss != tt.want.dataLoss || !reflect.DeepEqual(got.ReplaceReasons, tt.want.reasons) {
				t.Errorf("got %s dataLoss=%v reasons=%v, want %s dataLoss=%v reasons=%v (fields %+v)",
					got.Action, got.DataLoss, got.ReplaceReasons, tt.want.action, tt.want.dataLoss, tt.want.reasons, got.Fields)
			}
		})
	}
}

// TestPlanServicePort: a MicroService's port re-creates its ALB target
// group (the port of one is immutable), which only a load-balanced service
// has. A service without a load balancer, or one that gains it with the
// new port, had its port change planned as "replace (ALB target group
// re-created)" while apply updated the task definition in place.
func TestPlanServicePort(t *testing.T) {
	lb := map[string]any{"public": true, "host": "orders.example.com", "path": "/"}
	for _, tt := range []struct {
		name          string
		before, after map[string]any // loadBalancer, nil for none
		want          Action
	}{
		{"load-balanced", lb, lb, ActionReplace},
		{"no load balancer", nil, nil, ActionUpdate},
		{"load balancer added", nil, lb, ActionUpdate},
		{"load balancer removed", lb, nil, ActionUpdate},
	} {
		t.Run(tt.name, func(t *testing.T) {
			with := func(port int64, lb map[string]any) *stacks.Resolved {
				r := base()
				api := r.Component("api")
				api.Spec["port"] = port
				delete(api.Spec, "loadBalancer")
				if lb != nil {
					api.Spec["loadBalancer"] = lb
				}
				return r
			}
			p := Plan(with(9090, tt.after), fromState(t, with(8080, tt.before)), Options{})
			got := changeOf(t, p, "api")
			if got.Action != tt.want || got.DataLoss {
				t.Fatalf("api: %s dataLoss=%v reasons=%v, want %s", got.Action, got.DataLoss, got.ReplaceReasons, tt.want)
			}
			var text bytes.Buffer
			if err := p.WriteText(&text, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if mentions := strings.Contains(text.String(), "target group"); mentions != (tt.want == ActionReplace) {
				t.Errorf("plan text mentions the target group: %v, want %v:\n%s", mentions, tt.want == ActionReplace, text.String())
			}
		})
	}
}

// TestPlanDeadLetterRemoved: removing a Queue's deadLetter deletes its
// dead-letter queue, and the messages in it, while the queue is updated in
// place. The plan showed only an update; it is flagged as data loss (on
// the local target too, which stands in for aws), with the field saying
// what goes. A dead-letter queue added or changed loses nothing, and a
// queue replaced anyway says so as a replacement.
func TestPlanDeadLetterRemoved(t *testing.T) {
	dl := map[string]any{"maxReceives": int64(5)}
	for _, provider := range []string{"aws", "local"} {
		for _, tt := range []struct {
			name          string
			before, after map[string]any // deadLetter, nil for none
			fifo          bool
			action        Action
			loss          bool
		}{
			{"removed", dl, nil, false, ActionUpdate, true},
			{"added", nil, dl, false, ActionUpdate, false},
			{"maxReceives changed", dl, map[string]any{"maxReceives": int64(9)}, false, ActionUpdate, false},
			{"removed with fifo", dl, nil, true, ActionReplace, true},
		} {
			t.Run(provider+"/"+tt.name, func(t *testing.T) {
				with := func(dl map[string]any, fifo bool) *stacks.Resolved {
					r := base()
					r.Provider.Name = provider
					q := r.Component("orders-events")
					q.Spec["fifo"] = fifo
					delete(q.Spec, "deadLetter")
					if dl != nil {
						q.Spec["deadLetter"] = dl
					}
					return r
				}
				p := Plan(with(tt.after, tt.fifo), fromState(t, with(tt.before, false)), Options{})
				got := changeOf(t, p, "orders-events")
				if got.Action != tt.action || got.DataLoss != tt.loss || slices.Contains(p.Summary.DataLoss, "orders-events") != tt.loss {
					t.Fatalf("got %s dataLoss=%v summary %v, want %s dataLoss=%v", got.Action, got.DataLoss, p.Summary.DataLoss, tt.action, tt.loss)
				}
				if tt.action != ActionUpdate {
					return
				}
				if want := tt.loss; (len(got.DeleteReasons) > 0) != want {
					t.Errorf("deleteReasons %v, want some: %v", got.DeleteReasons, want)
				}
				var text bytes.Buffer
				if err := p.WriteText(&text, TextOptions{}); err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{
					"spec.deadLetter: {\"maxReceives\":5} → (removed) # the dead-letter queue is deleted, and the messages in it are lost",
					"DATA LOSS: orders-events (Queue) will be updated in place, deleting data it holds (spec.deadLetter changed; see above)",
					"Warning: DATA LOSS: orders-events (apply needs --allow-destroy)",
				} {
					if strings.Contains(text.String(), want) != tt.loss {
						t.Errorf("plan text has %q: %v, want %v:\n%s", want, !tt.loss, tt.loss, text.String())
					}
				}
			})
		}
	}
}

// TestPlanLocalTarget: the local target replaces what the aws mapping
// replaces (its resources carry those fields as replaceOnChanges), so its
// plans show the same replaces, flagged as data loss for data components;
// a kind change replaces; a directory change moves every manifest (an
// update of each component, no data loss).
func TestPlanLocalTarget(t *testing.T) {
	local := func() *stacks.Resolved {
		r := base()
		r.Provider = stacks.Provider{Name: "local", Directory: ".panka/local"}
		return r
	}
	tests := []struct {
		name    string
		mutate  func(r *stacks.Resolved)
		comp    string
		action  Action
		reasons []string
	}{
		{"database engine", func(r *stacks.Resolved) { r.Component("orders-db").Spec["engine"] = "mysql" }, "orders-db", ActionReplace, []string{"spec.engine"}},
		{"queue fifo", func(r *stacks.Resolved) { r.Component("orders-events").Spec["fifo"] = true }, "orders-events", ActionReplace, []string{"spec.fifo"}},
		// The target group a port re-creates is aws's alone.
		{"service port", func(r *stacks.Resolved) { r.Component("api").Spec["port"] = int64(9090) }, "api", ActionUpdate, nil},
		{"database size", func(r *stacks.Resolved) { r.Component("orders-db").Spec["instanceClass"] = "db.r6g.large" }, "orders-db", ActionUpdate, nil},
		{"kind", func(r *stacks.Resolved) { r.Component("orders-events").Kind = stacks.KindTopic }, "orders-events", ActionReplace, []string{"kind"}},
		{"directory", func(r *stacks.Resolved) { r.Provider.Directory = "out" }, "orders-db", ActionUpdate, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := local()
			tt.mutate(desired)
			p := Plan(desired, fromState(t, local()), Options{})
			got := changeOf(t, p, tt.comp)
			if got.Action != tt.action || !reflect.DeepEqual(got.ReplaceReasons, tt.reasons) {
				t.Errorf("got %s reasons=%v, want %s reasons=%v", got.Action, got.ReplaceReasons, tt.action, tt.reasons)
			}
			// Every replace here but the service's is of a data component.
			if want := tt.action == ActionReplace && tt.comp != "api"; got.DataLoss != want {
				t.Errorf("dataLoss=%v, want %v", got.DataLoss, want)
			}
		})
	}
	moved := local()
	moved.Provider.Directory = "out"
	p := Plan(moved, fromState(t, local()), Options{})
	if p.Summary.Update != 5 || p.Summary.Replace != 0 || len(p.Summary.DataLoss) != 0 {
		t.Errorf("directory change: %+v, want every component updated (moved), nothing lost", p.Summary)
	}
	if f := changeOf(t, p, "api").Fields; len(f) != 1 || f[0].Path != "provider.directory" || f[0].After != "out" {
		t.Errorf("directory change of api: fields %+v, want provider.directory → out", f)
	}
	// From aws to local: a change of target replaces everything.
	p = Plan(local(), fromState(t, base()), Options{})
	if p.Summary.Replace != 5 || !p.Summary.ProviderChanged {
		t.Errorf("aws to local: %+v, want every component replaced", p.Summary)
	}
}

// TestPlanCacheReplacements: on the aws target a Cache is replaced where
// the AWS provider re-creates the replication group, which depends on the
// values: a version downgrade (a rollback past a version bump) planned as
// an update, and apply then stopped at the engine's protection, or with
// --allow-replace lost the cache without the plan saying so; redis to
// valkey, which changes in place, planned as a replace and asked for
// --allow-replace. The local target replaces by field only.
func TestPlanCacheReplacements(t *testing.T) {
	withCache := func(provider, engine, version string) *stacks.Resolved {
		r := base()
		r.Provider.Name = provider
		r.Components = append(r.Components, stacks.Component{Name: "sessions", Kind: stacks.KindCache,
			Spec: map[string]any{"engine": engine, "version": version, "nodeType": "cache.t4g.micro", "nodes": int64(1)}})
		return r
	}
	tests := []struct {
		name                    string
		provider                string
		fromEngine, fromVersion string
		toEngine, toVersion     string
		action                  Action
		reasons                 []string
	}{
		{"version downgrade", "aws", "redis", "7.1", "redis", "6.2", ActionReplace, []string{"spec.version"}},
		{"version upgrade", "aws", "redis", "6.2", "redis", "7.1", ActionUpdate, nil},
		{"redis to valkey", "aws", "redis", "7.1", "valkey", "8.0", ActionUpdate, nil},
		{"valkey to redis", "aws", "valkey", "8.0", "redis", "7.1", ActionReplace, []string{"spec.engine", "spec.version"}},
		{"local version downgrade", "local", "redis", "7.1", "redis", "6.2", ActionUpdate, nil},
		{"local valkey to redis", "local", "valkey", "8.0", "redis", "7.1", ActionUpdate, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Plan(withCache(tt.provider, tt.toEngine, tt.toVersion), fromState(t, withCache(tt.provider, tt.fromEngine, tt.fromVersion)), Options{})
			got := changeOf(t, p, "sessions")
			if got.Action != tt.action || !reflect.DeepEqual(got.ReplaceReasons, tt.reasons) || got.DataLoss != (tt.action == ActionReplace) {
				t.Fatalf("got %s dataLoss=%v reasons=%v, want %s reasons=%v (fields %+v)", got.Action, got.DataLoss, got.ReplaceReasons, tt.action, tt.reasons, got.Fields)
			}
			for _, fc := range got.Fields {
				if fc.ForcesReplace && !strings.Contains(fc.Reason, "ElastiCache replication group is re-created") {
					t.Errorf("field %s forces replacement with reason %q", fc.Path, fc.Reason)
				}
			}
		})
	}
}

// changeOf returns the plan's change of component comp.
func changeOf(t *testing.T, p *Result, comp string) *Change {
	t.Helper()
	for i := range p.Changes {
		if p.Changes[i].Component == comp {
			return &p.Changes[i]
		}
	}
	t.Fatalf("no change for %s", comp)
	return nil
}

func TestPlanOrder(t *testing.T) {
	// Creates in dependency order of desired, ties by name; deletes last, in
	// reverse dependency order of deployed.
	p := Plan(base(), nil, Options{})
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Component)
	}
	want := []string{"assets", "orders-db", "orders-events", "api", "worker"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("create order = %v, want %v", got, want)
	}

	p = Plan(nil, base(), Options{})
	got = nil
	for _, c := range p.Changes {
		got = append(got, c.Component)
	}
	want = []string{"worker", "api", "orders-events", "orders-db", "assets"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delete order = %v, want %v", got, want)
	}

	// Mixed: a new component depending on a kept one, a deleted one.
	desired := base()
	desired.Components = append(desired.Components[:1], desired.Components[2:]...)
	desired.Components = append(desired.Components, stacks.Component{Name: "audit", Kind: stacks.KindQueue, DependsOn: []string{"worker"}, Spec: map[string]any{"fifo": false}})
	p = Plan(desired, base(), Options{})
	got = nil
	for _, c := range p.Changes {
		got = append(got, string(c.Action)+":"+c.Component)
	}
	want = []string{"no-op:orders-db", "no-op:orders-events", "no-op:api", "no-op:worker", "create:audit", "delete:assets"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mixed order = %v, want %v", got, want)
	}
}

func TestPlanDeterministic(t *testing.T) {
	plan := func(desired *stacks.Resolved) *Result {
		deployed := base()
		deployed.Component("api").Spec["replicas"] = int64(3)
		deployed.Component("worker").Spec["command"] = []any{"sh", "-c", "echo old\n"}
		deployed.Component("api").Spec["env"].(map[string]any)["OLD"] = "x"
		return Plan(desired, fromState(t, deployed), Options{Header: deployedHeader()})
	}
	render := func(p *Result) string {
		var a, b bytes.Buffer
		_ = p.WriteText(&a, TextOptions{Color: true})
		_ = p.WriteJSON(&b)
		return a.String() + b.String()
	}
	changes := func(p *Result) string {
		b, _ := json.Marshal(p.Changes)
		return string(b)
	}
	first := plan(base())
	for i := 0; i < 20; i++ {
		// Fresh maps each time: Go randomises map iteration.
		if got := render(plan(base())); got != render(first) {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, got, render(first))
		}
		// The order components arrive in must not matter either (the
		// model hash does depend on it, as Canonical assumes sorted input).
		r := base()
		for j, k := 0, len(r.Components)-1; j < k; j, k = j+1, k-1 {
			r.Components[j], r.Components[k] = r.Components[k], r.Components[j]
		}
		if got := changes(plan(r)); got != changes(first) {
			t.Fatalf("reversed input differs:\n%s\n---\n%s", got, changes(first))
		}
	}
}

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{"same", "a\nb\n", "a\nb\n", nil},
		{"one line", "a\nb\nc\n", "a\nB\nc\n", []string{"@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"}},
		{"from empty", "", "x\ny\n", []string{"@@ -0,0 +1,2 @@", "+x", "+y"}},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
			[]string{"@@ -1,5 +1,5 @@", " 1", "-2", "+X", " 3", " 4", " 5", "@@ -8,5 +8,5 @@", " 8", " 9", " 10", "-11", "+Y", " 12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unifiedDiff(tt.a, tt.b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWriteTextControlCharacters: the lines of a multi-line value's diff
// show its control characters escaped, as the JSON of one-line values
// does. A carriage return or an escape sequence written in the YAML
// ("\r", "\e[2J") reached the terminal raw, where it can overwrite or
// clear what the plan shows before someone approves it.
func TestWriteTextControlCharacters(t *testing.T) {
	desired := base()
	desired.Component("api").Spec["env"].(map[string]any)["SCRIPT"] = "echo ok\rrm -rf /data\x1b[2K\nnext\tline\u0085"
	desired.Component("api").Spec["env"].(map[string]any)["ONE"] = "a\u009b2Jb\x7f"
	var b bytes.Buffer
	if err := Plan(desired, fromState(t, base()), Options{Header: deployedHeader()}).WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\r\x1b\u0085\u009b\x7f") {
		t.Errorf("control characters reach the terminal:\n%q", out)
	}
	for _, want := range []string{"+echo ok\\rrm -rf /data\\x1b[2K\n", "+next\tline\\u0085\n", `"a\u009b2Jb\x7f"`} {
		if !strings.Contains(out, want) {
			t.Errorf("plan does not show %q:\n%s", want, out)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	tests := []struct {
		s    Summary
		want string
	}{
		{Summary{Create: 2, Update: 1}, "Plan: 2 to create, 1 to update, 0 to delete"},
		{Summary{Create: 1, Update: 1, Replace: 1}, "Plan: 1 to create, 1 to update, 1 to replace, 0 to delete"},
		{Summary{NoOp: 3}, "No changes."},
	}
	for _, tt := range tests {
		if got := SummaryLine(tt.s); got != tt.want {
			t.Errorf("SummaryLine(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

// TestDescribeDeployed: the "deployed:" line of a plan header. After a
// destroy nothing is deployed, whatever commit the destroy ran at; after
// runs that all failed, no deployment succeeded (the commit is not
// "unknown": none was deployed).
func TestDescribeDeployed(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	sha := "1b2c3d4e5f601b2c3d4e5f601b2c3d4e5f601b2c"
	tests := []struct {
		name string
		d    Deployed
		want string
	}{
		{"never", Deployed{}, "nothing deployed yet"},
		{"deployed", Deployed{Serial: 7, Commit: sha, At: &at, By: "alice", Status: "deployed"},
			"commit 1b2c3d4e5f60 by alice at 2026-11-20T09:30:00Z (state serial 7, deployed)"},
		// It read as that commit's YAML, while status and history said dirty.
		{"deployed from uncommitted changes", Deployed{Serial: 4, Commit: sha, Dirty: true, At: &at, By: "alice", Status: "deployed"},
			"commit 1b2c3d4e5f60 (dirty) by alice at 2026-11-20T09:30:00Z (state serial 4, deployed)"},
		{"failed, never succeeded", Deployed{Serial: 1, Status: "failed"}, "no successful deployment yet (state serial 1, failed)"},
		{"deployed outside git", Deployed{Serial: 2, At: &at, By: "alice", Status: "deployed"},
			"unknown commit by alice at 2026-11-20T09:30:00Z (state serial 2, deployed)"},
		{"destroyed", Deployed{Serial: 8, At: &at, By: "alice", Status: "destroyed", Destroyed: true},
			"nothing deployed: destroyed by alice at 2026-11-20T09:30:00Z (state serial 8)"},
		{"failed after a destroy", Deployed{Serial: 9, At: &at, By: "alice", Status: "failed", Destroyed: true},
			"nothing deployed: destroyed by alice at 2026-11-20T09:30:00Z (state serial 9, failed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeDeployed(tt.d); got != tt.want {
				t.Errorf("describeDeployed = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDescribeDesired: where the desired model comes from, as the plan's
// header says it.
func TestDescribeDesired(t *testing.T) {
	sha := "1b2c3d4e5f601b2c3d4e5f601b2c3d4e5f601b2c"
	tests := []struct {
		name string
		h    Header
		want string
	}{
		{"work tree", Header{Desired: Desired{Source: "worktree", Commit: sha}}, "work tree at 1b2c3d4e5f60"},
		{"dirty", Header{Desired: Desired{Source: "worktree", Commit: sha, Dirty: true}}, "work tree at 1b2c3d4e5f60, dirty: uncommitted changes included"},
		{"ref", Header{Desired: Desired{Source: "ref", Ref: "v1.2", Commit: sha}}, "ref v1.2 (1b2c3d4e5f60)"},
		{"recorded spec", Header{Desired: Desired{Source: "history", Ref: "the spec recorded by deployment 2", Commit: sha}},
			"the spec recorded by deployment 2 (commit 1b2c3d4e5f60)"},
		{"destroy", Header{Destroy: true}, "nothing (destroy)"},
	}
	for _, tt := range tests {
		if got := describeDesired(tt.h); got != tt.want {
			t.Errorf("%s: describeDesired = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestDataLossWarning: the warning under the summary names the command that
// will run the plan and asks only for the flags it was not given.
func TestDataLossWarning(t *testing.T) {
	dropped := func() *stacks.Resolved { // assets (Bucket) deleted
		r := base()
		r.Components = append(r.Components[:1], r.Components[2:]...)
		return r
	}
	replaced := func() *stacks.Resolved { // orders-db replaced, assets deleted
		r := dropped()
		r.Component("orders-db").Spec["engine"] = "mysql"
		return r
	}
	tests := []struct {
		name    string
		desired func() *stacks.Resolved
		opts    TextOptions
		want    string
	}{
		{"plan previews apply", dropped, TextOptions{}, "Warning: DATA LOSS: assets (apply needs --allow-destroy)\n"},
		{"plan previews destroy (an environment that is gone)", nil, TextOptions{},
			"Warning: DATA LOSS: orders-events, orders-db, assets (destroy needs --allow-destroy)\n"},
		{"destroy without the flag", nil, TextOptions{Command: "destroy"},
			"Warning: DATA LOSS: orders-events, orders-db, assets (destroy needs --allow-destroy)\n"},
		{"destroy with the flag", nil, TextOptions{Command: "destroy", AllowDestroy: true},
			"Warning: DATA LOSS: orders-events, orders-db, assets (allowed by --allow-destroy)\n"},
		{"rollback needs both", replaced, TextOptions{Command: "rollback"},
			"Warning: DATA LOSS: orders-db, assets (rollback needs --allow-destroy and --allow-replace)\n"},
		{"promote given one of two", replaced, TextOptions{Command: "promote", AllowDestroy: true},
			"Warning: DATA LOSS: orders-db, assets (promote needs --allow-replace)\n"},
		{"apply given both", replaced, TextOptions{Command: "apply", AllowDestroy: true, AllowReplace: true},
			"Warning: DATA LOSS: orders-db, assets (allowed by --allow-destroy and --allow-replace)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var desired *stacks.Resolved
			if tt.desired != nil {
				desired = tt.desired()
			}
			p := Plan(desired, fromState(t, base()), Options{Header: Header{Stack: "orders", Environment: "dev"}})
			var out bytes.Buffer
			if err := p.WriteText(&out, tt.opts); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(out.String(), tt.want) {
				t.Errorf("plan ends with:\n%s\nwant %q", lastLine(out.String()), tt.want)
			}
		})
	}
	// plan --all-changed: one warning for all plans.
	var out bytes.Buffer
	a := Plan(dropped(), fromState(t, base()), Options{Header: Header{Stack: "orders", Environment: "dev"}})
	b := Plan(base(), fromState(t, base()), Options{Header: Header{Stack: "orders", Environment: "prod"}})
	if err := WriteTextAll(&out, []*Result{a, b}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "Warning: DATA LOSS: orders/dev/assets (apply needs --allow-destroy)\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("plans end with:\n%s\nwant %q", lastLine(out.String()), want)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestDataLossNamesTheDeployedKind: a Queue turned into a Topic loses the
// queue's messages; the DATA LOSS line named the new kind ("orders-events
// (Topic) will be replaced and the data it holds lost"), which holds none.
func TestDataLossNamesTheDeployedKind(t *testing.T) {
	desired := base()
	desired.Component("orders-events").Kind = stacks.KindTopic
	p := Plan(desired, fromState(t, base()), Options{Header: Header{Stack: "orders", Environment: "dev"}})
	var out bytes.Buffer
	if err := p.WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "DATA LOSS: orders-events (Queue) will be replaced and the data it holds lost"; !strings.Contains(out.String(), want) {
		t.Fatalf("plan text lacks %q:\n%s", want, out.String())
	}
}

// TestKeepDeployedHashes: secrets hash with their stack and environment
// since hash v2 (stacks.HashSensitiveAt). A state written before, with
// the old hashes (name and value only), plans as no changes for an
// unchanged secret, and the desired model keeps the recorded hash, so the
// state and manifests stay byte for byte; a changed or new secret gets
// the v2 hash and plans as a change.
func TestKeepDeployedHashes(t *testing.T) {
	key := []byte("k")
	model := func(v1 bool, token, extra string) *stacks.Resolved {
		h := func(name, value string) stacks.Sensitive {
			s := stacks.HashSensitiveAt(key, "orders", "dev", name, value)
			if v1 {
				s = stacks.HashSensitive(key, name, value)
			}
			return s
		}
		r := base()
		api := r.Component("api")
		api.Spec["env"].(map[string]any)["TOKEN"] = h("TOKEN", token)
		api.Spec["command"] = []any{"/app/orders-api", h("TOKEN", "--token="+token)}
		if extra != "" {
			api.Spec["env"].(map[string]any)["EXTRA"] = h("EXTRA", extra)
		}
		r.Variables = []stacks.ResolvedVar{{Name: "TOKEN", Value: h("TOKEN", token), Source: "env", Secret: true}}
		return r
	}
	deployed := fromState(t, model(true, "s3cr3t", ""))

	desired := model(false, "s3cr3t", "")
	if bytes.Equal(desired.Canonical(), deployed.Canonical()) {
		t.Fatal("v2 hashes are the old ones")
	}
	KeepDeployedHashes(desired, deployed)
	if p := Plan(desired, deployed, Options{}); p.HasChanges() {
		t.Errorf("an unchanged secret deployed with the old hash plans as changed: %+v", p.Changes)
	}
	if !bytes.Equal(desired.Canonical(), deployed.Canonical()) {
		t.Errorf("the desired model does not keep the recorded hashes:\n%s\n%s", desired.Canonical(), deployed.Canonical())
	}

	desired = model(false, "rotated", "new")
	KeepDeployedHashes(desired, deployed)
	p := Plan(desired, deployed, Options{})
	var paths []string
	for _, c := range p.Changes {
		for _, f := range c.Fields {
			paths = append(paths, f.Path)
			if !f.Sensitive {
				t.Errorf("%s is not sensitive", f.Path)
			}
		}
	}
	if want := []string{"spec.command[1]", "spec.env.EXTRA", "spec.env.TOKEN"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("changed fields = %v, want %v", paths, want)
	}
	if h := desired.Component("api").Spec["env"].(map[string]any)["TOKEN"].(stacks.Sensitive).Hash; !strings.HasPrefix(h, "sensitive:hmac-sha256:v2:") {
		t.Errorf("a changed secret keeps an old hash: %s", h)
	}
}

// TestPlanRecordedOnly: a component whose service, labels or dependsOn
// changed and nothing else is a no-op that lists those fields; the plan
// has no changes (apply records them), says so in text, and asks the
// engine to run for a dependsOn change only (it records step order).
// apply has something to do all the same (Applies: plan
// --detailed-exitcode exits 2), without running the engine (Runs):
// changed --since-deployed lists the environment until it is recorded.
func TestPlanRecordedOnly(t *testing.T) {
	d := base()
	d.Component("worker").Labels = map[string]string{"team": "b"}
	d.Component("api").Service = "edge"
	p := Plan(d, fromState(t, base()), Options{})
	if p.HasChanges() || !p.Recorded() || p.DependenciesChanged() {
		t.Errorf("HasChanges %v Recorded %v DependenciesChanged %v, want false true false", p.HasChanges(), p.Recorded(), p.DependenciesChanged())
	}
	if !p.Applies() || p.Runs() || p.RecordsCommit() {
		t.Errorf("Applies %v Runs %v RecordsCommit %v, want true false false", p.Applies(), p.Runs(), p.RecordsCommit())
	}
	if p := Plan(base(), fromState(t, base()), Options{}); p.Applies() {
		t.Error("a plan of the deployed spec Applies")
	}
	// plan --all-changed says it per plan too, not "No changes."
	p.Header.Stack, p.Header.Environment = "orders", "dev"
	var all bytes.Buffer
	if err := WriteTextAll(&all, []*Result{p}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if line := "\norders/dev: No changes to deploy; what changed deploys nothing, which apply records.\n"; !strings.Contains(all.String(), line) {
		t.Errorf("plans lack %q:\n%s", line, all.String())
	}
	if w := changeOf(t, p, "worker"); len(w.Fields) != 1 || w.Fields[0].Path != "labels" {
		t.Errorf("worker fields = %+v", w.Fields)
	}
	var text bytes.Buffer
	if err := p.WriteText(&text, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n  worker (Worker) changes nothing deployed: apply records it\n    labels: (none) → {\"team\":\"b\"}\n",
		"\n  api (MicroService) changes nothing deployed: apply records it\n    service: \"api\" → \"edge\"\n",
		"No changes to deploy. orders/dev differs from the deployed state only in service, labels, dependsOn, variables, references written as the values they have, or provider settings the local target does not use, which apply records.",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	d.Component("worker").DependsOn = []string{"orders-db", "orders-events"}
	if p := Plan(d, fromState(t, base()), Options{}); p.HasChanges() || !p.DependenciesChanged() {
		t.Errorf("dependsOn: HasChanges %v DependenciesChanged %v, want false true", p.HasChanges(), p.DependenciesChanged())
	}
	// A list of the same length is compared element by element.
	d.Component("worker").DependsOn = []string{"orders-db"}
	dep := base()
	dep.Component("worker").DependsOn = []string{"orders-events"}
	if p := Plan(d, fromState(t, dep), Options{}); p.HasChanges() || !p.DependenciesChanged() || changeOf(t, p, "worker").Fields[0].Path != "dependsOn[0]" {
		t.Errorf("dependsOn[0]: HasChanges %v DependenciesChanged %v fields %+v", p.HasChanges(), p.DependenciesChanged(), changeOf(t, p, "worker").Fields)
	}
}

// TestNoChangesAfterUnfinishedRun: a plan whose desired spec equals the
// recorded one said "No changes. orders/dev matches the deployed state."
// after a destroy stopped midway (it keeps the deployed spec in state),
// while nothing was deployed any more and apply went on to create every
// component. With the state failed, it says that apply runs the engine
// again.
func TestNoChangesAfterUnfinishedRun(t *testing.T) {
	h := Header{Stack: "orders", Environment: "dev", Deployed: Deployed{Serial: 5, Status: "failed"}}
	p := Plan(base(), fromState(t, base()), Options{Header: h})
	var out bytes.Buffer
	if err := p.WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "No changes to the recorded spec, but the last run of orders/dev did not finish (failed or interrupted): deploying it (apply, rollback, promote) runs the engine again"
	if got := lastLine(out.String()); !strings.HasPrefix(got, want) || strings.Contains(out.String(), "matches the deployed state") {
		t.Errorf("plan ends with %q, want %q...", got, want)
	}
	h.Deployed.Status = "deployed"
	p = Plan(base(), fromState(t, base()), Options{Header: h})
	out.Reset()
	if err := p.WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(out.String()); got != "No changes. orders/dev matches the deployed state." {
		t.Errorf("deployed: plan ends with %q", got)
	}
}

// TestNoChangesNothingDeployed: a stack with no component yet, never
// deployed (fresh from panka stack init), was said to match "the deployed
// state"; it says nothing is deployed. changed --since-deployed lists such
// an environment until a deployment is recorded, and
// --detailed-exitcode exited 0, so a "plan, apply when 2" pipeline never
// recorded it: it Applies (RecordsEmpty), never deployed or destroyed,
// and says what apply does.
func TestNoChangesNothingDeployed(t *testing.T) {
	empty := base()
	empty.Components = nil
	p := Plan(empty, nil, Options{Header: Header{Stack: "orders", Environment: "dev"}})
	var out bytes.Buffer
	if err := p.WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "No changes to deploy. orders/dev has no components, and nothing is deployed: apply records a deployment of it (until then panka changed --since-deployed lists it)."
	if got := lastLine(out.String()); got != want {
		t.Errorf("plan ends with %q", got)
	}
	if p.HasChanges() || p.Runs() || !p.RecordsEmpty() || !p.Applies() {
		t.Errorf("HasChanges %v Runs %v RecordsEmpty %v Applies %v, want false false true true", p.HasChanges(), p.Runs(), p.RecordsEmpty(), p.Applies())
	}
	out.Reset()
	if err := p.WriteText(&out, TextOptions{Command: "apply"}); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(out.String()); got != "No changes to deploy. orders/dev has no components, and nothing is deployed: this apply records a deployment of it." {
		t.Errorf("apply's plan ends with %q", got)
	}
	// Destroyed: nothing is deployed either (changed lists it as such).
	gone := Plan(empty, nil, Options{Header: Header{Stack: "orders", Environment: "dev",
		Deployed: Deployed{Serial: 3, Status: "destroyed", Destroyed: true}}})
	if !gone.RecordsEmpty() || !gone.Applies() {
		t.Errorf("destroyed: RecordsEmpty %v Applies %v, want true true", gone.RecordsEmpty(), gone.Applies())
	}
	// Deployed with no components: nothing to record.
	deployed := Plan(empty, empty, Options{Header: Header{Stack: "orders", Environment: "dev",
		Deployed: Deployed{Serial: 1, Status: "deployed", Commit: "abc"}}})
	if deployed.RecordsEmpty() || deployed.Applies() {
		t.Errorf("deployed: RecordsEmpty %v Applies %v, want false false", deployed.RecordsEmpty(), deployed.Applies())
	}
	out.Reset()
	if err := deployed.WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(out.String()); got != "No changes. orders/dev matches the deployed state." {
		t.Errorf("deployed: plan ends with %q", got)
	}
	// The destroy plan of an environment gone at head: nothing to record.
	if p := Plan(nil, nil, Options{Header: Header{Stack: "orders", Environment: "dev"}}); p.RecordsEmpty() || p.Applies() {
		t.Errorf("destroy: RecordsEmpty %v Applies %v, want false false", p.RecordsEmpty(), p.Applies())
	}
	// plan --all-changed says it per plan and in its summary.
	var all bytes.Buffer
	if err := WriteTextAll(&all, []*Result{p, gone}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"\norders/dev: No changes to deploy; it has no components and nothing is deployed: apply records a deployment of it.\n",
		"\nNo changes to deploy. orders/dev, orders/dev have no components, and nothing is deployed of them: apply records a deployment of each (until then panka changed --since-deployed lists them).\n",
	} {
		if !strings.Contains(all.String(), line) {
			t.Errorf("plans lack %q:\n%s", line, all.String())
		}
	}
}

// TestNoChangesWithDrift: after drift detect found a component changed
// outside panka, the plan of an unchanged spec said "No changes. ...
// matches the deployed state." and apply then changed the resources (it
// refreshes them and puts them back). It says so instead.
func TestNoChangesWithDrift(t *testing.T) {
	for drifted, want := range map[string]string{
		// one component: "refreshes them ... puts them back" said for it
		"api":    "No changes to the recorded spec, but drift detect found api changed outside panka: deploying it (apply, rollback, promote) refreshes it from the real resources and puts it back.",
		"api,db": "No changes to the recorded spec, but drift detect found api, db changed outside panka: deploying it (apply, rollback, promote) refreshes them from the real resources and puts them back.",
	} {
		h := Header{Stack: "orders", Environment: "dev", Deployed: Deployed{Serial: 5, Status: "deployed", Drifted: strings.Split(drifted, ",")}}
		p := Plan(base(), fromState(t, base()), Options{Header: h})
		var out bytes.Buffer
		if err := p.WriteText(&out, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := lastLine(out.String()); got != want {
			t.Errorf("plan ends with %q, want %q", got, want)
		}
	}
}

// TestNoChangesAllWithDriftOrUnfinishedRun: plan --all-changed ended with
// "No changes. Each of the 2 planned stack environments matches the
// deployed state." when one of them had drift (or a run that did not
// finish), while apply of it changes resources: the single plan's
// summary says so since 3a32cd4, the summary of several did not.
func TestNoChangesAllWithDriftOrUnfinishedRun(t *testing.T) {
	plan := func(env, status string, drifted ...string) *Result {
		h := Header{Stack: "orders", Environment: env, Deployed: Deployed{Serial: 5, Status: status, Drifted: drifted}}
		return Plan(base(), fromState(t, base()), Options{Header: h})
	}
	for _, tc := range []struct {
		name  string
		plans []*Result
		want  string
	}{
		{"all deployed", []*Result{plan("dev", "deployed"), plan("prod", "deployed")},
			"No changes. Each of the 2 planned stack environments matches the deployed state."},
		{"one drifted", []*Result{plan("dev", "deployed"), plan("prod", "deployed", "api", "db")},
			"No changes to the recorded specs, but drift detect found components changed outside panka in orders/prod (api, db), and deploying it refreshes them from the real resources and puts them back (apply, rollback, promote)."},
		{"one failed, one drifted", []*Result{plan("dev", "failed"), plan("prod", "deployed", "api")},
			"No changes to the recorded specs, but the last run of orders/dev did not finish (failed or interrupted), and deploying it runs the engine again, which redoes what that run left undone; drift detect found components changed outside panka in orders/prod (api), and deploying it refreshes them from the real resources and puts them back (apply, rollback, promote)."},
	} {
		var out bytes.Buffer
		if err := WriteTextAll(&out, tc.plans, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := lastLine(out.String()); got != tc.want {
			t.Errorf("%s: plans end with\n%q, want\n%q", tc.name, got, tc.want)
		}
	}
}

// TestRuns: a plan runs the engine (plan --detailed-exitcode exits 2) when
// it has changes, or none but drift to put back or an unfinished run to
// redo; not for a destroy plan of nothing, nor an unchanged deployed one.
func TestRuns(t *testing.T) {
	plan := func(status string, destroy bool, drifted ...string) *Result {
		h := Header{Stack: "orders", Environment: "dev", Destroy: destroy, Deployed: Deployed{Serial: 5, Status: status, Drifted: drifted}}
		return Plan(base(), fromState(t, base()), Options{Header: h})
	}
	changed := base()
	changed.Components[0].Spec["replicas"] = 7
	for _, tc := range []struct {
		name string
		p    *Result
		want bool
	}{
		{"unchanged", plan("deployed", false), false},
		{"drifted", plan("deployed", false, "api"), true},
		{"unfinished run", plan("failed", false), true},
		{"changed", Plan(changed, fromState(t, base()), Options{}), true},
	} {
		if got := tc.p.Runs(); got != tc.want {
			t.Errorf("%s: Runs() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestWatchedApplies: files the stack watches (spec.watch) changed since
// the deployed commit make a plan without changes one apply has something
// to do for (it records the new commit; plan --detailed-exitcode exits 2,
// or changed --since-deployed listed the environment for ever), without
// running the engine. The text lists the files and says so in its last
// line (apply's own words under apply), JSON has them under "watched", and
// plan --all-changed says it per plan and in its summary.
func TestWatchedApplies(t *testing.T) {
	const deployed = "0123456789abcdef0123456789abcdef01234567"
	files := []WatchedFile{{File: "shared/schema.json", Detail: `modified; matches spec.watch "shared/**"`}}
	plan := func(env, status string, watched []WatchedFile, drifted ...string) *Result {
		h := Header{Stack: "orders", Environment: env, Deployed: Deployed{Serial: 5, Commit: deployed, Status: status, Drifted: drifted}}
		p := Plan(base(), fromState(t, base()), Options{Header: h})
		p.Watched = watched
		return p
	}
	changed := base()
	changed.Components[0].Spec["replicas"] = 7
	withChanges := Plan(changed, fromState(t, base()), Options{Header: Header{Deployed: Deployed{Serial: 5, Commit: deployed, Status: "deployed"}}})
	withChanges.Watched = files
	destroy := Plan(nil, fromState(t, base()), Options{Header: Header{Stack: "orders", Environment: "dev", Deployed: Deployed{Serial: 5, Commit: deployed, Status: "deployed"}}})
	destroy.Watched = files
	for _, tc := range []struct {
		name          string
		p             *Result
		runs, applies bool
	}{
		{"nothing watched changed", plan("dev", "deployed", nil), false, false},
		{"watched files changed", plan("dev", "deployed", files), false, true},
		{"and drift", plan("dev", "deployed", files, "api"), true, true},
		{"and changes", withChanges, true, true},
		{"destroy plan", destroy, true, true},
	} {
		if got := tc.p.Runs(); got != tc.runs {
			t.Errorf("%s: Runs() = %v, want %v", tc.name, got, tc.runs)
		}
		if got := tc.p.Applies(); got != tc.applies {
			t.Errorf("%s: Applies() = %v, want %v", tc.name, got, tc.applies)
		}
	}

	p := plan("dev", "deployed", files)
	for command, want := range map[string]string{
		"":      "No changes to deploy, but files that orders/dev watches (spec.watch) changed since its deployed commit 0123456789ab: apply records the new commit (until then panka changed --since-deployed lists it).",
		"apply": "No changes to deploy, but files that orders/dev watches (spec.watch) changed since its deployed commit 0123456789ab: this apply records the new commit.",
	} {
		var out bytes.Buffer
		if err := p.WriteText(&out, TextOptions{Command: command}); err != nil {
			t.Fatal(err)
		}
		if got := lastLine(out.String()); got != want {
			t.Errorf("command %q: plan ends with\n%q, want\n%q", command, got, want)
		}
		for _, line := range []string{
			"  spec.watch: files it watches changed since the deployed commit 0123456789ab: apply records the new commit\n",
			"    shared/schema.json: modified; matches spec.watch \"shared/**\"\n",
		} {
			if !strings.Contains(out.String(), line) {
				t.Errorf("command %q: plan lacks %q:\n%s", command, line, out.String())
			}
		}
	}
	var js bytes.Buffer
	if err := p.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Watched []WatchedFile `json:"watched"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || !reflect.DeepEqual(doc.Watched, files) {
		t.Errorf("JSON watched = %+v (%v), want %+v", doc.Watched, err, files)
	}
	js.Reset()
	if err := plan("dev", "deployed", nil).WriteJSON(&js); err != nil || strings.Contains(js.String(), `"watched"`) {
		t.Errorf("JSON of a plan with no watched file changed has \"watched\" (%v):\n%s", err, js.String())
	}

	for _, tc := range []struct {
		name  string
		plans []*Result
		want  string
	}{
		{"one watched", []*Result{plan("dev", "deployed", files), plan("prod", "deployed", nil)},
			"No changes to deploy, but files that orders/dev watch (spec.watch) changed since their deployed commits: apply records the new commits (until then panka changed --since-deployed lists them)."},
		{"one watched, one drifted", []*Result{plan("dev", "deployed", files), plan("prod", "deployed", nil, "api")},
			"No changes to the recorded specs, but drift detect found components changed outside panka in orders/prod (api), and deploying it refreshes them from the real resources and puts them back (apply, rollback, promote)."},
	} {
		var out bytes.Buffer
		if err := WriteTextAll(&out, tc.plans, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := lastLine(out.String()); got != tc.want {
			t.Errorf("%s: plans end with\n%q, want\n%q", tc.name, got, tc.want)
		}
		if line := "orders/dev: No changes to deploy; files it watches changed since the deployed commit: apply records the new commit.\n"; !strings.Contains(out.String(), line) {
			t.Errorf("%s: plans lack %q:\n%s", tc.name, line, out.String())
		}
	}
}

// TestDirtyDeployedApplies: an environment deployed from uncommitted
// changes runs no commit's YAML, so changed --since-deployed lists it;
// once those changes are committed its spec matches, and the plan said
// "No changes" and --detailed-exitcode exited 0: a "plan, apply when 2"
// pipeline never recorded the commit, and changed listed it for ever.
// The plan of a commit's YAML (not of a dirty work tree, whose apply
// records a dirty deployment again) says apply records it.
func TestDirtyDeployedApplies(t *testing.T) {
	const deployed, head = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	plan := func(env string, deployedDirty, desiredDirty bool) *Result {
		h := Header{Stack: "orders", Environment: env,
			Desired:  Desired{Source: "worktree", Commit: head, Dirty: desiredDirty},
			Deployed: Deployed{Serial: 5, Commit: deployed, Dirty: deployedDirty, Status: "deployed"}}
		return Plan(base(), fromState(t, base()), Options{Header: h})
	}
	for _, tc := range []struct {
		name                        string
		deployedDirty, desiredDirty bool
		want                        bool
	}{
		{"clean deployed", false, false, false},
		{"dirty deployed, commit planned", true, false, true},
		{"dirty deployed, dirty work tree planned", true, true, false},
	} {
		p := plan("dev", tc.deployedDirty, tc.desiredDirty)
		if got := p.Applies(); got != tc.want || p.Runs() {
			t.Errorf("%s: Applies() = %v, Runs() = %v; want %v, false", tc.name, got, p.Runs(), tc.want)
		}
	}
	var out bytes.Buffer
	if err := plan("dev", true, false).WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "No changes to deploy, but orders/dev runs a deployment made from uncommitted changes on top of commit 0123456789ab: apply records the new commit (until then panka changed --since-deployed lists it)."
	if got := lastLine(out.String()); got != want {
		t.Errorf("plan ends with\n%q, want\n%q", got, want)
	}
	watched := plan("prod", false, false)
	watched.Watched = []WatchedFile{{File: "shared/a.json", Detail: "modified"}}
	out.Reset()
	if err := WriteTextAll(&out, []*Result{plan("dev", true, false), watched}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"orders/dev: No changes to deploy; it runs a deployment made from uncommitted changes: apply records the new commit.\n",
		"No changes to deploy, but apply records new commits for orders/dev, orders/prod (files they watch, spec.watch, changed since their deployed commits, or what runs was deployed from uncommitted changes; until then panka changed --since-deployed lists them).\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("plans lack %q:\n%s", line, out.String())
		}
	}
}

// TestPlanReferenceSwappedForItsValue: a reference written out as the
// value it has (or back) changes nothing deployed: the engine gets the
// same input. The plan compares it by value where the deployed outputs
// give it and the referenced component is kept as it is; it lists the
// field (SameValue) on a no-op, as it does labels, and apply records it.
func TestPlanReferenceSwappedForItsValue(t *testing.T) {
	const url = "local://orders/dev/orders-events"
	outputs := map[string]map[string]any{"orders-events": {"url": url, "arn": "arn:local:sqs:local:000000000000:orders-dev-orders-events"}}
	// api sorts before orders-events once it no longer depends on it (as
	// the loader derives dependsOn from references): the plan compares it
	// before it knows that orders-events is kept.
	swapped := func(value string) *stacks.Resolved {
		d := localBase()
		api := d.Component("api")
		api.Spec["env"].(map[string]any)["QUEUE_URL"] = value
		if !strings.Contains(value, "${orders-events.") {
			api.DependsOn = []string{"orders-db"}
		}
		return d
	}
	apiChange := func(p *Result) Change {
		for _, c := range p.Changes {
			if c.Component == "api" {
				return c
			}
		}
		t.Fatal("no change of api")
		return Change{}
	}
	t.Run("literal for reference", func(t *testing.T) {
		p := Plan(swapped(url), fromState(t, localBase()), Options{Outputs: outputs})
		c := apiChange(p)
		if c.Action != ActionNoOp || len(c.Fields) != 2 || c.Fields[0].Path != "dependsOn" || !c.Fields[1].SameValue || c.Fields[1].ForcesReplace ||
			!strings.Contains(c.Fields[1].Reason, strconv.Quote(url)) {
			t.Fatalf("api: %s %+v, want a no-op listing dependsOn and QUEUE_URL as the same value", c.Action, c.Fields)
		}
		at := func(name string) int {
			return slices.IndexFunc(p.Changes, func(c Change) bool { return c.Component == name })
		}
		if at("api") > at("orders-events") {
			t.Errorf("api is planned after orders-events, want before (it no longer depends on it)")
		}
		if p.HasChanges() || !p.Recorded() || !p.DependenciesChanged() {
			t.Errorf("hasChanges %v, recorded %v, dependenciesChanged %v; want false, true, true", p.HasChanges(), p.Recorded(), p.DependenciesChanged())
		}
	})
	t.Run("reference for literal, inside text", func(t *testing.T) {
		dep := swapped("queue=" + url + " $${HOME}")
		p := Plan(swapped("queue=${orders-events.url} $${HOME}"), fromState(t, dep), Options{Outputs: outputs})
		if c := apiChange(p); c.Action != ActionNoOp || len(c.Fields) != 2 || !c.Fields[1].SameValue {
			t.Errorf("api: %s %+v, want a no-op", c.Action, c.Fields)
		}
	})
	for _, tc := range []struct {
		name    string
		value   string
		outputs map[string]map[string]any
		edit    func(*stacks.Resolved)
	}{
		{"another value", url + "-2", outputs, nil},
		{"another output", "${orders-events.arn}", outputs, nil},
		{"outputs not known", url, nil, nil},
		{"the referenced component changes", url, outputs, func(d *stacks.Resolved) {
			d.Component("orders-events").Spec["visibilityTimeout"] = int64(60)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := swapped(tc.value)
			if tc.edit != nil {
				tc.edit(d)
			}
			p := Plan(d, fromState(t, localBase()), Options{Outputs: tc.outputs})
			if c := apiChange(p); c.Action != ActionUpdate || slices.ContainsFunc(c.Fields, func(fc FieldChange) bool { return fc.SameValue }) ||
				!slices.ContainsFunc(c.Fields, func(fc FieldChange) bool { return fc.Path == "spec.env.QUEUE_URL" }) {
				t.Errorf("api: %s %+v, want an update of QUEUE_URL", c.Action, c.Fields)
			}
		})
	}
}

// TestPlanAWSNetwork: a spec.provider.network change on aws planned "0 to
// update (deployment target changed)" and named no component, while the
// engine re-creates security groups, target groups and listener rules,
// moves services and subnet groups, and cannot move an RDS instance or a
// replication group to another VPC. Each component now takes the change
// by what the aws target builds from the field.
func TestPlanAWSNetwork(t *testing.T) {
	net := func(vpc, listener string, subnets ...string) *stacks.Network {
		return &stacks.Network{VpcID: vpc, ListenerArn: listener, PrivateSubnets: subnets, PublicSubnets: []string{"subnet-pub"}}
	}
	const l1, l2 = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/a/1/2", "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/b/3/4"
	withFront := func(n *stacks.Network) *stacks.Resolved {
		r := base()
		r.Provider.Network = n
		r.Components = append(r.Components, stacks.Component{Name: "front", Kind: stacks.KindMicroService, Service: "api", DependsOn: []string{"api"},
			Spec: map[string]any{"image": "front:1", "port": int64(80), "env": map[string]any{"API": "${api.url}"}}})
		return r
	}
	dep := withFront(net("vpc-1", l1, "subnet-a", "subnet-b"))
	for _, tt := range []struct {
		name string
		to   *stacks.Network
		want map[string]Action
		// reason is a prefix of api's first field's reason.
		reason string
	}{
		{"vpc", net("vpc-2", l1, "subnet-a", "subnet-b"),
			map[string]Action{"api": ActionUpdate, "front": ActionUpdate, "worker": ActionUpdate, "orders-db": ActionReplace,
				"orders-events": ActionNoOp, "assets": ActionNoOp},
			"the component's security group"},
		{"private subnets", net("vpc-1", l1, "subnet-a", "subnet-c"),
			map[string]Action{"api": ActionUpdate, "front": ActionUpdate, "worker": ActionUpdate, "orders-db": ActionUpdate,
				"orders-events": ActionNoOp, "assets": ActionNoOp},
			"the service's tasks are re-placed"},
		{"listener", net("vpc-1", l2, "subnet-a", "subnet-b"),
			// front has no load balancer, but reads api's url, which
			// follows the new listener's load balancer.
			map[string]Action{"api": ActionUpdate, "front": ActionUpdate, "worker": ActionNoOp, "orders-db": ActionNoOp,
				"orders-events": ActionNoOp, "assets": ActionNoOp},
			"the listener rule is re-created"},
		{"public subnets", net("vpc-1", l1, "subnet-a", "subnet-b"),
			map[string]Action{"api": ActionNoOp, "front": ActionNoOp, "worker": ActionNoOp, "orders-db": ActionNoOp}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := withFront(tt.to)
			if tt.name == "public subnets" {
				d.Provider.Network.PublicSubnets = []string{"subnet-pub2"}
			}
			p := Plan(d, fromState(t, dep), Options{})
			if !p.Summary.ProviderChanged {
				t.Errorf("summary %+v: want provider changed", p.Summary)
			}
			for name, want := range tt.want {
				if c := changeOf(t, p, name); c.Action != want {
					t.Errorf("%s: %s, want %s: %+v", name, c.Action, want, c.Fields)
				}
			}
			if tt.reason != "" {
				f := changeOf(t, p, "api").Fields
				if len(f) == 0 || !strings.HasPrefix(f[0].Path, "provider.network.") || !strings.HasPrefix(f[0].Reason, tt.reason) {
					t.Errorf("api: fields %+v, want the network change first, reason %q", f, tt.reason)
				}
			}
			db := changeOf(t, p, "orders-db")
			if (db.Action == ActionReplace) != db.DataLoss || (db.Action == ActionReplace) != slices.Contains(p.Summary.DataLoss, "orders-db") {
				t.Errorf("orders-db: %s, dataLoss %v, summary %v: a replaced database is data loss", db.Action, db.DataLoss, p.Summary.DataLoss)
			}
		})
	}
	// A Cache cannot move VPC either.
	dc := base()
	dc.Provider.Network = net("vpc-1", l1, "subnet-a")
	dc.Components = append(dc.Components, stacks.Component{Name: "sessions", Kind: stacks.KindCache, Spec: map[string]any{"engine": "redis", "nodes": int64(1)}})
	d := base()
	d.Provider.Network = net("vpc-2", l1, "subnet-a")
	d.Components = append(d.Components, dc.Components[len(dc.Components)-1])
	p := Plan(d, fromState(t, dc), Options{})
	if c := changeOf(t, p, "sessions"); c.Action != ActionReplace || !c.DataLoss || len(c.Fields) == 0 || !c.Fields[0].ForcesReplace ||
		!strings.Contains(c.Fields[0].Reason, "cached data is lost") {
		t.Errorf("sessions: %s dataLoss %v fields %+v, want a replacement with data loss", c.Action, c.DataLoss, c.Fields)
	}
}

// TestPlanVariablesRecorded: a variable declared and used by no component,
// or one whose value or source changed with no component changing with
// it, made changed --since-deployed list the environment (the resolved
// model records variables) while the plan had nothing to say and
// --detailed-exitcode exited 0, for ever. It lists them and Applies; with
// a component change they are not listed (that component shows it).
func TestPlanVariablesRecorded(t *testing.T) {
	deployed := base()
	deployed.Variables = []stacks.ResolvedVar{{Name: "GREETING", Value: "hi", Source: "default"}}
	d := base()
	d.Variables = []stacks.ResolvedVar{{Name: "GREETING", Value: "hi", Source: "environment"}, {Name: "UNUSED", Value: "x", Source: "default"}}
	p := Plan(d, fromState(t, deployed), Options{Header: Header{Stack: "orders", Environment: "dev"}})
	if p.HasChanges() || p.Runs() || !p.Recorded() || !p.Applies() {
		t.Errorf("HasChanges %v Runs %v Recorded %v Applies %v, want false false true true", p.HasChanges(), p.Runs(), p.Recorded(), p.Applies())
	}
	var paths []string
	for _, fc := range p.Variables {
		paths = append(paths, fc.Path)
	}
	if got := strings.Join(paths, " "); got != "variables.GREETING.source variables.UNUSED" {
		t.Errorf("variables = %q", got)
	}
	var text bytes.Buffer
	if err := p.WriteText(&text, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n  variables change nothing deployed (no component's spec changes with them): apply records them\n    variables.GREETING.source: \"default\" → \"environment\"\n",
		"\nNo changes to deploy. orders/dev differs from the deployed state only in service, labels, dependsOn, variables,",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	// The same variables: nothing.
	if p := Plan(deployed, fromState(t, deployed), Options{}); len(p.Variables) > 0 || p.Applies() {
		t.Errorf("same variables: %+v, Applies %v", p.Variables, p.Applies())
	}
	// A component changes too: it says so, the variables are not listed.
	d.Components[0].Spec["extra"] = "1"
	if p := Plan(d, fromState(t, deployed), Options{}); !p.HasChanges() || len(p.Variables) > 0 {
		t.Errorf("with a component change: HasChanges %v variables %+v", p.HasChanges(), p.Variables)
	}
	// A secret's value is masked.
	sd := base()
	// (A default: one given from outside that no component uses is no
	// change, TestPlanVariablesSourceOnly.)
	sd.Variables = []stacks.ResolvedVar{{Name: "KEY", Value: stacks.Sensitive{Hash: stacks.SensitivePrefix + "aaa"}, Source: "default", Secret: true}}
	sh := base()
	sh.Variables = []stacks.ResolvedVar{{Name: "KEY", Value: stacks.Sensitive{Hash: stacks.SensitivePrefix + "bbb"}, Source: "default", Secret: true}}
	sp := Plan(sh, fromState(t, sd), Options{})
	if len(sp.Variables) != 1 || !sp.Variables[0].Sensitive || strings.Contains(string(mustJSONTest(t, sp.Variables[0])), "aaa") {
		t.Errorf("secret variable = %+v", sp.Variables)
	}
}

// TestPlanRecordVariables: where the caller found the repository's model
// changed since the deployed commit, values given from outside are
// compared as recorded (a change apply records), without notes.
func TestPlanRecordVariables(t *testing.T) {
	deployed, d := base(), base()
	deployed.Variables = []stacks.ResolvedVar{{Name: "X", Value: "v", Source: "env"}}
	d.Variables = []stacks.ResolvedVar{{Name: "X", Value: "v", Source: "flag"}}
	p := Plan(d, fromState(t, deployed), Options{RecordVariables: true})
	if len(p.Variables) != 1 || p.Variables[0].Path != "variables.X.source" || !p.Applies() || len(p.VariableNotes) > 0 {
		t.Errorf("variables %+v, Applies %v, notes %q; want the source change to record and no note", p.Variables, p.Applies(), p.VariableNotes)
	}
}

// TestPlanOverriddenRecordsCommit: a plan without changes whose commit
// resolves otherwise than the deployed one where values given from
// outside override it (Overridden, set by the caller) records the new
// commit, and says so in text, alone and among others.
func TestPlanOverriddenRecordsCommit(t *testing.T) {
	p := Plan(base(), fromState(t, base()), Options{Header: Header{Stack: "orders", Environment: "dev", Deployed: Deployed{Commit: strings.Repeat("a", 40)}}})
	if p.Applies() {
		t.Fatalf("the same model Applies")
	}
	p.Overridden = true
	if !p.RecordsCommit() || !p.Applies() || p.Runs() {
		t.Errorf("RecordsCommit %v Applies %v Runs %v, want true true false", p.RecordsCommit(), p.Applies(), p.Runs())
	}
	var one, all bytes.Buffer
	if err := p.WriteText(&one, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteTextAll(&all, []*Result{p}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for out, want := range map[*bytes.Buffer]string{
		&one: "No changes to deploy, but orders/dev resolves otherwise than at its deployed commit aaaaaaaaaaaa where values given from outside the repository (--var, --var-file, PANKA_VAR_*) override it: apply records the new commit",
		&all: "orders/dev: No changes to deploy; values given from outside override what changed since the deployed commit: apply records the new commit.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPlanVariablesUsedNotedOnlyForTheSameValue: with a component that
// changes (one that uses the variable, as far as the plan can tell), a
// value given from outside that differs from the deployed one is no
// "no change" note: the component's fields show it. The same value given
// another way still is.
func TestPlanVariablesUsedNotedOnlyForTheSameValue(t *testing.T) {
	deployed, d := base(), base()
	deployed.Variables = []stacks.ResolvedVar{{Name: "X", Value: "v", Source: "env"}, {Name: "Y", Value: "y", Source: "env"}}
	d.Variables = []stacks.ResolvedVar{{Name: "X", Value: "w", Source: "flag"}, {Name: "Y", Value: "y", Source: "flag"}}
	d.Components[0].Spec["extra"] = "w"
	p := Plan(d, fromState(t, deployed), Options{})
	if !p.HasChanges() || len(p.Variables) > 0 {
		t.Errorf("HasChanges %v variables %+v, want the component's change alone", p.HasChanges(), p.Variables)
	}
	if got := strings.Join(p.VariableNotes, "\n"); got != "variable Y has the value deployed, from --var Y now and from PANKA_VAR_Y then: no change (a plan compares values, not where they came from)" {
		t.Errorf("notes = %q", got)
	}
}

// TestPlanVariablesSourceOnly: a deployment made with PANKA_VAR_X=v and
// a plan given --var X=v (the same value, another source) listed
// variables.X.source and --detailed-exitcode exited 2, as if apply had
// something to do. A source outside the repository (--var, --var-file,
// PANKA_VAR_*) on either side is no change when the value and secrecy are
// the same (changed never sees it, the engine gets the same value); one
// between the environment file and the default still is (changed lists
// the environment for it).
func TestPlanVariablesSourceOnly(t *testing.T) {
	secret := stacks.Sensitive{Hash: stacks.SensitivePrefix + "aaa"}
	for _, tt := range []struct {
		name            string
		deployed, given stacks.ResolvedVar
		wantPaths       string
		wantNote        string
	}{
		{"env then flag", stacks.ResolvedVar{Name: "X", Value: "v", Source: "env"}, stacks.ResolvedVar{Name: "X", Value: "v", Source: "flag"},
			"", "variable X has the value deployed, from --var X now and from PANKA_VAR_X then: no change (a plan compares values, not where they came from)"},
		{"flag then var-file", stacks.ResolvedVar{Name: "X", Value: "v", Source: "flag"}, stacks.ResolvedVar{Name: "X", Value: "v", Source: "var-file"},
			"", "variable X has the value deployed, from --var-file now and from --var X then: no change (a plan compares values, not where they came from)"},
		{"default then env", stacks.ResolvedVar{Name: "X", Value: "v", Source: "default"}, stacks.ResolvedVar{Name: "X", Value: "v", Source: "env"},
			"", "variable X has the value deployed, from PANKA_VAR_X now and from the stack's default then: no change (a plan compares values, not where they came from)"},
		{"flag then environment file", stacks.ResolvedVar{Name: "X", Value: "v", Source: "flag"}, stacks.ResolvedVar{Name: "X", Value: "v", Source: "environment"},
			"", "variable X has the value deployed, from the environment file now and from --var X then: no change (a plan compares values, not where they came from)"},
		{"secret env then flag", stacks.ResolvedVar{Name: "K", Value: secret, Source: "env", Secret: true}, stacks.ResolvedVar{Name: "K", Value: secret, Source: "flag", Secret: true},
			"", "variable K has the value deployed, from --var K now and from PANKA_VAR_K then: no change (a plan compares values, not where they came from)"},
		{"another value no component uses", stacks.ResolvedVar{Name: "X", Value: "v", Source: "env"}, stacks.ResolvedVar{Name: "X", Value: "w", Source: "flag"},
			"", "variable X has another value than deployed, from --var X now and from PANKA_VAR_X then, which no component uses: no change"},
		{"another value from outside, from the same source", stacks.ResolvedVar{Name: "X", Value: "v", Source: "flag"}, stacks.ResolvedVar{Name: "X", Value: "w", Source: "flag"},
			"", "variable X has another value than deployed, from --var X now and from --var X then, which no component uses: no change"},
		{"the default instead of a value given", stacks.ResolvedVar{Name: "X", Value: "v", Source: "flag"}, stacks.ResolvedVar{Name: "X", Value: "d", Source: "default"},
			"", "variable X has another value than deployed, from the stack's default now and from --var X then, which no component uses: no change"},
		{"another default", stacks.ResolvedVar{Name: "X", Value: "v", Source: "default"}, stacks.ResolvedVar{Name: "X", Value: "w", Source: "default"},
			"variables.X.value", ""},
		{"secret now", stacks.ResolvedVar{Name: "X", Value: "v", Source: "env"}, stacks.ResolvedVar{Name: "X", Value: "v", Source: "flag", Secret: true},
			"variables.X.secret variables.X.source", ""},
		{"default then environment file", stacks.ResolvedVar{Name: "X", Value: "v", Source: "default"}, stacks.ResolvedVar{Name: "X", Value: "v", Source: "environment"},
			"variables.X.source", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			deployed, d := base(), base()
			deployed.Variables = []stacks.ResolvedVar{tt.deployed}
			d.Variables = []stacks.ResolvedVar{tt.given}
			p := Plan(d, fromState(t, deployed), Options{})
			var paths []string
			for _, fc := range p.Variables {
				paths = append(paths, fc.Path)
			}
			if got := strings.Join(paths, " "); got != tt.wantPaths {
				t.Errorf("variables = %q, want %q", got, tt.wantPaths)
			}
			if p.Applies() != (tt.wantPaths != "") {
				t.Errorf("Applies %v, want %v", p.Applies(), tt.wantPaths != "")
			}
			if got := strings.Join(p.VariableNotes, "\n"); got != tt.wantNote {
				t.Errorf("notes = %q, want %q", got, tt.wantNote)
			}
		})
	}
}

func mustJSONTest(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
