package stacks

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// A newcomer's commonest YAML mistake is an indentation that lines up
// with nothing: yaml.v3 then says "did not find expected key", on the
// first line of the enclosing mapping rather than on the line that is
// wrong ("stack.yaml:2" for a bad line 9), or "mapping values are not
// allowed in this context" for a key indented under one that has a
// value. The helpers below find the line meant and say what to do; they
// read the lines only (no YAML parser can say more once it has failed),
// so where the file is not laid out as they expect they say nothing and
// the parser's message stands.

// indentLevel is an indentation open at some line: a mapping's keys or a
// list's items start at column indent (0-based).
type indentLevel struct {
	indent int
	line   int    // 1-based, the last line seen at this level
	key    string // that line's key ("" when it has none)
}

// blockScalarValue matches the value of a key (or list item) that starts
// a literal or folded block scalar: the lines below it are its text.
var blockScalarValue = regexp.MustCompile(`^[|>][-+0-9]{0,2}\s*(#.*)?$`)

// badDedent finds the first line at or after from (1-based) whose
// indentation, smaller than the line above it, lines up with no mapping
// or list still open: it returns that line, its indentation and the two
// levels it falls between (the deeper one just closed, the outer one
// still open; the outer one's indent is -1 when none is), or line 0.
func badDedent(data []byte, from int) (line, indent int, deeper, outer indentLevel) {
	var open []indentLevel
	// Inside a block scalar (block >= 0): its text is the lines indented
	// as far as its first one (text), which is indented more than the
	// line that starts it (block).
	block, text0 := -1, -1
	for n, raw := range bytes.Split(data, []byte("\n")) {
		n++
		l := strings.TrimRight(string(raw), "\r")
		text := strings.TrimLeft(l, " ")
		i := len(l) - len(text)
		if block >= 0 {
			if text == "" {
				continue
			}
			if text0 < 0 && i > block {
				text0 = i
			}
			if text0 >= 0 && i >= text0 {
				continue
			}
			block, text0 = -1, -1
		}
		if text == "" || text[0] == '#' {
			continue
		}
		if text[0] == '\t' {
			return 0, 0, indentLevel{}, indentLevel{} // said as a tab problem
		}
		if i == 0 && (strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...")) {
			open = open[:0] // a new document
			continue
		}
		var closed *indentLevel
		for len(open) > 0 && open[len(open)-1].indent > i {
			c := open[len(open)-1]
			closed = &c
			open = open[:len(open)-1]
		}
		if closed != nil && (len(open) == 0 || open[len(open)-1].indent < i) {
			if n >= from {
				outer = indentLevel{indent: -1}
				if len(open) > 0 {
					outer = open[len(open)-1]
				}
				return n, i, *closed, outer
			}
			// An earlier one the parser got past: go on from it as
			// from a level of its own.
		}
		if len(open) > 0 && open[len(open)-1].indent == i {
			open = open[:len(open)-1]
		}
		open = append(open, indentLevel{indent: i, line: n, key: lineKey(text)})
		// "- key: v": the item's mapping starts after the dash.
		rest, at := text, i
		for rest == "-" || strings.HasPrefix(rest, "- ") {
			after := strings.TrimLeft(rest[1:], " ")
			if after == "" {
				break
			}
			at += len(rest) - len(after)
			rest = after
			open = append(open, indentLevel{indent: at, line: n, key: lineKey(rest)})
		}
		v := rest // "- |"
		if lineKey(rest) != "" {
			v = lineValue(rest)
		}
		if blockScalarValue.MatchString(v) {
			block = i
		}
	}
	return 0, 0, indentLevel{}, indentLevel{}
}

// lineKey returns the key of a "key: value" (or "key:") line's text, or "".
func lineKey(text string) string {
	k, _, ok := strings.Cut(text, ":")
	if !ok || k == "" || strings.ContainsAny(k[:1], "-[{\"'&*!|>#") {
		return ""
	}
	if !strings.HasSuffix(text, ":") && !strings.HasPrefix(text[len(k):], ": ") {
		return ""
	}
	return strings.TrimSpace(k)
}

// lineValue returns the value after a "key: " (or a list item's text),
// without surrounding spaces.
func lineValue(text string) string {
	if k := lineKey(text); k != "" {
		return strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(text, k), ":"))
	}
	return ""
}

