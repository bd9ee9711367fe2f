package s3

import (
	"context"
	"errors"
	"net"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// RetryNotice describes an AWS request attempt that got no answer in time
// (its connection, its answer or the whole request timed out) and is about
// to be retried.
type RetryNotice struct {
	// Endpoint is the scheme and host the attempt went to ("" when the
	// error does not say).
	Endpoint string
	// Attempt is the attempt that failed (1 for the first); MaxAttempts
	// how many are made in all.
	Attempt, MaxAttempts int
	// Delay is the wait before the next attempt.
	Delay time.Duration
	// Reason is the attempt's error without the request's method and URL
	// ("net/http: timeout awaiting response headers").
	Reason string
}

// NotifyRetries wraps r so that fn hears of each retry of a request whose
// attempt timed out: an endpoint that accepts connections and never
// answers (or drops them) otherwise costs minutes of silent, bounded
// retries before its error. Other retries (throttling, 5xx, a refused
// connection) are not reported: they are quick, and the error, if it
// comes, says what failed. fn nil returns r.
func NotifyRetries(r aws.Retryer, fn func(RetryNotice)) aws.Retryer {
	if fn == nil {
		return r
	}
	return &notifyingRetryer{Retryer: r, fn: fn}
}

type notifyingRetryer struct {
	aws.Retryer
	fn func(RetryNotice)
}

// GetAttemptToken is aws.RetryerV2's, which the SDK prefers when present.
func (n *notifyingRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := n.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return n.Retryer.GetInitialToken(), nil
}

// RetryDelay is called by the SDK once it has decided to retry.
func (n *notifyingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := n.Retryer.RetryDelay(attempt, err)
	if derr != nil {
		return d, derr
	}
	if notice, ok := unanswered(err); ok {
		notice.Attempt, notice.MaxAttempts, notice.Delay = attempt, n.Retryer.MaxAttempts(), d
		n.fn(notice)
	}
	return d, nil
}

// unanswered reports whether err is an attempt that timed out.
func unanswered(err error) (RetryNotice, bool) {
	notice := RetryNotice{Reason: err.Error()}
	var ue *url.Error
	if errors.As(err, &ue) {
		notice.Reason = ue.Err.Error()
		if u, perr := url.Parse(ue.URL); perr == nil {
			notice.Endpoint = u.Scheme + "://" + u.Host
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return notice, true
	}
	return notice, false
}
