package stacks

import (
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// fastParse is a fast path for the YAML that stack files are made of. It
// builds node trees straight from the bytes for a plain block-style subset:
//
//   - block mappings and sequences (compact "- key: v" mappings in
//     sequences, sequences at their key's indentation);
//   - single-line plain scalars, single-line single-quoted scalars and
//     double-quoted scalars without escapes;
//   - single-line flow sequences of such scalars, and {} / [];
//   - comments, blank lines and "---" document separators.
//
// Non-ASCII text is taken (columns count characters, as yaml.v3's do)
// unless it holds a byte-order mark, NEL or a line/paragraph separator. On
// anything else — tabs, control bytes, CR, anchors, aliases, tags, block
// scalars, flow mappings, "?" keys, directives, "...", multi-line scalars,
// merge keys, duplicate keys, scalars left of a key's column, very long
// keys, deep nesting, very large files — it returns ok=false and the caller
// parses the whole file with yaml.v3. Whatever it accepts it returns
// exactly as the yaml.v3 path (parseFile through convert) would: the same
// nodes, tags, values and 1-based line/column positions, one root per
// document (nil roots for empty documents are left out, as parseFile skips
// them). FuzzFastYAML checks that equivalence.
func fastParse(file string, data []byte) (roots []*node, ok bool) {
	defer func() {
		// A bug here must not break loading: let yaml.v3 have the file.
		if recover() != nil {
			roots, ok = nil, false
		}
	}()
	lines := 1
	uni := false
	for _, c := range data {
		switch {
		case c == '\n':
			lines++
		case c < ' ' || c == 0x7f:
			return nil, false // tabs, CR, control bytes
		case c >= 0x80:
			uni = true
		}
	}
	if uni && !plainUnicode(data) {
		return nil, false
	}
	p := &fastParser{file: file, src: string(data), uni: uni}
	// A line holds at most a key and a value (or a few flow items): size
	// the node slab and the slices backing keys/vals/items for that.
	p.slab = make([]node, 0, 2*lines+2)
	p.ptrs = make([]*node, 0, 2*lines+2)
	sp := scratchPool.Get().(*[]*node)
	p.scratch = (*sp)[:0]
	defer func() {
		clear(p.scratch[:cap(p.scratch)]) // keep no nodes alive
		*sp = p.scratch[:0]
		scratchPool.Put(sp)
	}()
	p.first()
	for !p.failed {
		if p.ind == lineEOF {
			return roots, true
		}
		if p.ind == lineDocStart {
			p.advance()
			continue
		}
		n := p.block(p.ind, 0)
		if p.failed {
			break
		}
		roots = append(roots, n)
		if p.ind >= 0 {
			break // content left of the root's column: not ours
		}
	}
	return nil, false
}

// scratchPool recycles the scratch stacks of fast parses.
var scratchPool = sync.Pool{New: func() any { s := make([]*node, 0, 64); return &s }}

// Special values of fastParser.ind.
const (
	lineEOF      = -1 // no more lines
	lineDocStart = -2 // a "---" line
)

// maxFastNodes bounds the nodes of a file the fast path builds; larger
// files go to yaml.v3, which reports them against maxNodes.
const maxFastNodes = maxNodes / 2

// maxFastDepth bounds nesting on the fast path.
const maxFastDepth = 200

// fastParser walks src line by line. The current line is described by
// line (1-based), bol (offset of its first byte), ind (column of its first
// non-space byte, 0-based; or lineEOF / lineDocStart), and eol (offset of
// its end, before the newline).
type fastParser struct {
	file    string
	uni     bool // src has non-ASCII text: columns count characters
	src     string
	off     int // offset of the next line
	line    int32
	bol     int
	ind     int
	eol     int
	nodes   int
	failed  bool
	slab    []node
	ptrs    []*node // backs the keys, vals and items of parsed nodes
	scratch []*node
}

func (p *fastParser) fail() { p.failed = true }

// col is the 1-based column (in characters, as yaml.v3 counts) of offset
// i of the current line.
func (p *fastParser) col(i int) int32 {
	if p.uni {
		return int32(utf8.RuneCountInString(p.src[p.bol:i]) + 1)
	}
	return int32(i - p.bol + 1)
}

// plainUnicode reports whether data is valid UTF-8 whose non-ASCII
// characters are all ones yaml.v3 reads as ordinary printable text (no
// byte-order mark, no NEL / line or paragraph separators, which YAML takes
// as line breaks, nothing its reader refuses).
func plainUnicode(data []byte) bool {
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return false
		case r == 0xFEFF || r == 0x2028 || r == 0x2029:
			return false
		case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
		i += size
	}
	return true
}

