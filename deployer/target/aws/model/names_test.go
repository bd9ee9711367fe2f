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
