package stacks

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// ftype is the type of a schema field.
type ftype uint8

const (
	tString ftype = iota
	tInt
	tBool
	tStringList
	tStringMap
	tObject
	tObjectList
)

// field is one field of a typed spec, derived from struct tags.
type field struct {
	name      string
	typ       ftype
	required  bool
	def       any // canonical default or nil
	optional  bool
	enum      []string
	min, max  *int64
	pattern   *regexp.Regexp
	lastMatch atomic.Pointer[string] // the last value pattern matched
	want      string                 // what pattern means, for errors
	secretRef bool                   // string map whose values may be {secret: ref}
	plainOn   []string               // targets (provider names) that take the field only in clear
	envKeys   bool                   // string map keyed by environment variable names
	fields    []*field               // tObject, tObjectList
}

var (
	schemaOnce       sync.Once
	schemas          map[Kind][]*field
	componentSchemas map[Kind][]*field
)

func initSchemas() {
	schemas = map[Kind][]*field{}
	componentSchemas = map[Kind][]*field{}
	dependsOn := structFields(reflect.TypeOf(struct {
		DependsOn []string `json:"dependsOn,omitempty"`
	}{}))
	for kind, v := range specTypes {
		fs := structFields(reflect.TypeOf(v))
		schemas[kind] = fs
		componentSchemas[kind] = append(append([]*field{}, fs...), dependsOn...)
	}
}

func kindSchema(k Kind) []*field {
	schemaOnce.Do(initSchemas)
	return schemas[k]
}

// componentSchema is the schema a component's spec is typed against: its
// kind's fields plus dependsOn, which every kind takes. resolve takes
// dependsOn out before typing (it becomes graph edges), so here it only
// makes unknown-field errors list it and suggest it for a near miss
// ("dependOn").
func componentSchema(k Kind) []*field {
	schemaOnce.Do(initSchemas)
	return componentSchemas[k]
}

func structFields(t reflect.Type) []*field {
	var out []*field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		f := &field{name: name, required: sf.Tag.Get("required") == "true", optional: strings.Contains(opts, "omitempty")}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			f.optional = true
		}
		switch ft.Kind() {
		case reflect.String:
			f.typ = tString
		case reflect.Int64:
			f.typ = tInt
		case reflect.Bool:
			f.typ = tBool
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.String {
				f.typ = tStringList
			} else {
				f.typ = tObjectList
				f.fields = structFields(ft.Elem())
			}
		case reflect.Map:
			f.typ = tStringMap
		case reflect.Struct:
			f.typ = tObject
			f.fields = structFields(ft)
		default:
			panic("stacks: unsupported spec field type " + ft.String())
		}
		if d, ok := sf.Tag.Lookup("default"); ok {
			switch f.typ {
			case tInt:
				n, _ := strconv.ParseInt(d, 10, 64)
				f.def = n
			case tBool:
				f.def = d == "true"
			default:
				f.def = d
			}
		}
		if e := sf.Tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, ",")
		}
		if m, ok := sf.Tag.Lookup("min"); ok {
			n, _ := strconv.ParseInt(m, 10, 64)
			f.min = &n
		}
		if m, ok := sf.Tag.Lookup("max"); ok {
			n, _ := strconv.ParseInt(m, 10, 64)
			f.max = &n
		}
		if p := sf.Tag.Get("pattern"); p != "" {
			f.pattern = regexp.MustCompile(p)
			f.want = sf.Tag.Get("want")
		}
		f.secretRef = sf.Tag.Get("secretrefs") == "true"
		if t := sf.Tag.Get("plain"); t != "" {
			f.plainOn = strings.Split(t, ",")
		}
		f.envKeys = name == "env" || name == "secrets"
		out = append(out, f)
	}
	return out
}

// matches reports whether s matches f.pattern. Specs repeat the same
// values (a region in every environment of every stack): the last value
// that matched is remembered.
func (f *field) matches(s string) bool {
	if p := f.lastMatch.Load(); p != nil && *p == s {
		return true
	}
	if !f.pattern.MatchString(s) {
		return false
	}
	f.lastMatch.Store(&s)
	return true
}