// mk allocates a node from the slab.
func (p *fastParser) mk(n node) *node {
	p.nodes++
	if p.nodes > maxFastNodes {
		p.fail()
	}
	if len(p.slab) == cap(p.slab) {
		p.slab = make([]node, 0, 64)
	}
	p.slab = append(p.slab, n)
	return &p.slab[len(p.slab)-1]
}

func (p *fastParser) first() {
	p.off = 0
	p.line = 0
	p.advance()
}

// advance moves to the next line with content, skipping blank and
// comment-only lines.
func (p *fastParser) advance() {
	s := p.src
	for {
		if p.off >= len(s) {
			p.ind = lineEOF
			p.bol, p.eol = len(s), len(s)
			return
		}
		p.line++
		p.bol = p.off
		eol := p.off
		for eol < len(s) && s[eol] != '\n' {
			eol++
		}
		p.eol = eol
		if eol < len(s) {
			p.off = eol + 1
		} else {
			p.off = eol
		}
		i := p.bol
		for i < eol && s[i] == ' ' {
			i++
		}
		if i == eol || s[i] == '#' {
			continue
		}
		if i == p.bol && eol-i >= 3 {
			switch s[i : i+3] {
			case "---":
				if j := skipSpaces(s, i+3, eol); j == eol || j > i+3 && s[j] == '#' {
					p.ind = lineDocStart
					return
				}
				p.fail() // "---" with content, or "----"
			case "...":
				p.fail() // document end marker
			}
		}
		if i == p.bol && s[i] == '%' {
			p.fail() // directive
		}
		p.ind = i - p.bol
		return
	}
}

func skipSpaces(s string, i, end int) int {
	for i < end && s[i] == ' ' {
		i++
	}
	return i
}

// isDash reports a "- " (or "-" at the end of the line) sequence entry at i.
func (p *fastParser) isDash(i int) bool {
	return p.src[i] == '-' && (i+1 == p.eol || p.src[i+1] == ' ')
}

// block parses the block node starting on the current line at column ind.
func (p *fastParser) block(ind, depth int) *node {
	if depth > maxFastDepth {
		p.fail()
		return nil
	}
	if p.isDash(p.bol + ind) {
		return p.seq(ind, depth)
	}
	return p.mapping(ind, p.bol+ind, depth)
}

// seq parses a block sequence whose "-" entries are at column ind.
func (p *fastParser) seq(ind, depth int) *node {
	s := p.src
	n := p.mk(node{kind: nSeq, file: p.file, line: p.line, col: int32(ind + 1)})
	mark := len(p.scratch)
	for !p.failed && p.ind == ind && p.isDash(p.bol+ind) {
		dash := p.bol + ind
		i := skipSpaces(s, dash+1, p.eol)
		if i == p.eol || s[i] == '#' {
			// Nothing after "-": a nested block on the next lines, or null.
			line := p.line
			p.advance()
			if p.ind > ind {
				p.push(p.block(p.ind, depth+1))
			} else {
				p.push(p.mk(node{kind: nNull, file: p.file, line: line, col: int32(ind + 2), tag: "!!null"}))
			}
			continue
		}
		if p.isDash(i) {
			p.fail() // "- - x": a sequence in a sequence on one line
			return n
		}
		// "- key: value" opens a mapping at the key's column.
		if c := s[i]; c != '[' && c != '{' {
			if _, colon := p.scanKey(i); colon >= 0 {
				p.push(p.mapping(i-p.bol, i, depth+1))
				continue
			}
			if p.failed {
				return n
			}
		}
		p.push(p.inline(i))
		p.advance()
		if p.ind > ind {
			p.fail() // continuation line of a scalar, or worse
		}
	}
	n.items = p.pop(mark, 0, 1)
	return n
}

