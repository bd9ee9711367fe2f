package stacks

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// posAt returns the position of key in a spec node, or the spec's own.
func posAt(spec *node, keys ...string) pos {
	n := spec
	for _, k := range keys {
		c := n.get(k)
		if c == nil {
			return n.pos()
		}
		n = c
	}
	return n.pos()
}

// checkKind runs the checks that span fields of one component kind and
// adds implicit dependencies (topic -> subscribed queue).
func (r *resolver) checkKind(c *Component, spec *node, deps *depSet) {
	sp := c.Spec
	switch c.Kind {
	case KindMicroService, KindWorker, KindCronJob:
		cpu, ok1 := sp["cpu"].(int64)
		mem, ok2 := sp["memory"].(int64)
		if ok1 && ok2 {
			if ok, want := fargateMemory(cpu, mem); !ok {
				r.errs.add(posAt(spec, "memory"), "spec.memory", "Fargate does not run cpu %d with memory %d: for cpu %d use memory %s", cpu, mem, cpu, want)
			}
		}
		if hc, ok := sp["healthCheck"].(map[string]any); ok {
			iv, ok1 := hc["interval"].(int64)
			to, ok2 := hc["timeout"].(int64)
			if ok1 && ok2 && to >= iv {
				r.errs.add(posAt(spec, "healthCheck", "timeout"), "spec.healthCheck.timeout", "timeout %d must be less than interval %d", to, iv)
			}
		}
		if as, ok := sp["autoscaling"].(map[string]any); ok {
			lo, ok1 := as["min"].(int64)
			hi, ok2 := as["max"].(int64)
			if ok1 && ok2 && lo > hi {
				r.errs.add(posAt(spec, "autoscaling", "min"), "spec.autoscaling.min", "min %d is more than max %d", lo, hi)
			}
		}
		if c.Kind == KindCronJob {
			if s, secret, ok := checkable(sp["schedule"]); ok {
				if msg := scheduleProblem(s, secret); msg != "" {
					r.errs.add(posAt(spec, "schedule"), "spec.schedule", "%s%s", msg, fromSecret(spec, "schedule"))
				}
			}
		}
		if sec, ok := sp["secrets"].(map[string]any); ok {
			for _, k := range sortedKeys(sec) {
				if s, _, ok := checkable(sec[k]); ok {
					if msg := secretRefProblem(s, "(sensitive)"); msg != "" {
						r.errs.add(posAt(spec, "secrets", k), "spec.secrets."+k, "%s%s", msg, fromSecret(spec, "secrets", k))
					}
				}
			}
		}
	case KindDatabase, KindCache:
		engine, _ := sp["engine"].(string)
		if _, ok := sp["version"]; !ok {
			if v := defaultVersion(engine); v != "" {
				sp["version"] = v
			}
		} else if v, secret, ok := checkable(sp["version"]); ok && !versionRe.MatchString(v) {
			what, eg := engine+" version", defaultVersion(engine)
			if eg == "" {
				// the engine is secret (not shown) or not known yet
				what, eg = "version", versionExamples(c.Kind)
				if IsSensitive(sp["engine"]) {
					what = "version (for a secret engine)"
				}
			}
			r.errs.add(posAt(spec, "version"), "spec.version", "invalid %s %s: write major[.minor[.patch]], e.g. %s%s", what, shownValue(v, secret), eg, fromSecret(spec, "version"))
		}
		if c.Kind == KindCache && len(c.Name) > 40 {
			r.errs.add(r.s.compIdx[c.Name].pos, "metadata.name", "cache name %q is %d characters; ElastiCache allows at most 40", c.Name, len(c.Name))
		}
		if c.Kind == KindCache {
			if n, ok := sp["nodes"].(int64); ok && n > 1 && strings.HasPrefix(fmt.Sprint(sp["nodeType"]), "cache.t2.") {
				r.errs.add(posAt(spec, "nodeType"), "spec.nodeType", "cache.t2 nodes do not support automatic failover with %d nodes: use cache.t3/t4g or larger", n)
			}
		}
	case KindTopic:
		subs, _ := sp["subscriptions"].([]any)
		subNodes := spec.get("subscriptions")
		seen := map[string]int{} // a subscription's target -> its first index
		for i, x := range subs {
			m, _ := x.(map[string]any)
			var sn *node
			if subNodes != nil && subNodes.kind == nSeq && i < len(subNodes.items) {
				sn = subNodes.items[i]
				if sn.kind == nScalar {
					continue // not a mapping: the schema said how to write it
				}
			} else {
				sn = spec
			}
			kp := fmt.Sprintf("spec.subscriptions[%d]", i)
			qv, hasQ := m["queue"]
			_, hasP := m["protocol"]
			_, hasE := m["endpoint"]
			if sn != spec {
				// a field refused on its own (a protocol not in the list)
				// is still written: the shape is checked as written
				hasQ = hasQ || !sn.get("queue").isNull()
				hasP = hasP || !sn.get("protocol").isNull()
				hasE = hasE || !sn.get("endpoint").isNull()
			}
			q, plain := qv.(string)
			switch {
			case hasQ && (hasP || hasE):
				r.errs.add(sn.pos(), kp, "a subscription is either {queue: <component>} or {protocol, endpoint}, not both")
			case hasQ && qv == nil:
				// refused on its own
			case hasQ && (!plain || isSymbolicVar(q)):
				// from a secret variable, or one without a value yet
				// (validate): a secret one can never name a component
				vs := fromSecretVars(sn.get("queue"))
				if isSymbolicVar(q) && r.secretVar(q[len("${var."):len(q)-1]) {
					vs = append(vs, q[len("${var."):len(q)-1])
				}
				if len(vs) > 0 {
					r.errs.add(posAt(sn, "queue"), kp+".queue", "secret variable %s cannot name a component", strings.Join(vs, ", "))
				}
			case hasQ:
				qc := r.s.compIdx[q]
				switch {
				case qc == nil && r.s.compsUnknown:
					// maybe declared in the file that does not load
				case qc == nil:
					r.errs.add(posAt(sn, "queue"), kp+".queue", "unknown component %q%s", q, suggestName(q, r.s.ComponentNames()))
				case qc.kind != KindQueue && !r.s.dupComps[q]:
					r.errs.add(posAt(sn, "queue"), kp+".queue", "%q is a %s, not a Queue", q, qc.kind)
				default:
					deps.add(q)
				}
			case hasP != hasE:
				r.errs.add(sn.pos(), kp, "an external subscription needs both protocol and endpoint")
			case !hasP:
				r.errs.add(sn.pos(), kp, "a subscription needs {queue: <component>} or {protocol, endpoint}")
			}
			// An endpoint of the wrong form for its protocol (a URL for
			// sqs, http:// for https) was refused by SNS only in apply.
			if p, ok := m["protocol"].(string); ok && !hasQ {
				if e, secret, ok := checkable(m["endpoint"]); ok {
					if msg := endpointProblem(p, e); msg != "" {
						r.errs.add(posAt(sn, "endpoint"), kp+".endpoint", "%s %s%s", shownValue(e, secret), msg, fromSecret(sn, "endpoint"))
					}
				}
			}
			// SNS delivers raw messages over sqs, http(s) and firehose
			// only; for the others it refused the subscription in apply.
			if raw, _ := m["rawMessageDelivery"].(bool); raw && !hasQ {
				if p, ok := m["protocol"].(string); ok && p != "" && !contains([]string{"sqs", "http", "https", "firehose"}, p) {
					r.errs.add(posAt(sn, "rawMessageDelivery"), kp+".rawMessageDelivery", "SNS delivers raw messages over sqs, http, https and firehose, not %s: remove rawMessageDelivery", p)
				}
			}
			// SNS FIFO topics deliver to SQS queues only: AWS refused any
			// other subscription when apply ran, without file:line.
			if fifo, _ := sp["fifo"].(bool); fifo && !hasQ {
				if p, ok := m["protocol"].(string); ok && p != "" && p != "sqs" {
					r.errs.add(posAt(sn, "protocol"), kp+".protocol", "a FIFO topic delivers only to SQS queues, not over %s: subscribe a FIFO queue ({queue: <component>}), or make the topic standard (fifo: false)", p)
				}
			}
			// The same queue, or the same protocol and endpoint, twice:
			// one subscription to AWS, whose target refused the topic
			// only when apply ran it, with no file:line.
			if key, what := subscriptionKey(m); key != "" {
				if j, dup := seen[key]; dup {
					r.errs.add(sn.pos(), kp, "repeats spec.subscriptions[%d] (%s): remove one", j, what)
				} else {
					seen[key] = i
				}
			}
		}
	}
}

