package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"panka.dev/panka/stacks"
)

// outputFloor is a text as long as the value output of component will
// have once deployed where panka derives it (a queue's or topic's ARN, a
// bucket's name, a service's name), and no longer than that value where
// AWS picks part of it (the random part of an RDS host name, the
// ElastiCache endpoint): the size checks count a ${component.output}
// reference by it, so a reference counts for what it will hold and an
// estimate still never exceeds the real size. "" when nothing of the
// value is known (an unknown component or output). Account ids are
// always 12 digits.
func (p *Program) outputFloor(component, output string) string {
	cp, ok := p.Comps[component]
	if !ok {
		return ""
	}
	region := p.R.Provider.Region
	arn := func(service, resource string) string {
		return "arn:" + Partition(region) + ":" + service + ":" + region + ":123456789012:" + resource
	}
	n := cp.N
	switch cp.C.Kind {
	case stacks.KindMicroService, stacks.KindWorker:
		switch output {
		case "serviceName":
			return cp.C.Name
		case "url":
			if cp.W == nil || cp.C.Kind != stacks.KindMicroService {
				return "" // a Worker has no url
			}
			lb := cp.W.LoadBalancer
			if lb == nil {
				return fmt.Sprintf("http://%s.%s:%d", cp.C.Name, NamespaceName(p.R.Stack, p.R.Environment), cp.W.Port)
			}
			// The listener's scheme and port and, without a host, the
			// load balancer's DNS name are known at deploy time only.
			host := lb.Host
			if len(stacks.FindRefs(host)) > 0 {
				host = ""
			}
			return "http://" + host + strings.TrimSuffix(lb.Path, "/")
		}
	case stacks.KindCronJob:
		if output == "ruleName" {
			return n.Schedule()
		}
	case stacks.KindDatabase:
		if cp.DB == nil {
			return ""
		}
		port := strconv.Itoa(cp.DB.Port)
		// RDS names the host <identifier>.<random>.<region>.rds.amazonaws.com.
		address := n.RdsIdentifier() + "." + region + ".rds.amazonaws.com"
		switch output {
		case "port":
			return port
		case "address":
			return address
		case "endpoint":
			return address + ":" + port
		case "secretArn":
			// The master secret RDS makes is named rds!db-<a UUID>;
			// Secrets Manager appends "-" and 6 characters. One UUID
			// for each database, so two databases' secrets are two.
			sum := sha256.Sum256([]byte(component))
			h := hex.EncodeToString(sum[:16])
			return arn("secretsmanager", "secret:rds!db-"+h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:]+"-AbCdEf")
		}
	case stacks.KindCache:
		switch output {
		case "port":
			return "6379"
		case "endpoint":
			return n.CacheID() + ".cache.amazonaws.com"
		}
	case stacks.KindQueue:
		if cp.Q == nil {
			return ""
		}
		name, _ := n.Queue(cp.Q.FIFO)
		switch output {
		case "name":
			return name
		case "arn":
			return arn("sqs", name)
		case "url":
			return "https://sqs." + region + ".amazonaws.com/123456789012/" + name
		}
	case stacks.KindBucket:
		if cp.B == nil {
			return ""
		}
		name := n.BucketExample(cp.B.Name)
		switch output {
		case "name":
			return name
		case "arn":
			return "arn:" + Partition(region) + ":s3:::" + name
		}
	case stacks.KindTopic:
		if cp.T != nil && output == "arn" {
			return arn("sns", n.Topic(cp.T.FIFO))
		}
	}
	return ""
}
