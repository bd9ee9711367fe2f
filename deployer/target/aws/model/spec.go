package model

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"panka.dev/panka/deployer/target/aws/replace"
	"panka.dev/panka/stacks"
)

// workload is the decoded spec of a MicroService, Worker or CronJob.
type workload struct {
	Image string
	// Command words are string or stacks.Sensitive.
	Command []any
	Port    int // MicroService only
	CPU     int // Fargate CPU units
	Memory  int // MiB
	// Replicas is the desired count (MicroService, Worker).
	Replicas int
	// Env values are string (maybe with references) or stacks.Sensitive.
	Env map[string]any
	// Secrets map an environment variable to an SSM parameter or Secrets
	// Manager ARN: a string (maybe with a reference, e.g.
	// ${db.secretArn}:password::) or, if the ARN came from a secret
	// variable, stacks.Sensitive.
	Secrets map[string]any
	// SecretsKMSKeys are the KMS key and alias ARNs the execution role
	// may decrypt with (through SSM and Secrets Manager only).
	SecretsKMSKeys []string
	// HealthCheck is a MicroService's target group check.
	HealthCheck healthCheck
	// ContainerCheck is a Worker's container health check command.
	ContainerCheck   *containerCheck
	Autoscaling      *autoscaling
	LoadBalancer     *loadBalancer
	LogRetentionDays int
	// CronJob only.
	Schedule string
	Timezone string
}

type healthCheck struct {
	Path     string
	Interval int // seconds
	Timeout  int // seconds
}

type containerCheck struct {
	Command           []string
	Interval, Timeout int // seconds
}

type autoscaling struct {
	Min, Max  int
	CPUTarget float64
}

type loadBalancer struct {
	Public   bool
	Host     string
	Path     string
	Priority int // 0 = derived
}

type database struct {
	Engine              string
	Version             string
	InstanceClass       string
	StorageGB           int
	MultiAZ             bool
	BackupRetentionDays int
	DeletionProtection  bool
	Username            string
	Port                int
}

type cache struct {
	Engine   string
	Version  string
	NodeType string
	Nodes    int
	Port     int
}

type queue struct {
	FIFO                      bool
	ContentBasedDeduplication bool
	VisibilityTimeout         int // seconds
	RetentionPeriod           int // seconds
	MaxReceives               int // 0 = no dead-letter queue
}

type bucket struct {
	Name              string // explicit bucket name, or "" for the derived one
	Versioning        bool
	Public            bool
	ExpireAfterDays   int
	NoncurrentDays    int
	AbortMultipartDay int
}

type topic struct {
	FIFO          bool
	Subscriptions []subscription
}

type subscription struct {
	Queue    string // a Queue component of the stack
	Protocol string
	// Endpoint is a string or, from a secret variable (a webhook URL
	// with its token), stacks.Sensitive; nil when not set.
	Endpoint any
	Raw      bool
}

