package model

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"panka.dev/panka/stacks"
)

// PolicyDoc is an IAM policy document.
type PolicyDoc struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a PolicyDoc.
type Statement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal any            `json:"Principal,omitempty"`
	Action    any            `json:"Action"`
	Resource  any            `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// SecretsPolicy is the execution role policy that allows reading exactly the referenced SSM parameters and
// Secrets Manager secrets. A Secrets Manager valueFrom may select a JSON
// key (arn:...:secret:name-AbCdEf:password::); IAM wants the secret ARN.
// A bare SSM parameter name is, as ECS resolves it, a parameter of the
// account deployed to (account) in the stack's region: granting it in any
// account ("*") let the role read a same-named parameter of every account
// that trusts it.
func SecretsPolicy(refs []string, region, account string) PolicyDoc {
	var ssm, sm []string
	for _, r := range refs {
		parts := strings.Split(r, ":")
		switch {
		case len(parts) >= 7 && parts[0] == "arn" && parts[2] == "secretsmanager":
			arn := strings.Join(parts[:7], ":")
			sm = append(sm, arn)
			if !reSecretSuffix.MatchString(parts[6]) {
				// A partial ARN (the secret's name without the
				// random suffix Secrets Manager appends): ECS reads
				// it, but IAM matches the full ARN, so the exact one
				// grants nothing and the task failed to start.
				sm = append(sm, arn+"-??????")
			}
		case len(parts) >= 6 && parts[0] == "arn" && parts[2] == "ssm":
			ssm = append(ssm, r)
		case !strings.HasPrefix(r, "arn:"):
			ssm = append(ssm, "arn:"+Partition(region)+":ssm:"+region+":"+account+":parameter/"+strings.TrimPrefix(r, "/"))
		default:
			// Any other ARN still has to be readable by ECS; grant
			// nothing broad, ECS will report which one it cannot read.
		}
	}
	doc := PolicyDoc{Version: "2012-10-17"}
	if len(ssm) > 0 {
		doc.Statement = append(doc.Statement, Statement{Sid: "ReadParameters", Effect: "Allow", Action: []string{"ssm:GetParameters"}, Resource: uniqSorted(ssm)})
	}
	if len(sm) > 0 {
		doc.Statement = append(doc.Statement, Statement{Sid: "ReadSecrets", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: uniqSorted(sm)})
	}
	if len(doc.Statement) == 0 {
		doc.Statement = []Statement{{Sid: "Nothing", Effect: "Deny", Action: "ssm:GetParameters", Resource: "*"}}
	}
	return doc
}

// KMSStatements let the execution role decrypt with the customer managed
// KMS keys of spec.secretsKmsKeys, only when SSM or Secrets Manager (in
// the key's region) asks on its behalf: reading a SecureString parameter
// or a secret encrypted with such a key needs kms:Decrypt on it, which
// panka cannot know otherwise. IAM matches a key ARN as the resource; an
// alias ARN matches no key, so an alias is granted on the keys of its
// account and region that carry that alias (kms:ResourceAliases).
func KMSStatements(keys []string) []Statement {
	var out []Statement
	for i, k := range keys {
		parts := strings.SplitN(k, ":", 6) // arn partition kms region account resource
		if len(parts) != 6 {
			continue // Validate refuses it
		}
		suffix := ".amazonaws.com"
		if parts[1] == "aws-cn" {
			suffix += ".cn"
		}
		cond := map[string]any{"StringEquals": map[string]any{"kms:ViaService": []string{
			"secretsmanager." + parts[3] + suffix, "ssm." + parts[3] + suffix,
		}}}
		resource := k
		if alias, ok := strings.CutPrefix(parts[5], "alias/"); ok {
			resource = strings.Join(append(parts[:5:5], "key/*"), ":")
			cond["ForAnyValue:StringEquals"] = map[string]any{"kms:ResourceAliases": "alias/" + alias}
		}
		out = append(out, Statement{Sid: fmt.Sprintf("DecryptSecrets%d", i), Effect: "Allow", Action: "kms:Decrypt", Resource: resource, Condition: cond})
	}
	return out
}

// reSecretSuffix matches the end of a full Secrets Manager secret ARN:
// "-" and the six random characters Secrets Manager appends to the name.
var reSecretSuffix = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

func uniqSorted(l []string) []string {
	sort.Strings(l)
	out := l[:0]
	for i, s := range l {
		if i == 0 || s != l[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// maxRolePolicy is IAM's limit on the inline policies of a role, in
// characters without whitespace.
const maxRolePolicy = 10240

// checkSecretsPolicySize estimates the execution role policy that lets
// ECS read workload cp's secrets (SecretsPolicy, KMSStatements), built as
// the target builds it, and fails when it is over IAM's 10,240
// characters: apply failed at the role policy (LimitExceeded) after
// everything before it was made. A secret given by a reference
// (${users-db.secretArn}:password::) counts with the ARN it will hold
// (outputFloor); one whose value is not known at all is left out, so the
// estimate is a lower bound.
func (p *Program) checkSecretsPolicySize(d *decoder, cp *Comp) {
	if cp.W == nil || len(cp.W.Secrets) == 0 {
		return
	}
	var refs []string
	for _, k := range SortedKeys(cp.W.Secrets) {
		v := cp.W.Secrets[k]
		if s, ok := clearText(v); ok && s != "" {
			if text, known := p.withFloors(s); known {
				refs = append(refs, text)
			}
		}
	}
	doc := SecretsPolicy(refs, p.R.Provider.Region, "123456789012")
	doc.Statement = append(doc.Statement, KMSStatements(cp.W.SecretsKMSKeys)...)
	size := jsonSize(doc)
	if size <= maxRolePolicy {
		return
	}
	d.fail("secrets", "the execution role policy that lets ECS read the %d secrets would be at least %d characters, over IAM's limit of %d for a role's inline policies, and apply would fail at it (LimitExceeded); "+
		"use fewer secrets: keep related values in one Secrets Manager secret (a JSON document) and read each key with arn:...:secret:<name>:<key>::, or put SSM parameters under one path and have the application read them at run time",
		len(cp.W.Secrets), size, maxRolePolicy)
}

// Grant is one statement of a workload's task role policy: the use of a
// component the workload references, on the ARN one of its outputs holds.
type Grant struct {
	// Component and Output give the statement's ARN.
	Component, Output string
	Sid               string
	Actions           []string
	// Objects grants the objects under the ARN too (a bucket's arn/*).
	Objects bool
}

// accessGrants are the grants of a referenced component by kind.
var accessGrants = map[stacks.Kind]Grant{
	stacks.KindQueue: {Output: "arn", Sid: "Queue", Actions: []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}},
	stacks.KindBucket: {Output: "arn", Sid: "Bucket", Actions: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"},
		Objects: true},
	stacks.KindTopic: {Output: "arn", Sid: "Topic", Actions: []string{"sns:Publish"}},
}

// TaskGrants lists what the task role of workload cp may use: the
// Queues, Buckets and Topics it references (${orders-queue.url} means the
// service uses that queue), once each, by name, then read access to the
// master secret of each Database whose secretArn its env or command holds
// (the application reads it at run time, as it must to follow RDS's
// rotation of that password; one in spec.secrets is the execution
// role's), by name. Nil when it references none.
func (p *Program) TaskGrants(cp *Comp) []Grant {
	if cp.W == nil {
		return nil
	}
	var out []Grant
	seen := map[string]bool{}
	for _, rf := range cp.Refs {
		tc, ok := p.Comps[rf.Component]
		if !ok || seen[rf.Component] {
			continue
		}
		if g, ok := accessGrants[tc.C.Kind]; ok {
			seen[rf.Component] = true
			g.Component = rf.Component
			out = append(out, g)
		}
	}
	var texts []string
	for _, v := range cp.W.Env {
		if s, ok := clearText(v); ok {
			texts = append(texts, s)
		}
	}
	for _, v := range cp.W.Command {
		if s, ok := clearText(v); ok {
			texts = append(texts, s)
		}
	}
	dbs := map[string]bool{}
	for _, t := range texts {
		for _, r := range stacks.FindRefs(t) {
			if c, ok := p.Comps[r.Component]; ok && c.C.Kind == stacks.KindDatabase && r.Output == "secretArn" {
				dbs[r.Component] = true
			}
		}
	}
	for _, name := range SortedKeys(dbs) {
		out = append(out, Grant{Component: name, Output: "secretArn", Sid: "DatabaseSecret", Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}})
	}
	return out
}

// TaskPolicy is the task role policy of grants, given the ARN each grant's
// output holds.
func TaskPolicy(grants []Grant, arns []string) PolicyDoc {
	doc := PolicyDoc{Version: "2012-10-17"}
	for i, g := range grants {
		resource := []string{arns[i]}
		if g.Objects {
			resource = append(resource, arns[i]+"/*")
		}
		doc.Statement = append(doc.Statement, Statement{Sid: fmt.Sprintf("%s%d", g.Sid, i), Effect: "Allow", Action: g.Actions, Resource: resource})
	}
	return doc
}

// checkTaskPolicySize estimates the task role policy of workload cp
// (TaskPolicy), each ARN as long as the referenced component's will be
// (outputFloor), and fails when it is over IAM's 10,240 characters: the
// role policy failed in apply (LimitExceeded), after everything before
// it was made, for a workload referencing some 40 queues, buckets and
// topics; only the execution role's policy was checked.
func (p *Program) checkTaskPolicySize(d *decoder, cp *Comp) {
	grants := p.TaskGrants(cp)
	if len(grants) == 0 {
		return
	}
	arns := make([]string, len(grants))
	for i, g := range grants {
		arns[i] = p.outputFloor(g.Component, g.Output)
	}
	size := jsonSize(TaskPolicy(grants, arns))
	if size <= maxRolePolicy {
		return
	}
	d.problem("the task role policy that lets the application use the %d components it references (queues, buckets and topics its env, command or image name, and the databases whose secretArn its env or command holds) would be at least %d characters, over IAM's limit of %d for a role's inline policies, and apply would fail at it (LimitExceeded); "+
		"reference fewer components from one workload: split it into workloads that each use a part of them",
		len(grants), size, maxRolePolicy)
}
