package s3

import (
	"fmt"
	"net"
	"strings"
)

// CheckBucketName reports a name S3 refuses for a bucket (3–63 lowercase
// letters, digits, dots and hyphens, starting and ending with a letter or a
// digit, no "..", not an IP address). S3 answers a request for such a name
// with a bare 400 that reads like a region mismatch; this says what is
// wrong before any request.
func CheckBucketName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q is not a valid S3 bucket name: %s (bucket names are 3 to 63 lowercase letters, digits, dots and hyphens)", name, why)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad(fmt.Sprintf("it has %d characters", len(name)))
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
		case r >= 'A' && r <= 'Z':
			return bad(fmt.Sprintf("uppercase %q at position %d", r, i+1))
		default:
			return bad(fmt.Sprintf("%q at position %d", r, i+1))
		}
	}
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return bad("it must start and end with a letter or a digit")
	}
	if strings.Contains(name, "..") {
		return bad("it has two dots in a row")
	}
	if net.ParseIP(name) != nil {
		return bad("it is formatted as an IP address")
	}
	return nil
}
