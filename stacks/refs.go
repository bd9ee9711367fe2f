package stacks

import (
	"regexp"
	"strings"
)

// In a resolved model, as in the YAML, literal text "${" is written "$${"
// and a literal "$" right before a reference is written "${$}" (else
// "$${a.b}" would read as the escape): a string's ${component.output}
// references are then exactly its "${a.b}" not preceded by "$", and what
// the string means once they are replaced is Unescape of the text around
// them. Variable values are escaped when they are substituted, so a value
// holding "${a.b}" stays text.

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
// between references) stands for: "$${" becomes "${" and "${$}" "$".
func Unescape(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return unescaper.Replace(s)
}

// unescaper reads the escapes left to right: "$${$}" is the text "${$}".
var unescaper = strings.NewReplacer("$${", "${", "${$}", "$")

// escape writes a variable's value into a resolved string as text.
func escape(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return strings.ReplaceAll(s, "${", "$${")
}

// dollar is the escape of a literal "$" right before a reference.
const dollar = "${$}"

// fixJoins keeps the meaning of a resolved string s built by
// concatenation where a substituted text ending in "$" (a variable's
// value, a default, ${$}) ends at each of the offsets at (ascending)
// and what follows would read differently once joined:
//   - a reference or ${var.NAME}: "$${" would read as the escape, so each
//     "$" of the run before it is written ${$};
//   - "{" (text): "${" would read as a reference, as ${$}, or (after
//     "$$") as the escape, so the "{" is escaped as "$${" is.
//
// Strings without such a join are left as they are, byte for byte.
func fixJoins(s string, at []int) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	last := 0
	for _, j := range at {
		b.WriteString(s[last:j])
		last = j
		switch {
		case strings.HasPrefix(s[j:], "${"):
			cur := b.String()
			head := strings.TrimRight(cur, "$")
			b.Reset()
			b.WriteString(head)
			b.WriteString(strings.Repeat(dollar, len(cur)-len(head)))
		case strings.HasPrefix(s[j:], "{"):
			cur := b.String()
			run := len(cur) - len(strings.TrimRight(cur, "$"))
			m := refPattern.FindStringIndex(s[j-1:])
			if run > 1 || m != nil && m[0] == 0 || strings.HasPrefix(s[j-1:], dollar) {
				b.WriteByte('$')
			}
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// Interpolate returns what the resolved model's string s means once its
// references are replaced by their values: value gives the value of one
// reference, and false when it is not known (then Interpolate returns
// false too). A string without references is Unescape(s).
func Interpolate(s string, value func(RefSpan) (string, bool)) (string, bool) {
	var b strings.Builder
	last := 0
	for _, r := range FindRefs(s) {
		v, ok := value(r)
		if !ok {
			return "", false
		}
		b.WriteString(Unescape(s[last:r.Start]))
		b.WriteString(v)
		last = r.End
	}
	b.WriteString(Unescape(s[last:]))
	return b.String(), true
}