// Allowed CloudWatch Logs retention values (days).
var logRetentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func decodeWorkload(d *decoder, c *stacks.Component) *workload {
	s := c.Spec
	w := &workload{
		Image:            d.str(s, "", "image", ""),
		Command:          d.args(s, "", "command"),
		CPU:              d.cpu(s),
		Memory:           d.memory(s),
		Replicas:         d.integer(s, "", "replicas", 1),
		LogRetentionDays: d.integer(s, "", "logRetentionDays", 30),
	}
	if w.Image == "" {
		d.fail("image", "is required")
	}
	w.Env = map[string]any{}
	w.Secrets = map[string]any{}
	if env := d.object(s, "", "env"); env != nil {
		for _, k := range SortedKeys(env) {
			v := env[k]
			// {secret: ref} inside env is a secret reference too (SPEC §3).
			if o, ok := v.(map[string]any); ok {
				ref := d.secretRef(o["secret"], "env."+k+".secret")
				if ref == nil {
					d.fail("env."+k, "want a value or {secret: <ssm-or-secretsmanager-arn>}")
					continue
				}
				w.Secrets[k] = ref
				continue
			}
			if sv, ok := d.scalar(v, "env."+k); ok {
				w.Env[k] = sv
			}
		}
	}
	if sec := d.object(s, "", "secrets"); sec != nil {
		for _, k := range SortedKeys(sec) {
			v := sec[k]
			field := "secrets." + k
			if o, ok := v.(map[string]any); ok {
				v, field = o["secret"], field+".secret"
				if v == nil {
					v, field = o["valueFrom"], "secrets."+k+".valueFrom"
				}
			}
			ref := d.secretRef(v, field)
			if ref == nil {
				d.fail("secrets."+k, "want an SSM parameter or Secrets Manager ARN")
				continue
			}
			if _, dup := w.Env[k]; dup {
				d.fail("secrets."+k, "is also set in env; an environment variable has one source")
			}
			w.Secrets[k] = ref
		}
	}
	w.SecretsKMSKeys = d.words(s, "", "secretsKmsKeys")
	for i, k := range w.SecretsKMSKeys {
		field := fmt.Sprintf("secretsKmsKeys[%d]", i)
		m := reKMSKey.FindStringSubmatch(k)
		switch {
		case m == nil:
			d.fail(field, "%q is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or alias ARN (arn:aws:kms:<region>:<account>:alias/<name>); a key id or alias name alone does not say the key's account and region", k)
		case strings.HasPrefix(m[1], "alias/aws/"):
			d.fail(field, "%q is a key AWS manages: SSM and Secrets Manager decrypt with it for the task without a grant; remove it", k)
		case slices.Contains(w.SecretsKMSKeys[:i], k):
			d.fail(field, "%q is listed twice", k)
		}
	}
	if len(w.SecretsKMSKeys) > 0 && len(w.Secrets) == 0 {
		d.fail("secretsKmsKeys", "the component has no secrets to decrypt; remove secretsKmsKeys or add the secrets encrypted with those keys")
	}
	if !slices.Contains(logRetentions, w.LogRetentionDays) {
		d.fail("logRetentionDays", "%d is not a CloudWatch Logs retention; use one of %v", w.LogRetentionDays, logRetentions)
	}
	for k := range w.Env {
		if !validEnvName(k) {
			d.fail("env."+k, "is not a valid environment variable name")
		}
	}
	for k := range w.Secrets {
		if !validEnvName(k) {
			d.fail("secrets."+k, "is not a valid environment variable name")
		}
	}
	if err := fargateSize(w.CPU, w.Memory); err != nil {
		d.fail("memory", "%v", err)
	}

	switch c.Kind {
	case stacks.KindMicroService, stacks.KindWorker:
		if w.Replicas < 0 {
			d.fail("replicas", "must be 0 or more, got %d", w.Replicas)
		}
		if as := d.object(s, "", "autoscaling"); as != nil {
			a := &autoscaling{
				Min:       d.integer(as, "autoscaling", "min", w.Replicas),
				Max:       d.integer(as, "autoscaling", "max", w.Replicas),
				CPUTarget: d.number(as, "autoscaling", "cpuTarget", 70),
			}
			switch {
			case a.Min < 0 || a.Max < 1 || a.Min > a.Max:
				d.fail("autoscaling", "want 0 <= min <= max and max >= 1, got min %d max %d", a.Min, a.Max)
			case a.CPUTarget <= 0 || a.CPUTarget > 100:
				d.fail("autoscaling.cpuTarget", "want a CPU percentage in (0, 100], got %v", a.CPUTarget)
			}
			// An autoscaling block with min == max scales nothing: it
			// fixes the count at that number, whatever replicas says
			// (as a scaler would clamp it).
			if a.Min != a.Max {
				w.Autoscaling = a
			} else {
				w.Replicas = a.Min
			}
		}
	}
	if c.Kind == stacks.KindWorker {
		if hc := d.object(s, "", "healthCheck"); hc != nil {
			cc := &containerCheck{
				Command:  d.words(hc, "healthCheck", "command"),
				Interval: d.seconds(hc, "healthCheck", "interval", 30),
				Timeout:  d.seconds(hc, "healthCheck", "timeout", 5),
			}
			switch {
			case len(cc.Command) == 0:
				d.fail("healthCheck.command", "is required (the command exits 0 when healthy)")
			case cc.Interval < 5 || cc.Interval > 300:
				d.fail("healthCheck.interval", "want 5-300 seconds, got %d", cc.Interval)
			case cc.Timeout < 2 || cc.Timeout > 60:
				d.fail("healthCheck.timeout", "want 2-60 seconds (ECS container health checks), got %d", cc.Timeout)
			}
			if msg := execProblem(cc.Command); msg != "" {
				d.fail("healthCheck.command", "%s", msg)
			}
			w.ContainerCheck = cc
		}
	}
	if c.Kind == stacks.KindMicroService {
		w.Port = d.integer(s, "", "port", 8080)
		if w.Port < 1 || w.Port > 65535 {
			d.fail("port", "want 1-65535, got %d", w.Port)
		}
		hc := d.object(s, "", "healthCheck")
		w.HealthCheck = healthCheck{
			Path:     d.str(hc, "healthCheck", "path", "/"),
			Interval: d.seconds(hc, "healthCheck", "interval", 30),
			Timeout:  d.seconds(hc, "healthCheck", "timeout", 5),
		}
		if !strings.HasPrefix(w.HealthCheck.Path, "/") {
			d.fail("healthCheck.path", "must start with /, got %q", w.HealthCheck.Path)
		}
		if w.HealthCheck.Interval < 5 || w.HealthCheck.Interval > 300 {
			d.fail("healthCheck.interval", "want 5-300 seconds, got %d", w.HealthCheck.Interval)
		}
		if w.HealthCheck.Timeout < 2 || w.HealthCheck.Timeout > 120 || w.HealthCheck.Timeout >= w.HealthCheck.Interval {
			d.fail("healthCheck.timeout", "want 2-120 seconds and less than the interval (%d), got %d", w.HealthCheck.Interval, w.HealthCheck.Timeout)
		}
		if lb := d.object(s, "", "loadBalancer"); lb != nil && d.boolean(lb, "loadBalancer", "enabled", true) {
			w.LoadBalancer = &loadBalancer{
				Public:   d.boolean(lb, "loadBalancer", "public", false),
				Host:     d.str(lb, "loadBalancer", "host", ""),
				Path:     d.str(lb, "loadBalancer", "path", "/"),
				Priority: d.integer(lb, "loadBalancer", "priority", 0),
			}
			if w.LoadBalancer.Path == "" {
				w.LoadBalancer.Path = "/"
			}
			if !strings.HasPrefix(w.LoadBalancer.Path, "/") {
				d.fail("loadBalancer.path", "must start with /, got %q", w.LoadBalancer.Path)
			} else if p := strings.TrimSuffix(w.LoadBalancer.Path, "/"); len(p)+2 > 128 {
				// The listener rule matches p and p/*.
				d.fail("loadBalancer.path", "is %d characters; an ALB path pattern holds at most 128, and panka adds \"/*\": use at most 126", len(p))
			} else if i := strings.IndexFunc(p, func(r rune) bool { return !strings.ContainsRune(albPathChars, r) }); i >= 0 {
				d.fail("loadBalancer.path", "%q: an ALB path pattern cannot hold %q; use letters, digits and _-.$/~\"'@:+&*?", p, p[i:i+utf8.RuneLen([]rune(p[i:])[0])])
			}
			if p := w.LoadBalancer.Priority; p < 0 || p > 50000 {
				d.fail("loadBalancer.priority", "want 1-50000, got %d", p)
			}
			if n, field, detail := ruleWildcards(w.LoadBalancer); n > maxRuleWildcards {
				d.fail(field, "the listener rule would hold %d wildcards (%s), and an ALB rule holds at most %d across its conditions: the load balancer would refuse it in apply; use fewer * and ? in loadBalancer.host and loadBalancer.path", n, detail, maxRuleWildcards)
			}
		}
	}
	if c.Kind == stacks.KindCronJob {
		w.Schedule = d.str(s, "", "schedule", "")
		w.Timezone = d.str(s, "", "timezone", "")
		expr, err := scheduleExpression(w.Schedule)
		if err != nil {
			d.fail("schedule", "%v", err)
		}
		w.Schedule = expr
	}
	return w
}

