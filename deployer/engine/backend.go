package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// Project is the Pulumi project of every panka stack.
const Project = "panka"

// CheckpointPath is where a DIY backend keeps the checkpoint of the Pulumi
// stack named stackName, relative to the backend's root.
func CheckpointPath(stackName string) string {
	return ".pulumi/stacks/" + Project + "/" + stackName + ".json"
}

// HistoryPath is the folder where a DIY backend keeps the update history
// of the Pulumi stack named stackName, relative to the backend's root: a
// file per update (up, destroy, refresh), none for a stack that was only
// set up (created, its secrets provider configured) by runs that stopped
// before the engine ran.
func HistoryPath(stackName string) string {
	return ".pulumi/history/" + Project + "/" + stackName + "/"
}

// StackName is the Pulumi stack of a panka stack/environment. Each one has
// its own backend folder, so the name only has to be readable and valid
// (Pulumi allows [A-Za-z0-9_.-], at most 100 characters). Stack and
// environment names may each be 63 characters long: a longer pair is
// shortened, keeping a hash of the whole so that the name stays
// unique. Names of 100 characters or fewer are as they always were.
func StackName(stack, env string) string {
	name := sanitize(stack) + "-" + sanitize(env)
	if len(name) <= maxStackName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:6])
	return name[:maxStackName-len(h)-1] + "-" + h
}

// maxStackName is Pulumi's limit: a longer name fails the engine's start
// with "a stack name cannot exceed 100 characters".
const maxStackName = 100

var invalidStackChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func sanitize(s string) string { return invalidStackChars.ReplaceAllString(s, "_") }

// FileBackendURL is the DIY backend URL for state kept in a local folder.
// The path is escaped: Pulumi parses the URL, so a folder with '#', '?',
// '%' or a space in its name (a checkout under ~/src/C#/) was cut at the
// '#' ("stat /home/me/src/C: no such file or directory") or refused.
func FileBackendURL(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// S3Backend describes a DIY backend in an S3 bucket.
type S3Backend struct {
	Bucket string
	// Prefix is the key prefix (no leading or trailing slash needed), e.g.
	// "panka/orders/dev/pulumi".
	Prefix string
	Region string
	// Endpoint is the URL of an S3-compatible server (http://127.0.0.1:7070);
	// empty for AWS.
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket (needed by most
	// S3-compatible servers).
	PathStyle bool
}

// URL is the s3:// backend URL in the form Pulumi v3.274.1's DIY backend
// (gocloud.dev s3blob on the AWS SDK v2) accepts: region, endpoint (with a
// scheme) and use_path_style query parameters. Pulumi itself adds
// request_checksum_calculation=when_required when an endpoint is set.
// Credentials come from the usual AWS chain in the CLI's environment.
func (b S3Backend) URL() string {
	u := url.URL{Scheme: "s3", Host: b.Bucket, Path: "/" + strings.Trim(b.Prefix, "/")}
	if u.Path == "/" {
		u.Path = ""
	}
	q := url.Values{}
	if b.Region != "" {
		q.Set("region", b.Region)
	}
	if b.Endpoint != "" {
		q.Set("endpoint", b.Endpoint)
	}
	if b.PathStyle {
		q.Set("use_path_style", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}
