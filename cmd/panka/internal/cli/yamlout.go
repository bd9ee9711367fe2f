package cli

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
)

// writeYAMLNode writes a block-style node tree (no flow styles, comments,
// anchors or tags: what show builds from JSON) as yaml.v3's encoder does
// with an indent of 2, byte for byte (TestWriteYAMLNodeAsYAMLv3). The
// encoder allocates some 30 KB per scalar: a stack of 20,000 components
// took 2.5 s and 500 MB to print. Scalars that need quoting or a block
// style are still rendered by yaml.v3, one at a time.
func writeYAMLNode(buf *bytes.Buffer, n *yaml.Node) error {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		if len(n.Content) == 0 {
			break
		}
		return writeYAMLBlock(buf, n, "", false)
	}
	// A lone scalar or an empty collection: rare, and yaml.v3's own.
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}

// writeYAMLBlock writes the entries of a non-empty mapping or sequence n at
// indent; inline: the first entry goes on the current line (after "- ").
func writeYAMLBlock(buf *bytes.Buffer, n *yaml.Node, indent string, inline bool) error {
	first := true
	start := func() {
		if !first || !inline {
			buf.WriteString(indent)
		}
		first = false
	}
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			start()
			buf.WriteString("- ")
			if err := writeYAMLValue(buf, c, indent+"  ", true); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		start()
		if k.Kind != yaml.ScalarNode {
			return errYAMLShape
		}
		if err := writeYAMLScalar(buf, k, indent, true); err != nil {
			return err
		}
		buf.WriteByte(':')
		if (v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode) && len(v.Content) > 0 {
			buf.WriteByte('\n')
			ind := indent + "  "
			if err := writeYAMLBlock(buf, v, ind, false); err != nil {
				return err
			}
			continue
		}
		buf.WriteByte(' ')
		if err := writeYAMLValue(buf, v, indent+"  ", false); err != nil {
			return err
		}
	}
	return nil
}

// writeYAMLValue writes v after "key: " or "- "; indent is where its
// entries go when it is a collection.
func writeYAMLValue(buf *bytes.Buffer, v *yaml.Node, indent string, item bool) error {
	switch v.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		if len(v.Content) == 0 {
			if v.Kind == yaml.MappingNode {
				buf.WriteString("{}\n")
			} else {
				buf.WriteString("[]\n")
			}
			return nil
		}
		if v.Kind == yaml.SequenceNode && item {
			return errYAMLShape // "- - x": yaml.v3's own layout
		}
		return writeYAMLBlock(buf, v, indent, true)
	case yaml.ScalarNode:
		if err := writeYAMLScalar(buf, v, indent[:len(indent)-2], false); err != nil {
			return err
		}
		buf.WriteByte('\n')
		return nil
	}
	return errYAMLShape
}

// errYAMLShape is a tree writeYAMLNode does not lay out itself.
var errYAMLShape = yamlShapeError{}

type yamlShapeError struct{}

func (yamlShapeError) Error() string { return "node layout left to yaml.v3" }

// writeYAMLScalar writes scalar s as a key or value at a line indented by
// indent: plain when it is a word yaml.v3 writes plain, else as yaml.v3
// renders it (quoted, or a block scalar whose lines follow indent; a key
// that needs one is left to yaml.v3).
func writeYAMLScalar(buf *bytes.Buffer, s *yaml.Node, indent string, key bool) error {
	if key && (len(s.Value) > 100 || strings.ContainsAny(s.Value, "\n\r\u0085\u2028\u2029")) {
		return errYAMLShape // a complex key ("? ..."), as yaml.v3 writes a long or multi-line one
	}
	if s.Tag != "!!str" && s.Tag != "" || plainWord(s.Value) {
		buf.WriteString(s.Value)
		return nil
	}
	var one bytes.Buffer
	enc := yaml.NewEncoder(&one)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "k"}, s}}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	out := strings.TrimSuffix(strings.TrimPrefix(one.String(), "k: "), "\n")
	if key && strings.Contains(out, "\n") {
		return errYAMLShape // "? |-": a complex key
	}
	for i, line := range strings.Split(out, "\n") {
		if i > 0 {
			buf.WriteByte('\n')
			if line != "" {
				buf.WriteString(indent)
			}
		}
		buf.WriteString(line)
	}
	return nil
}

// plainWord reports whether yaml.v3 writes string s plain: a letter, then
// letters, digits and _ - . /, and no word YAML 1.1 reads as a boolean or
// null.
func plainWord(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-' && c != '.' && c != '/' {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
