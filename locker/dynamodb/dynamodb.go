package dynamodb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/uuid"

	"panka.dev/panka/locker"
	s3store "panka.dev/panka/statestore/s3"
)

// Client is the part of the DynamoDB API the locker uses; *dynamodb.Client
// implements it, tests may wrap it.
type Client interface {
	PutItem(ctx context.Context, in *ddb.PutItemInput, optFns ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	GetItem(ctx context.Context, in *ddb.GetItemInput, optFns ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *ddb.DeleteItemInput, optFns ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *ddb.ScanInput, optFns ...func(*ddb.Options)) (*ddb.ScanOutput, error)
}

// Locker keeps leases in one DynamoDB table.
type Locker struct {
	client Client
	table  string
	clock  *locker.ServerClock
}

var _ locker.Locker = (*Locker)(nil)

// Options configure New.
type Options struct {
	Client Client
	Table  string
	// Now, when set, is the clock lease times follow as it is (tests
	// that move time on). Else they follow the table server's clock
	// (locker.ServerClock) over Local (default time.Now; tests of a host
	// whose clock is off).
	Now, Local func() time.Time
}

// New returns a Locker on opts.Table.
func New(opts Options) (*Locker, error) {
	if opts.Client == nil || opts.Table == "" {
		return nil, errors.New("dynamodb locker: client and table are required")
	}
	clock := locker.NewServerClock(opts.Local)
	if opts.Now != nil {
		clock = locker.FixedClock(opts.Now)
	}
	return &Locker{client: opts.Client, table: opts.Table, clock: clock}, nil
}

// now is the table server's time, as far as its answers tell.
func (l *Locker) now() time.Time { return l.clock.Now() }

// Now is the table server's time as far as its answers so far tell (the
// local clock before the first).
func (l *Locker) Now() time.Time { return l.clock.Now() }

// serverClock has a call note the Date of the server's answer.
func (l *Locker) serverClock(o *ddb.Options) {
	o.APIOptions = append(o.APIOptions, l.clock.Middleware)
}

// Item attribute names (SPEC §6).
const (
	attrKey       = "lockKey"
	attrID        = "lockId"
	attrBy        = "lockedBy"
	attrAt        = "lockedAt"
	attrExpires   = "expiresAt"
	attrHeartbeat = "lastHeartbeat"
	attrMeta      = "metadata"
)

func num(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func keyOf(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str(key)}
}

func toItem(i locker.Info) map[string]types.AttributeValue {
	m := i.Metadata
	meta := map[string]types.AttributeValue{}
	for k, v := range map[string]string{"hostname": m.Hostname, "version": m.Version, "operation": m.Operation, "commit": m.Commit, "ciUrl": m.CIURL,
		"bootId": m.BootID, "pidNamespace": m.PIDNamespace, "machineId": m.MachineID} {
		if v != "" {
			meta[k] = str(v)
		}
	}
	if m.PID != 0 {
		meta["pid"] = &types.AttributeValueMemberN{Value: strconv.Itoa(m.PID)}
	}
	if m.ProcessStart != 0 {
		meta["processStart"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(m.ProcessStart, 10)}
	}
	return map[string]types.AttributeValue{
		attrKey: str(i.Key), attrID: str(i.ID), attrBy: str(i.LockedBy),
		attrAt: num(i.LockedAt), attrExpires: num(i.ExpiresAt), attrHeartbeat: num(i.LastHeartbeat),
		attrMeta: &types.AttributeValueMemberM{Value: meta},
	}
}

func getS(m map[string]types.AttributeValue, k string) string {
	if v, ok := m[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(m map[string]types.AttributeValue, k string) int64 {
	if v, ok := m[k].(*types.AttributeValueMemberN); ok {
		f, err := strconv.ParseFloat(v.Value, 64)
		if err == nil {
			return int64(f)
		}
	}
	return 0
}

func fromItem(item map[string]types.AttributeValue) locker.Info {
	i := locker.Info{
		Key: getS(item, attrKey), ID: getS(item, attrID), LockedBy: getS(item, attrBy),
		LockedAt: time.Unix(getN(item, attrAt), 0), ExpiresAt: time.Unix(getN(item, attrExpires), 0),
		LastHeartbeat: time.Unix(getN(item, attrHeartbeat), 0),
	}
	if m, ok := item[attrMeta].(*types.AttributeValueMemberM); ok {
		v := m.Value
		i.Metadata = locker.Metadata{Hostname: getS(v, "hostname"), PID: int(getN(v, "pid")), Version: getS(v, "version"),
			Operation: getS(v, "operation"), Commit: getS(v, "commit"), CIURL: getS(v, "ciUrl"),
			BootID: getS(v, "bootId"), PIDNamespace: getS(v, "pidNamespace"), ProcessStart: getN(v, "processStart"), MachineID: getS(v, "machineId")}
	}
	return i
}

// unreadable says why item, the item of key, is no lease panka can read
// (nil when it is one): an item put by hand or by another tool (a "deploy
// freeze" with only lockKey and lockedBy) has no lockId or no numeric
// expiresAt. It was read as a lease that expired in 1970 and that nobody
// holds: status said the next operation takes it over, while every acquire
// failed its condition (expiresAt < :now does not hold for a missing
// attribute) and said the lock "changed hands while it was read". As with
// the other backends, only unlock --force removes it.
func (l *Locker) unreadable(key string, item map[string]types.AttributeValue) error {
	var missing []string
	if getS(item, attrID) == "" {
		missing = append(missing, attrID+" (a string)")
	}
	if _, ok := item[attrExpires].(*types.AttributeValueMemberN); !ok {
		missing = append(missing, attrExpires+" (a number)")
	}
	if len(missing) == 0 {
		return nil
	}
	unlock := "panka unlock --force"
	if stack, env, ok := locker.ParseKey(key); ok {
		unlock = fmt.Sprintf("panka unlock --force -s %s -e %s", stack, env)
	}
	return fmt.Errorf("lock item %s in DynamoDB table %s has no %s: it is no lease panka wrote (%w); %s removes it",
		key, l.table, strings.Join(missing, " and no "), locker.ErrUnreadable, unlock)
}

// Explain is hint for callers without a Locker (backend create): the
// set-up errors of table's requests said as what is wrong and which
// setting fixes it.
func Explain(table string, err error) error {
	if err == nil {
		return nil
	}
	return (&Locker{table: table}).hint(err)
}

// hint rewrites the errors a user fixes in their set-up (a missing table,
// a table keyed for something else, credentials, an unreachable endpoint)
// as what is wrong and which setting fixes it, instead of the SDK's text
// (operation, status code, request id). The SDK error stays in the chain
// for errors.Is/As. Other errors are returned as they are.
func (l *Locker) hint(err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return locker.StoreGone(&explained{err: err, table: l.table, msg: fmt.Sprintf("the table does not exist (ResourceNotFoundException): create it with `panka backend create --table %s`, "+
			"or check locks.table, locks.region and locks.endpoint", l.table)})
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg := ae.ErrorCode(), ae.ErrorMessage()
		switch {
		case code == "ValidationException" && strings.Contains(msg, "key"):
			// A table made for something else, typically Terraform's (LockID).
			return &explained{err: err, msg: fmt.Sprintf("the table is not keyed the way panka needs (%s: %s): its partition key must be %s (string); "+
				"create a lock table with `panka backend create --table NAME` and point locks.table at it", code, msg, attrKey)}
		case code == "AccessDeniedException" || code == "UnrecognizedClientException" || code == "InvalidSignatureException" ||
			code == "ExpiredTokenException" || code == "MissingAuthenticationTokenException" || code == "IncompleteSignatureException":
			return &explained{err: err, msg: fmt.Sprintf("access denied (%s); check the AWS credentials (aws.profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, aws.assumeRole), "+
				"that they may use DynamoDB table %s, and locks.region", code, l.table)}
		}
	}
	if what, throttled, ok := s3store.ServerFailure(err); ok {
		if throttled {
			return &explained{err: err, msg: fmt.Sprintf("DynamoDB is throttling requests to table %s: %s; wait a minute and re-run, "+
				"or give the table more capacity (`panka backend create` makes on-demand tables)", l.table, what)}
		}
		return &explained{err: err, msg: fmt.Sprintf("DynamoDB kept failing for table %s: %s; wait and re-run, "+
			"and if it goes on check the server's health (locks.endpoint for a DynamoDB-compatible server)", l.table, what)}
	}
	if cause := s3store.CredentialsError(err); cause != nil {
		return fmt.Errorf("%w (%v); set aws.profile (or AWS_PROFILE), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is available", s3store.ErrNoCredentials, cause)
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) && !s3store.ContextDone(err) {
		// The SDK's text ("exceeded maximum number of attempts, 6, https
		// response error StatusCode: 0, RequestID: , request send failed")
		// hides the cause; err stays in the chain.
		return &unreachable{err: err, cause: send.Err}
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		// DynamoDB's answer began and was cut (a dropped connection): not
		// another server, whose JSON would be complete, or not JSON.
		return &unreachable{err: err, cause: io.ErrUnexpectedEOF, answered: true}
	}
	if errors.As(err, &de) {
		// Another HTTP server (often the S3 endpoint given as locks.endpoint).
		status := 0
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		check := "locks.endpoint (PANKA_LOCKS_ENDPOINT or AWS_ENDPOINT_URL_DYNAMODB)"
		if from, ok := s3store.EndpointFrom(err); ok {
			check = cmp.Or(from, "for a proxy between here and AWS (HTTPS_PROXY): no custom endpoint is set")
		}
		return &explained{err: err, msg: fmt.Sprintf("the endpoint does not answer like DynamoDB (HTTP %d with a body that is not DynamoDB's JSON); check %s", status, check)}
	}
	return err
}

// explained is an SDK error with a message for the user in its place.
type explained struct {
	err   error
	msg   string
	table string // the table that does not exist (MissingTable)
}

// MissingTable returns the table an error says does not exist (false for
// any other error), so that a caller that knows where the table's name was
// set can say so.
func MissingTable(err error) (string, bool) {
	var e *explained
	if errors.As(err, &e) && e.table != "" {
		return e.table, true
	}
	return "", false
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// ErrUnreachable is wrapped by errors of calls that never reached DynamoDB.
var ErrUnreachable = errors.New("cannot reach DynamoDB")

// unreachable is a call that did not get DynamoDB's answer; answered is
// one whose answer began and was cut: the endpoint is right (it answered),
// and "check locks.endpoint" sent the user to a setting that was not the
// cause.
type unreachable struct {
	err, cause error
	answered   bool
}

func (e *unreachable) Error() string {
	if e.answered {
		// Not "cannot reach DynamoDB" (ErrUnreachable's text): it did.
		return fmt.Sprintf("the DynamoDB server stopped sending its answer partway (%v): %s", e.cause, s3store.AnsweredThenCut(e.cause))
	}
	if hint := s3store.CertificateHint(e.err); hint != "" {
		where := "locks.endpoint, PANKA_LOCKS_ENDPOINT or AWS_ENDPOINT_URL_DYNAMODB"
		if from, ok := s3store.EndpointFrom(e.err); ok {
			where = cmp.Or(from, "AWS's own, no custom endpoint is set")
		}
		return fmt.Sprintf("%s: %v; %s (%s)", ErrUnreachable, e.cause, hint, where)
	}
	return fmt.Sprintf("%s: %v; %s", ErrUnreachable, e.cause,
		s3store.CheckEndpoint(e.err, "locks.region", "check locks.endpoint (PANKA_LOCKS_ENDPOINT or AWS_ENDPOINT_URL_DYNAMODB) and that the server is up"))
}
func (e *unreachable) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// countAttempts counts, in *n, the attempts the SDK makes for one call (its
// retries included): a middleware at the end of the finalize step, which
// the retry middleware runs once per attempt.
func countAttempts(n *int) func(*ddb.Options) {
	return func(o *ddb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("PankaCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					*n++
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// TryAcquire puts the lease item if none exists or the existing one has
// expired; otherwise it reads the holder back with a consistent read.
func (l *Locker) TryAcquire(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	// A few rounds: between our failed put and our read the holder may
	// release (nothing to read) or its lease may expire.
	if !l.clock.Known() {
		// The lease times must be the server's from the first put: one
		// read tells its clock (what it finds does not matter here).
		_, _ = l.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(l.table), Key: keyOf(info.Key)}, l.serverClock)
	}
	for range 5 {
		now := l.now()
		info.ID = uuid.NewString()
		info.LockedAt, info.LastHeartbeat = time.Unix(now.Unix(), 0), time.Unix(now.Unix(), 0)
		info.ExpiresAt = time.Unix(now.Add(ttl).Unix(), 0)
		_, err := l.client.PutItem(ctx, &ddb.PutItemInput{
			TableName:                 aws.String(l.table),
			Item:                      toItem(info),
			ConditionExpression:       aws.String("attribute_not_exists(#k) OR #e < :now"),
			ExpressionAttributeNames:  map[string]string{"#k": attrKey, "#e": attrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now)},
		}, l.serverClock)
		if err == nil {
			return info, nil
		}
		if !isConditionFailed(err) {
			// The put may have landed with its answer lost or cut (the
			// SDK does not retry a cut answer): then the lease is ours,
			// and failing here left it held, by a run that had ended,
			// until its ttl ran out.
			if !s3store.ContextDone(err) {
				if cur, gerr := l.Get(ctx, info.Key); gerr == nil && cur.ID == info.ID {
					return cur, nil
				}
			}
			return locker.Info{}, fmt.Errorf("put lock item %s in DynamoDB table %s: %w", info.Key, l.table, l.hint(err))
		}
		cur, err := l.Get(ctx, info.Key)
		if errors.Is(err, locker.ErrNotFound) {
			continue
		}
		if err != nil {
			return locker.Info{}, err
		}
		if cur.ID == info.ID {
			// Our put succeeded although its response was lost (and the
			// SDK's retry then failed the condition).
			return cur, nil
		}
		if !cur.ExpiresAt.Before(time.Unix(l.now().Unix(), 0)) {
			return locker.Info{}, &locker.HeldError{Holder: cur}
		}
	}
	return locker.Info{}, changedHands(info.Key)
}

// Reclaim puts info back where no item of info.Key exists
// (attribute_not_exists: an expired lease of another run is not taken).
func (l *Locker) Reclaim(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	now := l.now()
	info.LastHeartbeat = time.Unix(now.Unix(), 0)
	info.ExpiresAt = time.Unix(now.Add(ttl).Unix(), 0)
	_, err := l.client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                aws.String(l.table),
		Item:                     toItem(info),
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	}, l.serverClock)
	if err == nil {
		return info, nil
	}
	if !isConditionFailed(err) && s3store.ContextDone(err) {
		return locker.Info{}, fmt.Errorf("reclaim lock item %s in DynamoDB table %s: %w", info.Key, l.table, l.hint(err))
	}
	// The condition failed, or the answer was lost: the item tells
	// whether the put landed (an SDK retry of a landed put fails the
	// condition on our own item).
	cur, gerr := l.Get(ctx, info.Key)
	switch {
	case gerr == nil && cur.ID == info.ID:
		return cur, nil
	case !isConditionFailed(err):
		return locker.Info{}, fmt.Errorf("reclaim lock item %s in DynamoDB table %s: %w", info.Key, l.table, l.hint(err))
	case gerr == nil && !cur.ExpiresAt.Before(time.Unix(l.now().Unix(), 0)):
		return locker.Info{}, fmt.Errorf("reclaim %s: %w: %w", info.Key, locker.ErrLost, &locker.HeldError{Holder: cur})
	}
	return locker.Info{}, fmt.Errorf("reclaim %s: another run wrote a lease for it since: %w", info.Key, locker.ErrLost)
}

// Heartbeat moves expiresAt to now+ttl while the item carries id.
func (l *Locker) Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error {
	now := l.now()
	_, err := l.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String("SET #e = :exp, #h = :now"),
		ConditionExpression:       aws.String("#id = :id"),
		ExpressionAttributeNames:  map[string]string{"#e": attrExpires, "#h": attrHeartbeat, "#id": attrID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":exp": num(now.Add(ttl)), ":now": num(now), ":id": str(id)},
	}, l.serverClock)
	if isConditionFailed(err) {
		return fmt.Errorf("heartbeat %s: lock id %s no longer holds it: %w", key, id, locker.ErrLost)
	}
	if err != nil {
		return fmt.Errorf("heartbeat %s in DynamoDB table %s: %w", key, l.table, l.hint(err))
	}
	return nil
}