// mapping parses a block mapping whose keys are at column ind; the first
// key starts at offset start of the current line (after "- " for a mapping
// in a sequence entry).
func (p *fastParser) mapping(ind, start, depth int) *node {
	s := p.src
	n := p.mk(node{kind: nMap, file: p.file, line: p.line, col: int32(ind + 1)})
	mark := len(p.scratch)   // keys and values, alternately
	var seen map[string]bool // the keys so far, once there are many
	for !p.failed {
		key, colon := p.scanKey(start)
		if colon < 0 {
			p.fail()
			return n
		}
		if p.hasKey(mark, key, &seen) {
			p.fail() // duplicate key: yaml.v3's path reports it
			return n
		}
		p.push(p.mk(node{kind: nScalar, file: p.file, line: p.line, col: p.col(start), tag: "!!str", value: key}))
		i := skipSpaces(s, colon+1, p.eol)
		if i == p.eol || s[i] == '#' {
			line, col := p.line, p.col(colon)+1
			p.advance()
			switch {
			case p.ind > ind:
				p.push(p.block(p.ind, depth+1))
			case p.ind == ind && p.isDash(p.bol+ind):
				// A sequence at the key's own indentation.
				p.push(p.seq(ind, depth+1))
			default:
				p.push(p.mk(node{kind: nNull, file: p.file, line: line, col: col, tag: "!!null"}))
			}
		} else {
			p.push(p.inline(i))
			p.advance()
		}
		if p.failed || p.ind < ind {
			break
		}
		if p.ind > ind || p.isDash(p.bol+ind) {
			p.fail() // continuation lines, or a "-" entry among keys
			return n
		}
		start = p.bol + ind
	}
	if !p.failed {
		n.keys = p.pop(mark, 0, 2)
		n.vals = p.pop(mark, 1, 2)
	}
	p.scratch = p.scratch[:mark]
	return n
}

// hasKey reports whether the mapping being parsed (keys at scratch[mark],
// scratch[mark+2], ...) already has key. Mappings of stack files have a
// few keys and are searched in place; a large one (an env map of thousands
// of entries) gets the index *seen, so that a big file is not quadratic.
func (p *fastParser) hasKey(mark int, key string, seen *map[string]bool) bool {
	if *seen == nil {
		if len(p.scratch)-mark < 2*manyKeys {
			for j := mark; j < len(p.scratch); j += 2 {
				if p.scratch[j].value == key {
					return true
				}
			}
			return false
		}
		*seen = make(map[string]bool, len(p.scratch)-mark)
		for j := mark; j < len(p.scratch); j += 2 {
			(*seen)[p.scratch[j].value] = true
		}
	}
	if (*seen)[key] {
		return true
	}
	(*seen)[key] = true
	return false
}

// push adds a parsed child to the scratch stack of the collections being
// parsed (children are copied into exact-size slices when a collection is
// done: one allocation for many collections instead of growing slices).
func (p *fastParser) push(x *node) { p.scratch = append(p.scratch, x) }

// pop returns scratch[mark+from], scratch[mark+from+step], ... in a new
// slice (never nil, capacity = length) and drops scratch[mark:] when from
// is 0 and step is 1, or from is 1.
func (p *fastParser) pop(mark, from, step int) []*node {
	k := (len(p.scratch) - mark - from + step - 1) / step
	if cap(p.ptrs)-len(p.ptrs) < k || p.ptrs == nil {
		p.ptrs = make([]*node, 0, max(64, k))
	}
	i := len(p.ptrs)
	p.ptrs = p.ptrs[:i+k]
	out := p.ptrs[i : i+k : i+k]
	for j := range out {
		out[j] = p.scratch[mark+from+j*step]
	}
	if from > 0 || step == 1 {
		p.scratch = p.scratch[:mark]
	}
	return out
}