func fieldNames(fs []*field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// unitHint says how to write, as the integer field f wants it, a number
// n written in another tool's units — cpu in vCPUs (0.25) or Kubernetes
// millicores (250m) for Fargate CPU units, memory in Kubernetes or compose
// units (512Mi, 1Gi, 1G) for MiB, a port as docker-compose maps it
// (8080:80) — or a whole number written as a decimal (replicas: 2.0); ""
// otherwise.
func unitHint(f *field, n *node) string {
	if n.kind != nScalar {
		return ""
	}
	v := n.value
	switch f.name {
	case "cpu":
		vcpu, err := strconv.ParseFloat(v, 64)
		what := v + " vCPU"
		if m, ok := strings.CutSuffix(v, "m"); ok {
			if mc, merr := strconv.ParseInt(m, 10, 64); merr == nil {
				vcpu, err, what = float64(mc)/1000, nil, v+" (millicores)"
			}
		}
		if err == nil && vcpu > 0 && vcpu <= 16 {
			if u := vcpu * 1024; u == math.Trunc(u) {
				return fmt.Sprintf(": cpu is in CPU units, 1024 to a vCPU: %s is %d", what, int64(u))
			}
			return ": cpu is in CPU units, 1024 to a vCPU (256 is 0.25 vCPU)"
		}
	case "port":
		// "8080:80" (docker-compose's host:container), "80/tcp"
		// (Kubernetes' and Docker's port/protocol)
		v, _, _ = strings.Cut(v, "/")
		if i := strings.LastIndexByte(v, ':'); i >= 0 {
			v = v[i+1:]
		}
		if p, err := strconv.ParseInt(v, 10, 64); err == nil && p > 0 && p < 65536 && v != n.value {
			return fmt.Sprintf(": port is the one port the container listens on, write %d", p)
		}
		return ""
	case "memory":
		for _, u := range []struct {
			suffix string
			mib    float64
		}{{"Mi", 1}, {"MiB", 1}, {"M", 1}, {"MB", 1}, {"Gi", 1024}, {"GiB", 1024}, {"G", 1024}, {"GB", 1024}} {
			if num, ok := strings.CutSuffix(v, u.suffix); ok {
				if x, err := strconv.ParseFloat(num, 64); err == nil && x > 0 && x*u.mib == math.Trunc(x*u.mib) {
					return fmt.Sprintf(": memory is in MiB, write %d", int64(x*u.mib))
				}
			}
		}
	}
	if x, err := strconv.ParseFloat(v, 64); err == nil && n.tag == "!!float" && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
		return fmt.Sprintf(": write %d", int64(x))
	}
	return ""
}

// isSymbolicVar reports an unresolved variable kept symbolic (lenient
// mode): exactly "${var.NAME}".
func isSymbolicVar(s string) bool {
	return len(s) > 7 && strings.HasPrefix(s, "${var.") && s[len(s)-1] == '}' && isEnvName(s[6:len(s)-1])
}

// typer decodes merged, substituted node trees into canonical values.
type typer struct {
	errs *errList
	hash func(names []string, clear string) Sensitive
	// secretVar reports whether a variable is declared secret: one kept
	// symbolic (${var.NAME}, no value given) in a number or boolean field
	// is refused as a given one is.
	secretVar func(name string) bool
	// origin says which variables filled a substituted scalar and where
	// their values came from (" from variable NAME (--var NAME)"; ""
	// for none), for the errors of number and boolean fields.
	origin func(n *node) string
	// target is the provider name the component deploys with, comp the
	// component's name: a field the target takes only in clear (plain
	// tag) refuses secret variables, given or not.
	target, comp string
	// compFile is the file declaring the component: a null map entry
	// there is a value left out, not an override removing the entry.
	compFile string
	// legacy, when not nil, takes that null map entry instead of errs,
	// the entry left out as it was before it was refused (LoadLegacy).
	legacy *errList
	// secretRefs collects {secret: ref} env values moved to secrets.
	secretRefs map[string]string
	refPos     map[string]pos
	// path is the key path of the value being decoded.
	path []pathSeg
}

// pathSeg is one step of the key path of the value being decoded. Paths
// ("spec.env.X", "spec.command[0]") are rendered only when an error needs
// them: decoding a valid spec builds no path strings.
type pathSeg struct {
	text  string // the whole path (kpRoot), or a field or key name
	index int    // kpIndex
	how   uint8
}

// Ways a pathSeg extends the path before it.
const (
	kpRoot  uint8 = iota // text is the whole path
	kpJoin               // join(path, text)
	kpDot                // path + "." + text
	kpIndex              // path + "[index]"
)

// at renders the key path of the value being decoded.
func (ty *typer) at() string {
	s := ""
	for _, g := range ty.path {
		switch g.how {
		case kpRoot:
			s = g.text
		case kpJoin:
			s = join(s, g.text)
		case kpDot:
			s = s + "." + g.text
		case kpIndex:
			s = fmt.Sprintf("%s[%d]", s, g.index)
		}
	}
	return s
}

func (ty *typer) push(g pathSeg) { ty.path = append(ty.path, g) }
func (ty *typer) pop()           { ty.path = ty.path[:len(ty.path)-1] }

// object decodes a mapping against fields. path is the dotted key path so
// far.
func (ty *typer) object(fs []*field, n *node, path string) map[string]any {
	ty.push(pathSeg{text: path})
	m := ty.objectAt(fs, n)
	ty.pop()
	return m
}

