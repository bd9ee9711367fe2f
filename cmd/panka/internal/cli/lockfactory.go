package cli

import (
	"context"
	"fmt"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
	"panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/locker/local"
	"panka.dev/panka/locker/s3lock"
	"panka.dev/panka/statestore"
)

// Locker opens the lock backend of cfg by locks.type (SPEC §6, §8): local
// (lock files under the local backend directory, <repo>/.panka by default),
// s3 (lock objects next to the state in backend.bucket under backend.prefix)
// or dynamodb (locks.table in locks.region, at locks.endpoint if set).
// With -v it logs where the locks are and which key chose that.
func (f *Factory) Locker(ctx context.Context, cfg *config.Resolved) (_ locker.Locker, err error) {
	defer func() {
		if err == nil {
			f.Log.Debug().Str("locks", f.describeLocker(cfg)).Str("source", cfg.Sources["locks.type"].String()).Msg("lock backend")
		}
	}()
	if err := unsetEnvRef(cfg); err != nil {
		return nil, err
	}
	if src := cfg.Sources["locks.endpoint"]; cfg.Locks.Endpoint != "" && src.Layer != "default" && cfg.Locks.Type != "dynamodb" &&
		cfg.Sources["locks.type"].Layer == "default" {
		// A DynamoDB-compatible server was named, but not the table
		// (a CI variable for it that expanded to nothing): the locks went
		// to lock objects in the bucket without a word, while the jobs
		// and machines that name the table lock in DynamoDB, and the two
		// never exclude each other. (Not where locks.type was chosen.)
		f.unusedLocksEndpoint.Do(func() {
			f.Warnf("locks.endpoint is set (%s) but locks are not in DynamoDB: locks.type is %s (%s), so the endpoint is not used; set locks.table (PANKA_LOCKS_TABLE or --lock-table) to lock in DynamoDB, or remove locks.endpoint",
				src, cfg.Locks.Type, cfg.Sources["locks.type"])
		})
	}
	switch cfg.Locks.Type {
	case "", "local":
		dir, err := f.localDir(cfg)
		if err != nil {
			return nil, err
		}
		if err := checkLocalFolder(dir, "locks"); err != nil {
			return nil, err
		}
		return local.New(local.Options{Dir: dir, Now: f.Now, GitIgnore: true})
	case "s3":
		if cfg.Backend.Bucket == "" {
			return nil, fmt.Errorf("locks.type is s3 but backend.bucket is empty: the lock objects live next to the state; set backend.bucket (PANKA_BACKEND_BUCKET or --backend-bucket)")
		}
		prefix, err := statestore.NormalizePrefix(cfg.Backend.Prefix)
		if err != nil {
			return nil, fmt.Errorf("backend.prefix: %w", err)
		}
		f.noteSource(cfg, "backend.bucket", cfg.Backend.Bucket)
		c, err := f.S3Client(ctx, cfg)
		if err != nil {
			return nil, err
		}
		now, local := f.lockClocks()
		return s3lock.New(s3lock.Options{Client: c, Bucket: cfg.Backend.Bucket, Prefix: prefix, SSE: cfg.Backend.SSE, KMSKeyID: cfg.Backend.KMSKeyID, Now: now, Local: local})
	case "dynamodb":
		if cfg.Locks.Table == "" {
			return nil, fmt.Errorf("locks.type is dynamodb but locks.table is empty: set it in panka.yaml, PANKA_LOCKS_TABLE or --lock-table")
		}
		if err := dynamodb.CheckTableName(cfg.Locks.Table); err != nil {
			return nil, fmt.Errorf("locks.table %w; it comes from %s: fix it there", err, cfg.Sources["locks.table"])
		}
		f.noteSource(cfg, "locks.table", cfg.Locks.Table)
		c, err := f.DynamoDBClient(ctx, cfg)
		if err != nil {
			return nil, err
		}
		now, local := f.lockClocks()
		return dynamodb.New(dynamodb.Options{Client: c, Table: cfg.Locks.Table, Now: now, Local: local})
	}
	return nil, fmt.Errorf("locks.type %q is not local, s3 or dynamodb", cfg.Locks.Type)
}

// lockClocks returns the Now and Local options of a shared locker: lease
// times follow the lock server's clock over this host's (a host whose
// clock is off took over leases others held, or wrote expired ones), or a
// test's fake clock as it is.
func (f *Factory) lockClocks() (now, local func() time.Time) {
	if f.FakeClock {
		return f.Now, nil
	}
	return nil, f.Now
}

// describeLockOf names where cfg keeps the lock of one stack/environment,
// for messages about that lock: the S3 object or DynamoDB item itself, not
// describeLocker's pattern for all of them.
func (f *Factory) describeLockOf(cfg *config.Resolved, stack, env string) string {
	switch cfg.Locks.Type {
	case "s3":
		p, _ := statestore.NormalizePrefix(cfg.Backend.Prefix)
		return "s3://" + cfg.Backend.Bucket + "/" + p + "stacks/" + stack + "/" + env + "/lock.json"
	case "dynamodb":
		return "DynamoDB table " + cfg.Locks.Table + ", lockKey " + locker.Key(stack, env)
	}
	return f.describeLocker(cfg)
}

// describeLocker names where cfg keeps locks, for messages.
func (f *Factory) describeLocker(cfg *config.Resolved) string {
	switch cfg.Locks.Type {
	case "s3":
		p, _ := statestore.NormalizePrefix(cfg.Backend.Prefix)
		return "s3://" + cfg.Backend.Bucket + "/" + p + "stacks/*/*/lock.json"
	case "dynamodb":
		return "DynamoDB table " + cfg.Locks.Table
	}
	dir, err := f.localDir(cfg)
	if err != nil {
		return "local"
	}
	return dir + "/locks"
}