// endpointProblem says what is wrong with an SNS subscription endpoint for
// its protocol, "" when nothing is (or the protocol is unknown: reported
// on its own).
func endpointProblem(protocol, e string) string {
	switch protocol {
	case "http", "https":
		if !strings.HasPrefix(e, protocol+"://") || len(e) == len(protocol)+3 || strings.ContainsAny(e, " \t\n") {
			return fmt.Sprintf("is not an %s:// URL: an %s subscription posts to one (use protocol %s for the other scheme)", protocol, protocol, map[string]string{"http": "https", "https": "http"}[protocol])
		}
	case "email", "email-json":
		if at := strings.Index(e, "@"); at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\n") {
			return "is not an email address"
		}
	case "sms":
		// SNS takes a phone number in E.164 form only.
		if !e164Re.MatchString(e) {
			return "is not a phone number in E.164 form: an sms subscription texts one, written + and the country code and number, without spaces (+14155550100)"
		}
	case "sqs", "lambda", "firehose", "application":
		if !strings.HasPrefix(e, "arn:") {
			what := map[string]string{"sqs": "queue", "lambda": "function", "firehose": "delivery stream", "application": "platform endpoint"}[protocol]
			hint := ""
			if protocol == "sqs" {
				hint = "; for a queue of this stack write {queue: <component>}"
			}
			article := map[bool]string{true: "an", false: "a"}[protocol == "sqs" || protocol == "application"]
			return fmt.Sprintf("is not an ARN: %s %s subscription delivers to the ARN of a %s%s", article, protocol, what, hint)
		}
	}
	return ""
}

