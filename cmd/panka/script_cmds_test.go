package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"panka.dev/panka/statestore/testserver"
)

// s3Put is the script command `s3put BUCKET KEY FILE`: it writes FILE as
// the object KEY of the test server's BUCKET, past panka, so a script can
// damage what panka stored there (a truncated history record) as a hand
// edit or a broken sync would. A KEY with '*' names the one object it
// matches (path.Match; the part before the first '*' is listed).
func s3Put(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! s3put")
	}
	if len(args) != 3 {
		ts.Fatalf("usage: s3put BUCKET KEY FILE")
	}
	bucket, key, file := args[0], args[1], args[2]
	srv := testserver.S3Server{Endpoint: ts.Getenv(testserver.EnvS3Endpoint), AccessKey: ts.Getenv(testserver.EnvS3AccessKey),
		SecretKey: ts.Getenv(testserver.EnvS3SecretKey), Region: "us-east-1"}
	if srv.Endpoint == "" {
		ts.Fatalf("s3put: %s is not set (run under tools/testservers.sh)", testserver.EnvS3Endpoint)
	}
	c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.UsePathStyle = true
	})
	ctx := context.Background()
	if pattern, _, glob := strings.Cut(key, "*"); glob {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(pattern)})
		ts.Check(err)
		var found []string
		for _, o := range out.Contents {
			if ok, _ := path.Match(key, aws.ToString(o.Key)); ok {
				found = append(found, aws.ToString(o.Key))
			}
		}
		if len(found) != 1 {
			ts.Fatalf("s3put: %s matches %d objects of %s (%v), want one", key, len(found), bucket, found)
		}
		key = found[0]
	}
	data := []byte(ts.ReadFile(file))
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	ts.Check(err)
}

// validJSON is the script command `validjson FILE`: FILE (stdout, for
// what the last command printed) holds one valid JSON document.
func validJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: validjson FILE")
	}
	var v any
	err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v)
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s is not valid JSON: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("%s is valid JSON", args[0])
	}
}

// jsonKeysRow is a row of docs/json.md's table of top-level shapes:
// where in a command's JSON (".", "[]", "stacks[]", "[].commits[]") an
// object is, the keys it always has and those it may leave out.
var jsonKeysRow = regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]+)` \\| ((?:`[A-Za-z]+\\??`(?:, )?)+) \\|$")

// jsonKeys is the script command `jsonkeys FILE DOC COMMAND`: the JSON in
// FILE (stdout) has the keys DOC (docs/json.md) lists for COMMAND at each
// place the table names: every key not marked "?" present, and no key
// the table does not list (a renamed or undocumented one).
func jsonKeys(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! jsonkeys")
	}
	if len(args) != 3 {
		ts.Fatalf("usage: jsonkeys FILE DOC COMMAND")
	}
	var doc any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &doc); err != nil {
		ts.Fatalf("%s is not valid JSON: %v", args[0], err)
	}
	rows := 0
	for _, line := range strings.Split(ts.ReadFile(args[1]), "\n") {
		m := jsonKeysRow.FindStringSubmatch(line)
		if m == nil || m[1] != args[2] {
			continue
		}
		rows++
		want := map[string]bool{} // key -> always there
		for _, k := range strings.Split(m[3], ", ") {
			k = strings.Trim(k, "`")
			name, optional := strings.CutSuffix(k, "?")
			want[name] = !optional
		}
		objs := []any{doc}
		if m[2] != "." {
			for _, seg := range strings.Split(m[2], ".") {
				name, list := strings.CutSuffix(seg, "[]")
				var next []any
				for _, o := range objs {
					if name != "" {
						obj, ok := o.(map[string]any)
						if !ok {
							ts.Fatalf("%s %s: %s is not an object", args[2], m[2], name)
						}
						o = obj[name]
					}
					if !list {
						if o != nil {
							next = append(next, o)
						}
						continue
					}
					items, ok := o.([]any)
					if !ok && o != nil {
						ts.Fatalf("%s %s: %q is not a list", args[2], m[2], seg)
					}
					next = append(next, items...)
				}
				objs = next
			}
		}
		for _, o := range objs {
			obj, ok := o.(map[string]any)
			if !ok {
				ts.Fatalf("%s %s: not an object: %v", args[2], m[2], o)
			}
			for k, always := range want {
				if _, ok := obj[k]; always && !ok {
					ts.Fatalf("%s %s: key %q missing (%s lists it)", args[2], m[2], k, args[1])
				}
			}
			for k := range obj {
				if _, ok := want[k]; !ok {
					ts.Fatalf("%s %s: key %q is not in %s: document it there", args[2], m[2], k, args[1])
				}
			}
		}
	}
	if rows == 0 {
		ts.Fatalf("%s has no row of keys for %q", args[1], args[2])
	}
}
