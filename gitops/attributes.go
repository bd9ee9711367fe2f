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

// textRules answer, per path, whether git's clean filter turns every CRLF
// of a work-tree file into LF whatever the index holds: the text attribute
// is set (text, or eol=lf/crlf with text unspecified; the old crlf name
// too). Then a file committed with CRLF line ends, once such a rule is
// added (`*.yaml text` in .gitattributes), is modified for git status (as
// soon as its stat data changes) and git add stores its LF form. With
// text=auto or core.autocrlf, git keeps a CRLF that the index already
// holds (see mayConvertEOL and sameAsIndex), and with -text or binary it
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
}

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
func (t *textRules) alwaysText(p string) bool {
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
	case text == nil:
		return eol != nil // eol=lf or eol=crlf: text
	case text.Name() == "binary":
		return false
	}
	return text.IsSet()
}

// toGit is content as git add stores it when alwaysText: LF line ends.
func toGit(content []byte) []byte {
	if !bytes.Contains(content, []byte("\r\n")) {
		return content
	}
	return bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n"))
}