// shellOperators are the words a shell line holds that mean nothing to a
// program run without a shell.
var shellOperators = []string{"||", "&&", "|", ";", "&", ">", ">>", "<", "2>&1"}

// execProblem says why a container health check command, run by ECS
// without a shell (["CMD", ...], panka's form for a plain list), cannot
// work as written, "" when it can: a one-word list holding a whole shell
// line runs a program of that name, and a shell operator is passed to the
// program as an argument ("curl -f http://localhost/ || exit 1" as words
// hands curl "||", "exit" and "1"). ECS accepted either; the check then
// failed for ever and ECS replaced every task as unhealthy.
func execProblem(cmd []string) string {
	if len(cmd) == 0 || cmd[0] == "CMD-SHELL" {
		return ""
	}
	words := cmd
	if cmd[0] == "CMD" {
		words = cmd[1:]
	}
	if len(words) == 0 {
		return ""
	}
	line := strings.Join(words, " ")
	fix := fmt.Sprintf("write [sh, -c, %q] to run it in a shell, or the program and its arguments as separate words", line)
	if len(words) == 1 && strings.ContainsAny(words[0], " \t\n") {
		return fmt.Sprintf("runs a program named %q: the list is a program and its arguments, run without a shell; %s", words[0], fix)
	}
	for _, w := range words {
		if slices.Contains(shellOperators, w) {
			return fmt.Sprintf("%q is a shell operator, but the list runs without a shell: %s would get it as an argument; %s", w, words[0], fix)
		}
	}
	return ""
}

