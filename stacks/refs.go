package stacks

import (
	"regexp"
	"strings"
)

// In a resolved model, as in the YAML, literal text "${" is written "$${":
// a string's ${component.output} references are then exactly its "${a.b}"
// not preceded by "$", and what the string means once they are replaced
// is Unescape of the text around them. Variable values are escaped when
// they are substituted, so a value holding "${a.b}" stays text.

// RefSpan is one ${component.output} reference at s[Start:End].
type RefSpan struct {
	Component, Output string
	Start, End        int
}

var refPattern = regexp.MustCompile(`\$\{([A-Za-z0-9][A-Za-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_]*)\}`)

// FindRefs returns the references of a resolved model's string, in order
// (an escaped "$${a.b}" is text, not a reference).
func FindRefs(s string) []RefSpan {
	if !strings.Contains(s, "${") {
		return nil
	}
	var out []RefSpan
	for _, m := range refPattern.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > 0 && s[m[0]-1] == '$' {
			continue
		}
		out = append(out, RefSpan{Component: s[m[2]:m[3]], Output: s[m[4]:m[5]], Start: m[0], End: m[1]})
	}
	return out
}

// Unescape returns the text a resolved model's string (or the part of it
// between references) stands for: "$${" becomes "${".
func Unescape(s string) string {
	if !strings.Contains(s, "$${") {
		return s
	}
	return strings.ReplaceAll(s, "$${", "${")
}

// escape writes a variable's value into a resolved string as text.
func escape(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return strings.ReplaceAll(s, "${", "$${")
}
