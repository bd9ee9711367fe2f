package model

import (
	"regexp"
	"strings"
	"testing"

	"panka.dev/panka/stacks"
)

// TestOutputFloor: the size checks count a reference as the value it
// will hold where panka derives it, no more than it where AWS picks part
// of it, and nothing for an output the component does not have.
func TestOutputFloor(t *testing.T) {
	r := &stacks.Resolved{Stack: "shop", Environment: "prod",
		Provider: stacks.Provider{Name: "aws", Region: "eu-west-1", Network: &stacks.Network{VpcID: "vpc-1", PrivateSubnets: []string{"a", "b"}}},
		Components: []stacks.Component{
			{Name: "web", Kind: stacks.KindMicroService, Spec: map[string]any{"image": "web:1", "port": int64(8080)}},
			{Name: "jobs", Kind: stacks.KindWorker, Spec: map[string]any{"image": "jobs:1"}},
			{Name: "nightly", Kind: stacks.KindCronJob, Spec: map[string]any{"image": "n:1", "schedule": "0 3 * * *"}},
			{Name: "db", Kind: stacks.KindDatabase, Spec: map[string]any{"engine": "mysql"}},
			{Name: "db2", Kind: stacks.KindDatabase, Spec: map[string]any{}},
			{Name: "orders", Kind: stacks.KindQueue, Spec: map[string]any{"fifo": true}},
			{Name: "files", Kind: stacks.KindBucket, Spec: map[string]any{}},
			{Name: "events", Kind: stacks.KindTopic, Spec: map[string]any{}},
		},
	}
	p, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	exact := map[string]string{
		"web.url":          "http://web.prod.shop.local:8080",
		"web.serviceName":  "web",
		"jobs.serviceName": "jobs",
		"nightly.ruleName": "shop-prod-nightly",
		"db.port":          "3306",
		"db.address":       "shop-prod-db.eu-west-1.rds.amazonaws.com", // RDS adds a part it picks
		"db.endpoint":      "shop-prod-db.eu-west-1.rds.amazonaws.com:3306",
		"orders.name":      "shop-prod-orders.fifo",
		"orders.arn":       "arn:aws:sqs:eu-west-1:123456789012:shop-prod-orders.fifo",
		"orders.url":       "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-prod-orders.fifo",
		"files.name":       "shop-prod-files-123456789012",
		"files.arn":        "arn:aws:s3:::shop-prod-files-123456789012",
		"events.arn":       "arn:aws:sns:eu-west-1:123456789012:shop-prod-events",
		"jobs.url":         "", // a Worker has no url
		"files.url":        "",
		"nope.arn":         "",
	}
	for ref, want := range exact {
		comp, out, _ := strings.Cut(ref, ".")
		if got := p.outputFloor(comp, out); got != want {
			t.Errorf("outputFloor(%s) = %q, want %q", ref, got, want)
		}
	}
	// RDS names the master secret rds!db-<UUID>; Secrets Manager adds 6
	// characters. Two databases' secrets are two ARNs.
	secret := regexp.MustCompile(`^arn:aws:secretsmanager:eu-west-1:[0-9]{12}:secret:rds!db-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[A-Za-z0-9]{6}$`)
	a, b := p.outputFloor("db", "secretArn"), p.outputFloor("db2", "secretArn")
	if !secret.MatchString(a) || !secret.MatchString(b) || a == b {
		t.Errorf("secretArn floors %q and %q: want two ARNs of RDS's form", a, b)
	}
}
