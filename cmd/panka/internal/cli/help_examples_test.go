package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelpExamplesParse runs every line of every command's Example text
// through the command's own flag parsing: an example that names a flag the
// command does not have (renamed, or never there), a -o format it refuses,
// a subcommand that does not exist or arguments it does not take fails
// here instead of in the hands of the user who copied it.
func TestHelpExamplesParse(t *testing.T) {
	ios, _, _, _ := Test()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			words := shellWords(line)
			if len(words) == 0 || words[0] != "panka" {
				t.Errorf("%s: example %q does not start with panka", c.CommandPath(), line)
				continue
			}
			if err := checkCommandLine(NewRootCmd(NewFactory(ios)), words[1:], true); err != "" {
				t.Errorf("%s: example %q: %s", c.CommandPath(), strings.TrimSpace(line), err)
			}
		}
		// The long description names commands in its prose: "re-apply
		// the deployed commit: panka apply --stack S --environment E --ref
		// <deployed commit>".
		long := placeholder.ReplaceAllString(strings.Join(strings.Fields(c.Long), " "), "X")
		for _, m := range longCommand.FindAllStringSubmatch(long, -1) {
			cl := m[1]
			words := shellWords(cl)
			root := NewRootCmd(NewFactory(ios))
			if sc, _, err := root.Find(words[1:]); err != nil || sc == root {
				continue // prose
			}
			if err := checkCommandLine(root, words, false); err != "" {
				t.Errorf("%s: command %q in the description: %s", c.CommandPath(), cl, err)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewRootCmd(NewFactory(ios)))
}

// longCommand is a panka command line in a description, up to the
// punctuation that ends it.
var longCommand = regexp.MustCompile("(panka [a-z][^;,:()\"`|>#]*?)(?:\\.(?: |$)|[;,:()\"`|>#]|$)")

// TestDocCommandsParse checks the panka command lines of README.md and
// docs/*.md the same way (flags and -o formats only: the documents write
// placeholders such as <first sha> and S for arguments): in code blocks
// and in inline code.
func TestDocCommandsParse(t *testing.T) {
	ios, _, _, _ := Test()
	files, err := filepath.Glob("../../../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../../../README.md")
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range docCommandLines(string(b)) {
			words := shellWords(cl.text)
			root := NewRootCmd(NewFactory(ios))
			if c, _, err := root.Find(words[1:]); cl.inline && (err != nil || c == root) {
				continue // prose: "panka secret value hash v1" is no command
			}
			checked++
			if err := checkCommandLine(root, words, false); err != "" {
				t.Errorf("%s:%d: %q: %s", filepath.Base(file), cl.line, cl.text, err)
			}
		}
	}
	t.Logf("%d command lines checked", checked)
	if checked < 50 {
		t.Errorf("only %d panka command lines found in README.md and docs/: is the extraction broken?", checked)
	}
}

var (
	// codeCommand finds "panka <command>" in a line of a code block, where
	// a shell would run it.
	codeCommand = regexp.MustCompile(`(?:^|[\s(=;|&"])(panka [a-z])`)
	// inlineCommand is inline code that starts with panka (it may go on
	// on the next line).
	inlineCommand = regexp.MustCompile("`(panka [a-z][^`]*)`")
	// placeholder is a <...> word: one argument.
	placeholder = regexp.MustCompile(`<[^<>]*>`)
)

type docCommand struct {
	line   int
	text   string
	inline bool // inline code, which may quote a string that starts with "panka"
}

// docCommandLines returns the panka command lines of a Markdown document:
// in code blocks (cut where the shell ends the command, comments left out)
// and in inline code. A synopsis ([--flag VALUE]...) is left out.
func docCommandLines(doc string) []docCommand {
	var out []docCommand
	add := func(line int, s string, inline bool) {
		s = placeholder.ReplaceAllString(s, "X")
		if i := strings.IndexAny(s, ")|;&>"); i >= 0 {
			s = s[:i]
		}
		if strings.Contains(s, "[") || strings.Contains(s, "...") || strings.Contains(s, "…") {
			return
		}
		out = append(out, docCommand{line, strings.TrimSpace(s), inline})
	}
	lines := strings.Split(doc, "\n")
	fence := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fence = !fence
			continue
		}
		if fence {
			if j := strings.Index(l, "#"); j >= 0 && (j == 0 || l[j-1] == ' ') {
				l = l[:j]
			}
			for _, m := range codeCommand.FindAllStringSubmatchIndex(l, -1) {
				add(i+1, l[m[2]:], false)
			}
			continue
		}
		// Prose: inline code may run on to the next line.
		joined := l
		if i+1 < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "```") {
			joined += " " + lines[i+1]
		}
		for _, m := range inlineCommand.FindAllStringSubmatchIndex(joined, -1) {
			if m[0] < len(l) {
				add(i+1, joined[m[2]:m[3]], true)
			}
		}
	}
	return out
}

// checkCommandLine parses args (after "panka") as the command they name
// would; strict also checks the positional arguments. It returns what is
// wrong, or "".
func checkCommandLine(root *cobra.Command, args []string, strict bool) string {
	if len(args) > 0 && args[0] == "panka" {
		args = args[1:]
	}
	c, rest, err := root.Find(args)
	if err != nil {
		return err.Error()
	}
	if err := c.ParseFlags(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			// `panka history --help`: the command's help, a line docs
			// send the reader to.
			return ""
		}
		if !strict && strings.HasPrefix(err.Error(), "flag needs an argument") {
			// Prose names a flag at the end: `panka validate --stack`.
			return ""
		}
		return err.Error()
	}
	if o := c.Flags().Lookup("output"); o != nil && o.Changed {
		switch v := o.Value.String(); v {
		case "text", "json":
		default:
			if !allowsOutput(c, v) {
				return "-o " + v + ": " + c.CommandPath() + " does not take it"
			}
		}
	}
	pos := c.Flags().Args()
	if c.HasSubCommands() && len(pos) > 0 {
		return "no subcommand " + pos[0] + " of " + c.CommandPath()
	}
	if strict {
		if err := c.ValidateArgs(pos); err != nil {
			return err.Error()
		}
	}
	return ""
}

// shellWords splits a command line as sh would (quotes, backslashes), up to
// a comment.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			w.WriteRune(rs[i])
			in = true
		case r == '#' && !in:
			return words
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}