// secretRef reads a secret reference (an ARN or SSM parameter name, not a
// secret value): a non-empty string or stacks.Sensitive.
func (d *decoder) secretRef(v any, field string) any {
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) != "" {
			d.checkSecretRef(x, field)
			return x
		}
	case stacks.Sensitive:
		d.checkSecretRef(x.Clear, field)
		return x
	case *stacks.Sensitive:
		if x != nil {
			d.checkSecretRef(x.Clear, field)
			return *x
		}
	case nil:
	default:
		d.fail(field, "want an SSM parameter or Secrets Manager ARN, got %s", describe(v))
		return nil
	}
	return nil
}

// checkSecretRef refuses a secret reference ECS cannot read: an ARN of
// another service than SSM Parameter Store or Secrets Manager, or a
// parameter name with a path that does not start with "/" (SSM wants
// those fully qualified). ECS checks valueFrom only when a task starts:
// the deployment succeeded and every task then failed to start. The
// value is never shown (it may come from a secret variable); a
// reference (${db.secretArn}) is known only at deploy time.
func (d *decoder) checkSecretRef(s, field string) {
	if len(stacks.FindRefs(s)) > 0 {
		return
	}
	if strings.HasPrefix(s, "arn:") {
		parts := strings.Split(s, ":")
		switch {
		case len(parts) >= 7 && parts[2] == "secretsmanager" && parts[5] == "secret" && parts[6] != "":
		case len(parts) >= 6 && parts[2] == "ssm" && strings.HasPrefix(parts[5], "parameter/") && len(parts[5]) > len("parameter/"):
		default:
			d.fail(field, "is not an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>) or a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>): ECS reads secrets only from those")
		}
		return
	}
	switch {
	case strings.HasPrefix(s, "ssm:"):
		// validate accepts ssm:<name>; ECS takes the name or ARN only
		// and refused the prefixed form when a task started.
		d.fail(field, "ECS takes an SSM parameter as its name (/orders/db-password) or ARN, not as ssm:<name>: remove the ssm: prefix")
	case strings.ContainsAny(s, " \t\r\n"):
		d.fail(field, "an SSM parameter name cannot contain whitespace")
	case strings.Contains(s, "/") && !strings.HasPrefix(s, "/"):
		d.fail(field, "an SSM parameter name with a path must start with \"/\" (/orders/db-password), or ECS cannot read it when the task starts")
	}
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// cpu reads Fargate CPU units: 256, "256", "0.25 vCPU", "1vcpu".
func (d *decoder) cpu(s map[string]any) int {
	v, ok := value(s, "cpu")
	if !ok {
		return 256
	}
	if n, ok := toInt(v); ok {
		return n
	}
	if str, ok := v.(string); ok {
		t := strings.ToLower(strings.TrimSpace(str))
		if num, found := strings.CutSuffix(t, "vcpu"); found {
			var f float64
			if _, err := fmt.Sscanf(strings.TrimSpace(num), "%g", &f); err == nil {
				return int(f * 1024)
			}
		}
	}
	d.fail("cpu", "want Fargate CPU units (256, 512, 1024, ...) or \"0.5 vCPU\", got %s", describe(v))
	return 256
}

// memory reads MiB: 512, "512", "512MiB", "1GB", "2 GiB".
func (d *decoder) memory(s map[string]any) int {
	v, ok := value(s, "memory")
	if !ok {
		return 512
	}
	if n, ok := toInt(v); ok {
		return n
	}
	if str, ok := v.(string); ok {
		t := strings.ToLower(strings.ReplaceAll(str, " ", ""))
		for _, u := range []struct {
			suffix string
			mul    float64
		}{{"gib", 1024}, {"gb", 1024}, {"g", 1024}, {"mib", 1}, {"mb", 1}, {"m", 1}} {
			if num, found := strings.CutSuffix(t, u.suffix); found {
				var f float64
				if _, err := fmt.Sscanf(num, "%g", &f); err == nil {
					return int(f * u.mul)
				}
				break
			}
		}
	}
	d.fail("memory", "want MiB (512, 1024, ...) or \"1GB\", got %s", describe(v))
	return 512
}

// fargateSize checks a Fargate task size (cpu units, memory MiB).
func fargateSize(cpu, mem int) error {
	type rng struct{ min, max, step int }
	var r rng
	switch cpu {
	case 256:
		if mem == 512 || mem == 1024 || mem == 2048 {
			return nil
		}
		return fmt.Errorf("cpu 256 takes memory 512, 1024 or 2048 MiB, got %d", mem)
	case 512:
		r = rng{1024, 4096, 1024}
	case 1024:
		r = rng{2048, 8192, 1024}
	case 2048:
		r = rng{4096, 16384, 1024}
	case 4096:
		r = rng{8192, 30720, 1024}
	case 8192:
		r = rng{16384, 61440, 4096}
	case 16384:
		r = rng{32768, 122880, 8192}
	default:
		return fmt.Errorf("cpu %d is not a Fargate size; use 256, 512, 1024, 2048, 4096, 8192 or 16384", cpu)
	}
	if mem < r.min || mem > r.max || (mem-r.min)%r.step != 0 {
		return fmt.Errorf("cpu %d takes memory %d-%d MiB in steps of %d, got %d", cpu, r.min, r.max, r.step, mem)
	}
	return nil
}

// scheduleExpression turns a CronJob schedule into an EventBridge
// Scheduler expression. It accepts the scheduler's own forms (cron(...),
// rate(...), at(...)), the @hourly/@daily/@weekly/@monthly/@yearly
// shorthands, and classic five-field cron ("0 3 * * 1-5"), whose
// day-of-week numbers (0-6 from Sunday) are shifted to the scheduler's
// 1-7 and whose unused day field becomes "?".
func scheduleExpression(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("is required (e.g. \"0 3 * * *\" or \"rate(1 hour)\")")
	case strings.HasPrefix(s, "cron(") || strings.HasPrefix(s, "rate(") || strings.HasPrefix(s, "at("):
		if !strings.HasSuffix(s, ")") {
			return "", fmt.Errorf("%q: missing closing parenthesis", s)
		}
		return s, nil
	}
	switch s {
	case "@hourly":
		return "cron(0 * * * ? *)", nil
	case "@daily", "@midnight":
		return "cron(0 0 * * ? *)", nil
	case "@weekly":
		return "cron(0 0 ? * 1 *)", nil
	case "@monthly":
		return "cron(0 0 1 * ? *)", nil
	case "@yearly", "@annually":
		return "cron(0 0 1 1 ? *)", nil
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return "", fmt.Errorf("%q: want five cron fields (minute hour day-of-month month day-of-week), cron(...), rate(...) or at(...)", s)
	}
	dom, dow := f[2], f[4]
	switch {
	case dow == "*" || dow == "?":
		dow = "?"
	case dom == "*" || dom == "?":
		dom = "?"
		var err error
		if dow, err = shiftDOW(dow); err != nil {
			return "", fmt.Errorf("%q: %v", s, err)
		}
	default:
		return "", fmt.Errorf("%q: AWS schedules cannot restrict both day-of-month and day-of-week; set one of them to *", s)
	}
	return fmt.Sprintf("cron(%s %s %s %s %s *)", f[0], f[1], dom, f[3], dow), nil
}