// scanKey reads a mapping key at offset i of the current line. It returns
// the key and the offset of its ":", or colon=-1 when the line holds no key
// there (a plain scalar, or something the fast path does not take; then
// p.failed may be set).
func (p *fastParser) scanKey(i int) (key string, colon int) {
	s := p.src
	eol := p.eol
	var val string
	var end int
	switch c := s[i]; {
	case c == '"' || c == '\'':
		v, e, ok := p.quoted(i)
		if !ok {
			return "", -1
		}
		val, end = v, skipSpaces(s, e, eol)
		if end == eol || s[end] != ':' || end+1 < eol && s[end+1] != ' ' {
			return "", -1
		}
	case !plainStart(s, i, eol):
		p.fail()
		return "", -1
	default:
		j := i
		for {
			if j == eol {
				return "", -1
			}
			c := s[j]
			if c == ':' && (j+1 == eol || s[j+1] == ' ') {
				break
			}
			if c == '#' && s[j-1] == ' ' {
				return "", -1 // a comment: no key on this line
			}
			j++
		}
		e := j
		for s[e-1] == ' ' {
			e--
		}
		val, end = s[i:e], j
		if val == "<<" {
			p.fail() // merge key
			return "", -1
		}
	}
	if end-i > 1000 {
		p.fail() // yaml.v3 refuses simple keys longer than 1024 characters
		return "", -1
	}
	return val, end
}

