package stacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ErrNoEnvironment is returned (wrapped) by Resolve for an environment the
// stack does not have.
var ErrNoEnvironment = errors.New("no such environment")

// Variable sources, as recorded in ResolvedVar.Source.
const (
	SourceFlag        = "flag"
	SourceVarFile     = "var-file"
	SourceEnv         = "env"
	SourceEnvironment = "environment"
	SourceDefault     = "default"
	SourceUnset       = "unset"
)

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// varValue is a variable's value for one resolution.
type varValue struct {
	decl     *varDecl
	value    string
	source   string
	symbolic bool // no value: kept as ${var.NAME} (lenient)
	// secret: declared secret: true, or named in ResolveOptions.SecretVars
	// and given from outside the repository.
	secret bool
}

// resolver resolves one stack for one environment.
type resolver struct {
	s    *Stack
	env  *envDoc
	opts ResolveOptions
	errs *errList
	// legacy takes the problems a stack LoadLegacy loaded accepts while
	// resolving (nil for other stacks).
	legacy *errList
	vars   map[string]*varValue
	// envName is the environment resolved (secret hashes cover it).
	envName string
	// per component: references found while substituting (nil until one
	// is found).
	refs map[string]refAt
	// self is the component being substituted ("" for the provider);
	// provider is set while substituting the provider.
	self     string
	provider bool
	// path is the key path of the value being substituted (for errors).
	path []string
	// tyPath is reused by the typers of the resolution (key paths).
	tyPath []pathSeg
	// substVars names the variables substituted into each scalar (nil
	// until one is), so that a value a number or boolean field refuses
	// is named with the variable and where its value came from.
	substVars map[*node][]string
	// edges is where each dependency edge (from, to) was first written: a
	// dependsOn entry or a reference, for the position of a cycle error.
	edges map[[2]string]refAt
}

// refAt is where a reference was first used, with its key path.
type refAt struct {
	pos pos
	key string
}

// keyPath renders r.path as spec.env.NAME / spec.command[0].
func (r *resolver) keyPath() string {
	var b strings.Builder
	for i, p := range r.path {
		if i > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// Resolve merges the environment's overlay into the stack, substitutes
// variables, checks references and every field, and returns the canonical
// model of the stack in env. Problems are an *Errors listing all of them.
// A required variable without a value is an error unless opts.Lenient.
func (s *Stack) Resolve(env string, opts ResolveOptions) (*Resolved, error) {
	var e *envDoc
	if env != "" {
		e = s.envs[env]
		if e == nil {
			return nil, fmt.Errorf("stack %q: environment %q: %w (environments: %s; an environment exists iff %s/%s/%s.yaml exists)",
				s.header.Name, env, ErrNoEnvironment, strings.Join(s.header.Environments, ", "), s.header.Path, EnvironmentsDir, env)
		}
	}
	var errs errList
	r := &resolver{s: s, env: e, opts: opts, errs: &errs}
	if s.asDeployed {
		r.legacy = &errList{}
	}
	out := r.resolve(env)
	r.explainRunSecrets()
	if err := errs.err(); err != nil {
		return nil, err
	}
	if r.legacy != nil {
		out.Legacy = r.legacy.list
	}
	return out, nil
}

// explainRunSecrets adds, to each error about a secret variable that this
// stack declares without secret: true (one opts.SecretVars made secret),
// why it is secret here: the message alone read as a mistake in the
// stack's declaration.
func (r *resolver) explainRunSecrets() {
	for _, name := range sortedKeys(r.vars) {
		v := r.vars[name]
		if !v.secret || v.decl.secret {
			continue
		}
		for _, e := range r.errs.list {
			if strings.Contains(e.Msg, "secret variable ") && containsWord(e.Msg, name) {
				e.Msg += fmt.Sprintf(" (%s is not declared secret in %s, but the value given for it, with %s, is secret in this run: another stack declares %s secret: true, or it is secret at HEAD or in the deployed record; give this stack a variable of its own)",
					name, r.s.file, r.varSourceText(name), name)
			}
		}
	}
}

// containsWord reports whether s holds name not as part of a longer
// variable name.
func containsWord(s, name string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], name)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(name)
		if (j == 0 || !isNameByte(s[j-1])) && (end == len(s) || !isNameByte(s[end])) {
			return true
		}
		i = end
	}
}

