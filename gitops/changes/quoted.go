package changes

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// QuotedPath is p in Go's quoted form, quotes included
// ("stacks/ord\xe9ers", which strconv.Unquote reads back and panka's text
// output prints) when p is not valid UTF-8, and "" when it is.
// encoding/json writes each byte of such a path that is not UTF-8 as
// U+FFFD, so that two such names look the same: -o json adds this form
// beside the path (a field added, none renamed).
func QuotedPath(p string) string {
	if utf8.ValidString(p) {
		return ""
	}
	return strconv.Quote(p)
}

// MarshalJSON adds stackQuoted, pathQuoted and oldPathQuoted where the
// name or a path is not UTF-8 (QuotedPath).
func (s Stack) MarshalJSON() ([]byte, error) {
	type plain Stack
	return json.Marshal(struct {
		plain
		StackQuoted   string `json:"stackQuoted,omitempty"`
		PathQuoted    string `json:"pathQuoted,omitempty"`
		OldPathQuoted string `json:"oldPathQuoted,omitempty"`
	}{plain(s), QuotedPath(s.Stack), QuotedPath(s.Path), QuotedPath(s.OldPath)})
}

// MarshalJSON adds fileQuoted where the file's path is not UTF-8
// (QuotedPath).
func (r Reason) MarshalJSON() ([]byte, error) {
	type plain Reason
	return json.Marshal(struct {
		plain
		FileQuoted string `json:"fileQuoted,omitempty"`
	}{plain(r), QuotedPath(r.File)})
}
