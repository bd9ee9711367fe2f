package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/statestore/testserver"
)

// TestApplyKeyLayoutAndLease pins, on a real apply with backend.prefix set,
// SPEC §5's key layout (<prefix>stacks/<stack>/<env>/state.json, history/
// <timestamp>-<serial>.json and Pulumi's DIY backend under pulumi/, nothing
// outside) and §6's lease as the lock backend stores it while the apply
// runs (lockKey, a UUID lockId, lockedBy, lockedAt, expiresAt,
// lastHeartbeat, metadata with hostname, pid, version, operation, commit),
// and that the history record names that lease's lockId. The embedded
// default mirrors the layout under .panka/state/.
func TestApplyKeyLayoutAndLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		head := r.git("rev-parse", "HEAD")
		// Each component waits 2 s to be created: long enough to read the
		// lease while the apply holds it.
		// Run as a GitHub Actions job would: the run's URL goes into the
		// lease and the record.
		ci := []string{"GITHUB_ACTIONS=true", "GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=acme/shop", "GITHUB_RUN_ID=42", "GITHUB_RUN_ATTEMPT=1"}
		const ciURL = "https://github.com/acme/shop/actions/runs/42"
		apply := r.cmd(append([]string{"PANKA_BACKEND_PREFIX=team-a/", "PANKALOCAL_DELAY=2s"}, ci...), applyDev...)
		var out, errOut syncBuffer
		apply.Stdout, apply.Stderr = &out, &errOut
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if apply.ProcessState == nil {
				_ = apply.Process.Kill()
				_ = apply.Wait()
			}
		}()
		var lease map[string]any
		waitFor(t, 60*time.Second, func() bool { lease = r.rawLease(t); return lease != nil })
		for _, k := range []string{"lockKey", "lockId", "lockedBy", "lockedAt", "expiresAt", "lastHeartbeat", "metadata"} {
			if _, ok := lease[k]; !ok {
				t.Errorf("lease has no %q: %v", k, lease)
			}
		}
		if lease["lockKey"] != "stack:shop:env:dev" {
			t.Errorf("lockKey = %v, want stack:shop:env:dev", lease["lockKey"])
		}
		lockID, _ := lease["lockId"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(lockID) {
			t.Errorf("lockId %q is not a UUID", lockID)
		}
		meta, _ := lease["metadata"].(map[string]any)
		host, _ := os.Hostname()
		if meta["hostname"] != host || meta["version"] == nil || meta["operation"] != "apply" || meta["commit"] != head ||
			meta["pid"] != strconv.Itoa(apply.Process.Pid) || meta["ciUrl"] != ciURL {
			t.Errorf("lease metadata = %v, want hostname %s, a version, operation apply, commit %s, pid %d, ciUrl %s", meta, host, head, apply.Process.Pid, ciURL)
		}
		if err := apply.Wait(); err != nil {
			t.Fatalf("apply: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		}
		if l := r.rawLease(t); l != nil {
			t.Errorf("lease left after the apply: %v", l)
		}

		keys := r.stateKeys(t)
		var history []string
		pulumi := 0
		for _, k := range keys {
			switch {
			case k == "team-a/stacks/shop/dev/state.json":
			case strings.HasPrefix(k, "team-a/stacks/shop/dev/history/"):
				history = append(history, k)
			case strings.HasPrefix(k, "team-a/stacks/shop/dev/pulumi/"):
				pulumi++
			case b == embedded && k == "team-a/stacks/shop/dev/.state.lock": // the local backend's write lock
			default:
				t.Errorf("key %q is outside the layout of SPEC §5", k)
			}
		}
		if !slices.Contains(keys, "team-a/stacks/shop/dev/state.json") || pulumi == 0 || len(history) != 1 ||
			!regexp.MustCompile(`/history/\d{8}T\d{6}(\.\d+)?Z-0*1\.json$`).MatchString(history[0]) {
			t.Fatalf("keys after one apply with prefix team-a/: %q", keys)
		}
		// The record has SPEC §5's fields: operation, commit (40 hex), ref,
		// author and message, dirty, user, host, CI run URL, panka version,
		// start/end time, result, lock ID.
		var rec map[string]any
		if err := json.Unmarshal(r.stateObject(t, history[0]), &rec); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"operation": "apply", "commit": head, "ref": "main", "commitAuthor": "Dev <dev@example.com>",
			"commitMessage": "shop\n", "dirty": false, "ciRunUrl": ciURL, "result": "succeeded", "lockId": lockID, "serial": 1.0}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("history record %s = %#v, want %#v", k, rec[k], v)
			}
		}
		for _, k := range []string{"user", "host", "pankaVersion", "startedAt", "endedAt"} {
			if s, _ := rec[k].(string); s == "" {
				t.Errorf("history record has no %s: %v", k, rec)
			}
		}
	})
}

// rawLease is the lease of shop/dev as the lock backend stores it (nil
// when there is none): the local lock file's JSON, or the DynamoDB item
// with numbers as their decimal strings.
func (r *e2eRepo) rawLease(t *testing.T) map[string]any {
	t.Helper()
	if r.table == "" {
		data, err := os.ReadFile(filepath.Join(r.dir, ".panka/locks/stack%3Ashop%3Aenv%3Adev.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return nil // caught between writes: read again
		}
		if meta, ok := m["metadata"].(map[string]any); ok {
			if pid, ok := meta["pid"].(float64); ok {
				meta["pid"] = strconv.Itoa(int(pid))
			}
		}
		return m
	}
	got, err := testserver.DynamoDBClient(t).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(r.table),
		Key: map[string]ddbtypes.AttributeValue{"lockKey": &ddbtypes.AttributeValueMemberS{Value: "stack:shop:env:dev"}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Item == nil {
		return nil
	}
	return ddbPlain(got.Item)
}

func ddbPlain(item map[string]ddbtypes.AttributeValue) map[string]any {
	m := map[string]any{}
	for k, v := range item {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			m[k] = v.Value
		case *ddbtypes.AttributeValueMemberN:
			m[k] = v.Value
		case *ddbtypes.AttributeValueMemberM:
			m[k] = ddbPlain(v.Value)
		default:
			m[k] = v
		}
	}
	return m
}

// stateKeys lists every object of the state backend (relative to
// .panka/state/ on the embedded default), sorted.
func (r *e2eRepo) stateKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	if r.bucket == "" {
		root := filepath.Join(r.dir, ".panka/state")
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			keys = append(keys, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		p := s3.NewListObjectsV2Paginator(testserver.S3Client(t), &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// stateObject reads one object of the state backend by its key.
func (r *e2eRepo) stateObject(t *testing.T, key string) []byte {
	t.Helper()
	if r.bucket == "" {
		data, err := os.ReadFile(filepath.Join(r.dir, ".panka/state", filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	got, err := testserver.S3Client(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	data, err := io.ReadAll(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