func isNameByte(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' || c == '_' }

// Validate resolves every environment (and the stack without overlays when
// it has none) leniently: structure, declarations, references and the
// values given in opts are checked, but required variables need no value.
// It returns an *Errors with every problem of every environment.
func (s *Stack) Validate(opts ResolveOptions) error {
	return s.validate(s.header.Environments, opts)
}

func (s *Stack) validate(envs []string, opts ResolveOptions) error {
	opts.Lenient = true
	var errs errList
	all := len(envs) > 0 && len(envs) == len(s.envs)
	if len(envs) == 0 {
		envs = []string{""}
	}
	if all {
		envs = append(envs, shadowedCheck)
	}
	for _, env := range envs {
		var err error
		if env == shadowedCheck {
			err = s.CheckOverridden(opts)
		} else {
			_, err = s.Resolve(env, opts)
		}
		var es *Errors
		if errors.As(err, &es) {
			for _, x := range es.List {
				errs.addErr(x)
			}
		} else if err != nil {
			return err
		}
	}
	return errs.err()
}

// shadowedCheck stands for CheckOverridden among validate's environments.
const shadowedCheck = "\x00overridden"

// CheckOverridden checks, leniently as Validate does, the values in the
// component files that every environment overrides (deep merge: a value
// replaced in each environment file, or under a key each sets to another
// kind of value or to null). Resolving the environments never reads
// them, so a value of the wrong type there (storageGB: lots) passed
// validate, and stayed wrong for the environment added next. It returns
// an *Errors naming each one at its file:line, or nil.
func (s *Stack) CheckOverridden(opts ResolveOptions) error {
	if len(s.envs) == 0 {
		return nil
	}
	var shadowed map[pos]bool
	for _, c := range s.comps {
		if s.dupComps[c.name] {
			continue
		}
		var inAll map[*node]bool
		for _, name := range s.header.Environments {
			r := &resolver{s: s, env: s.envs[name]}
			here := map[*node]bool{}
			overridden(c.spec, r.override(c.name), here)
			if inAll == nil {
				inAll = here
			} else {
				for n := range inAll {
					if !here[n] {
						delete(inAll, n)
					}
				}
			}
			if len(inAll) == 0 {
				break
			}
		}
		for n := range inAll {
			if shadowed == nil {
				shadowed = map[pos]bool{}
			}
			shadowed[n.pos()] = true
		}
	}
	if len(shadowed) == 0 {
		return nil
	}
	opts.Lenient = true
	_, err := s.Resolve("", opts)
	var es *Errors
	if !errors.As(err, &es) {
		return nil
	}
	var out errList
	for _, e := range es.List {
		if shadowed[pos{e.File, e.Line, e.Column}] {
			e.Msg += " (every environment overrides this value, so no deployment uses it: fix it, or remove it from " + e.File + ")"
			out.addErr(e)
		}
	}
	return out.err()
}

// overridden marks in out the nodes of base that merging over drops
// (see merge).
func overridden(base, over *node, out map[*node]bool) {
	if base == nil || over == nil {
		return
	}
	if base.kind != nMap || over.kind != nMap {
		markTree(base, out)
		return
	}
	// Through an index, as merge finds them: an env map of 35,000 keys
	// overridden key by key took 8 s to validate when every override
	// searched every base key. A mapping's keys are unique (the parser
	// reports and drops a duplicate), so the first match is the one.
	var keys keyIndex
	for i, k := range over.keys {
		j := keys.find(base, k.value)
		if j < 0 {
			continue
		}
		if v := over.vals[i]; v.kind == nNull {
			markTree(base.vals[j], out)
		} else {
			overridden(base.vals[j], v, out)
		}
	}
}

func markTree(n *node, out map[*node]bool) {
	out[n] = true
	for _, k := range n.keys {
		out[k] = true
	}
	for _, v := range n.vals {
		markTree(v, out)
	}
	for _, it := range n.items {
		markTree(it, out)
	}
}

func (r *resolver) resolve(envName string) *Resolved {
	r.envName = envName
	out := &Resolved{Stack: r.s.header.Name, Environment: envName, Components: make([]Component, 0, len(r.s.comps))}
	r.resolveVars(out)
	out.Provider = r.resolveProvider()
	for _, c := range r.s.comps {
		spec := c.spec
		firstErr := len(r.errs.list)
		o := r.override(c.name)
		if r.s.dupComps[c.name] {
			// Which of the components named so is overridden is not
			// known: checking against the first would report the
			// other's fields as unknown.
			o = nil
		}
		if o != nil {
			spec = merge(spec, o)
		}
		r.refs = nil
		r.self, r.provider = c.name, false
		r.path = append(r.path[:0], "spec")
		spec = r.subst(spec)
		comp := Component{Name: c.name, Kind: c.kind, Service: c.service, File: c.file, Labels: c.labels}
		var deps depSet
		if dn := spec.get("dependsOn"); !dn.isNull() && !dn.bad && !spec.bad {
			if dn.kind != nSeq {
				hint := scalarAsListHint(dn, fmt.Sprintf(": write [%s]", dn.value)) // dependsOn: shop-db
				r.errs.add(dn.pos(), "spec.dependsOn", "want a list of component names, got %s%s", dn.describe(), hint)
			} else {
				for _, it := range dn.items {
					switch {
					case r.reportedAt(firstErr, it.pos()):
						// a reference or variable in it was reported by
						// subst (${db.url}, an output db lacks): what is
						// left of it is no name to report again
					case it.kind != nScalar:
						r.errs.add(it.pos(), "spec.dependsOn", "want a component name, got %s", it.describe())
					case it.value == c.name:
						r.errs.add(it.pos(), "spec.dependsOn", "component %q cannot depend on itself", c.name)
					case len(it.secretVars()) > 0:
						r.errs.add(it.pos(), "spec.dependsOn", "secret variable %s cannot name a component", strings.Join(it.secretVars(), ", "))
					case isSymbolicVar(it.value):
						// a variable without a value (validate): not known
						// yet, but a secret one can never name a component
						if name := it.value[len("${var.") : len(it.value)-1]; r.secretVar(name) {
							r.errs.add(it.pos(), "spec.dependsOn", "secret variable %s cannot name a component", name)
						}
					case r.s.compIdx[it.value] == nil:
						if !r.s.compsUnknown {
							if h := it.foldedHint(); h != "" {
								r.errs.add(it.pos(), "spec.dependsOn", "unknown component %q%s", it.value, h)
							} else {
								r.errs.add(it.pos(), "spec.dependsOn", "unknown component %q%s", it.value, suggestName(it.value, r.s.ComponentNames()))
							}
						}
					default:
						deps.add(it.value)
						r.edge(c.name, it.value, refAt{it.pos(), "spec.dependsOn"})
					}
				}
			}
			spec = without(spec, "dependsOn")
		}
		ty := typer{errs: r.errs, hash: r.hash, secretVar: r.secretVar, origin: r.origin, target: out.Provider.Name, comp: c.name, compFile: c.file, legacy: r.legacy, path: r.tyPath[:0]}
		comp.Spec = ty.object(componentSchema(c.kind), spec, "spec")
		r.tyPath = ty.path
		if ty.secretRefs != nil {
			sec, _ := comp.Spec["secrets"].(map[string]any)
			if sec == nil {
				sec = map[string]any{}
			}
			for _, k := range sortedKeys(ty.secretRefs) {
				v := ty.secretRefs[k]
				if _, dup := sec[k]; dup {
					r.errs.add(ty.refPos[k], "spec.env."+k, "%s is set both in env (as a secret reference) and in secrets: keep one", k)
					continue
				}
				sec[k] = v
			}
			comp.Spec["secrets"] = sec
		}
		r.checkKind(&comp, spec, &deps)
		for _, ref := range sortedKeys(r.refs) {
			p := r.refs[ref]
			name := ref[:strings.IndexByte(ref, '.')]
			if name == c.name {
				r.errs.add(p.pos, p.key, "component %q references its own output ${%s}: outputs exist only after deployment", c.name, ref)
				continue
			}
			deps.add(name)
			r.edge(c.name, name, p)
		}
		sort.Strings(deps)
		comp.DependsOn = deps
		out.Components = append(out.Components, comp)
		if o != nil {
			r.overrideKeys(c.name, firstErr)
		}
	}
	r.checkSubscriptions(out)
	if hasCycle(out.Components) {
		if _, err := out.Graph(); err != nil {
			var ce *CycleError
			if errors.As(err, &ce) {
				// Where the cycle's first edge is written (an override
				// in the environment file, maybe), else the component.
				at, ok := r.edges[[2]string{ce.Path[0], ce.Path[1]}]
				if !ok {
					at = refAt{r.s.compIdx[ce.Path[0]].pos, "spec.dependsOn"}
				} else if r.env != nil && at.pos.file == r.env.file && strings.HasPrefix(at.key, "spec.") {
					at.key = "spec.overrides." + ce.Path[0] + at.key[len("spec"):]
				}
				r.errs.add(at.pos, at.key, "%s (through dependsOn and ${component.output} references): break the cycle", err)
			}
		}
	}
	return out
}

// reportedAt is true when a problem at p was reported since
// errs.list[first].
func (r *resolver) reportedAt(first int, p pos) bool {
	for _, e := range r.errs.list[first:] {
		if e.File == p.file && e.Line == p.line && e.Column == p.col {
			return true
		}
	}
	return false
}

// edge records where from's dependency on to was first written.
func (r *resolver) edge(from, to string, at refAt) {
	if r.edges == nil {
		r.edges = map[[2]string]refAt{}
	}
	if _, ok := r.edges[[2]string{from, to}]; !ok {
		r.edges[[2]string{from, to}] = at
	}
}

// overrideKeys gives the problems found since errs.list[first] in the
// environment file the key path they have there: spec.overrides.<name>.x,
// not the component's own spec.x.
func (r *resolver) overrideKeys(name string, first int) {
	for _, e := range r.errs.list[first:] {
		if e.File == r.env.file && strings.HasPrefix(e.Key, "spec.") {
			e.Key = "spec.overrides." + name + e.Key[len("spec"):]
		}
	}
}

// override returns the environment's overrides of component name, or nil.
func (r *resolver) override(name string) *node {
	if r.env == nil {
		return nil
	}
	var spec *node
	for _, o := range r.env.overrides {
		if o.key.value == name {
			spec = o.spec // the last one, as a map built from the list would keep
		}
	}
	return spec
}

// depSet is a component's dependencies: a few names, without duplicates.
type depSet []string

func (d *depSet) add(name string) {
	if !contains(*d, name) {
		*d = append(*d, name)
	}
}

// without returns a copy of a map node without key.
func without(n *node, key string) *node {
	c := *n
	c.keys, c.vals = nil, nil
	for i, k := range n.keys {
		if k.value != key {
			c.keys = append(c.keys, k)
			c.vals = append(c.vals, n.vals[i])
		}
	}
	return &c
}

// merge deep-merges over into base: mappings merge key by key, everything
// else (lists included) is replaced; an explicit null removes the key.
func merge(base, over *node) *node {
	if over == nil {
		return base
	}
	if base == nil || base.kind != nMap || over.kind != nMap {
		return over
	}
	// What merging an unknown value (a key set twice) gives is unknown.
	out := &node{kind: nMap, file: base.file, line: base.line, col: base.col, bad: base.bad || over.bad}
	out.keys = append(make([]*node, 0, len(base.keys)+len(over.keys)), base.keys...)
	out.vals = append(make([]*node, 0, len(base.keys)+len(over.keys)), base.vals...)
	var keys keyIndex
	for i, k := range over.keys {
		v := over.vals[i]
		idx := keys.find(out, k.value)
		switch {
		case idx < 0:
			keys.add(out, k, v)
		case v.kind == nNull:
			out.vals[idx] = v
		default:
			out.vals[idx] = merge(out.vals[idx], v)
		}
	}
	return out
}

// resolveVars computes every declared variable's value by priority.
func (r *resolver) resolveVars(out *Resolved) {
	r.vars = make(map[string]*varValue, len(r.s.vars))
	for _, d := range r.s.vars {
		v := &varValue{decl: d, source: SourceUnset}
		if x, ok := r.opts.Vars.Flags[d.name]; ok {
			v.value, v.source = x, SourceFlag
		} else if x, ok := r.opts.Vars.File[d.name]; ok {
			v.value, v.source = x, SourceVarFile
		} else if x, ok := r.opts.Vars.Env[d.name]; ok {
			v.value, v.source = x, SourceEnv
		} else if n := r.envVar(d.name); n != nil {
			v.value, v.source = n.value, SourceEnvironment
		} else if d.hasDef {
			v.value, v.source = d.def, SourceDefault
		}
		if v.source == SourceUnset && r.opts.Lenient && (d.required || d.secret) {
			// Without values (validate, change detection) a secret is
			// as unknown as a required variable: "" would fail the
			// checks of the fields it fills.
			v.symbolic = true
		} else if v.source == SourceUnset && d.required {
			envName := "the stack"
			where := "spec.variables in " + r.s.file
			if r.env != nil {
				envName = "environment " + strconv.Quote(r.env.name)
				where = "spec.variables in " + r.env.file
			}
			r.errs.add(d.pos, "spec.variables."+d.name, "required variable %s has no value for %s: set it with --var %s=VALUE, --var-file, PANKA_VAR_%s or %s",
				d.name, envName, d.name, d.name, where)
		}
		v.secret = d.secret || r.opts.SecretVars[d.name] && GivenOutside(v.source)
		r.vars[d.name] = v
		rv := ResolvedVar{Name: d.name, Source: v.source, Secret: v.secret}
		switch {
		case v.symbolic:
			rv.Value = "${var." + d.name + "}"
		case v.secret && v.source != SourceUnset:
			rv.Value = r.hash([]string{d.name}, v.value)
		case v.source != SourceUnset:
			rv.Value = v.value
		}
		out.Variables = append(out.Variables, rv)
	}
}

// GivenOutside reports whether a variable's source (ResolvedVar.Source)
// is outside the repository: --var, --var-file or PANKA_VAR_*. Such a
// value is what a deployment record's vars hold, and what `changed`,
// which reads commits only, never sees.
func GivenOutside(source string) bool {
	return source == SourceFlag || source == SourceVarFile || source == SourceEnv
}

// secretVar reports whether name is a variable declared secret (or
// treated as one, see ResolveOptions.SecretVars).
func (r *resolver) secretVar(name string) bool {
	v := r.vars[name]
	return v != nil && v.secret
}

func (r *resolver) envVar(name string) *node {
	if r.env == nil {
		return nil
	}
	return r.env.vars[name]
}

// hash makes a Sensitive value. With opts.SecretKey it is an HMAC-SHA256
// keyed by it ("sensitive:hmac-sha256:v2:<hex>"); without a key it falls
// back to an unkeyed SHA-256 ("sensitive:sha256:v2:<hex>"), which still
// shows changes but can be brute-forced for guessable secrets, so callers
// that store hashes (state, history) must pass a key. The hash covers the
// stack and environment (HashSensitiveAt).
func (r *resolver) hash(names []string, clear string) Sensitive {
	return HashSensitiveAt(r.opts.SecretKey, r.s.header.Name, r.envName, strings.Join(names, ","), clear)
}

// SecretMatches reports whether value is the secret a recorded hash
// (a saved plan's or a deployment record's vars) stands for: hashed at
// stack/env (v2), or the older way (name and value only).
func SecretMatches(key []byte, stack, env, name, value, recorded string) bool {
	h := HashSensitiveAt(key, stack, env, name, value)
	return recorded == h.Hash || recorded == h.Legacy
}

// HashSensitiveAt returns the Sensitive form of a secret value of a stack
// in an environment: the hash ("v2") covers the stack, the environment,
// the variable name(s) and the value, so the same password in two
// environments or stacks does not hash alike (state readers cannot tell
// it is reused). Legacy is the hash HashSensitive gives (name and value
// only, as deployments before v2 recorded it): a deployed secret recorded
// so keeps that hash while it does not change (planner.KeepDeployedHashes),
// so it does not plan as changed.
func HashSensitiveAt(key []byte, stack, env, name, value string) Sensitive {
	legacy := HashSensitive(key, name, value).Hash
	msg := "v2\x00" + stack + "\x00" + env + "\x00" + name + "\x00" + value
	if len(key) == 0 {
		sum := sha256.Sum256([]byte(msg))
		return Sensitive{Clear: value, Hash: SensitivePrefix + "sha256:v2:" + hex.EncodeToString(sum[:]), Legacy: legacy}
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return Sensitive{Clear: value, Hash: SensitivePrefix + "hmac-sha256:v2:" + hex.EncodeToString(m.Sum(nil)), Legacy: legacy}
}

// HashSensitive returns the Sensitive form of a secret value: name is the
// variable name(s), the hash covers name + "\x00" + value (see resolver.hash
// for the keyed and unkeyed forms).
func HashSensitive(key []byte, name, value string) Sensitive {
	msg := name + "\x00" + value
	if len(key) == 0 {
		sum := sha256.Sum256([]byte(msg))
		return Sensitive{Clear: value, Hash: SensitivePrefix + "sha256:" + hex.EncodeToString(sum[:])}
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return Sensitive{Clear: value, Hash: SensitivePrefix + "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))}
}

// resolveProvider merges the environment's provider over the stack's.
func (r *resolver) resolveProvider() Provider {
	n := r.s.provider
	if r.env != nil && r.env.provider != nil {
		n = merge(n, r.env.provider)
	}
	r.refs = nil
	r.self, r.provider = "", true
	r.path = append(r.path[:0], "spec", "provider")
	n = r.subst(n)
	for _, ref := range sortedKeys(r.refs) {
		p := r.refs[ref]
		r.errs.add(p.pos, p.key, "${%s}: component outputs cannot be used in the provider", ref)
	}
	r.noSecrets(n, "spec.provider")
	ty := typer{errs: r.errs, origin: r.origin, path: r.tyPath[:0]}
	m := ty.object(providerFields, n, "spec.provider")
	r.tyPath = ty.path
	p := Provider{}
	p.Name, _ = m["name"].(string)
	p.Region, _ = m["region"].(string)
	p.AssumeRole, _ = m["assumeRole"].(string)
	p.Directory, _ = m["directory"].(string)
	if nw, ok := m["network"].(map[string]any); ok {
		p.Network = &Network{}
		p.Network.VpcID, _ = nw["vpcId"].(string)
		p.Network.ListenerArn, _ = nw["listenerArn"].(string)
		p.Network.PublicSubnets = stringList(nw["publicSubnets"])
		p.Network.PrivateSubnets = stringList(nw["privateSubnets"])
	}
	if tags, ok := m["tags"].(map[string]any); ok {
		p.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			p.Tags[k] = fmt.Sprint(v)
		}
	}
	if p.Name == "local" && p.Directory == "" {
		p.Directory = ".panka/local"
	}
	return p
}

// noSecrets reports secret variables substituted anywhere in n (the
// provider): its settings are plain strings, stored and shown in clear.
func (r *resolver) noSecrets(n *node, kp string) {
	if n == nil {
		return
	}
	if vs := n.secretVars(); len(vs) > 0 {
		r.errs.add(n.pos(), kp, "secret variable %s cannot be used in the provider (its settings are stored and shown in clear)", strings.Join(vs, ", "))
	}
	for i, v := range n.vals {
		r.noSecrets(v, kp+"."+n.keys[i].value)
	}
	for i, it := range n.items {
		r.noSecrets(it, kp+indexSeg(i))
	}
}

func stringList(v any) []string {
	xs, _ := v.([]any)
	if len(xs) == 0 {
		return nil
	}
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Variable names are isEnvName's ([A-Za-z_][A-Za-z0-9_]*); references
// are splitRef's (<component>.<output>: [a-z][a-z0-9-]* "."
// [A-Za-z][A-Za-z0-9]*).

// subst substitutes variables in every scalar of n and records references.
// Unchanged subtrees are shared, not copied.
func (r *resolver) subst(n *node) *node {
	if n == nil || n.bad {
		return n
	}
	switch n.kind {
	case nScalar:
		if strings.IndexByte(n.value, '$') < 0 {
			return n
		}
		return r.substScalar(n)
	case nMap:
		var out *node
		for i, v := range n.vals {
			r.path = append(r.path, n.keys[i].value)
			nv := r.subst(v)
			r.path = r.path[:len(r.path)-1]
			if nv != v && out == nil {
				c := *n
				c.vals = append([]*node(nil), n.vals...)
				out = &c
			}
			if out != nil {
				out.vals[i] = nv
			}
		}
		if out != nil {
			return out
		}
	case nSeq:
		var out *node
		for i, v := range n.items {
			r.path = append(r.path, indexSeg(i))
			nv := r.subst(v)
			r.path = r.path[:len(r.path)-1]
			if nv != v && out == nil {
				c := *n
				c.items = append([]*node(nil), n.items...)
				out = &c
			}
			if out != nil {
				out.items[i] = nv
			}
		}
		if out != nil {
			return out
		}
	}
	return n
}

func (r *resolver) substScalar(n *node) *node {
	reported := len(r.errs.list)
	out := r.substScalarText(n)
	if len(r.errs.list) > reported && out != nil && !out.bad {
		c := *n
		c.bad = true
		return &c
	}
	return out
}

// substScalarText substitutes the variables of n's text (see substScalar).
func (r *resolver) substScalarText(n *node) *node {
	s := n.value
	var b strings.Builder
	b.Grow(len(s) + 16)
	var secrets, used []string
	var joins []int // where a substituted text ending in "$" ends (see fixJoins)
	substituted := false
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("$${") // stays escaped in the model (see FindRefs)
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			if s[i] == '$' && (i == 0 || s[i-1] != '$') {
				r.unbracedVar(n, s[i+1:])
			}
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			r.errs.add(n.pos(), r.keyPath(), "unterminated ${ in %q: close it with } (write $${ for a literal ${)", s)
			return n
		}
		expr := s[i+2 : i+2+end]
		i += 2 + end + 1
		if expr == "$" {
			// ${$}: a literal "$", e.g. right before a reference
			b.WriteByte('$')
			joins = append(joins, b.Len())
			continue
		}
		name, def, hasDef := strings.Cut(expr, ":-")
		if hasDef && strings.Contains(def, "${") {
			// ${A:-${B}} would end at the first "}" and leave a literal
			// "${B}" (a reference to the deployer) in the value.
			r.errs.add(n.pos(), r.keyPath(), "the default of ${%s:-...} cannot hold ${...}: nested substitutions are not supported; give %s a default in %s instead", name, name, r.s.file)
			return n
		}
		if !hasDef && strings.Contains(name, ".") && !strings.HasPrefix(name, "var.") {
			comp, output, ok := splitRef(name)
			if !ok {
				if t := strings.TrimSpace(expr); t != expr {
					if _, _, ok := splitRef(t); ok {
						r.errs.add(n.pos(), r.keyPath(), "invalid reference ${%s}: no spaces inside ${...}: write ${%s}", expr, t)
						continue
					}
				}
				if parts := strings.Split(expr, "."); len(parts) == 3 {
					if _, _, ok := splitRef(parts[1] + "." + parts[2]); ok {
						// ${billing.db.endpoint}: another stack's output.
						r.errs.add(n.pos(), r.keyPath(), "invalid reference ${%s}: a reference names a component of this stack, ${<component>.<output>}; another stack's outputs cannot be referenced (pass the value in a variable instead)", expr)
						continue
					}
				}
				r.errs.add(n.pos(), r.keyPath(), "invalid reference ${%s}: write ${<component>.<output>}", expr)
				continue
			}
			c := r.s.compIdx[comp]
			if c == nil && r.s.compsUnknown {
				// Maybe declared in the file that does not load.
				b.WriteString("${" + expr + "}")
				continue
			}
			if c == nil {
				r.errs.add(n.pos(), r.keyPath(), "reference ${%s}: unknown component %q%s", expr, comp, suggestName(comp, r.s.ComponentNames()))
				continue
			}
			if !contains(c.kind.Outputs(), output) && !r.s.dupComps[comp] {
				hint := ""
				if strings.HasPrefix(r.keyPath(), "spec.dependsOn[") {
					hint = fmt.Sprintf(" (dependsOn takes component names: write %s)", comp)
				}
				r.errs.add(n.pos(), r.keyPath(), "reference ${%s}: a %s has no output %q; its outputs are %s%s", expr, c.kind, output, strings.Join(c.kind.Outputs(), ", "), hint)
				continue
			}
			if _, ok := r.refs[name]; !ok {
				if r.refs == nil {
					r.refs = map[string]refAt{}
				}
				r.refs[name] = refAt{n.pos(), r.keyPath()}
			}
			b.WriteString("${")
			b.WriteString(name)
			b.WriteString("}")
			continue
		}
		name = strings.TrimPrefix(name, "var.")
		if !isEnvName(name) {
			if t := strings.TrimSpace(name); t != name && isEnvName(t) {
				r.errs.add(n.pos(), r.keyPath(), "invalid variable ${%s}: no spaces inside ${...}: write ${%s}", expr, strings.Replace(expr, name, t, 1))
				continue
			}
			if v, d, ok := shellDefault(name); ok {
				// The shell's other forms: ${IMAGE:latest},
				// ${IMAGE-latest}, ${IMAGE:=latest}.
				r.errs.add(n.pos(), r.keyPath(), "invalid variable ${%s}: a default follows \":-\": write ${%s:-%s}", expr, v, d)
				continue
			}
			r.errs.add(n.pos(), r.keyPath(), "invalid variable ${%s}: names use letters, digits and _ (references are ${<component>.<output>})", expr)
			continue
		}
		substituted = true
		used = append(used, name)
		v := r.vars[name]
		before := b.Len()
		switch {
		case v == nil && hasDef:
			if given := r.givenUndeclared(name); given != "" && !r.s.varsUnknown {
				// Only declared variables take values from outside (as
				// the environment file's spec.variables): this one would
				// silently keep its default.
				r.errs.add(n.pos(), r.keyPath(), "variable %s is given (%s) but not declared in spec.variables of %s, so ${%s:-...} ignores it and takes its default: declare it there (%s: {default: ...}) to set it from outside, or do not give it",
					name, given, r.s.file, name, name)
			}
			b.WriteString(def)
		case v == nil && r.s.varsUnknown:
			// stack.yaml did not load: its declarations are unknown
			// (that problem is reported), not missing.
			b.WriteString("${var.")
			b.WriteString(name)
			b.WriteString("}")
		case v == nil:
			r.errs.add(n.pos(), r.keyPath(), "undeclared variable ${%s}%s: declare it under spec.variables in %s, or give a default with ${%s:-value}", name, r.s.suggestVar(name), r.s.file, name)
		case v.symbolic:
			if hasDef {
				b.WriteString(def)
				if v.secret {
					secrets = append(secrets, name) // as below
				}
			} else {
				b.WriteString("${var.")
				b.WriteString(name)
				b.WriteString("}")
			}
		case v.source == SourceUnset || v.value == "" && hasDef:
			b.WriteString(def)
			if v.secret {
				// The default of ${SECRET:-default} stands in for the
				// secret's value, as its declared default does: hashed
				// and shown as (sensitive), not kept in clear in state,
				// manifests and plans.
				secrets = append(secrets, name)
			}
		default:
			b.WriteString(escape(v.value))
			if v.secret {
				secrets = append(secrets, name)
			}
		}
		if b.Len() > before && b.String()[b.Len()-1] == '$' {
			joins = append(joins, b.Len())
		}
	}
	out := *n
	out.value = b.String()
	if joins != nil {
		out.value = fixJoins(out.value, joins)
	}
	if substituted {
		out.subst = true
		out.tag = "!!str"
	}
	if len(secrets) > 0 {
		vs := append(append([]string(nil), n.secretVars()...), secrets...)
		out.secrets = &vs
	}
	if len(used) > 0 {
		if r.substVars == nil {
			r.substVars = map[*node][]string{}
		}
		r.substVars[&out] = used
	}
	return &out
}

// unbracedVar reports $NAME (rest is the text after the "$") where NAME
// is a declared variable: image: $IMAGE deployed the image "$IMAGE", as
// only ${IMAGE} is substituted. A command keeps it: the container's shell
// expands it at run time.
func (r *resolver) unbracedVar(n *node, rest string) {
	end := 0
	for end < len(rest) && isEnvName(rest[:end+1]) {
		end++
	}
	name := rest[:end]
	if name == "" || r.vars[name] == nil || slices.Contains(r.path, "command") {
		return
	}
	bad := r.errs
	if r.legacy != nil {
		// A commit from before this was refused deployed the text.
		bad = r.legacy
	}
	bad.add(n.pos(), r.keyPath(), "$%s is not substituted: panka reads a variable only as ${%s}; write ${%s} (or ${$}%s to keep the text $%s)", name, name, name, name, name)
}

// shellDefault splits name, the text of a ${...} that is no variable name,
// into a variable name and a default written in one of the shell's forms
// other than ":-" (NAME:default, NAME-default, NAME:=default, NAME=default).
func shellDefault(name string) (v, def string, ok bool) {
	i := strings.IndexAny(name, ":-=")
	if i <= 0 || !isEnvName(name[:i]) {
		return "", "", false
	}
	def = name[i:]
	for _, p := range []string{":=", ":", "-", "="} {
		if strings.HasPrefix(def, p) {
			return name[:i], def[len(p):], true
		}
	}
	return "", "", false
}

// givenUndeclared says where a value for the undeclared variable name
// was given from outside (--var NAME, --var-file, PANKA_VAR_NAME), ""
// when none was.
func (r *resolver) givenUndeclared(name string) string {
	if _, ok := r.opts.Vars.Flags[name]; ok {
		return "--var " + name
	}
	if _, ok := r.opts.Vars.File[name]; ok {
		return "--var-file"
	}
	if _, ok := r.opts.Vars.Env[name]; ok {
		return "PANKA_VAR_" + name
	}
	return ""
}

// origin says where the value of a substituted scalar came from, for the
// errors of the field it fills: " from variable NAME (--var NAME)", or
// "" for a scalar no variable filled.
func (r *resolver) origin(n *node) string {
	names := slices.Compact(slices.Sorted(slices.Values(r.substVars[n])))
	if len(names) == 0 {
		return ""
	}
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " (" + r.varSourceText(name) + ")"
	}
	what := " from variable "
	if len(parts) > 1 {
		what = " from variables "
	}
	return what + strings.Join(parts, ", ")
}

// varSourceText says where variable name's value came from: the flag,
// file, environment variable or YAML file that set it.
func (r *resolver) varSourceText(name string) string {
	v := r.vars[name]
	if v == nil {
		return "undeclared: the default of its ${" + name + ":-...}"
	}
	switch v.source {
	case SourceEnvironment:
		return "spec.variables in " + r.env.file
	case SourceDefault:
		return "its default in " + r.s.file
	case SourceUnset:
		return "unset: the default of its ${" + name + ":-...}"
	}
	return SourceText(name, v.source)
}

// SourceText says where variable name's value came from, source being a
// ResolvedVar.Source: "--var NAME", "--var-file", "PANKA_VAR_NAME", "the
// environment file", "the stack's default" (else source itself).
func SourceText(name, source string) string {
	switch source {
	case SourceFlag:
		return "--var " + name
	case SourceVarFile:
		return "--var-file"
	case SourceEnv:
		return "PANKA_VAR_" + name
	case SourceEnvironment:
		return "the environment file"
	case SourceDefault:
		return "the stack's default"
	}
	return source
}

// splitRef splits a reference <component>.<output>, checking both names.
func splitRef(s string) (comp, output string, ok bool) {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return "", "", false
	}
	comp, output = s[:dot], s[dot+1:]
	if comp == "" || comp[0] < 'a' || comp[0] > 'z' || output == "" || !isLetter(output[0]) {
		return "", "", false
	}
	for i := 1; i < len(comp); i++ {
		if c := comp[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", "", false
		}
	}
	for i := 1; i < len(output); i++ {
		if c := output[i]; !(isLetter(c) || c >= '0' && c <= '9') {
			return "", "", false
		}
	}
	return comp, output, true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// hasCycle reports whether the components' DependsOn (names of other
// components; unknown names ignored, as NewGraph does) has a cycle.
// It is the cheap check before Graph, which names the cycle. Components
// are sorted by name; if not, it answers true and leaves it to Graph.
func hasCycle(comps []Component) bool {
	for i := 1; i < len(comps); i++ {
		if comps[i-1].Name >= comps[i].Name {
			return true
		}
	}
	idx := func(name string) int {
		i := sort.Search(len(comps), func(i int) bool { return comps[i].Name >= name })
		if i < len(comps) && comps[i].Name == name {
			return i
		}
		return -1
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(comps))
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		for _, d := range comps[i].DependsOn {
			j := idx(d)
			if j < 0 {
				continue
			}
			switch color[j] {
			case grey:
				return true
			case white:
				if visit(j) {
					return true
				}
			}
		}
		color[i] = black
		return false
	}
	for i := range comps {
		if color[i] == white && visit(i) {
			return true
		}
	}
	return false
}

// indexSegs are the key path segments of the first list items.
var indexSegs = func() []string {
	out := make([]string, 32)
	for i := range out {
		out[i] = "[" + strconv.Itoa(i) + "]"
	}
	return out
}()

// indexSeg is "[i]".
func indexSeg(i int) string {
	if i < len(indexSegs) {
		return indexSegs[i]
	}
	return "[" + strconv.Itoa(i) + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
