package stacks

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"strings"

	"gopkg.in/yaml.v3"
)

// FormatError is a file Format cannot rewrite, with its position when known
// (Line and Column 0 otherwise).
type FormatError struct {
	Line, Column int
	Msg          string
}

func (e *FormatError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Format returns src in panka's canonical YAML layout, keeping comments:
// two-space indentation, lists indented under their key, top-level keys in
// the order apiVersion, kind, metadata, spec, metadata keys in the order
// name, description, labels, documents separated by "---". Formatting is
// idempotent: Format(Format(x)) == Format(x). A file the loader refuses
// for its YAML (invalid YAML, a duplicate key, a tag, a template's {{ }},
// ...) is a *FormatError with the loader's position and message, and is
// not rewritten: written back, a duplicate key could lose one of its
// values and so hide the mistake.
func Format(src []byte) (out []byte, err error) {
	// A file checked out with CRLF line ends (core.autocrlf on Windows)
	// keeps them: only its layout is canonical, not its line ends.
	if crlf := bytes.Count(src, []byte("\r\n")); crlf > 0 && crlf == bytes.Count(src, []byte("\n")) {
		out, err := Format(bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n")))
		if err != nil {
			return nil, err
		}
		return bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n")), nil
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("invalid YAML: the parser failed (%v)", p)
		}
	}()
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("file is more than the %d MB limit for stack files", MaxFileSize>>20)
	}
	if _, fe := checkText("", src); fe != nil {
		return nil, &FormatError{Line: fe.Line, Column: fe.Column, Msg: fe.Msg}
	}
	var errs errList
	var roots []*node
	fast, _ := parseRoots("", src, &errs, func(n *node) { roots = append(roots, n) })
	if len(errs.list) > 0 {
		e := errs.list[0]
		msg := e.Msg
		if e.Key != "" {
			msg = EscapeControl(e.Key) + ": " + msg
		}
		return nil, &FormatError{Line: e.Line, Column: e.Column, Msg: msg}
	}
	if fast && formatted(src, roots) {
		return src, nil
	}
	out, err = formatYAML(src)
	// yaml.v3 reads some comments of its own output otherwise than of
	// the input: "a: ---\n# c" is written "a: '---'\n# c", where the
	// comment below a quoted value is the document's, written after a
	// blank line. Rewritten until it no longer changes (a round or
	// two), the output is what a second fmt leaves as it is.
	for i := 0; i < 2 && err == nil; i++ {
		again, err2 := formatYAML(out)
		if err2 != nil || bytes.Equal(again, out) {
			break
		}
		out = again
	}
	return out, err
}

