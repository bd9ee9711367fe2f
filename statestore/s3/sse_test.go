package s3_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// recordingAPI records the encryption settings of every PutObject and
// forwards the request with them stripped when strip is set (versitygw
// accepts SSE-S3 but does not implement SSE-KMS).
type recordingAPI struct {
	*s3.Client
	strip bool
	mu    sync.Mutex
	puts  []*s3.PutObjectInput
}

func (r *recordingAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	cp := *in
	r.mu.Lock()
	r.puts = append(r.puts, &cp)
	r.mu.Unlock()
	if r.strip {
		in.ServerSideEncryption, in.SSEKMSKeyId = "", nil
	}
	return r.Client.PutObject(ctx, in, opt...)
}

// TestSSE checks state and history writes carry the configured server-side
// encryption.
func TestSSE(t *testing.T) {
	srv := testserver.S3(t)
	for _, tc := range []struct {
		name    string
		opts    s3store.Options
		wantAlg types.ServerSideEncryption
		wantKey string
		strip   bool
	}{
		{"none", s3store.Options{}, "", "", false},
		{"SSE-S3", s3store.Options{SSE: s3store.SSES3}, types.ServerSideEncryptionAes256, "", false},
		{"SSE-KMS", s3store.Options{SSE: s3store.SSEKMS, KMSKeyID: "alias/panka"}, types.ServerSideEncryptionAwsKms, "alias/panka", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingAPI{Client: client(t, srv), strip: tc.strip}
			tc.opts.Bucket = testserver.NewBucket(t)
			s, err := s3store.New(rec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			key := statestore.Key{Stack: "orders", Environment: "dev"}
			ctx := context.Background()
			if _, err := s.Put(ctx, key, &statestore.State{Serial: 1}, ""); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if err := s.AppendHistory(ctx, key, &statestore.Deployment{Serial: 1, StartedAt: time.Now()}); err != nil {
				t.Fatalf("AppendHistory: %v", err)
			}
			if len(rec.puts) != 2 {
				t.Fatalf("%d PutObject calls, want 2", len(rec.puts))
			}
			for _, in := range rec.puts {
				if in.ServerSideEncryption != tc.wantAlg || aws.ToString(in.SSEKMSKeyId) != tc.wantKey {
					t.Errorf("PutObject %s: SSE %q key %q, want %q %q", aws.ToString(in.Key), in.ServerSideEncryption, aws.ToString(in.SSEKMSKeyId), tc.wantAlg, tc.wantKey)
				}
			}
		})
	}
}