// shiftDOW maps classic cron day-of-week numbers (0-7, Sunday = 0 or 7) to
// AWS's (1-7, Sunday = 1) in lists, ranges and steps; names pass through.
func shiftDOW(field string) (string, error) {
	var out []string
	for _, part := range strings.Split(field, ",") {
		base, step, hasStep := strings.Cut(part, "/")
		lo, hi, isRange := strings.Cut(base, "-")
		conv := func(x string) (string, error) {
			if x == "*" || x == "" {
				return x, nil
			}
			n, ok := toInt(x)
			if !ok {
				return strings.ToUpper(x), nil // MON, TUE, ... or L/# forms
			}
			if n < 0 || n > 7 {
				return "", fmt.Errorf("day-of-week %d out of range 0-7", n)
			}
			return fmt.Sprint(n%7 + 1), nil
		}
		a, err := conv(lo)
		if err != nil {
			return "", err
		}
		p := a
		if isRange {
			b, err := conv(hi)
			if err != nil {
				return "", err
			}
			if n, ok := toInt(hi); ok && n == 7 && !hasStep {
				// A range up to Sunday written as 7 (5-7, 0-7) ends at
				// AWS's Saturday (7) and adds Sunday (1): as "6-1" and
				// "1-1" it read as nothing valid or Sunday only, so
				// 0-7, every day, ran on Sundays.
				b = "7"
				if a != "1" {
					b += ",1"
				}
			}
			p += "-" + b
		}
		if hasStep {
			p += "/" + step
		}
		out = append(out, p)
	}
	return strings.Join(out, ","), nil
}