// formatYAML is Format through yaml.v3's decoder and encoder, for a file
// without YAML problems.
func formatYAML(src []byte) ([]byte, error) {
	text := joinCommentOnlyDocuments(src)
	docs, err := decodeDocuments(text)
	if err != nil {
		line, col, msg := yamlErrPos(err, src)
		return nil, &FormatError{Line: line, Column: col, Msg: "invalid YAML: " + msg}
	}
	// Comments yaml.v3 places differently in its own output: kept
	// only where the values read the same (lines move: errors were
	// placed with text).
	for _, fix := range []func([]byte) ([]byte, bool){finalNewline, commentsBeforeMarkers} {
		if fixed, ok := fix(text); ok {
			if d, err := decodeDocuments(fixed); err == nil && sameValues(docs, d) {
				text, docs = fixed, d
			}
		}
	}
	if fixed, ok := keepFootComments(text); ok {
		if d, err := decodeDocuments(fixed); err == nil {
			docs = d
			for _, d := range docs {
				separatedHeadComment(d)
			}
		}
	}
	if len(docs) == 0 {
		return src, nil
	}
	docs, comments := dropEmptyDocuments(docs)
	if len(docs) == 0 {
		if comments == "" {
			return nil, nil
		}
		return []byte(comments + "\n"), nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	anchors := map[string]*yaml.Node{} // of the documents so far, by name
	for _, d := range docs {
		plainMergeKeys(d)
		keepBlockScalars(d)
		emptyKeyAliases(d, emptyNullKeys(d, nil))
		flowNulls(d, false)
		if len(d.Content) == 1 && d.Content[0].Kind == yaml.MappingNode {
			reorderDocument(d, anchors)
		}
		aliasesAfterAnchors(d, anchors) // records d's anchors
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeDocuments decodes every document of src.
func decodeDocuments(src []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// reorderDocument puts the keys of a document's top-level mapping, and of
// its metadata, in the canonical order — unless that would move an alias
// (*name) before its anchor (&name), where the result would not parse, or
// after another anchor of the same name (YAML lets a name be reused: an
// alias means the last one before it), where it would read another value:
// such a document keeps its order. anchors are those of the earlier
// documents.
func reorderDocument(d *yaml.Node, anchors map[string]*yaml.Node) {
	top := d.Content[0]
	mappings := []*yaml.Node{top}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "metadata" && top.Content[i+1].Kind == yaml.MappingNode {
			mappings = append(mappings, top.Content[i+1])
		}
	}
	type saved struct {
		m           *yaml.Node
		content     []*yaml.Node
		heads, feet []string
	}
	var undo []saved
	for _, m := range mappings {
		sv := saved{m: m, content: append([]*yaml.Node(nil), m.Content...)}
		for _, k := range m.Content {
			sv.heads = append(sv.heads, k.HeadComment)
			sv.feet = append(sv.feet, k.FootComment)
		}
		undo = append(undo, sv)
	}
	reorder(top, "apiVersion", "kind", "metadata", "spec")
	for _, m := range mappings[1:] {
		reorder(m, "name", "description", "labels")
	}
	if aliasesAfterAnchors(d, maps.Clone(anchors)) {
		return
	}
	for _, sv := range undo {
		sv.m.Content = sv.content
		for i, k := range sv.content {
			k.HeadComment, k.FootComment = sv.heads[i], sv.feet[i]
		}
	}
}

// aliasesAfterAnchors reports whether every alias in n, in document order,
// names the anchor it stands for: that anchor is the last one of its name
// before it. latest holds the last anchor of each name met so far, and
// gets the anchors of n.
func aliasesAfterAnchors(n *yaml.Node, latest map[string]*yaml.Node) bool {
	ok := n.Kind != yaml.AliasNode || n.Alias == nil || latest[n.Value] == n.Alias
	if n.Anchor != "" {
		latest[n.Anchor] = n
	}
	for _, c := range n.Content {
		if !aliasesAfterAnchors(c, latest) {
			ok = false
		}
	}
	return ok
}

// reorder moves the given keys of a mapping to the front, in that order;
// other keys keep their relative order after them.
func reorder(m *yaml.Node, keys ...string) {
	if len(m.Content) < 2 {
		return
	}
	// The comment above the first key belongs to the document, not the
	// key; the one below the last key (yaml.v3 gives it to that key) ends
	// the mapping.
	head := m.Content[0].HeadComment
	m.Content[0].HeadComment = ""
	last := m.Content[len(m.Content)-2]
	foot := last.FootComment
	last.FootComment = ""
	defer func() {
		if head != "" {
			if m.Content[0].HeadComment != "" {
				head += "\n" + m.Content[0].HeadComment
			}
			m.Content[0].HeadComment = head
		}
		if foot != "" {
			last := m.Content[len(m.Content)-2]
			if last.FootComment != "" {
				foot = last.FootComment + "\n" + foot
			}
			last.FootComment = foot
		}
	}()
	var front, rest []*yaml.Node
	for _, k := range keys {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == k {
				front = append(front, m.Content[i], m.Content[i+1])
			}
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !contains(keys, m.Content[i].Value) {
			rest = append(rest, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = append(front, rest...)
}

// dropEmptyDocuments removes the documents that hold nothing (a stray
// "---", or only comments: yaml.v3 would write each as an empty line, and
// formatting would not be idempotent). Their comments go to the head of the
// next document, or the foot of the last one; comments is what is left when
// no document holds anything.
// joinCommentOnlyDocuments blanks the --- between two documents that hold
// only comments, so the comments of the first join the second: yaml.v3
// loses them otherwise ("kind: Q\n---\n# a\n---\n# b\n" decodes without
// "# a"). Such documents are empty and Format drops them anyway; the line
// stays (blank, or the marker's own comment) so error lines do not move.
// A file with directives (%YAML) is left as it is.
func joinCommentOnlyDocuments(src []byte) []byte {
	if !bytes.Contains(src, []byte("---")) || bytes.HasPrefix(src, []byte("%")) || bytes.Contains(src, []byte("\n%")) {
		return src
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	// markers are the lines of bare --- markers (a comment after them
	// allowed); empty[k] is true when the k-th document (before
	// markers[k], or after the last one) has no content, commented[k]
	// when it has comments.
	var markers []int
	empty, commented := []bool{true}, []bool{false}
	for i, l := range lines {
		t := bytes.TrimRight(l, " \t\r\n")
		if isDocMarker(t) {
			markers = append(markers, i)
			empty, commented = append(empty, true), append(commented, false)
			continue
		}
		if s := bytes.TrimLeft(t, " \t"); len(s) > 0 && s[0] != '#' {
			empty[len(empty)-1] = false
		} else if len(s) > 0 {
			commented[len(commented)-1] = true
		}
	}
	changed := false
	for k, i := range markers {
		if !empty[k] || !commented[k] || !empty[k+1] {
			continue
		}
		t := bytes.TrimRight(lines[i], " \t\r\n")
		nl := lines[i][len(t):]
		if c := bytes.IndexByte(t, '#'); c >= 0 {
			lines[i] = append(append([]byte{}, t[c:]...), nl...)
		} else {
			lines[i] = nl
		}
		changed = true
	}
	if !changed {
		return src
	}
	return bytes.Join(lines, nil)
}

// isDocMarker reports a line (right-trimmed) that is a bare --- marker,
// a comment after it allowed.
func isDocMarker(t []byte) bool {
	return bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- #")) || bytes.HasPrefix(t, []byte("---\t#"))
}

// keepFootComments works around yaml.v3 giving the comments right below
// a --- to the document before, in place of that document's own foot
// comments, when a blank line or the end of the file follows them:
// "a: 1\n# a\n---\n# b\n\nc: 1\n" and "a: 1\n# a\n---\n# b\n" decode
// without "# a" (a section comment, or a component commented out). It
// does not when a blank line parts them from the ---, so one is put there
// (lines move: parse src itself for the positions of errors). It reports
// whether it changed anything.
func keepFootComments(src []byte) ([]byte, bool) {
	if !bytes.Contains(src, []byte("---")) {
		return src, false
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	var out [][]byte
	for m, l := range lines {
		out = append(out, l)
		if !isDocMarker(bytes.TrimRight(l, " \t\r\n")) || !bytes.HasSuffix(l, []byte("\n")) {
			continue
		}
		j := m + 1
		for j < len(lines) {
			if s := bytes.TrimSpace(lines[j]); len(s) == 0 || s[0] != '#' {
				break
			}
			j++
		}
		if j > m+1 && (j == len(lines) || len(bytes.TrimSpace(lines[j])) == 0) {
			out = append(out, []byte("\n"))
		}
	}
	if len(out) == len(lines) {
		return src, false
	}
	return bytes.Join(out, nil), true
}

// finalNewline ends src with a line break, as Format's output ends: a
// last line that is a comment without one (" a: 1 # x\n# y") went to
// another node than it does with one, and a second fmt moved it.
func finalNewline(src []byte) ([]byte, bool) {
	if len(src) == 0 || src[len(src)-1] == '\n' {
		return src, false
	}
	return append(src[:len(src):len(src)], '\n'), true
}

// commentsBeforeMarkers removes the blank lines between a comment right
// below a document's last value and the --- after it: yaml.v3 gives
// such a comment to the key or item above ("a: 1\n# c\n\n---") and
// writes it with no blank line around it, where it reads it back as the
// document's own foot comment, which it writes after a blank line: a
// second fmt changed the file again, and fmt --check failed right after
// fmt. Without the blank lines it is the document's foot comment the
// first time too. It reports whether it changed anything (the caller
// keeps the result only when it decodes to the same values, which a
// block scalar kept with |+ would not).
func commentsBeforeMarkers(src []byte) ([]byte, bool) {
	if !bytes.Contains(src, []byte("---")) {
		return src, false
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	blank := func(l []byte) bool { return len(bytes.TrimSpace(l)) == 0 }
	comment := func(l []byte) bool { return bytes.HasPrefix(bytes.TrimLeft(l, " \t"), []byte("#")) }
	drop := map[int]bool{}
	for m, l := range lines {
		if !isDocMarker(bytes.TrimRight(l, " \t\r\n")) {
			continue
		}
		b := m
		for b > 0 && blank(lines[b-1]) {
			b--
		}
		c := b
		for c > 0 && comment(lines[c-1]) {
			c--
		}
		if b == m || c == b || c == 0 || blank(lines[c-1]) || isDocMarker(bytes.TrimRight(lines[c-1], " \t\r\n")) {
			continue
		}
		for i := b; i < m; i++ {
			drop[i] = true
		}
	}
	if len(drop) == 0 {
		return src, false
	}
	out := make([]byte, 0, len(src))
	for i, l := range lines {
		if !drop[i] {
			out = append(out, l...)
		}
	}
	return out, true
}

// sameValues reports whether two decodings of a file hold the same
// values, comments and layout aside.
func sameValues(a, b []*yaml.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameValue(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameValue(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || a.Value != b.Value || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !sameValue(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// separatedHeadComment gives document d the comment above its first key
// when a blank line parts them (yaml.v3 reads it so after a ---, the
// first document's as the document's own): it is written back with the
// blank line, as the document's head comment.
func separatedHeadComment(d *yaml.Node) {
	if d.HeadComment != "" || len(d.Content) != 1 || d.Content[0].Kind != yaml.MappingNode || len(d.Content[0].Content) == 0 {
		return
	}
	k := d.Content[0].Content[0]
	if c, ok := strings.CutSuffix(k.HeadComment, "\n"); ok && c != "" {
		d.HeadComment, k.HeadComment = c, ""
	}
}

func dropEmptyDocuments(docs []*yaml.Node) (kept []*yaml.Node, comments string) {
	var pending []string
	add := func(cs ...string) {
		for _, c := range cs {
			if c != "" {
				pending = append(pending, c)
			}
		}
	}
	for _, d := range docs {
		if len(d.Content) == 1 {
			if n := d.Content[0]; n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" && n.Anchor == "" && n.Style == 0 {
				add(d.HeadComment, n.HeadComment, n.LineComment, n.FootComment, d.FootComment)
				continue
			}
		}
		if len(pending) > 0 {
			add(d.HeadComment)
			d.HeadComment = strings.Join(pending, "\n")
			pending = nil
		}
		kept = append(kept, d)
	}
	if len(pending) > 0 && len(kept) > 0 {
		last := kept[len(kept)-1]
		pending = append([]string{last.FootComment}, pending...)
		if pending[0] == "" {
			pending = pending[1:]
		}
		last.FootComment = strings.Join(pending, "\n")
		pending = nil
	}
	return kept, strings.Join(pending, "\n")
}

// plainMergeKeys writes merge keys as "<<" again: yaml.v3 reads them with
// the tag !!merge and, because it compares that short tag with the long
// form its resolver gives, writes them back as "!!merge <<". A merge key
// the file itself tags explicitly keeps its tag.
func plainMergeKeys(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" && k.Style&yaml.TaggedStyle == 0 {
				k.Tag = ""
			}
		}
	}
	for _, c := range n.Content {
		plainMergeKeys(c)
	}
}

// keepBlockScalars makes sure every literal (|) or folded (>) block scalar
// reads back as the same text: yaml.v3 writes some of them so that they do
// not (a first empty line is dropped, a more-indented line in a folded
// block gains an empty line). Such a scalar is written literal instead, or
// double-quoted when that does not read back either.
func keepBlockScalars(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && !readsBack(n) {
		style := n.Style
		n.Style = style&^yaml.FoldedStyle | yaml.LiteralStyle
		if !readsBack(n) {
			n.Style = style&^(yaml.LiteralStyle|yaml.FoldedStyle) | yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		keepBlockScalars(c)
	}
}

// readsBack reports whether scalar n, written by yaml.v3, reads back as
// its value.
func readsBack(n *yaml.Node) bool {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment, c.Anchor = "", "", "", ""
	b, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "k"}, &c}})
	if err != nil {
		return false
	}
	var back map[string]string
	return yaml.Unmarshal(b, &back) == nil && back["k"] == n.Value
}

// flowNulls writes the empty null of a flow collection ("{a}", "[a, ]")
// as null: yaml.v3 would write it as an empty quoted string. A mapping's
// empty key is left to be written quoted: the loader reads a key as its
// text, and "" is the text the file gave it, where "null" would be
// another name.
func flowNulls(n *yaml.Node, inFlow bool) {
	if n.Kind == yaml.ScalarNode && inFlow && isEmptyNull(n) {
		n.Value = "null"
	}
	inFlow = inFlow || n.Style&yaml.FlowStyle != 0
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue
		}
		flowNulls(c, inFlow)
	}
}

// isEmptyNull reports a scalar written as nothing at all ("a:", "&x :"),
// which YAML reads as null.
func isEmptyNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.ShortTag() == "!!null" && n.Style == 0
}

// emptyNullKeys returns the anchored mapping keys in n that are empty
// nulls ("&x : v"): yaml.v3 writes an empty key only quoted, as the
// empty string, so an alias to one would read "" where the file means
// null.
func emptyNullKeys(n *yaml.Node, keys map[*yaml.Node]bool) map[*yaml.Node]bool {
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Anchor != "" && isEmptyNull(c) {
			if keys == nil {
				keys = map[*yaml.Node]bool{}
			}
			keys[c] = true
		}
		keys = emptyNullKeys(c, keys)
	}
	return keys
}

// emptyKeyAliases writes each alias in n to one of keys (see
// emptyNullKeys) as the empty null it stands for, so that it keeps
// meaning null: the value of "0:\n  &x : *x" is written empty, not as
// an alias to the quoted empty key, which would read "".
func emptyKeyAliases(n *yaml.Node, keys map[*yaml.Node]bool) {
	if len(keys) == 0 {
		return
	}
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode && keys[c.Alias] {
			n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: c.Line, Column: c.Column,
				HeadComment: c.HeadComment, LineComment: c.LineComment, FootComment: c.FootComment}
			continue
		}
		emptyKeyAliases(c, keys)
	}
}
