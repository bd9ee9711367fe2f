package s3

import (
	"strings"
	"testing"
)

func TestCheckBucketName(t *testing.T) {
	for name, want := range map[string]string{
		"acme-panka-state":      "",
		"a.b-c.123":             "",
		"Bad_Bucket":            `uppercase 'B' at position 1`,
		"bad_bucket":            `'_' at position 4`,
		"ab":                    "it has 2 characters",
		strings.Repeat("a", 64): "it has 64 characters",
		"-abc":                  "start and end",
		"abc.":                  "start and end",
		"a..b":                  "two dots",
		"192.168.1.1":           "IP address",
	} {
		err := CheckBucketName(name)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckBucketName(%q) = %v, want %q", name, err, want)
		}
	}
}