// spaces says n spaces.
func spaces(n int) string {
	if n == 0 {
		return "not indented"
	}
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

// levelName names an open level for a hint: its key and line.
func levelName(l indentLevel) string {
	if l.key != "" {
		return fmt.Sprintf("%s on line %d (%s)", l.key, l.line, spaces(l.indent))
	}
	return fmt.Sprintf("line %d (%s)", l.line, spaces(l.indent))
}

// dedentHint places yaml.v3's "did not find expected key" reported at
// line (the enclosing mapping's first line, or the wrong line itself) on
// the line whose indentation lines up with nothing, with what to do; ok
// is false when no such line is found.
func dedentHint(data []byte, line int) (l, col int, hint string, ok bool) {
	l, i, deeper, outer := badDedent(data, max(line, 1))
	if l == 0 {
		return 0, 0, "", false
	}
	if item := isItemText(dedentedText(data, l)); item && outer.indent >= 0 && (deeper.key == "") != (outer.key == "") {
		// A list item lined up with a key is that mapping's next key to
		// YAML (itemAtKeyHint's case): name only the list's level.
		if deeper.key != "" {
			deeper = outer
		}
		return l, i + 1, fmt.Sprintf("this list item is indented %s, which lines up with no list above it (YAML nests by indentation): indent its - as far as %s", spaces(i), levelName(deeper)), true
	}
	hint = fmt.Sprintf("this line is indented %s, which lines up with no key above it (YAML nests by indentation): indent it as far as %s", spaces(i), levelName(deeper))
	if outer.indent >= 0 {
		hint += " or " + levelName(outer)
	}
	return l, i + 1, hint, true
}

// isItemText reports whether a line's text (without its indentation) is
// a list item.
func isItemText(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// dedentedText is line n's (1-based) text without its indentation.
func dedentedText(data []byte, n int) string {
	lines := bytes.Split(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimLeft(strings.TrimRight(string(lines[n-1]), "\r"), " ")
}

// listItemHint explains yaml.v3's "mapping values are not allowed in this
// context", "did not find expected key" or "did not find expected '-'
// indicator" reported at line (1-based; the wrong line, or the item above
// it): a list item ("- ...") indented more than the item above it in the
// same list, whose "- " must start at the same column (one indented less
// is dedentHint's, when it lines up with nothing). It returns
// the wrong line, its column and the hint; ok is false when neither line
// is like that.
func listItemHint(data []byte, line int) (l, col int, hint string, ok bool) {
	lines := bytes.Split(data, []byte("\n"))
	at := func(n int) (int, string) { return lineAt(lines, n) }
	content := isContent
	// The reported line, and those after it up to the next list item (a
	// multi-line item above the wrong one is reported on its first line).
	cands := []int{line}
	for n := line + 1; n <= len(lines); n++ {
		if _, text := at(n); content(text) {
			cands = append(cands, n)
			if isItemText(text) {
				break
			}
		}
	}
	for _, n := range cands {
		if n < 2 || n > len(lines) {
			continue
		}
		i, text := at(n)
		if !isItemText(text) {
			continue
		}
		// The item above, in the same list: the nearest item line, with
		// only lines of its own item (indented more than it) in between.
		var between []int
		q, block := 0, false
		for p := n - 1; p >= 1; p-- {
			pi, ptext := at(p)
			if !content(ptext) {
				continue
			}
			v := strings.TrimLeft(strings.TrimPrefix(ptext, "-"), " ")
			if lineKey(v) != "" {
				v = lineValue(v)
			}
			block = block || blockScalarValue.MatchString(v)
			if isItemText(ptext) {
				q = p
				break
			}
			between = append(between, pi)
		}
		if q == 0 || block {
			continue // a "- " in a block scalar's text is text
		}
		qi, qtext := at(q)
		// Less indented than the item above, it may line up with an
		// outer list's items: dedentHint says what lines up with nothing.
		if qi >= i || slices.ContainsFunc(between, func(pi int) bool { return pi <= qi }) {
			continue
		}
		// The line just above opens a block ("key:", "- key:", "-"): a
		// list nested under it is fine where it is.
		atext := qtext
		for p := n - 1; p > q; p-- {
			if _, t := at(p); content(t) {
				atext = t
				break
			}
		}
		if item := strings.TrimLeft(strings.TrimPrefix(atext, "-"), " "); item == "" || strings.HasSuffix(item, ":") {
			continue
		}
		comment := false
		for p := q + 1; p < n; p++ {
			_, t := at(p)
			comment = comment || strings.HasPrefix(t, "#")
		}
		if lineKey(strings.TrimLeft(strings.TrimPrefix(qtext, "-"), " ")) == "" && !comment {
			continue // "- a" then "  - b" is the text "a - b", no error (a comment ends the text)
		}
		return n, i + 1, fmt.Sprintf("this list item is indented %s, more than the one above it on line %d (%s), but the items of one list line up (YAML nests by indentation): indent its - %s, as on line %d",
			spaces(i), q, spaces(qi), spaces(qi), q), true
	}
	return 0, 0, "", false
}

// itemAtKeyHint explains yaml.v3's "did not find expected key" reported
// at line (1-based; the enclosing mapping's first line): a list item
// indented less than the one above it, lining up with the key the list
// belongs to (or another key of that mapping), where YAML wants the
// mapping's next key. It returns the first such line at or after line,
// its column and the hint; ok is false when there is none.
//
//	dependsOn:
//	  - db
//	- cache      <- lines up with dependsOn: a key is expected there
func itemAtKeyHint(data []byte, line int) (l, col int, hint string, ok bool) {
	lines := bytes.Split(data, []byte("\n"))
	at := func(n int) (int, string) { return lineAt(lines, n) }
	content := isContent
	for n := max(line, 2); n <= len(lines); n++ {
		i, text := at(n)
		if !isItemText(text) {
			continue
		}
		// Up to the first line indented no more than the item: it must be
		// a key at the item's column (after a "- " of its own, for a
		// mapping in a list), with a deeper list item, the first content
		// line under it, in between.
		first, k := 0, 0
		block := false
		for p := n - 1; p >= 1; p-- {
			pi, ptext := at(p)
			if !content(ptext) {
				continue
			}
			if pi <= i {
				k = p
				break
			}
			first = p
			v := strings.TrimLeft(strings.TrimPrefix(ptext, "-"), " ")
			if lineKey(v) != "" {
				v = lineValue(v)
			}
			block = block || blockScalarValue.MatchString(v)
		}
		if k == 0 || first == 0 || block {
			continue
		}
		ki, ktext := at(k)
		for isItemText(ktext) {
			after := strings.TrimLeft(ktext[1:], " ")
			ki += len(ktext) - len(after)
			ktext = after
		}
		key := lineKey(ktext)
		fi, ftext := at(first)
		if ki != i || key == "" || !isItemText(ftext) || fi <= i {
			continue
		}
		// The key on line k opens the list (key: and nothing after it) or
		// is a sibling of the key that does; either way an item needs the
		// list's indentation.
		return n, i + 1, fmt.Sprintf("this list item is indented %s, less than the items of the list above it (%s, line %d), and lines up with %s on line %d, where YAML wants the next key of that mapping (YAML nests by indentation): indent its - %s, as on line %d",
			spaces(i), spaces(fi), first, key, k, spaces(fi), first), true
	}
	return 0, 0, "", false
}

// overIndentHint explains yaml.v3's "mapping values are not allowed in
// this context" on line (1-based): a key indented under the key above it,
// which has a value already. ok is false when the line is not like that.
func overIndentHint(data []byte, line int) (col int, hint string, ok bool) {
	lines := bytes.Split(data, []byte("\n"))
	if line < 2 || line > len(lines) {
		return 0, "", false
	}
	l := strings.TrimRight(string(lines[line-1]), "\r")
	text := strings.TrimLeft(l, " ")
	i := len(l) - len(text)
	if lineKey(text) == "" {
		return 0, "", false
	}
	for p := line - 1; p >= 1; p-- {
		pl := strings.TrimRight(string(lines[p-1]), "\r")
		ptext := strings.TrimLeft(pl, " ")
		if ptext == "" || ptext[0] == '#' {
			continue
		}
		pi := len(pl) - len(ptext)
		key, value := lineKey(ptext), lineValue(ptext)
		if strings.HasPrefix(ptext, "- ") {
			item := strings.TrimLeft(ptext[2:], " ")
			pi += len(ptext) - len(item)
			key, value = lineKey(item), lineValue(item)
		}
		if pi >= i || key == "" || value == "" || blockScalarValue.MatchString(value) || strings.ContainsAny(value[:1], "&!#") {
			return 0, "", false
		}
		return i + 1, fmt.Sprintf("this line is indented more than %s on line %d, which already has a value (YAML nests by indentation): indent it as far as %s (%s)", key, p, key, spaces(pi)), true
	}
	return 0, "", false
}

// unclosedQuoteHint explains yaml.v3's "found unexpected end of stream"
// on line (1-based): a value that opens a quote the line does not close
// (YAML reads on, to the end of the file). ok is false when the line is
// not like that.
func unclosedQuoteHint(data []byte, line int) (col int, hint string, ok bool) {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return 0, "", false
	}
	l := strings.TrimRight(string(lines[line-1]), "\r")
	text := strings.TrimLeft(l, " ")
	for strings.HasPrefix(text, "- ") {
		text = strings.TrimLeft(text[2:], " ")
	}
	v, what := text, "this list item"
	if k := lineKey(text); k != "" {
		v, what = lineValue(text), "the value of "+k
	}
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return 0, "", false
	}
	q := v[0]
	for j := 1; j < len(v); j++ {
		switch {
		case q == '"' && v[j] == '\\':
			j++
		case v[j] == q && q == '\'' && j+1 < len(v) && v[j+1] == '\'':
			j++ // '' is a quote inside '...'
		case v[j] == q:
			return 0, "", false
		}
	}
	at := len(l) - len(v)
	return at + 1, fmt.Sprintf("the quote (%c) that starts %s is never closed, so YAML reads on to the end of the file: end the value with %c", q, what, q), true
}

// lineAt is line n (1-based) of lines: its indentation and its text after
// it, without the CR of a CRLF line end.
func lineAt(lines [][]byte, n int) (indent int, text string) {
	t := strings.TrimRight(string(lines[n-1]), "\r")
	text = strings.TrimLeft(t, " ")
	return len(t) - len(text), text
}

// isContent reports whether a line's text (after its indentation) holds
// YAML: neither nothing nor a comment.
func isContent(text string) bool { return text != "" && text[0] != '#' }