// subscriptionKey identifies what a topic subscription delivers to (a
// queue, or a protocol and endpoint), and says it for an error (not the
// endpoint: it may be secret); "" when it names nothing checkable.
func subscriptionKey(m map[string]any) (key, what string) {
	if q, ok := m["queue"].(string); ok && q != "" {
		return "queue\x00" + q, "queue " + q
	}
	p, ok := m["protocol"].(string)
	if !ok || p == "" {
		return "", ""
	}
	what = "protocol " + p + ", the same endpoint"
	switch e := m["endpoint"].(type) {
	case string:
		if e != "" {
			return "endpoint\x00" + p + "\x00" + e, what
		}
	case Sensitive:
		return "endpoint\x00" + p + "\x00" + e.Clear, what
	}
	return "", ""
}

var e164Re = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

var versionRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}$`)

// versionExamples are the default versions of a kind's engines, for a
// version problem when the engine is not shown.
func versionExamples(k Kind) string {
	if k == KindCache {
		return defaultVersion("redis") + " (redis) or " + defaultVersion("valkey") + " (valkey)"
	}
	return defaultVersion("postgres") + " (postgres) or " + defaultVersion("mysql") + " (mysql)"
}

// checkable returns the text of a string field for a format check, and
// whether it is secret. A value filled by a secret variable is Sensitive
// once the variable has a value (plan, apply, validate --var): it is
// checked on its clear text like any other, or a bad one would only fail
// in the deployment. A value still holding ${...} (a reference, or a
// variable without a value) is not known yet: not checkable.
func checkable(v any) (text string, secret, ok bool) {
	switch x := v.(type) {
	case string:
		text = x
	case Sensitive:
		text, secret = x.Clear, true
	default:
		return "", false, false
	}
	if strings.Contains(text, "${") {
		return "", false, false
	}
	return text, secret, true
}

// shownValue quotes a checked value for a problem: "(sensitive)" when it
// is secret, since secrets are never printed.
func shownValue(s string, secret bool) string {
	if secret {
		return "(sensitive)"
	}
	return strconv.Quote(s)
}

// fromSecretVars returns the secret variables substituted into n (nil
// when n is nil).
func fromSecretVars(n *node) []string {
	if n == nil {
		return nil
	}
	return append([]string(nil), n.secretVars()...)
}

// fromSecret names, for a problem with a secret value, the secret
// variables that filled the field at keys of spec: the value is not shown,
// so the user needs to know where it came from.
func fromSecret(spec *node, keys ...string) string {
	n := spec
	for _, k := range keys {
		if n = n.get(k); n == nil {
			return ""
		}
	}
	vs := n.secretVars()
	if len(vs) == 0 {
		return ""
	}
	what := "variable"
	if len(vs) > 1 {
		what = "variables"
	}
	return fmt.Sprintf(" (the value comes from secret %s %s: check the value given for this environment)", what, strings.Join(vs, ", "))
}

// CheckSchedule returns "" for a valid EventBridge schedule expression
// ("cron(0 3 * * ? *)" or "rate(5 minutes)"), else why not.
func CheckSchedule(s string) string { return scheduleProblem(s, false) }

// scheduleProblem is CheckSchedule for a value that may be secret: then
// the problem names no part of it.
func scheduleProblem(s string, secret bool) string {
	q := shownValue(s, secret)
	switch {
	case strings.HasPrefix(s, "rate(") && strings.HasSuffix(s, ")"):
		f := strings.Fields(s[5 : len(s)-1])
		if len(f) != 2 {
			return fmt.Sprintf("invalid schedule %s: write rate(<number> <unit>), e.g. rate(5 minutes)", q)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 {
			return fmt.Sprintf("invalid schedule %s: the rate must be a positive whole number", q)
		}
		units := []string{"minute", "hour", "day"}
		unit := f[1]
		if n == 1 {
			if !contains(units, unit) {
				return fmt.Sprintf("invalid schedule %s: with 1 the unit is minute, hour or day (singular)", q)
			}
		} else if !contains(units, strings.TrimSuffix(unit, "s")) || !strings.HasSuffix(unit, "s") {
			return fmt.Sprintf("invalid schedule %s: the unit is minutes, hours or days", q)
		}
		return ""
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		f := strings.Fields(s[5 : len(s)-1])
		if len(f) != 6 {
			return fmt.Sprintf("invalid schedule %s: cron takes 6 fields (minutes hours day-of-month month day-of-week year), got %d%s", q, len(f), crontabHint(s[5:len(s)-1], secret))
		}
		limits := [][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {1, 7}, {1970, 2199}}
		names := []string{"minutes", "hours", "day-of-month", "month", "day-of-week", "year"}
		for i, x := range f {
			if msg := checkCronField(x, limits[i][0], limits[i][1], i, secret); msg != "" {
				if secret {
					return fmt.Sprintf("invalid schedule %s: %s field: %s", q, names[i], msg)
				}
				return fmt.Sprintf("invalid schedule %s: %s field %q: %s", q, names[i], x, msg)
			}
		}
		if f[2] != "?" && f[4] != "?" {
			return fmt.Sprintf("invalid schedule %s: one of day-of-month and day-of-week must be ?", q)
		}
		return ""
	}
	return fmt.Sprintf("invalid schedule %s: use cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>) or rate(<n> <unit>)%s", q, crontabHint(s, secret))
}

// crontabMacros are crontab's @ schedules as EventBridge expressions.
var crontabMacros = map[string]string{
	"@hourly": "cron(0 * * * ? *)", "@daily": "cron(0 0 * * ? *)", "@midnight": "cron(0 0 * * ? *)",
	"@weekly": "cron(0 0 ? * SUN *)", "@monthly": "cron(0 0 1 * ? *)", "@yearly": "cron(0 0 1 1 ? *)", "@annually": "cron(0 0 1 1 ? *)",
}

// crontabHint is "; for crontab's "0 3 * * *" write cron(0 3 * * ? *)"
// when s is a crontab (and Kubernetes CronJob) schedule, five fields or an
// @ macro, with an exact EventBridge equivalent: the year added and ? for
// the day field left open. A numeric day of the week is not converted
// (crontab counts Sunday as 0, EventBridge as 1), nor a schedule naming
// both a day of the month and of the week (EventBridge cannot say that).
// "" otherwise, and for a secret value.
func crontabHint(s string, secret bool) string {
	if secret {
		return ""
	}
	want := awsCron(s)
	if want == "" {
		return ""
	}
	return fmt.Sprintf("; for the crontab schedule %q write %s", strings.TrimSpace(s), want)
}

// awsCron is crontab schedule s as EventBridge writes it (crontabHint),
// or "".
func awsCron(s string) string {
	want, ok := crontabMacros[strings.ToLower(strings.TrimSpace(s))]
	if f := strings.Fields(s); !ok && len(f) == 5 {
		switch {
		case f[4] == "*" || f[4] == "?":
			f[4] = "?"
		case f[2] == "*" && !strings.ContainsAny(f[4], "0123456789"):
			f[2] = "?"
		default:
			return ""
		}
		want = "cron(" + strings.Join(f, " ") + " *)"
	}
	if want == "" || scheduleProblem(want, false) != "" {
		return ""
	}
	return want
}

var cronNames = map[string]bool{"JAN": true, "FEB": true, "MAR": true, "APR": true, "MAY": true, "JUN": true, "JUL": true, "AUG": true, "SEP": true, "OCT": true, "NOV": true, "DEC": true,
	"SUN": true, "MON": true, "TUE": true, "WED": true, "THU": true, "FRI": true, "SAT": true}

// checkCronField checks one field of a cron expression; for a secret
// expression the problem does not quote the number.
func checkCronField(x string, lo, hi, idx int, secret bool) string {
	if x == "*" || x == "?" && (idx == 2 || idx == 4) {
		return ""
	}
	for _, part := range strings.Split(x, ",") {
		base, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 {
				return "the step after / must be a positive number"
			}
		}
		if base == "*" {
			continue
		}
		if (idx == 2 || idx == 4) && (strings.HasSuffix(base, "L") || strings.HasSuffix(base, "W") || strings.Contains(base, "#")) {
			continue
		}
		a, b, isRange := strings.Cut(base, "-")
		for _, v := range []string{a, b} {
			if v == "" && !isRange {
				continue
			}
			if cronNames[strings.ToUpper(v)] && (idx == 3 || idx == 4) {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return "not a number"
			}
			if n < lo || n > hi {
				if secret {
					return fmt.Sprintf("a value is out of range %d-%d", lo, hi)
				}
				return fmt.Sprintf("%d is out of range %d-%d", n, lo, hi)
			}
		}
	}
	return ""
}

// checkSubscriptions checks what a topic's queue subscriptions need of the
// queue: SNS delivers to a FIFO queue from FIFO topics only (a FIFO topic
// delivers to standard queues too).
func (r *resolver) checkSubscriptions(out *Resolved) {
	for i := range out.Components {
		c := &out.Components[i]
		if c.Kind != KindTopic {
			continue
		}
		fifo, _ := c.Spec["fifo"].(bool)
		subs, _ := c.Spec["subscriptions"].([]any)
		for j, x := range subs {
			m, _ := x.(map[string]any)
			q, _ := m["queue"].(string)
			qc := out.Component(q)
			if qc == nil || qc.Kind != KindQueue {
				continue
			}
			if qf, ok := qc.Spec["fifo"].(bool); ok && qf && !fifo {
				r.errs.add(r.s.compIdx[c.Name].pos, fmt.Sprintf("spec.subscriptions[%d].queue", j),
					"topic %q is a standard topic but queue %q is a FIFO queue: SNS delivers to a FIFO queue from FIFO topics only; set fifo: true on the topic, or make the queue standard", c.Name, q)
			}
		}
	}
}
