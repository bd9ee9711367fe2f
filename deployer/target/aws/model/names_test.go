package model

import (
	"strings"
	"testing"

	"panka.dev/panka/stacks"
)

// TestNameCollisions: "-" joins stack, environment and component and may
// be in each of them, so different deployments can derive one name.
func TestNameCollisions(t *testing.T) {
	q := map[string]stacks.Kind{"jobs": stacks.KindQueue, "eu-jobs": stacks.KindQueue}
	w := map[string]stacks.Kind{"api": stacks.KindWorker}
	got := NameCollisions([]Deployment{
		{Stack: "orders", Environment: "eu-prod", Components: w},
		{Stack: "orders-eu", Environment: "prod", Components: w},
		{Stack: "shop", Environment: "prod", Components: q},
		{Stack: "shop", Environment: "prod-eu", Components: q},
		// Another account: no collision with shop.
		{Stack: "shop", Environment: "prod", Account: "arn:aws:iam::2:role/d", Components: q},
		// No ECS cluster or security group without a workload, database
		// or cache: only the components' own names count.
		{Stack: "media", Environment: "eu-prod", Components: map[string]stacks.Kind{"assets": stacks.KindBucket}},
		{Stack: "media-eu", Environment: "prod", Components: map[string]stacks.Kind{"logs": stacks.KindBucket}},
	})
	var msgs []string
	for _, c := range got {
		msgs = append(msgs, c.Error())
	}
	want := []string{
		`stack "orders" environment "eu-prod" component "api" and stack "orders-eu" environment "prod" component "api" both derive the AWS names "orders-eu-prod-api"`,
		`stack "orders" environment "eu-prod" and stack "orders-eu" environment "prod" both derive the ECS cluster and security group name "orders-eu-prod"`,
		`stack "shop" environment "prod" component "eu-jobs" and stack "shop" environment "prod-eu" component "jobs" both derive the AWS names "shop-prod-eu-jobs"`,
	}
	if len(msgs) != len(want) {
		t.Fatalf("collisions:\n  %s\nwant %d", strings.Join(msgs, "\n  "), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("collision %d = %q\nwant prefix %q", i, msgs[i], w)
		}
	}
}

// TestRouteCollisions: routes of different deployments on one listener
// collide on a priority or on a host and path; another listener, a host
// known only at deploy time, or one deployment's own routes (New checks
// those) do not.
func TestRouteCollisions(t *testing.T) {
	const l1, l2 = "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/a/1/2", "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/b/3/4"
	d := func(stack string, routes ...Route) Deployment {
		return Deployment{Stack: stack, Environment: "prod", Routes: routes}
	}
	ds := []Deployment{
		d("shop", Route{Component: "web", Listener: l1, Priority: 7, Host: "shop.example.com", Known: true},
			Route{Component: "api", Listener: l1, Priority: 8, Host: "shop.example.com", Path: "/api", Known: true}),
		d("orders",
			Route{Component: "a", Listener: l1, Priority: 7, Host: "orders.example.com", Known: true, File: "stacks/orders/a.yaml"},
			Route{Component: "b", Listener: l1, Priority: 9, Host: "shop.example.com", Path: "/api", Known: true},
			Route{Component: "c", Listener: l2, Priority: 8, Host: "shop.example.com", Known: true},
			Route{Component: "d", Listener: l1, Priority: 10, Host: "${x.url}", Known: false}),
		d("ref", Route{Component: "e", Listener: l1, Priority: 11, Host: "${x.url}", Known: false}),
	}
	got := RouteCollisions(ds)
	var msgs []string
	for _, c := range got {
		msgs = append(msgs, c.Error())
	}
	want := []string{
		`stack "shop" environment "prod" component "web" and stack "orders" environment "prod" component "a" both put a rule with priority 7 on listener ` + l1,
		`stack "shop" environment "prod" component "api" and stack "orders" environment "prod" component "b" both route host shop.example.com, path /api/, on listener ` + l1,
	}
	if len(msgs) != len(want) {
		t.Fatalf("RouteCollisions = %q, want %d", msgs, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("collision %d = %q, want it to start %q", i, msgs[i], w)
		}
	}
	if got[0].File != "stacks/orders/a.yaml" {
		t.Errorf("File = %q, want the second component's file", got[0].File)
	}
	// A priority taken twice is an error (AWS refuses it), the same route
	// a warning that names the rule getting the traffic: api, priority 8
	// against b's 9.
	if got[0].SameRoute() || !got[1].SameRoute() {
		t.Errorf("SameRoute = %v, %v; want false, true", got[0].SameRoute(), got[1].SameRoute())
	}
	if w := `the listener sends all of it to "api" (the rule of lower priority) and none to "b" while both exist`; !strings.Contains(msgs[1], w) {
		t.Errorf("collision 1 = %q, want it to say %q", msgs[1], w)
	}
}