// Release deletes the item while it carries id. When the SDK retried the
// delete (the first attempt's answer was lost, or said 5xx) and the retry
// finds the item gone, the first attempt landed: the lease is released,
// which used to read as a lease lost. Otherwise a failed condition is a
// lease lost (another lock id holds it, or nobody does).
func (l *Locker) Release(ctx context.Context, key, id string) error {
	attempts := 0
	_, err := l.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                 aws.String(l.table),
		Key:                       keyOf(key),
		ConditionExpression:       aws.String("#id = :id"),
		ExpressionAttributeNames:  map[string]string{"#id": attrID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id)},
	}, countAttempts(&attempts))
	if isConditionFailed(err) {
		if attempts > 1 {
			if _, gerr := l.Get(ctx, key); errors.Is(gerr, locker.ErrNotFound) {
				return nil
			}
		}
		return fmt.Errorf("release %s: lock id %s no longer holds it: %w", key, id, locker.ErrLost)
	}
	if err != nil {
		return fmt.Errorf("release %s in DynamoDB table %s: %w", key, l.table, l.hint(err))
	}
	return nil
}

// ForceRelease deletes the item whoever holds it.
func (l *Locker) ForceRelease(ctx context.Context, key string) error {
	_, err := l.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                aws.String(l.table),
		Key:                      keyOf(key),
		ConditionExpression:      aws.String("attribute_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("force-release %s: %w", key, locker.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("force-release %s in DynamoDB table %s: %w", key, l.table, l.hint(err))
	}
	return nil
}

