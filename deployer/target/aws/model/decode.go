package model

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"panka.dev/panka/stacks"
)

// decoder reads a component's Spec map into typed values. The resolved model
// is produced by the stacks package with defaults filled in, but it travels
// through JSON (state, saved plans), so numbers may arrive as int64,
// float64, json.Number-like strings; decoder accepts each form and records
// every problem with the field's path instead of stopping at the first.
type decoder struct {
	where string // `stack "s" environment "e" component "c"`
	file  string // the component's file, when known
	comp  string // the component's name
	errs  []error
}

func (d *decoder) fail(field, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Component: d.comp, Field: field, Msg: fmt.Sprintf("%s: spec.%s: %s", d.where, field, fmt.Sprintf(format, args...))})
}

// problem records a problem of the component as a whole, of no one field.
func (d *decoder) problem(format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Component: d.comp, Msg: fmt.Sprintf("%s: %s", d.where, fmt.Sprintf(format, args...))})
}

// Error is one problem with a component's spec. File is the repo-relative
// file that declares the component (stacks.Component.File): known when the
// model was resolved from YAML (plan, validate), empty when it was read
// back from JSON (state, a saved plan, the engine).
type Error struct {
	File string
	Msg  string
	// Component is the component the problem is of, "" for one of the
	// stack/environment; Field is the spec field (below spec, as
	// "secrets.TOKEN" or "subscriptions[0].endpoint"), "" for one of the
	// component as a whole. stacks.Stack.SpecPos gives their line.
	Component, Field string
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return e.File + ": " + e.Msg
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// value returns m[key] and whether it is present and not null.
func value(m map[string]any, key string) (any, bool) {
	if m == nil {
		return nil, false
	}
	v, ok := m[key]
	return v, ok && v != nil
}

// object reads a nested map; absent gives nil.
func (d *decoder) object(m map[string]any, prefix, key string) map[string]any {
	v, ok := value(m, key)
	if !ok {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		d.fail(join(prefix, key), "want an object, got %s", describe(v))
		return nil
	}
	return o
}

// str reads a plain string (no Sensitive); numbers are formatted.
func (d *decoder) str(m map[string]any, prefix, key, def string) string {
	v, ok := value(m, key)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case string:
		return x
	case int, int64, float64, bool:
		return fmt.Sprint(x)
	case stacks.Sensitive, *stacks.Sensitive:
		d.fail(join(prefix, key), "must not be a secret value")
		return def
	}
	d.fail(join(prefix, key), "want a string, got %s", describe(v))
	return def
}

// secretStr reads a string that may come from a secret variable: a
// non-empty string or stacks.Sensitive, nil when unset or empty.
func (d *decoder) secretStr(m map[string]any, prefix, key string) any {
	v, ok := value(m, key)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case stacks.Sensitive:
		return x
	case *stacks.Sensitive:
		if x != nil {
			return *x
		}
	}
	if s := d.str(m, prefix, key, ""); s != "" {
		return s
	}
	return nil
}

// scalar reads a value that is passed to AWS as a string and may be
// sensitive or hold references: string, number, bool or stacks.Sensitive.
func (d *decoder) scalar(v any, field string) (any, bool) {
	switch x := v.(type) {
	case string, stacks.Sensitive:
		return x, true
	case *stacks.Sensitive:
		if x == nil {
			break
		}
		return *x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	d.fail(field, "want a string, number or boolean, got %s", describe(v))
	return nil, false
}

func (d *decoder) boolean(m map[string]any, prefix, key string, def bool) bool {
	v, ok := value(m, key)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b
		}
	}
	d.fail(join(prefix, key), "want true or false, got %s", describe(v))
	return def
}

// toInt converts the numeric forms a resolved spec may hold.
func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case int32:
		return int(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), true
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return n, true
		}
	}
	return 0, false
}

func (d *decoder) integer(m map[string]any, prefix, key string, def int) int {
	v, ok := value(m, key)
	if !ok {
		return def
	}
	n, ok := toInt(v)
	if !ok {
		d.fail(join(prefix, key), "want a whole number, got %s", describe(v))
		return def
	}
	return n
}