// objectAt is object at the current path.
func (ty *typer) objectAt(fs []*field, n *node) map[string]any {
	out := make(map[string]any, len(fs))
	if n != nil && n.bad {
		return out // unknown (a key set twice): nothing to check
	}
	if n != nil && n.kind != nMap && n.kind != nNull {
		ty.errs.add(n.pos(), ty.at(), "want a mapping with fields %s, got %s", fieldNames(fs), n.describeMap())
		return out
	}
	if n != nil {
		for _, k := range n.keys {
			found := false
			for _, f := range fs {
				if f.name == k.value {
					found = true
					break
				}
			}
			if !found {
				unknownField(ty.errs, n, k, ty.at(), fs)
			}
		}
	}
	for _, f := range fs {
		v := n.get(f.name)
		if v.isNull() && f.def != nil {
			out[f.name] = f.def
			continue
		}
		ty.push(pathSeg{text: f.name, how: kpJoin})
		ty.field(out, f, n, v)
		ty.pop()
	}
	return out
}

// unknownField reports key k, not among fs, of mapping n at key path at.
func unknownField(errs *errList, n, k *node, at string, fs []*field) {
	hint := ""
	if k.value == "spec" && at == "spec" {
		// spec: {spec: ...}, or overrides: {web: {spec:
		// {replicas: 2}}} (a component document's layout;
		// the override's path is given it later).
		hint = ": the fields go straight under spec:, not under a second one; move them up one level and remove this spec:"
		if path.Base(path.Dir(k.file)) == EnvironmentsDir {
			hint = ": an override holds the component's spec fields themselves; move the fields under this spec: up one level and remove it"
		}
	}
	sug := underEmptyHint(n, k, fs)
	if sug == "" {
		sug = suggest(k.value, fs)
	}
	errs.add(k.pos(), join(at, k.value), "unknown field%s; valid fields: %s%s", sug, fieldNames(fs), hint)
}

// underEmptyHint says, for key k of mapping n that is not among fs, when
// it belongs under the field above it that was left empty, its lines
// not indented under it (healthCheck: then path: /h at the same
// indentation); "" otherwise.
func underEmptyHint(n, k *node, fs []*field) string {
	i := slices.Index(n.keys, k)
	known := func(key string) *field {
		for _, f := range fs {
			if f.name == key {
				return f
			}
		}
		return nil
	}
	j := i - 1
	for j >= 0 && known(n.keys[j].value) == nil {
		j-- // the lines before k that are not fields either
	}
	if i < 0 || j < 0 || n.vals[j] == nil || n.vals[j].kind != nNull || n.vals[j].line == 0 || n.keys[j].file != k.file {
		return ""
	}
	f := known(n.keys[j].value)
	// Any key may be an env's, unless it is near a field's name
	// (replicaz): then the typo is likelier.
	if f.typ == tStringMap && suggest(k.value, fs) == "" || f.typ == tObject && slices.ContainsFunc(f.fields, func(x *field) bool { return x.name == k.value }) {
		return fmt.Sprintf(" (%s on line %d has nothing under it: indent this line under it, YAML nests by indentation)", f.name, n.keys[j].line)
	}
	return ""
}

// CheckFields reports the unknown fields of the stack's component specs
// and of the environments' overrides of them, as Validate does, without
// resolving anything (no variables, references or types): a check cheap
// enough for every stack of a large repository (stack list), where Load
// alone passed a component with a misspelt field that validate refuses.
// It returns an *Errors naming each at its file:line, or nil.
func (s *Stack) CheckFields() error {
	var errs errList
	for _, c := range s.comps {
		fs := componentSchema(c.kind)
		if fs == nil {
			continue // an unknown kind: Load says so
		}
		unknownFields(&errs, fs, c.spec, "spec")
		if s.dupComps[c.name] {
			continue // which one an override is for is not known
		}
		for _, name := range s.header.Environments {
			if e := s.envs[name]; e != nil {
				r := &resolver{s: s, env: e, errs: &errs}
				first := len(errs.list)
				unknownFields(&errs, fs, r.override(c.name), "spec")
				r.overrideKeys(c.name, first)
			}
		}
	}
	return errs.err()
}

// unknownFields reports the keys of mapping n (at key path at) that fs
// does not have, and those of the objects under it, as typer does; other
// values are left to typer.
func unknownFields(errs *errList, fs []*field, n *node, at string) {
	if n == nil || n.kind != nMap {
		return
	}
	// In typer's order: this mapping's unknown keys, then the fields'.
	for _, k := range n.keys {
		if !slices.ContainsFunc(fs, func(f *field) bool { return f.name == k.value }) {
			unknownField(errs, n, k, at, fs)
		}
	}
	for _, f := range fs {
		switch v := n.get(f.name); {
		case v == nil:
		case f.typ == tObject:
			unknownFields(errs, f.fields, v, join(at, f.name))
		case f.typ == tObjectList && v.kind == nSeq:
			for j, it := range v.items {
				unknownFields(errs, f.fields, it, fmt.Sprintf("%s[%d]", join(at, f.name), j))
			}
		}
	}
}

