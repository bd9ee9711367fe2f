package model

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"panka.dev/panka/stacks"
)

func TestScheduleExpression(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"0 3 * * *", "cron(0 3 * * ? *)", false},
		{"*/15 * * * *", "cron(*/15 * * * ? *)", false},
		{"0 3 * * 1-5", "cron(0 3 ? * 2-6 *)", false},
		{"0 3 * * 0,6", "cron(0 3 ? * 1,7 *)", false},
		{"0 3 * * 7", "cron(0 3 ? * 1 *)", false},
		// Ranges ending at 7 (Sunday): Friday to Sunday, every day,
		// Monday to Sunday.
		{"0 3 * * 5-7", "cron(0 3 ? * 6-7,1 *)", false},
		{"0 3 * * 0-7", "cron(0 3 ? * 1-7 *)", false},
		{"0 3 * * 1-7", "cron(0 3 ? * 2-7,1 *)", false},
		{"0 3 * * 0-6", "cron(0 3 ? * 1-7 *)", false},
		{"0 3 * * MON-FRI", "cron(0 3 ? * MON-FRI *)", false},
		{"30 2 1 * *", "cron(30 2 1 * ? *)", false},
		{"@daily", "cron(0 0 * * ? *)", false},
		{"rate(5 minutes)", "rate(5 minutes)", false},
		{"cron(0 12 * * ? *)", "cron(0 12 * * ? *)", false},
		{"at(2030-01-01T00:00:00)", "at(2030-01-01T00:00:00)", false},
		{"", "", true},
		{"0 3 * *", "", true},
		{"0 3 1 * 1", "", true},
		{"0 3 * * 9", "", true},
		{"rate(5 minutes", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := scheduleExpression(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("scheduleExpression(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFargateSize(t *testing.T) {
	tests := []struct {
		cpu, mem int
		ok       bool
	}{
		{256, 512, true}, {256, 2048, true}, {256, 4096, false},
		{512, 1024, true}, {512, 4096, true}, {512, 512, false},
		{1024, 8192, true}, {2048, 16384, true}, {4096, 30720, true}, {4096, 31744, false},
		{8192, 20480, true}, {8192, 18432, false}, {16384, 122880, true}, {16384, 36864, false},
		{128, 512, false},
	}
	for _, tt := range tests {
		if err := fargateSize(tt.cpu, tt.mem); (err == nil) != tt.ok {
			t.Errorf("fargateSize(%d, %d) = %v, want ok=%v", tt.cpu, tt.mem, err, tt.ok)
		}
	}
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name string
		spec map[string]any
		cpu  int
		mem  int
		cmd  []any
	}{
		{"ints", map[string]any{"cpu": 1024, "memory": int64(2048)}, 1024, 2048, nil},
		{"floats", map[string]any{"cpu": float64(1024), "memory": float64(2048)}, 1024, 2048, nil},
		{"strings", map[string]any{"cpu": "1 vCPU", "memory": "2 GiB"}, 1024, 2048, nil},
		{"quarter", map[string]any{"cpu": "0.25vcpu", "memory": "512MiB"}, 256, 512, nil},
		{"command string", map[string]any{"command": `sh -c "echo 'hi there'" a\ b`}, 256, 512, []any{"sh", "-c", "echo 'hi there'", "a b"}},
		{"command list", map[string]any{"command": []any{"a", "b c"}}, 256, 512, []any{"a", "b c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &decoder{where: "test"}
			tt.spec["image"] = "x"
			w := decodeWorkload(d, &stacks.Component{Name: "w", Kind: stacks.KindWorker, Spec: tt.spec})
			if w.CPU != tt.cpu || w.Memory != tt.mem || !reflect.DeepEqual(w.Command, tt.cmd) {
				t.Errorf("cpu %d memory %d command %q; want %d %d %q", w.CPU, w.Memory, w.Command, tt.cpu, tt.mem, tt.cmd)
			}
			if len(d.errs) != 0 {
				t.Errorf("errors: %v", d.errs)
			}
		})
	}
	d := &decoder{where: "test"}
	if got := d.seconds(map[string]any{"a": "14d"}, "", "a", 0); got != 1209600 {
		t.Errorf("14d = %d", got)
	}
	if got := d.seconds(map[string]any{"a": "90s"}, "", "a", 0); got != 90 {
		t.Errorf("90s = %d", got)
	}
	if _, err := splitWords(`echo "unterminated`); err == nil {
		t.Errorf("unterminated quote accepted")
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("very-long-component-name-", 4)
	n := newNames("orders", "production", long)
	if id := n.RdsIdentifier(); len(id) > 63 || checkRDSLike("id", id, 63) != nil {
		t.Errorf("rds identifier %q", id)
	}
	if id := n.CacheID(); len(id) != 40 || checkRDSLike("id", id, 40) != nil {
		t.Errorf("cache id %q (%d)", id, len(id))
	}
	if q, dlq := n.Queue(true); len(dlq) > 80 || !strings.HasSuffix(q, ".fifo") || !strings.HasSuffix(dlq, "-dlq.fifo") || checkSQS(dlq) != nil {
		t.Errorf("queue names %q %q", q, dlq)
	}
	if b := n.BucketExample(""); len(b) > 63 || checkBucket(b) != nil {
		t.Errorf("bucket %q", b)
	}
	if r := n.Role("exec"); len(r) > 64 {
		t.Errorf("role %q", r)
	}
	if tg := TargetGroupLogical(long); len(tg) > 24 {
		t.Errorf("target group logical name %q", tg)
	}
	// Shortened names stay distinct and stable.
	a, b := Shorten(long+"a", 40), Shorten(long+"b", 40)
	if a == b || a != Shorten(long+"a", 40) {
		t.Errorf("shorten: %q %q", a, b)
	}
	if Shorten("short", 40) != "short" {
		t.Errorf("shorten changed a short name")
	}
}

// TestUnsplittableSecretCommand: a secret that does not split into words:
// the error does not show it.
func TestUnsplittableSecretCommand(t *testing.T) {
	d := &decoder{where: "test"}
	decodeWorkload(d, &stacks.Component{Name: "w", Kind: stacks.KindWorker, Spec: map[string]any{"image": "x",
		"command": stacks.Sensitive{Clear: `run "t0k3n-clear`, Hash: "sensitive:x"}}})
	if fmt.Sprint(d.errs) == "[]" || strings.Contains(fmt.Sprint(d.errs), "t0k3n") {
		t.Errorf("errors for an unsplittable secret command: %v", d.errs)
	}
}

// TestRefusedChanges: the in-place changes RDS refuses (storage shrunk,
// engine downgraded), and those it makes.
func TestRefusedChanges(t *testing.T) {
	db := func(storage float64, engine, version string) map[string]any {
		return map[string]any{"storageGB": storage, "engine": engine, "version": version}
	}
	tests := []struct {
		name          string
		kind          stacks.Kind
		before, after map[string]any
		want          []string
	}{
		{"storage shrunk", stacks.KindDatabase, db(100, "postgres", "16"), db(50, "postgres", "16"),
			[]string{"spec.storageGB 100 -> 50: RDS cannot shrink a database's allocated storage; keep 100 or more"}},
		{"engine downgraded", stacks.KindDatabase, db(20, "mysql", "8.0.36"), db(20, "mysql", "8.0.32"),
			[]string{"spec.version 8.0.36 -> 8.0.32: RDS cannot downgrade a database's engine; keep 8.0.36 or a later version"}},
		{"major downgraded", stacks.KindDatabase, db(20, "postgres", "16"), db(20, "postgres", "15"),
			[]string{"spec.version 16 -> 15: RDS cannot downgrade a database's engine; keep 16 or a later version"}},
		{"storage grown, engine upgraded", stacks.KindDatabase, db(20, "postgres", "15.8"), db(40, "postgres", "16.4"), nil},
		{"minor pinned", stacks.KindDatabase, db(20, "postgres", "16"), db(20, "postgres", "16.4"), nil},
		// another engine is a new database (a replace), not a downgrade
		{"engine changed", stacks.KindDatabase, db(20, "postgres", "16"), db(20, "mysql", "8.0"), nil},
		{"cache", stacks.KindCache, map[string]any{"version": "7.1"}, map[string]any{"version": "6.2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RefusedChanges(tt.kind, tt.before, tt.after); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RefusedChanges = %q, want %q", got, tt.want)
			}
		})
	}
}
