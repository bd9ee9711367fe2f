package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"panka.dev/panka/cmd/panka/internal/config"
	s3store "panka.dev/panka/statestore/s3"
)

// Defaults of the state server watch during engine runs (watchStateServer).
const (
	DefaultStateProbeEvery = 30 * time.Second
	DefaultStateStallLimit = 3 * time.Minute
)

// stateServerHungError is the cause of an engine run stopped because the S3
// server that holds its state stopped answering.
type stateServerHungError struct {
	server, bucket string
	silent         time.Duration
	last           string // what the last probe met (probeFailure)
}

func (e *stateServerHungError) Error() string {
	return fmt.Sprintf("the S3 state server %s (bucket %s) has not answered for %s (last: %s): "+
		"the engine keeps its state and lock there and its requests to it hang (the Pulumi CLI sets no time limit on them), so it was stopped. "+
		"Check that the server is up and reachable from here (backend.endpoint, network, proxy), then re-run "+
		"(the next apply clears any Pulumi lock left there)",
		e.server, e.bucket, humanDuration(e.silent), e.last)
}

// probeFailure says what a probe of the state server that got no HTTP
// answer met, in the user's terms rather than the SDK's ("operation error
// S3: HeadBucket, ... StatusCode: 0, RequestID: , HostID: , ..."): the
// connection's own error (refused, reset, a DNS failure), or that nothing
// answered within the probe's time.
func probeFailure(bucket string, err error, within time.Duration) string {
	if s3store.ContextDone(err) {
		return "no answer within " + humanDuration(within)
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return send.Err.Error()
	}
	return s3store.Explain(bucket, err).Error()
}

// stateServer names the S3 server c (S3Client) sends its requests to, for
// messages: the endpoint it was given, by backend.endpoint or by the SDK's
// resolution (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the AWS profile's
// endpoint_url), else Amazon S3 in its region. Reading only the key and
// AWS_ENDPOINT_URL_S3 called a MinIO server set in the profile "Amazon S3".
func stateServer(c *s3.Client) string {
	o := c.Options()
	if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
		return *o.BaseEndpoint
	}
	if o.Region != "" {
		return "Amazon S3 (" + o.Region + ")"
	}
	return "Amazon S3"
}

// watchStateServer returns ctx for an engine run whose Pulumi state is in
// the S3 backend, and a func that ends the watch. The Pulumi CLI's own S3
// client has no time limits: a server that accepts connections and never
// answers (wedged, or a network path that drops replies) hung `pulumi up`
// forever, with panka holding its lease (a DynamoDB lease goes on
// renewing). While the run lasts, the server is asked every probe interval
// (a bounded HeadBucket; any HTTP answer, an error status too, counts);
// when it has not answered for the stall limit, the returned context is
// cancelled with a *stateServerHungError, which stops the engine and is
// what the run's error says. Other backends are not watched.
func (f *Factory) watchStateServer(ctx context.Context, cfg *config.Resolved) (context.Context, func()) {
	if cfg.Backend.Type != "s3" || (cfg.Pulumi.Backend != "" && cfg.Pulumi.Backend != "s3" && cfg.Pulumi.Backend != "diy") {
		return ctx, func() {}
	}
	every, limit := f.StateProbeEvery, f.StateStallLimit
	if every <= 0 {
		every = DefaultStateProbeEvery
	}
	if limit <= 0 {
		limit = DefaultStateStallLimit
	}
	wctx, cancel := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		c, err := f.S3Client(wctx, cfg)
		if err != nil {
			return // the run's own clients report it
		}
		answered := time.Now()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			pctx, pcancel := context.WithTimeout(wctx, every)
			// One attempt: the probe is repeated anyway, and the client's
			// retries printed their own "retrying, attempt 2 of 6" notices
			// in the middle of the run, about a request the user never made.
			_, err := c.HeadBucket(pctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Backend.Bucket)},
				func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
			pcancel()
			if wctx.Err() != nil {
				return
			}
			if err == nil || awsHTTPStatus(err) != 0 {
				answered = time.Now()
				continue
			}
			silent := time.Since(answered)
			if silent < limit {
				f.Log.Warn().Msgf("the S3 state server %s has not answered for %s (last: %s); the run is stopped if it does not answer within %s",
					stateServer(c), humanDuration(silent), probeFailure(cfg.Backend.Bucket, err, every), humanDuration(limit))
				continue
			}
			cancel(&stateServerHungError{server: stateServer(c), bucket: cfg.Backend.Bucket, silent: silent, last: probeFailure(cfg.Backend.Bucket, err, every)})
			return
		}
	}()
	// The returned context is done with once the run is: ending it also
	// ends a probe in flight.
	return wctx, func() {
		cancel(nil)
		<-stopped
	}
}