func decodeDatabase(d *decoder, c *stacks.Component) *database {
	s := c.Spec
	db := &database{
		Engine:              d.str(s, "", "engine", "postgres"),
		Version:             d.str(s, "", "version", ""),
		InstanceClass:       d.str(s, "", "instanceClass", "db.t4g.micro"),
		StorageGB:           d.integer(s, "", "storageGB", 20),
		MultiAZ:             d.boolean(s, "", "multiAZ", false),
		BackupRetentionDays: d.integer(s, "", "backupRetentionDays", 7),
		DeletionProtection:  d.boolean(s, "", "deletionProtection", true),
		Username:            "app",
	}
	switch db.Engine {
	case "postgres":
		db.Port = 5432
	case "mysql":
		db.Port = 3306
	default:
		d.fail("engine", "want postgres or mysql, got %q", db.Engine)
	}
	if !strings.HasPrefix(db.InstanceClass, "db.") {
		d.fail("instanceClass", "want an RDS instance class such as db.t4g.micro, got %q", db.InstanceClass)
	}
	if db.StorageGB < 20 || db.StorageGB > 65536 {
		d.fail("storageGB", "want 20-65536 (gp3), got %d", db.StorageGB)
	}
	if db.BackupRetentionDays < 7 || db.BackupRetentionDays > 35 {
		d.fail("backupRetentionDays", "want 7-35 days (panka keeps at least a week of backups), got %d", db.BackupRetentionDays)
	}
	return db
}

// maxRuleWildcards is how many wildcards (* and ?) an ALB listener rule
// holds across its condition values (a quota AWS does not raise).
const maxRuleWildcards = 5

// ruleWildcards counts the wildcards of the listener rule of lb as the
// target writes it: the host header, and the path patterns p and p/*
// (or /* alone without a path or host); field is the spec field that
// holds most of them, detail says where they are. A reference in the
// host counts as nothing.
func ruleWildcards(lb *loadBalancer) (n int, field, detail string) {
	count := func(s string) int { return strings.Count(s, "*") + strings.Count(s, "?") }
	host, _ := stacks.Interpolate(lb.Host, func(stacks.RefSpan) (string, bool) { return "", true })
	p := strings.TrimSuffix(lb.Path, "/")
	var inPath int
	switch {
	case p != "":
		inPath = 2*count(p) + 1 // p and p/*
	case lb.Host == "":
		inPath = 1 // /*
	}
	field = "loadBalancer.path"
	if count(host) > inPath {
		field = "loadBalancer.host"
	}
	return count(host) + inPath, field, fmt.Sprintf("%d in the host, %d in the path patterns", count(host), inPath)
}

// albPathChars are the characters an ALB path-pattern condition takes
// (* and ? are wildcards).
const albPathChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.$/~\"'@:+&*?"

func decodeCache(d *decoder, c *stacks.Component) *cache {
	s := c.Spec
	ca := &cache{
		Engine:   d.str(s, "", "engine", "redis"),
		Version:  d.str(s, "", "version", ""),
		NodeType: d.str(s, "", "nodeType", "cache.t4g.micro"),
		Nodes:    d.integer(s, "", "nodes", 1),
		Port:     6379,
	}
	switch ca.Engine {
	case "redis":
		switch {
		case ca.Version != "" && !reRedisVersion.MatchString(ca.Version):
			d.fail("version", "redis takes <major>.<minor> from version 6 on (7.1, 6.2) and <major>.<minor>.<patch> before (5.0.6), got %q", ca.Version)
		case ca.Version != "" && ca.Version != "3.2.6" && replace.VersionDowngrade("4.0.10", ca.Version):
			d.fail("version", "redis %s cannot encrypt in transit and at rest, which panka turns on for every cache, and ElastiCache would refuse the replication group in apply; use redis 4.0.10 or later (7.1, the default)", ca.Version)
		}
	case "valkey":
		switch {
		case ca.Version != "" && !reValkeyVersion.MatchString(ca.Version):
			d.fail("version", "valkey takes <major>.<minor> (8.0, 7.2), got %q", ca.Version)
		case ca.Version != "" && replace.VersionDowngrade("7.2", ca.Version):
			d.fail("version", "valkey %s cannot encrypt in transit and at rest, which panka turns on for every cache, and ElastiCache would refuse the replication group in apply; use valkey 7.2 or later (8.0, the default)", ca.Version)
		}
	default:
		d.fail("engine", "want redis or valkey, got %q", ca.Engine)
	}
	if !strings.HasPrefix(ca.NodeType, "cache.") {
		d.fail("nodeType", "want an ElastiCache node type such as cache.t4g.micro, got %q", ca.NodeType)
	}
	if ca.Nodes < 1 || ca.Nodes > 6 {
		d.fail("nodes", "want 1-6 (a primary and up to 5 replicas), got %d", ca.Nodes)
	}
	return ca
}

