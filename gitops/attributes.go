package gitops

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/format/gitattributes"
)

// textRules answer, per path, what git's clean filter does to the line
// ends of a work-tree file (eolAction, convert.c's crlf_action): the text
// attribute set (text, or eol=lf/crlf with text unspecified; the old crlf
// name too) turns every CRLF into LF whatever the index holds. Then a
// file committed with CRLF line ends, once such a rule is added (`*.yaml
// text` in .gitattributes), is modified for git status (as soon as its
// stat data changes) and git add stores its LF form. With text=auto, or
// no text attribute and core.autocrlf true or input, git converts too,
// but keeps a CRLF that the index already holds and leaves a file that
// looks binary as it is (see mayConvertEOL and sameAsIndex); with -text,
// binary, or no text attribute and core.autocrlf unset or false, it
// converts nothing.
//
// The attributes are read from info/attributes (first), the
// .gitattributes of the folders on the path (the deepest first) and
// core.attributesFile (last, by default $XDG_CONFIG_HOME/git/attributes),
// each read once.
type textRules struct {
	r     *Repo
	mu    sync.Mutex
	files map[string][]gitattributes.MatchAttribute // by file path
	// global is core.attributesFile, read from git's configuration once.
	global     string
	globalOnce sync.Once
	// autocrlf is core.autocrlf ("true", "input" or ""), read once.
	autocrlf     string
	autocrlfOnce sync.Once
}

// eolAction is what git add does to the CRLF line ends of a file.
type eolAction int

const (
	// eolNone: nothing (-text, binary, or no text attribute and
	// core.autocrlf unset or false).
	eolNone eolAction = iota
	// eolText: every CRLF becomes LF (text, eol=lf/crlf).
	eolText
	// eolAuto: CRLF becomes LF unless the file looks binary or the index
	// holds CRLF (text=auto; core.autocrlf true or input).
	eolAuto
)

func (r *Repo) newTextRules() *textRules {
	return &textRules{r: r, files: map[string][]gitattributes.MatchAttribute{}}
}

// read returns the rules of one attributes file (none when it is missing
// or unreadable), domain the folder it applies to.
func (t *textRules) read(file string, domain []string) []gitattributes.MatchAttribute {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rules, ok := t.files[file]; ok {
		return rules
	}
	var rules []gitattributes.MatchAttribute
	if b, err := os.ReadFile(file); err == nil && (bytes.Contains(b, []byte("text")) || bytes.Contains(b, []byte("eol")) || bytes.Contains(b, []byte("crlf")) || bytes.Contains(b, []byte("binary"))) {
		rules, _ = gitattributes.ReadAttributes(bytes.NewReader(b), domain, false)
	}
	t.files[file] = rules
	return rules
}

// attributesFile is core.attributesFile, by default
// $XDG_CONFIG_HOME/git/attributes or ~/.config/git/attributes.
func (r *Repo) attributesFile() string { return r.userFile("attributesfile", "attributes") }

// alwaysText reports whether git add turns every CRLF of the work-tree
// file p (slash-separated, relative to the root) into LF.
func (t *textRules) alwaysText(p string) bool { return t.action(p) == eolText }

// action is what git add does to the line ends of the work-tree file p
// (slash-separated, relative to the root), as git's convert_attrs
// decides it.
func (t *textRules) action(p string) eolAction {
	parts := strings.Split(p, "/")
	type source struct {
		file   string
		domain []string
	}
	sources := []source{{filepath.Join(t.r.commonDir, "info", "attributes"), nil}}
	for i := len(parts) - 1; i >= 0; i-- {
		dir := path.Join(parts[:i]...)
		sources = append(sources, source{filepath.Join(t.r.root, filepath.FromSlash(dir), ".gitattributes"), parts[:i]})
	}
	t.globalOnce.Do(func() { t.global = t.r.attributesFile() })
	if t.global != "" {
		sources = append(sources, source{t.global, nil})
	}
	// The first rule (by priority; in a file, the last line) that says
	// something of text, and of eol, decides it.
	var text, eol gitattributes.Attribute
	for _, s := range sources {
		rules := t.read(s.file, s.domain)
		for i := len(rules) - 1; i >= 0 && (text == nil || eol == nil); i-- {
			if rules[i].Pattern == nil || !rules[i].Pattern.Match(parts) {
				continue
			}
			for _, a := range rules[i].Attributes {
				switch a.Name() {
				case "text", "crlf":
					if text == nil && !a.IsUnspecified() {
						text = a
					}
				case "binary":
					if text == nil && a.IsSet() {
						text = a
					}
				case "eol":
					if eol == nil && a.IsValueSet() {
						eol = a
					}
				}
			}
		}
		if text != nil && eol != nil {
			break
		}
	}
	switch {
	case text != nil && (text.Name() == "binary" || text.IsUnset()):
		return eolNone
	case text != nil && text.IsValueSet() && text.Value() == "auto":
		return eolAuto
	case text != nil || eol != nil:
		return eolText // text, crlf=input, or eol=lf/crlf: text
	}
	t.autocrlfOnce.Do(func() {
		if v, ok := t.r.configValue("core", "autocrlf"); ok {
			if v := strings.ToLower(v); v == "true" || v == "input" {
				t.autocrlf = v
			}
		}
	})
	if t.autocrlf != "" {
		return eolAuto
	}
	return eolNone
}

// looksBinary is git's guess that content is not text (convert.c's
// gather_stats and convert_is_binary), under which text=auto and
// core.autocrlf leave its line ends alone: a lone CR, a NUL, or more than
// one control character in 128 printable ones.
func looksBinary(content []byte) bool {
	var printable, nonprintable int
	for i := 0; i < len(content); i++ {
		switch c := content[i]; {
		case c == '\r':
			if i+1 < len(content) && content[i+1] == '\n' {
				i++
				continue
			}
			return true // a lone CR
		case c == '\n':
		case c == 0:
			return true
		case c == 127:
			nonprintable++
		case c < 32:
			switch c {
			case '\b', '\t', '\033', '\014':
				printable++
			default:
				nonprintable++
			}
		default:
			printable++
		}
	}
	if n := len(content); n > 0 && content[n-1] == '\032' {
		nonprintable-- // a DOS end-of-file mark
	}
	return printable>>7 < nonprintable
}

// toGit is content as git add stores it when alwaysText: LF line ends.
func toGit(content []byte) []byte {
	if !bytes.Contains(content, []byte("\r\n")) {
		return content
	}
	return bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n"))
}