// Get reads the item with a consistent read.
func (l *Locker) Get(ctx context.Context, key string) (locker.Info, error) {
	out, err := l.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(l.table), Key: keyOf(key), ConsistentRead: aws.Bool(true)}, l.serverClock)
	if err != nil {
		return locker.Info{}, fmt.Errorf("get lock %s from DynamoDB table %s: %w", key, l.table, l.hint(err))
	}
	if len(out.Item) == 0 {
		return locker.Info{}, fmt.Errorf("get lock %s: %w", key, locker.ErrNotFound)
	}
	if err := l.unreadable(key, out.Item); err != nil {
		return locker.Info{}, err
	}
	return fromItem(out.Item), nil
}

// List scans the table (consistently), sorted by key.
func (l *Locker) List(ctx context.Context) ([]locker.Info, error) {
	var out []locker.Info
	var bad []error
	in := &ddb.ScanInput{TableName: aws.String(l.table), ConsistentRead: aws.Bool(true)}
	for {
		page, err := l.client.Scan(ctx, in, l.serverClock)
		if err != nil {
			return nil, fmt.Errorf("list locks in DynamoDB table %s: %w", l.table, l.hint(err))
		}
		for _, item := range page.Items {
			if _, ok := item[attrKey]; !ok {
				// Not a panka lease: the table is another tool's (Terraform's
				// items are keyed LockID). Listing nothing would read as "no
				// locks held".
				return nil, fmt.Errorf("list locks in DynamoDB table %s: %w", l.table, l.foreignTable(keysOf(item)))
			}
			if err := l.unreadable(getS(item, attrKey), item); err != nil {
				bad = append(bad, err)
				continue
			}
			out = append(out, fromItem(item))
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	if len(out) == 0 && len(bad) == 0 {
		// An empty table says nothing of its key: ask, where the client can
		// (credentials without dynamodb:DescribeTable get the empty list,
		// as before: panka's own operations do not need that permission).
		if d, ok := l.client.(interface {
			DescribeTable(context.Context, *ddb.DescribeTableInput, ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
		}); ok {
			if desc, err := d.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(l.table)}); err == nil && desc.Table != nil {
				var keys []string
				for _, k := range desc.Table.KeySchema {
					keys = append(keys, aws.ToString(k.AttributeName))
				}
				if len(keys) != 1 || keys[0] != attrKey {
					return nil, fmt.Errorf("list locks in DynamoDB table %s: %w", l.table, l.foreignTable(keys))
				}
				for _, a := range desc.Table.AttributeDefinitions {
					// lockKey of type N or B takes no key panka writes:
					// empty, it read as "no locks held".
					if aws.ToString(a.AttributeName) == attrKey && a.AttributeType != types.ScalarAttributeTypeS {
						return nil, fmt.Errorf("list locks in DynamoDB table %s: %w", l.table, l.foreignTable([]string{fmt.Sprintf("%s of type %s", attrKey, a.AttributeType)}))
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, locker.Unreadable(bad)
}

// foreignTable is the error for a table keyed by keys, not by panka's
// attrKey (the same advice hint gives when DynamoDB refuses a key).
func (l *Locker) foreignTable(keys []string) error {
	return fmt.Errorf("the table is not keyed the way panka needs (it holds items keyed %s): its partition key must be %s (string); "+
		"create a lock table with `panka backend create --table NAME` and point locks.table at it", strings.Join(keys, ", "), attrKey)
}

func keysOf(item map[string]types.AttributeValue) []string {
	var ks []string
	for k := range item {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TableCreator is the part of the DynamoDB API CreateTable uses.
type TableCreator interface {
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, optFns ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, optFns ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
}

// CreateTable creates the lock table (hash key lockKey, on-demand billing)
// if it does not exist and waits until it is active.
func CreateTable(ctx context.Context, c TableCreator, table string) error {
	_, err := CreateTableOnce(ctx, c, table)
	return err
}

// CreateTableOnce is CreateTable, and reports whether this call created the
// table: false when it existed already (a table of that name made by
// someone else, possibly a moment before: another backend create running
// at the same time), whatever its key.
func CreateTableOnce(ctx context.Context, c TableCreator, table string) (created bool, err error) {
	_, err = c.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return false, fmt.Errorf("create DynamoDB lock table %s: %w", table, Explain(table, err))
	}
	created = err == nil
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, 2*time.Second) {
		out, err := c.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return created, fmt.Errorf("describe DynamoDB lock table %s: %w", table, Explain(table, err))
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return created, nil
		}
		select {
		case <-ctx.Done():
			return created, fmt.Errorf("wait for DynamoDB lock table %s: %w", table, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// changedHands is the HeldError of an acquire that lost every round to
// other contenders without ever seeing a stable holder: the lease was held
// each time, but by whom is unknown.
func changedHands(key string) error {
	return &locker.HeldError{Holder: locker.Info{Key: key, LockedBy: "another contender (the lock changed hands while it was read)"}}
}
