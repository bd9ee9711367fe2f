package stacks

import "bytes"

// formatted reports that src, read by fastParse into roots, is already in
// Format's canonical layout, so that Format can return it without the
// yaml.v3 decode and encode (most of fmt --check's CPU on a repository
// whose files are formatted). It writes the canonical layout of roots,
// taking each scalar's text from src, and compares: false (Format does
// the work) on anything outside a narrow subset it writes exactly as
// yaml.v3's encoder does — ASCII only, comments only in the lines that
// open the file, no blank lines, no nulls, block lists of scalars,
// mappings and flow lists, flow lists and empty {} / [] — and for any
// difference at all. It never reports true for a file Format would change
// (TestFormattedAgreesWithFormat, FuzzFormat).
func formatted(src []byte, roots []*node) bool {
	if len(roots) == 0 || len(src) == 0 || src[len(src)-1] != '\n' {
		return false
	}
	for _, c := range src {
		if c >= 0x80 {
			return false
		}
	}
	w := canonWriter{src: src, out: make([]byte, 0, len(src))}
	w.lines = append(w.lines, 0, 0) // 1-based: line 1 starts at 0
	for i, c := range src {
		if c == '\n' {
			w.lines = append(w.lines, i+1)
		}
	}
	// Comment lines before the first document are its head comment, which
	// yaml.v3 writes back as they are (without trailing blanks).
	for len(w.out) < len(src) && src[len(w.out)] == '#' {
		l := bytes.IndexByte(src[len(w.out):], '\n')
		if c := src[len(w.out)+l-1]; c == ' ' {
			return false
		}
		w.out = append(w.out, src[len(w.out):len(w.out)+l+1]...)
	}
	for i, r := range roots {
		if i > 0 {
			w.out = append(w.out, "---\n"...)
		}
		if r.kind != nMap || w.flow(r) || !keysInOrder(r, "apiVersion", "kind", "metadata", "spec") {
			return false
		}
		if md := r.get("metadata"); md != nil && md.kind == nMap && !keysInOrder(md, "name", "description", "labels") {
			return false
		}
		if !w.mapping(r, 0, false) || len(w.out) > len(src) || !bytes.Equal(w.out, src[:len(w.out)]) {
			return false
		}
	}
	return bytes.Equal(w.out, src)
}

// keysInOrder reports whether the keys of mapping m that are among front
// come first, in that order: reorder leaves m as it is. (Keys are unique:
// fastParse refuses a duplicate.)
func keysInOrder(m *node, front ...string) bool {
	i := 0
	for _, f := range front {
		if m.getKey(f) == nil {
			continue
		}
		if m.keys[i].value != f {
			return false
		}
		i++
	}
	return true
}

// canonWriter writes nodes in the canonical layout.
type canonWriter struct {
	src   []byte
	lines []int // offset of each 1-based line
	out   []byte
}

// at is the offset of node n in src.
func (w *canonWriter) at(n *node) int {
	if int(n.line) >= len(w.lines) {
		return len(w.src)
	}
	return w.lines[n.line] + int(n.col) - 1
}

// flow reports a collection written in flow style ([a, b], {}).
func (w *canonWriter) flow(n *node) bool {
	o := w.at(n)
	return o < len(w.src) && (w.src[o] == '[' || w.src[o] == '{')
}

func (w *canonWriter) indent(n int) {
	for range n {
		w.out = append(w.out, ' ')
	}
}

// mapping writes block mapping n at indent; inline when its first key
// follows a list item's "- ".
func (w *canonWriter) mapping(n *node, indent int, inline bool) bool {
	for i, k := range n.keys {
		if i > 0 || !inline {
			w.indent(indent)
		}
		if len(k.value) > 128 || !w.scalar(k, false) {
			return false // yaml.v3 writes a longer key as "? key"
		}
		w.out = append(w.out, ':')
		if !w.value(n.vals[i], indent) {
			return false
		}
	}
	return true
}

// value writes v after "key:" or "-" (without the space).
func (w *canonWriter) value(v *node, indent int) bool {
	switch {
	case v.kind == nScalar:
		w.out = append(w.out, ' ')
		if !w.scalar(v, false) {
			return false
		}
		w.out = append(w.out, '\n')
		return true
	case v.kind == nMap && w.flow(v):
		if len(v.keys) > 0 {
			return false
		}
		w.out = append(w.out, " {}\n"...)
		return true
	case v.kind == nSeq && w.flow(v):
		w.out = append(w.out, " ["...)
		for i, it := range v.items {
			if i > 0 {
				w.out = append(w.out, ", "...)
			}
			if it.kind != nScalar || !w.scalar(it, true) {
				return false
			}
		}
		w.out = append(w.out, "]\n"...)
		return true
	case v.kind == nMap && len(v.keys) > 0:
		w.out = append(w.out, '\n')
		return w.mapping(v, indent+2, false)
	case v.kind == nSeq && len(v.items) > 0:
		w.out = append(w.out, '\n')
		for _, it := range v.items {
			w.indent(indent + 2)
			w.out = append(w.out, '-')
			switch {
			case it.kind == nMap && len(it.keys) > 0 && !w.flow(it):
				w.out = append(w.out, ' ')
				if !w.mapping(it, indent+4, true) {
					return false
				}
			case it.kind == nSeq && !w.flow(it), it.kind == nNull:
				return false
			default:
				if !w.value(it, indent+2) {
					return false
				}
			}
		}
		return true
	}
	return false // a null (or an empty block collection)
}

// scalar writes scalar n as src has it, when yaml.v3 writes its value
// back in that style: plain when its emitter allows plain text there (in
// a flow list or not), quoted when the quoted text needs no escape.
func (w *canonWriter) scalar(n *node, inFlow bool) bool {
	o, v := w.at(n), n.value
	if o >= len(w.src) {
		return false
	}
	var tok []byte
	switch w.src[o] {
	case '"':
		if bytes.ContainsAny([]byte(v), "\"\\") {
			return false
		}
		tok = append(append(append(tok, '"'), v...), '"')
	case '\'':
		tok = append(tok, '\'')
		for i := 0; i < len(v); i++ {
			if v[i] == '\'' {
				tok = append(tok, '\'')
			}
			tok = append(tok, v[i])
		}
		tok = append(tok, '\'')
	default:
		if !plainAllowed(v, inFlow) {
			return false
		}
		tok = []byte(v)
	}
	if !bytes.HasPrefix(w.src[o:], tok) {
		return false
	}
	w.out = append(w.out, tok...)
	return true
}

// plainAllowed is yaml.v3's emitter analysis (yaml_emitter_analyze_scalar)
// for printable ASCII text on one line: whether it writes v plain in a flow
// collection (inFlow) or in block context, rather than quoted.
func plainAllowed(v string, inFlow bool) bool {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	if len(v) >= 3 && (v[:3] == "---" || v[:3] == "...") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' || c > '~' {
			return false
		}
		followedBySpace := i+1 == len(v) || v[i+1] == ' '
		if i == 0 {
			switch c {
			case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
				return false
			case '?', ':':
				if inFlow || followedBySpace {
					return false
				}
			case '-':
				if followedBySpace {
					return false
				}
			}
			continue
		}
		switch c {
		case ',', '?', '[', ']', '{', '}':
			if inFlow {
				return false
			}
		case ':':
			if inFlow || followedBySpace {
				return false
			}
		case '#':
			if v[i-1] == ' ' {
				return false
			}
		}
	}
	return true
}