// ElastiCache version forms, as the AWS provider checks them before any
// AWS call: "7" or "7.1.0" passed validate and plan, and the provider
// refused the replication group when apply ran. Majors from 10 on take
// the <major>.<minor> form too, as the provider's patterns do, so a
// future release is not refused here.
var (
	reRedisVersion  = regexp.MustCompile(`^([1-5]\.[0-9]+\.[0-9]+|6\.x|([6-9]|[1-9][0-9]+)\.[0-9]+)$`)
	reValkeyVersion = regexp.MustCompile(`^([7-9]|[1-9][0-9]+)\.[0-9]+$`)
)

func decodeQueue(d *decoder, c *stacks.Component) *queue {
	s := c.Spec
	q := &queue{
		FIFO:                      d.boolean(s, "", "fifo", false),
		ContentBasedDeduplication: d.boolean(s, "", "contentBasedDeduplication", false),
		VisibilityTimeout:         d.seconds(s, "", "visibilityTimeout", 30),
		RetentionPeriod:           d.seconds(s, "", "retentionPeriod", 345600),
	}
	if dl := d.object(s, "", "deadLetter"); dl != nil && d.boolean(dl, "deadLetter", "enabled", true) {
		q.MaxReceives = d.integer(dl, "deadLetter", "maxReceives", 5)
		if q.MaxReceives < 1 || q.MaxReceives > 1000 {
			d.fail("deadLetter.maxReceives", "want 1-1000, got %d", q.MaxReceives)
		}
	}
	if q.VisibilityTimeout < 0 || q.VisibilityTimeout > 43200 {
		d.fail("visibilityTimeout", "want 0-43200 seconds (12 h), got %d", q.VisibilityTimeout)
	}
	if q.RetentionPeriod < 60 || q.RetentionPeriod > 1209600 {
		d.fail("retentionPeriod", "want 60-1209600 seconds (1 min to 14 days), got %d", q.RetentionPeriod)
	}
	if q.ContentBasedDeduplication && !q.FIFO {
		d.fail("contentBasedDeduplication", "needs fifo: true")
	}
	return q
}

func decodeBucket(d *decoder, c *stacks.Component) *bucket {
	s := c.Spec
	b := &bucket{
		Name:              d.str(s, "", "name", ""),
		Versioning:        d.boolean(s, "", "versioning", false),
		Public:            d.boolean(s, "", "public", false),
		AbortMultipartDay: 7,
	}
	if lc := d.object(s, "", "lifecycle"); lc != nil {
		b.ExpireAfterDays = d.integer(lc, "lifecycle", "expireAfterDays", 0)
		b.NoncurrentDays = d.integer(lc, "lifecycle", "noncurrentExpireAfterDays", 0)
		if b.ExpireAfterDays < 0 {
			d.fail("lifecycle.expireAfterDays", "want 0 (never) or more days, got %d", b.ExpireAfterDays)
		}
		if b.NoncurrentDays < 0 {
			d.fail("lifecycle.noncurrentExpireAfterDays", "want 0 (never) or more days, got %d", b.NoncurrentDays)
		}
	}
	if b.Versioning && b.NoncurrentDays == 0 {
		b.NoncurrentDays = 30
	}
	return b
}

// reKMSKey matches a KMS key ARN or alias ARN; the submatch is the
// resource (key/<id> or alias/<name>).
var reKMSKey = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z]{2,4}(?:-[a-z]+)+-[0-9]+:[0-9]{12}:(key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})$`)

// reLambdaArn matches a Lambda function ARN, maybe qualified by a version
// or an alias.
var reLambdaArn = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z]{2,4}(-[a-z]+)+-[0-9]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$`)