func (d *decoder) number(m map[string]any, prefix, key string, def float64) float64 {
	v, ok := value(m, key)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f
		}
	}
	d.fail(join(prefix, key), "want a number, got %s", describe(v))
	return def
}

// seconds reads a duration given as whole seconds (30) or as a duration
// string ("30s", "5m", "4h", "14d").
func (d *decoder) seconds(m map[string]any, prefix, key string, def int) int {
	v, ok := value(m, key)
	if !ok {
		return def
	}
	if n, ok := toInt(v); ok {
		return n
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if days, found := strings.CutSuffix(s, "d"); found {
			if n, err := strconv.Atoi(days); err == nil {
				return n * 86400
			}
		}
		if dur, err := time.ParseDuration(s); err == nil && dur%time.Second == 0 {
			return int(dur / time.Second)
		}
	}
	d.fail(join(prefix, key), "want seconds (30) or a duration (\"30s\", \"5m\", \"14d\"), got %s", describe(v))
	return def
}

// strings reads a list of strings; a single string is accepted as a
// shell-like command line and split into words.
func (d *decoder) words(m map[string]any, prefix, key string) []string {
	v, ok := value(m, key)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		w, err := splitWords(x)
		if err != nil {
			d.fail(join(prefix, key), "%v", err)
		}
		return w
	case []string:
		return append([]string(nil), x...)
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				d.fail(fmt.Sprintf("%s[%d]", join(prefix, key), i), "want a string, got %s", describe(e))
				continue
			}
			out = append(out, s)
		}
		return out
	}
	d.fail(join(prefix, key), "want a list of strings, got %s", describe(v))
	return nil
}

// args reads a container command: words as words does, where an element
// (or the whole command line) may be sensitive: a secret variable in an
// argument (--token=${API_TOKEN}). Each element is a string or
// stacks.Sensitive, passed to Pulumi as a secret.
func (d *decoder) args(m map[string]any, prefix, key string) []any {
	v, ok := value(m, key)
	if !ok {
		return nil
	}
	var list []any
	switch x := v.(type) {
	case *stacks.Sensitive:
		if x == nil {
			break
		}
		v = *x
	}
	switch x := v.(type) {
	case stacks.Sensitive:
		w, err := splitWords(x.Clear)
		if err != nil {
			d.fail(join(prefix, key), "the command line from a secret value does not split into words (not shown: it is secret)")
			return nil
		}
		for _, s := range w {
			list = append(list, stacks.Sensitive{Clear: s, Hash: x.Hash})
		}
		return list
	case []any:
		for i, e := range x {
			switch s := e.(type) {
			case string, stacks.Sensitive:
				list = append(list, s)
			case *stacks.Sensitive:
				if s != nil {
					list = append(list, *s)
					continue
				}
				d.fail(fmt.Sprintf("%s[%d]", join(prefix, key), i), "want a string, got %s", describe(e))
			default:
				d.fail(fmt.Sprintf("%s[%d]", join(prefix, key), i), "want a string, got %s", describe(e))
			}
		}
		return list
	}
	for _, s := range d.words(m, prefix, key) {
		list = append(list, s)
	}
	return list
}

// list reads a list of arbitrary values.
func (d *decoder) list(m map[string]any, prefix, key string) []any {
	v, ok := value(m, key)
	if !ok {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		d.fail(join(prefix, key), "want a list, got %s", describe(v))
		return nil
	}
	return l
}

// SortedKeys returns the keys of m in order, so everything derived from a
// map (environment, secrets, policies) is deterministic.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describe names a value's type for error messages without printing
// secrets.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:37] + "..."
		}
		return strconv.Quote(x)
	case stacks.Sensitive, *stacks.Sensitive:
		return "(sensitive)"
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case int, int64, float64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// splitWords splits a command line into words with POSIX-shell-like
// quoting ('single', "double", backslash escapes); no expansion.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in command %q", quote, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
