package dynamodb

import "fmt"

// CheckTableName reports a name DynamoDB refuses for a table (3–255
// letters, digits, '_', '-' and '.'). DynamoDB answers a request for such
// a name with a ValidationException in its own words; this says what is
// wrong before any request.
func CheckTableName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q is not a valid DynamoDB table name: %s (table names are 3 to 255 letters, digits, '_', '-' and '.')", name, why)
	}
	if len(name) < 3 || len(name) > 255 {
		return bad(fmt.Sprintf("it has %d characters", len(name)))
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return bad(fmt.Sprintf("%q at position %d", r, i+1))
		}
	}
	return nil
}
