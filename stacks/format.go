package stacks

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// Format returns src in panka's canonical YAML layout, keeping comments:
// two-space indentation, lists indented under their key, top-level keys in
// the order apiVersion, kind, metadata, spec, metadata keys in the order
// name, description, labels, documents separated by "---". Formatting is
// idempotent: Format(Format(x)) == Format(x). Invalid YAML is an error with
// its line.
func Format(src []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("invalid YAML: the parser failed (%v)", p)
		}
	}()
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("file is more than the %d MB limit for stack files", MaxFileSize>>20)
	}
	if bytes.IndexByte(src, 0) >= 0 {
		return nil, fmt.Errorf("not a text file (binary content)")
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			break
		}
		if err != nil {
			line, msg := yamlErrLine(err)
			if line > 0 {
				return nil, fmt.Errorf("line %d: invalid YAML: %s", line, msg)
			}
			return nil, fmt.Errorf("invalid YAML: %s", msg)
		}
		docs = append(docs, &n)
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
	for _, d := range docs {
		plainMergeKeys(d)
		if len(d.Content) == 1 && d.Content[0].Kind == yaml.MappingNode {
			top := d.Content[0]
			reorder(top, "apiVersion", "kind", "metadata", "spec")
			for i := 0; i+1 < len(top.Content); i += 2 {
				if top.Content[i].Value == "metadata" && top.Content[i+1].Kind == yaml.MappingNode {
					reorder(top.Content[i+1], "name", "description", "labels")
				}
			}
		}
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	return buf.Bytes(), nil
}

// reorder moves the given keys of a mapping to the front, in that order;
// other keys keep their relative order after them.
func reorder(m *yaml.Node, keys ...string) {
	if len(m.Content) < 2 {
		return
	}
	// The comment above the first key belongs to the document, not the key.
	head := m.Content[0].HeadComment
	m.Content[0].HeadComment = ""
	defer func() {
		if head != "" {
			if m.Content[0].HeadComment != "" {
				head += "\n" + m.Content[0].HeadComment
			}
			m.Content[0].HeadComment = head
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