// plainStart reports whether a plain scalar may start at offset i (YAML's
// indicator characters may not start one; "-" may when a non-space
// follows). The fast path also refuses "?x" and ":x".
func plainStart(s string, i, eol int) bool {
	switch s[i] {
	case '-':
		return i+1 < eol && s[i+1] != ' '
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

// quoted reads a single-line quoted scalar starting at offset i; e is the
// offset after its closing quote. Double-quoted scalars with escapes are
// not taken.
func (p *fastParser) quoted(i int) (v string, e int, ok bool) {
	s := p.src
	q := s[i]
	var buf []byte
	from := i + 1
	for j := i + 1; j < p.eol; j++ {
		switch c := s[j]; {
		case c == '\\' && q == '"':
			p.fail()
			return "", 0, false
		case c == q && q == '\'' && j+1 < p.eol && s[j+1] == '\'':
			buf = append(buf, s[from:j+1]...)
			j++
			from = j + 1
		case c == q:
			if buf != nil {
				return string(append(buf, s[from:j]...)), j + 1, true
			}
			return s[from:j], j + 1, true
		}
	}
	p.fail() // multi-line quoted scalar
	return "", 0, false
}

// inline parses the value at offset i of the current line, which must end
// the line (but for a comment): a scalar, [] / {} or a one-line flow
// sequence of scalars.
func (p *fastParser) inline(i int) *node {
	s := p.src
	eol := p.eol
	var n *node
	var e int
	switch c := s[i]; {
	case c == '"' || c == '\'':
		v, end, ok := p.quoted(i)
		if !ok {
			return nil
		}
		n, e = p.mk(node{kind: nScalar, file: p.file, line: p.line, col: p.col(i), tag: "!!str", value: v}), end
	case c == '{':
		if i+1 >= eol || s[i+1] != '}' {
			p.fail() // flow mapping
			return nil
		}
		n, e = p.mk(node{kind: nMap, file: p.file, line: p.line, col: p.col(i)}), i+2
	case c == '[':
		n, e = p.flowSeq(i)
		if n == nil {
			return nil
		}
	case !plainStart(s, i, eol):
		p.fail()
		return nil
	default:
		j := i
		for j < eol {
			c := s[j]
			if c == ':' && (j+1 == eol || s[j+1] == ' ') {
				p.fail() // "a: b: c"
				return nil
			}
			if c == '#' && s[j-1] == ' ' {
				break
			}
			j++
		}
		e = j
		for s[e-1] == ' ' {
			e--
		}
		return p.plain(s[i:e], i)
	}
	j := skipSpaces(s, e, eol)
	if j < eol && (j == e || s[j] != '#') {
		p.fail() // something after the value
	}
	return n
}

// plain makes the node of a plain scalar at offset i of the current line.
func (p *fastParser) plain(v string, i int) *node {
	tag := plainTag(v)
	if tag == "" {
		p.fail()
		return nil
	}
	if tag == "!!null" {
		return p.mk(node{kind: nNull, file: p.file, line: p.line, col: p.col(i), tag: tag})
	}
	return p.mk(node{kind: nScalar, file: p.file, line: p.line, col: p.col(i), tag: tag, value: v})
}

// flowSeq parses a one-line flow sequence of scalars at offset i ("[").
func (p *fastParser) flowSeq(i int) (*node, int) {
	s := p.src
	eol := p.eol
	n := p.mk(node{kind: nSeq, file: p.file, line: p.line, col: p.col(i)})
	j := i + 1
	mark := len(p.scratch)
	if j < eol && s[j] == ']' {
		n.items = p.pop(mark, 0, 1)
		return n, j + 1
	}
	for {
		j = skipSpaces(s, j, eol)
		if j == eol {
			p.fail()
			return nil, 0
		}
		var it *node
		switch c := s[j]; {
		case c == '"' || c == '\'':
			v, e, ok := p.quoted(j)
			if !ok {
				return nil, 0
			}
			it = p.mk(node{kind: nScalar, file: p.file, line: p.line, col: p.col(j), tag: "!!str", value: v})
			j = e
		case c != '-' && flowPlainChar(c) && plainStart(s, j, eol) || c == '-' && j+1 < eol && (isAlnum(s[j+1]) || s[j+1] == '-' || s[j+1] == '.'):
			e := j + 1
			for e < eol && flowPlainChar(s[e]) {
				e++
			}
			it = p.plain(s[j:e], j)
			if it == nil {
				return nil, 0
			}
			j = e
		default:
			p.fail()
			return nil, 0
		}
		p.push(it)
		j = skipSpaces(s, j, eol)
		if j == eol {
			p.fail()
			return nil, 0
		}
		switch s[j] {
		case ',':
			j++
			continue
		case ']':
			n.items = p.pop(mark, 0, 1)
			return n, j + 1
		}
		p.fail()
		return nil, 0
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// flowPlainChar is a byte the fast path accepts in a plain scalar inside a
// flow sequence: letters, digits, non-ASCII characters (plainUnicode has
// checked them) and punctuation without a meaning there.
func flowPlainChar(c byte) bool {
	if isAlnum(c) || c >= utf8.RuneSelf {
		return true
	}
	switch c {
	case '-', '.', '_', '/', '$', '+', '=', '~', '(', ')', '^', ';', '<', '>':
		return true
	}
	return false
}

// plainTag is the tag yaml.v3 resolves a plain scalar to ("" for a merge
// key "<<", which the fast path does not take). Scalars that cannot be
// anything but a string are answered here; the rest ask yaml.v3.
func plainTag(v string) string {
	if v == "<<" {
		return ""
	}
	switch c := v[0]; {
	case c >= '1' && c <= '9':
		if len(v) <= 18 {
			digits := true
			for i := 1; i < len(v); i++ {
				if v[i] < '0' || v[i] > '9' {
					digits = false
					break
				}
			}
			if digits {
				return "!!int"
			}
		}
	case c == '+' || c == '-' || c == '.' || c == '0' || c == '~':
	case c == 'y' || c == 'Y' || c == 'n' || c == 'N' || c == 't' || c == 'T' ||
		c == 'f' || c == 'F' || c == 'o' || c == 'O':
	default:
		// yaml.v3's resolve table has no hint for this first byte.
		return "!!str"
	}
	y := yaml.Node{Kind: yaml.ScalarNode, Value: v}
	return y.ShortTag()
}