// field decodes the value v of field f of mapping n (nil or null when
// absent) into out.
func (ty *typer) field(out map[string]any, f *field, n, v *node) {
	if v.isNull() {
		if f.required {
			if v != nil && v.line > 0 {
				// Written empty, or removed by an override's null:
				// that is where to fix it.
				ty.errs.add(v.pos(), ty.at(), "required field is empty (null): give it a value")
				return
			}
			if caseTwin(n, f.name) {
				return
			}
			p := pos{}
			if n != nil {
				p = n.pos()
			}
			ty.errs.add(p, ty.at(), "required field is missing")
			return
		}
		if f.def != nil {
			out[f.name] = f.def
		} else if f.typ == tObject && !f.optional {
			out[f.name] = ty.objectAt(f.fields, nil)
		}
		return
	}
	if x, ok := ty.value(f, v); ok {
		out[f.name] = x
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// suggest returns ` (did you mean "x"?)` for a near-miss field name, or
// for the name Kubernetes, Helm, docker-compose or ECS give the field.
func suggest(name string, fs []*field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	if s := suggestWord(name, names...); s != "" {
		return s
	}
	if w, ok := otherToolsNames[name]; ok && slices.Contains(names, w.field) {
		return fmt.Sprintf(" (%s calls it that: panka's field is %q)", w.tool, w.field)
	}
	if name == "resources" && slices.Contains(names, "cpu") && slices.Contains(names, "memory") {
		return " (Kubernetes' resources: panka takes cpu and memory straight under spec, in Fargate units, e.g. cpu: 256 and memory: 512)"
	}
	return ""
}

// otherToolsNames maps the names of fields in the files people copy
// stacks from to panka's.
var otherToolsNames = map[string]struct{ tool, field string }{
	"environment":    {"docker-compose", "env"},
	"containerPort":  {"Kubernetes", "port"},
	"targetPort":     {"Kubernetes", "port"},
	"replicaCount":   {"Helm", "replicas"},
	"desiredCount":   {"ECS", "replicas"},
	"args":           {"Kubernetes", "command"},
	"entrypoint":     {"docker-compose", "command"},
	"livenessProbe":  {"Kubernetes", "healthCheck"},
	"readinessProbe": {"Kubernetes", "healthCheck"},
	"engineVersion":  {"RDS", "version"},
}

// suggestWord returns ` (did you mean "x"?)` for the word closest to name
// (case aside, at most two edits away), or "".
func suggestWord(name string, words ...string) string {
	if odd, clean := invisibleRunes(name); odd != 0 {
		// fi\u200bfo looks like fifo on screen, and three bytes away
		// from it: say what is in the name.
		if d := suggestWord(clean, words...); d != "" {
			return fmt.Sprintf(" (the name holds %U, an invisible character: retype it; %s", odd, strings.TrimPrefix(d, " ("))
		}
		return fmt.Sprintf(" (the name holds %U, an invisible character: retype it)", odd)
	}
	best, bd := "", 3
	for _, w := range words {
		if d := EditDistance(strings.ToLower(name), strings.ToLower(w)); d < bd {
			best, bd = w, d
		}
	}
	if best == "" {
		return ""
	}
	if name != best && strings.EqualFold(name, best) {
		// Kind, Image, microservice: the right word in the wrong case,
		// which a reader's eye passes over.
		return fmt.Sprintf(" (case matters: write %q)", best)
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// caseTwin reports whether mapping n has a key that is name in another
// case (Kind for kind): that key is reported as an unknown field whose
// message says how to write it, so name is not also reported missing.
func caseTwin(n *node, name string) bool {
	if n == nil || n.kind != nMap {
		return false
	}
	for _, k := range n.keys {
		if k.value != name && strings.EqualFold(k.value, name) {
			return true
		}
	}
	return false
}

// Suggestions returns the names closest to name (at most two edits away,
// one for a name of three letters or less; the closest only, at most three
// of them, sorted; else those it begins, "prod" for "production").
func Suggestions(name string, names []string) []string {
	var best []string
	bd := 2
	if len(name) <= 3 {
		bd = 1 // two edits make most short names any other
	}
	for _, n := range names {
		d := EditDistance(name, n)
		switch {
		case d > bd:
		case d < bd || len(best) == 0:
			best, bd = []string{n}, d
		case !slices.Contains(best, n):
			best = append(best, n)
		}
	}
	if len(best) == 0 && len(name) >= 3 {
		for _, n := range names {
			if strings.HasPrefix(n, name) && !slices.Contains(best, n) {
				best = append(best, n)
			}
		}
	}
	sort.Strings(best)
	return best[:min(len(best), 3)]
}

// DidYouMean is "did you mean "x"?" for the Suggestions of name, "" when
// there are none.
func DidYouMean(name string, names []string) string {
	best := Suggestions(name, names)
	if len(best) == 0 {
		return ""
	}
	q := make([]string, len(best))
	for i, n := range best {
		q[i] = strconv.Quote(n)
	}
	return "did you mean " + strings.Join(q, " or ") + "?"
}

// invisibleRunes returns the first character of name that does not show
// as itself (a zero-width or non-breaking space, a control or format
// character; 0 when there is none) and name without such characters.
func invisibleRunes(name string) (rune, string) {
	var first rune
	clean := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && r >= ' ' && r != 0x7f || r >= utf8.RuneSelf && unicode.IsGraphic(r) && !unicode.IsSpace(r) {
			return r
		}
		if first == 0 {
			first = r
		}
		return -1
	}, name)
	return first, clean
}

// EditDistance is the edit distance of two short strings, two adjacent
// letters swapped counting as one edit, as in a typo (optimal string
// alignment; 99 when either is longer than 64 bytes), for "did you mean"
// suggestions.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1) // two letters swapped: one typo
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// yaml11Hint explains a yes/no/on/off written for a boolean: booleans in
// YAML 1.1 (and to yaml.v2), strings in YAML 1.2. "" for other values.
func yaml11Hint(v string) string {
	switch strings.ToLower(v) {
	case "yes", "no", "on", "off", "y", "n":
		return fmt.Sprintf(": stack files are YAML 1.2, where %s is a string, not a boolean; write true or false", v)
	}
	return ""
}

// yaml11VarHint is yaml11Hint for a variable's value, which is read as
// the same text written in the file would be.
func yaml11VarHint(v string) string {
	if yaml11Hint(v) == "" {
		return ""
	}
	return fmt.Sprintf(": a variable's value is read as in the stack files (YAML 1.2), where %s is a string, not a boolean; give true or false", v)
}

// originOf is ty.origin(n) for a substituted scalar, "" otherwise.
func (ty *typer) originOf(n *node) string {
	if !n.subst || ty.origin == nil {
		return ""
	}
	return ty.origin(n)
}

// leadingZeroDigits reports whether v is digits (after an optional sign)
// with a leading zero, such as 08080.
func leadingZeroDigits(v string) bool {
	d := strings.TrimLeft(v, "+-")
	if len(d) < 2 || d[0] != '0' {
		return false
	}
	for i := 1; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// value decodes one field value.
func (ty *typer) value(f *field, n *node) (any, bool) {
	if n.bad {
		return nil, false
	}
	switch f.typ {
	case tString:
		if f.required && n.kind == nScalar && strings.TrimSpace(n.value) == "" {
			// image: "" (or a variable set to nothing) would reach
			// the deployment as a container without an image.
			what := "empty"
			if n.value != "" {
				what = "blank"
			}
			if n.subst {
				ty.errs.add(n.pos(), ty.at(), "required field is %s once its variables are substituted: give them a value (--var, --var-file, PANKA_VAR_<NAME> or the environment file)", what)
			} else {
				ty.errs.add(n.pos(), ty.at(), "required field is %s: give it a value", what)
			}
			return nil, false
		}
		return ty.str(f, n)
	case tInt:
		if n.kind == nScalar && isSymbolicVar(n.value) {
			return n.value, ty.notSecretSymbol(n)
		}
		if !ty.notSecret(n) {
			return nil, false
		}
		if n.kind == nScalar && n.tag == "!!float" && leadingZeroDigits(n.value) {
			// 08080: not octal, so yaml.v3 reads it as a float.
			ty.errs.add(n.pos(), ty.at(), "want an integer, got %s: a leading zero is ambiguous (octal in YAML 1.1, decimal in YAML 1.2); write it without the zero", shown(n))
			return nil, false
		}
		if n.kind != nScalar || !(n.tag == "!!int" || n.subst) {
			hint := refHint(n)
			if _, err := strconv.ParseInt(n.value, 10, 64); err == nil && n.kind == nScalar && n.tag == "!!str" {
				// storageGB: "20": quoted, YAML reads a string.
				hint += fmt.Sprintf(": write %s without the quotes", n.value)
			} else {
				hint += unitHint(f, n)
			}
			ty.errs.add(n.pos(), ty.at(), "want an integer, got %s%s%s", n.describe(), hint, ty.originOf(n))
			return nil, false
		}
		digits := strings.ReplaceAll(n.value, "_", "")
		if d := strings.TrimLeft(digits, "+-"); len(d) > 1 && d[0] == '0' && d[1] >= '0' && d[1] <= '9' {
			// 0512: octal (330) to YAML 1.1 and to Go's parser, decimal
			// (512) to YAML 1.2 and to whoever zero-padded a variable;
			// either reading silently surprises someone.
			ty.errs.add(n.pos(), ty.at(), "want an integer, got %s: a leading zero is ambiguous (octal in YAML 1.1, decimal in YAML 1.2); write it without the zero, or 0o... for octal", shown(n))
			return nil, false
		}
		x, err := strconv.ParseInt(digits, 0, 64)
		if err != nil {
			ty.errs.add(n.pos(), ty.at(), "want an integer, got %s%s", shown(n), ty.originOf(n))
			return nil, false
		}
		if f.min != nil && x < *f.min || f.max != nil && x > *f.max {
			ty.errs.add(n.pos(), ty.at(), "%d is out of range %s", x, rangeText(f))
			return nil, false
		}
		if f.enum != nil && !contains(f.enum, strconv.FormatInt(x, 10)) {
			ty.errs.add(n.pos(), ty.at(), "%d is not one of %s", x, strings.Join(f.enum, ", "))
			return nil, false
		}
		return x, true
	case tBool:
		if n.kind == nScalar && isSymbolicVar(n.value) {
			return n.value, ty.notSecretSymbol(n)
		}
		if !ty.notSecret(n) {
			return nil, false
		}
		if n.kind == nScalar && (n.tag == "!!bool" || n.subst) {
			// A variable's value is a boolean where the same text
			// written in the file is one (YAML 1.2): --var, --var-file,
			// PANKA_VAR_ and the YAML files agree.
			switch n.value {
			case "true", "True", "TRUE":
				return true, true
			case "false", "False", "FALSE":
				return false, true
			}
		}
		if n.kind == nScalar && n.tag == "!!str" {
			h := yaml11Hint(n.value)
			if n.subst {
				h = yaml11VarHint(n.value)
			}
			if h != "" {
				ty.errs.add(n.pos(), ty.at(), "want true or false, got %s%s%s", shown(n), ty.originOf(n), h)
				return nil, false
			}
		}
		ty.errs.add(n.pos(), ty.at(), "want true or false, got %s%s%s", n.describe(), refHint(n), ty.originOf(n))
		return nil, false
	case tStringList:
		if n.kind != nSeq {
			hint := ""
			if n.kind == nScalar {
				// command: echo hi, as docker-compose takes it.
				hint = ": write a list, [a, b] or one \"- item\" a line"
				if strings.HasSuffix(ty.at(), "command") && len(n.secretVars()) == 0 {
					hint = fmt.Sprintf(": write it as a list, e.g. [sh, -c, %s] to run it in a shell", strconv.Quote(n.value))
				}
				hint = scalarAsListHint(n, hint)
			}
			ty.errs.add(n.pos(), ty.at(), "want a list of strings, got %s%s", n.describe(), hint)
			return nil, false
		}
		out := make([]any, 0, len(n.items))
		for i, it := range n.items {
			ty.push(pathSeg{index: i, how: kpIndex})
			if x, ok := ty.str(f, it); ok {
				out = append(out, x)
			}
			ty.pop()
		}
		if len(out) == 0 {
			return nil, false
		}
		return out, true
	case tStringMap:
		if n.kind != nMap {
			ty.errs.add(n.pos(), ty.at(), "want a mapping of names to strings, got %s", n.describeMap())
			return nil, false
		}
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			ty.push(pathSeg{text: k.value, how: kpDot})
			ty.mapEntry(out, f, k, n.vals[i])
			ty.pop()
		}
		if len(out) == 0 {
			return nil, false
		}
		return out, true
	case tObject:
		return ty.objectAt(f.fields, n), true
	case tObjectList:
		if n.kind != nSeq {
			ty.errs.add(n.pos(), ty.at(), "want a list, got %s%s", n.describe(), mapAsListHint(n))
			return nil, false
		}
		out := make([]any, 0, len(n.items))
		for i, it := range n.items {
			ty.push(pathSeg{index: i, how: kpIndex})
			if it.kind == nScalar {
				// - orders where - queue: orders was meant: one error
				// that shows how to write the item (checks skip it).
				ty.errs.add(it.pos(), ty.at(), "want a mapping with fields %s, got %s%s", fieldNames(f.fields), it.describeMap(), textItemHint(f, it))
				out = append(out, map[string]any{})
			} else {
				out = append(out, ty.objectAt(f.fields, it))
			}
			ty.pop()
		}
		if len(out) == 0 {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

// mapEntry decodes entry k: v of a string map field f into out.
func (ty *typer) mapEntry(out map[string]any, f *field, k, v *node) {
	if f.envKeys && !isEnvName(k.value) {
		ty.errs.add(k.pos(), ty.at(), "invalid name %q: use letters, digits and _ , not starting with a digit", k.value)
		return
	}
	if v.kind == nMap && f.secretRef {
		ref := v.get("secret")
		if len(v.keys) != 1 || ref == nil || ref.kind != nScalar || ref.value == "" {
			ty.errs.add(v.pos(), ty.at(), "a mapping value must be {secret: <SSM parameter or Secrets Manager ARN>}")
			return
		}
		// never shown: a password typed in place of its reference would be
		if err := secretRefProblem(ref.value, "(sensitive)"); err != "" {
			ty.errs.add(ref.pos(), ty.at()+".secret", "%s", err)
			return
		}
		if ty.secretRefs == nil {
			ty.secretRefs, ty.refPos = map[string]string{}, map[string]pos{}
		}
		ty.secretRefs[k.value] = ref.value
		ty.refPos[k.value] = k.pos()
		return
	}
	if v.kind == nMap && f.envKeys && len(v.keys) == 1 && v.keys[0].value == "secret" {
		// env's {secret: ref} written in secrets: the generic hint said to
		// quote "secret: ref", which then deploys that text as the
		// reference. The value is not echoed (a password may stand there).
		ty.errs.add(v.pos(), ty.at(), "want the SSM parameter or Secrets Manager ARN itself, got a mapping: {secret: <reference>} is how env takes a reference; here write %s: <reference>", k.value)
		return
	}
	if v.kind == nNull {
		if ty.compFile != "" && v.file == ty.compFile {
			// LOG_LEVEL: with nothing after it would silently not
			// be set; a null removes an entry only as an override.
			bad := ty.errs
			if ty.legacy != nil {
				bad = ty.legacy
			}
			bad.add(v.pos(), ty.at(), "%s has no value (null): give it one (\"\" for an empty string) or remove the line; a null removes an entry only in an environment's spec.overrides", k.value)
		}
		return
	}
	if x, ok := ty.str(&plainString, v); ok {
		out[k.value] = x
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// isEnvName is envName.MatchString without a regexp (it is also the rule
// for variable names).
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// plainString is the field of a value with no rules but being a string.
var plainString field

func refHint(n *node) string {
	if n.kind == nScalar && strings.Contains(n.value, "${") {
		return fmt.Sprintf(" (%s: references to component outputs can only be used in string fields)", shown(n))
	}
	if n.kind == nScalar {
		return fmt.Sprintf(" (%s)", shown(n))
	}
	return ""
}

// shown quotes a scalar for an error message: "(sensitive)" when a secret
// variable was substituted into it, since secrets are never printed.
func shown(n *node) string {
	if len(n.secretVars()) > 0 {
		return "(sensitive)"
	}
	return strconv.Quote(n.value)
}

// notSecret reports an error for a secret variable used in a number or
// boolean field, and false: such a field cannot hold a sensitive value,
// so the secret would be stored and printed in clear.
func (ty *typer) notSecret(n *node) bool {
	vs := n.secretVars()
	if len(vs) == 0 {
		return true
	}
	ty.errs.add(n.pos(), ty.at(), "secret variable %s cannot be used in a number or boolean field (it would be stored and shown in clear): use it in a string field such as env", strings.Join(vs, ", "))
	return false
}

// notSecretSymbol is notSecret for a variable without a value, kept as
// ${var.NAME} (validate, change detection): a secret one can never fill a
// number or boolean field, whatever its value, so it is refused without
// one, or validate (the pre-push hook) would pass what no plan can.
func (ty *typer) notSecretSymbol(n *node) bool {
	name := n.value[len("${var.") : len(n.value)-1]
	if ty.secretVar == nil || !ty.secretVar(name) {
		return true
	}
	ty.errs.add(n.pos(), ty.at(), "secret variable %s cannot be used in a number or boolean field (it would be stored and shown in clear): use it in a string field such as env", name)
	return false
}

func rangeText(f *field) string {
	switch {
	case f.min != nil && f.max != nil:
		return fmt.Sprintf("%d to %d", *f.min, *f.max)
	case f.min != nil:
		return fmt.Sprintf("at least %d", *f.min)
	case f.max != nil:
		return fmt.Sprintf("at most %d", *f.max)
	}
	return ""
}

// str decodes a scalar as a string; numbers and booleans keep their text.
func (ty *typer) str(f *field, n *node) (any, bool) {
	if n.kind != nScalar {
		hint := ""
		if n.kind == nMap && len(n.keys) == 1 && n.vals[0].kind == nScalar && n.keys[0].line == n.vals[0].line && n.col == n.keys[0].col {
			// - echo done: 3 files: a mapping to YAML.
			t := n.keys[0].value + ": " + n.vals[0].value
			hint = fmt.Sprintf(" (%s reads as a key and its value because of the \": \"; put it in quotes: %s)", strconv.Quote(t), strconv.Quote(t))
		}
		ty.errs.add(n.pos(), ty.at(), "want a string, got %s%s", n.describe(), hint)
		return nil, false
	}
	if f.enum != nil && !contains(f.enum, n.value) && !isSymbolicVar(n.value) {
		hint := ""
		if len(n.secretVars()) == 0 {
			hint = suggestWord(n.value, f.enum...) // engine: postgresql
		}
		ty.errs.add(n.pos(), ty.at(), "%s is not one of %s%s", shown(n), strings.Join(f.enum, ", "), hint)
		return nil, false
	}
	if f.pattern != nil && !f.matches(n.value) && !strings.Contains(n.value, "${") {
		hint := ""
		if len(n.secretVars()) == 0 && strings.ContainsAny(n.value, "\u201c\u201d\u2018\u2019") {
			// image: “nginx” (a chat app or word processor made
			// the quotes curly): YAML keeps them in the text.
			hint = ": its curly quotes (“ ” ‘ ’) are not YAML's, which are straight (\" or '): retype them, or remove them"
		}
		ty.errs.add(n.pos(), ty.at(), "%s is not %s%s", shown(n), f.want, hint)
		return nil, false
	}
	if !ty.notSecretFor(f, n) {
		return nil, false
	}
	if vs := n.secretVars(); len(vs) > 0 && ty.hash != nil {
		return ty.hash(vs, n.value), true
	}
	return n.value, true
}

// notSecretFor reports an error for a secret variable, given or kept as
// ${var.NAME} (validate, change detection), in a string field that the
// component's target passes on only in clear (ECS takes the image, the
// ALB its host and path as plain settings), and false: a plan would
// pass, then apply would fail.
func (ty *typer) notSecretFor(f *field, n *node) bool {
	if len(f.plainOn) == 0 || !contains(f.plainOn, ty.target) {
		return true
	}
	vs := n.secretVars()
	if ty.secretVar != nil {
		for rest := n.value; ; {
			i := strings.Index(rest, "${var.")
			if i < 0 {
				break
			}
			rest = rest[i+len("${var."):]
			name, _, ok := strings.Cut(rest, "}")
			if ok && isEnvName(name) && ty.secretVar(name) && !contains(vs, name) {
				vs = append(vs, name)
			}
		}
	}
	if len(vs) == 0 {
		return true
	}
	ty.errs.add(n.pos(), ty.at(), "secret variable %s cannot be used in %s of component %q: the %s target passes this field on in clear (it would be stored and shown in clear); use a variable that is not declared secret here, and pass secrets to the container in env or secrets", strings.Join(vs, ", "), strings.TrimPrefix(ty.at(), "spec."), ty.comp, ty.target)
	return false
}

// secretRefProblem validates an SSM parameter / Secrets Manager
// reference, naming it as shown: "(sensitive)", as references are never
// printed (SPEC §3; a password typed in its place would be).
func secretRefProblem(ref, shown string) string {
	switch {
	case strings.HasPrefix(ref, "arn:aws:ssm:"), strings.HasPrefix(ref, "arn:aws:secretsmanager:"),
		strings.HasPrefix(ref, "arn:aws-us-gov:"), strings.HasPrefix(ref, "arn:aws-cn:"):
		return ""
	case strings.HasPrefix(ref, "/"), strings.HasPrefix(ref, "ssm:"):
		return ""
	case strings.HasPrefix(ref, "${"):
		return ""
	}
	return fmt.Sprintf("%s is not a secret reference: use an SSM parameter path (/app/db-password), an SSM parameter ARN or a Secrets Manager ARN", shown)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// DecodeSpec decodes a resolved component's canonical spec into its typed
// spec (for example *MicroServiceSpec for a MicroService): pass a pointer to
// the type of the component's kind. Sensitive values decode as their hash;
// use Component.Spec for their clear values.
func DecodeSpec(c *Component, out any) error {
	b, err := json.Marshal(c.Spec)
	if err != nil {
		return fmt.Errorf("decode spec of %s: %w", c.Name, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode spec of %s (%s): %w", c.Name, c.Kind, err)
	}
	return nil
}

// KindFields lists the top-level spec fields of a component kind, sorted
// (for editors, docs and error messages).
func KindFields(k Kind) []string {
	fs := kindSchema(k)
	out := make([]string, 0, len(fs)+1)
	for _, f := range fs {
		out = append(out, f.name)
	}
	out = append(out, "dependsOn")
	sort.Strings(out)
	return out
}