func decodeTopic(d *decoder, c *stacks.Component) *topic {
	s := c.Spec
	t := &topic{FIFO: d.boolean(s, "", "fifo", false)}
	for i, e := range d.list(s, "", "subscriptions") {
		field := fmt.Sprintf("subscriptions[%d]", i)
		m, ok := e.(map[string]any)
		if !ok {
			d.fail(field, "want {queue: <component>} or {protocol, endpoint}, got %s", describe(e))
			continue
		}
		sub := subscription{
			Queue:    d.str(m, field, "queue", ""),
			Protocol: d.str(m, field, "protocol", ""),
			Endpoint: d.secretStr(m, field, "endpoint"),
			Raw:      d.boolean(m, field, "rawMessageDelivery", false),
		}
		switch {
		case sub.Queue != "" && (sub.Protocol != "" || sub.Endpoint != nil):
			d.fail(field, "set either queue or protocol+endpoint, not both")
		case sub.Queue == "" && (sub.Protocol == "" || sub.Endpoint == nil):
			d.fail(field, "want {queue: <component>} or both protocol and endpoint")
		case sub.Protocol != "" && !slices.Contains([]string{"sqs", "lambda", "http", "https", "email", "email-json", "sms", "application", "firehose"}, sub.Protocol):
			d.fail(field+".protocol", "unknown SNS protocol %q", sub.Protocol)
		case t.FIFO && sub.Protocol != "" && sub.Protocol != "sqs":
			// SNS keeps a FIFO topic's order by delivering to SQS
			// queues only: Subscribe refused the rest in apply.
			d.fail(field+".protocol", "a FIFO topic delivers to SQS queues only, not to %s endpoints; subscribe a Queue component ({queue: <component>}) and let its consumer call the endpoint, or make the topic standard (fifo: false)", sub.Protocol)
		case sub.Protocol == "firehose":
			// SNS refuses a firehose subscription without
			// subscriptionRoleArn, which the spec has no field for.
			d.fail(field+".protocol", "the aws target cannot subscribe a Firehose delivery stream: SNS needs a subscription role for it (subscriptionRoleArn), which panka does not set; subscribe a Queue component ({queue: <component>}) or an https endpoint instead")
		case sub.Protocol == "lambda":
			// The endpoint is also the function the Lambda permission
			// names (the topic may invoke it): SNS and Lambda want its
			// ARN, maybe with a version or alias.
			if e, ok := sub.Endpoint.(string); ok && len(stacks.FindRefs(e)) == 0 && !reLambdaArn.MatchString(e) {
				d.fail(field+".endpoint", "%q is not a Lambda function ARN; a lambda subscription wants arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>]", e)
			}
		}
		t.Subscriptions = append(t.Subscriptions, sub)
	}
	return t
}

// DeletionProtected reports whether c is a Database the aws target deploys
// with RDS deletion protection (spec.deletionProtection, on by default):
// RDS refuses to delete such an instance, so a destroy, a removal or a
// replacement of it must first deploy it with deletionProtection: false.
func DeletionProtected(c *stacks.Component) bool {
	if c == nil || c.Kind != stacks.KindDatabase {
		return false
	}
	d := &decoder{}
	return d.boolean(c.Spec, "", "deletionProtection", true)
}

// RefusedChanges says which changes of a component updated in place (from
// the deployed spec before to the desired spec after) AWS refuses to
// make, one sentence each, nil when none: RDS neither shrinks a
// database's allocated storage nor downgrades its engine version. Plan
// showed such a change as an update, and apply stopped at it, after the
// components before it had changed (a rollback past an upgrade does this).
func RefusedChanges(kind stacks.Kind, before, after map[string]any) []string {
	if kind != stacks.KindDatabase {
		return nil
	}
	d := &decoder{}
	var out []string
	if b, a := d.integer(before, "", "storageGB", 20), d.integer(after, "", "storageGB", 20); a < b {
		out = append(out, fmt.Sprintf("spec.storageGB %d -> %d: RDS cannot shrink a database's allocated storage; keep %d or more", b, a, b))
	}
	b, a := d.str(before, "", "version", ""), d.str(after, "", "version", "")
	if d.str(before, "", "engine", "postgres") == d.str(after, "", "engine", "postgres") && replace.VersionDowngrade(b, a) {
		out = append(out, fmt.Sprintf("spec.version %s -> %s: RDS cannot downgrade a database's engine; keep %s or a later version", b, a, b))
	}
	return out
}
