package changes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
)

// This file is a randomized differential check of Detect against a
// brute-force oracle (SPEC §4: "no missed change, no false alarm"). A
// generator builds a real repository of realistic stacks (several kinds of
// components in several files, services, overlays, variables with
// defaults some environments override, secret declarations and SSM
// references, dependsOn, labels, spec.watch globs outside the stacks,
// nested folders, folder names with spaces and accents, comments and key
// order) and commits random edits to it:
// values, formatting only (comments, key order, quoting, flow style, CRLF,
// .yml), variable defaults, declarations and descriptions, environment
// files added and deleted, stacks added, deleted, moved, renamed, swapped,
// copied under their name, made inside another stack, replaced, given a
// freed name, moved by a copy that leaves the old folder behind, moved
// back, their stack.yaml deleted or renamed, their environments/ folder
// replaced by a file and back, a component read through a symbolic link
// to a file of the stack, files made executable, watched and unwatched
// shared files, files broken and fixed later, commits reverted, branches
// merged back (criss-cross too) and octopus merges. The oracle checks out every commit with `git
// worktree add`, loads and resolves every stack and environment of the
// checkout with package stacks, and says per pair of commits what changed;
// Detect must say the same, in both engines, from the main work tree and
// from the checkout of head (its index), with and without the index
// cache, in resolved and --paths mode.
//
// Lines compare the change, the environments with their kinds and the
// changed components (resolved mode) or every environment of each touched
// stack (--paths). It also checks --uncommitted (edits staged or not, on
// top of the history, with a tracked file deleted, a deletion staged or a
// file added with git add -N, and in a linked work tree of an older commit with
// folders of other commits copied in), --environment and --stack filters,
// the default base (a remote default branch at an older commit: first
// parent or merge-base), --since-deployed (a random deployed commit per
// environment, head the tip or an older commit: deployed ahead; and the
// work tree), that what the generator wrote the same resolves the
// same, and that both engines give the same JSON, byte for byte.
//
// By default one short history runs (a few seconds). For long runs:
// PANKA_ORACLE_SEEDS=N runs N seeds from PANKA_ORACLE_FIRST (default 1),
// PANKA_ORACLE_SEED=S only seed S, PANKA_ORACLE_COMMITS sets the commits
// per history (default 12); PANKA_ORACLE_LOG=1 logs every history, and
// PANKA_ORACLE_KEEP=DIR copies a failing repository there.

// oVar is a variable declared in stack.yaml.
type oVar struct {
	def              string // "" = no default
	desc             string
	secret, required bool
}

// oEnv is an environments/<env>.yaml overlay.
type oEnv struct {
	vars  map[string]string
	over  map[string]map[string]string // component -> key -> YAML value
	style int
}

// oStack is a generated stack: the model its files are rendered from.
type oStack struct {
	dir, name, desc string
	prevDir         string // the folder it was moved from (moved back later)
	watch           []string
	vars            map[string]*oVar
	comps           map[string]map[string]string // component -> key -> YAML value ("" = absent)
	labels          map[string]string            // component -> metadata.labels flow map
	envs            map[string]*oEnv
	style           map[string]int // file -> formatting variant
	broken          string         // "file:how" while a file is broken
	files           map[string]bool
}

var oCompOrder = []string{"api", "worker", "report", "db", "cache", "jobs", "events", "assets", "extra"}

var oKinds = map[string]string{"api": "MicroService", "worker": "Worker", "report": "CronJob", "db": "Database", "cache": "Cache", "jobs": "Queue", "events": "Topic", "assets": "Bucket", "extra": "Bucket"}

// oLinkFile is the symbolic link through which a stack reads its optional
// component "extra", kept in a file that is not YAML (oFileOf), and oLink
// marks rendered content that is a symbolic link to the rest.
const (
	oLinkFile = "infra/extra/link.yaml"
	oLink     = "\x00symlink:"
)

var oFileOf = map[string]string{
	"api": "services/api/service.yaml", "worker": "services/worker/worker.yaml", "report": "services/worker/worker.yaml",
	"db": "infra/data.yaml", "cache": "infra/data.yaml", "jobs": "infra/messaging.yaml", "events": "infra/messaging.yaml",
	"assets": "infra/assets/bucket.yaml", "extra": "infra/extra/bucket.txt",
}

// oValues are the values each component key takes ("" = key absent).
var oValues = map[string]map[string][]string{
	"api": {
		"image":       {"ghcr.io/acme/api:${VERSION}", "ghcr.io/acme/api:1.2", "'ghcr.io/acme/api:${VERSION}-slim'"},
		"port":        {"8080", "3000", ""},
		"replicas":    {"1", "2", ""},
		"env":         {"{LOG_LEVEL: '${LOG_LEVEL}', DB: '${db.endpoint}'}", "{LOG_LEVEL: '${LOG_LEVEL}', KEY: '${API_KEY}', DB: '${db.address}'}", "{PASS: {secret: /app/db-pass}, DB: '${db.endpoint}'}", "{PASS: {secret: /app/db-pass2}, TOPIC: '${events.arn}'}"},
		"healthCheck": {"{path: /health}", "{path: /ready, interval: 10}", ""},
		"dependsOn":   {"", "[jobs]", "[cache]"},
	},
	"worker": {
		"image":     {"ghcr.io/acme/worker:${VERSION}", "ghcr.io/acme/worker:2.0"},
		"replicas":  {"1", "3"},
		"env":       {"{QUEUE: '${jobs.url}'}", "{QUEUE: '${jobs.url}', LEVEL: '${LOG_LEVEL:-warn}'}", ""},
		"secrets":   {"{TOKEN: 'arn:aws:ssm:eu-west-1:111111111111:parameter/tok'}", "{TOKEN: /ssm/token2}", ""},
		"dependsOn": {"[db]", "[db, jobs]", ""},
	},
	"report": {
		"schedule": {"'${SCHEDULE}'", "rate(2 hours)", "cron(0 3 * * ? *)"},
		"image":    {"ghcr.io/acme/report:1", "ghcr.io/acme/report:${VERSION}"},
		"memory":   {"512", "1024", "2048", ""},
		"command":  {"", "[report, --since, 24h]"},
	},
	"db": {
		"instanceClass": {"'${DB_CLASS}'", "db.t4g.small"},
		"storageGB":     {"20", "50", ""},
		"multiAZ":       {"false", "true", ""},
		"engine":        {"postgres", ""},
	},
	"cache": {
		"nodes":  {"1", "2"},
		"engine": {"redis", "valkey", ""},
	},
	"jobs": {
		"visibilityTimeout": {"30", "60", "90"},
		"deadLetter":        {"{maxReceives: 3}", "{maxReceives: 5}", ""},
	},
	"events": {
		"subscriptions": {"[{queue: jobs}]", "[{queue: jobs}, {protocol: https, endpoint: 'https://x.example/h'}]", ""},
	},
	"assets": {
		"versioning": {"true", "false"},
		"lifecycle":  {"{expireAfterDays: 30}", ""},
	},
	"extra": {
		"versioning": {"false", "true"},
		"lifecycle":  {"", "{expireAfterDays: 7}"},
	},
}

// oOverrides are the overrides environments set.
var oOverrides = map[string]map[string][]string{
	"api":    {"replicas": {"2", "4"}, "image": {"ghcr.io/acme/api:9"}},
	"db":     {"multiAZ": {"true"}, "storageGB": {"100"}},
	"jobs":   {"visibilityTimeout": {"120"}},
	"worker": {"replicas": {"5"}},
	"report": {"memory": {"2048"}},
}

var oEnvVars = map[string][]string{
	"LOG_LEVEL": {"debug", "warn"}, "VERSION": {"'2.0'", "'2.1'"}, "DB_CLASS": {"db.t4g.large"}, "SCHEDULE": {"rate(5 minutes)"},
}

// oWatches are the spec.watch globs stacks take, and oShared the files
// outside the stacks that edits touch.
var (
	oWatches = []string{"stacks/**/prod.yaml", "shared/common/*.json", "config/base", "docs/api-?.md", "shared/[ab]*/conf.json", "shared/**/deep.txt", "shared/[!a]*/x.txt"}
	oShared  = []string{"shared/common/a.json", "shared/common/b.json", "shared/common/sub/c.json", "config/base/settings.ini", "config/other.ini",
		"docs/api-1.md", "docs/api-10.md", "docs/readme.md", "shared/alpha/conf.json", "shared/beta/conf.json", "shared/gamma/conf.json",
		"shared/x/y/deep.txt", "shared/deep.txt", "shared/alpha/x.txt", "shared/zeta/x.txt"}
)

// oCRLF is the formatting variant bit for Windows line endings.
const oCRLF = 1 << 16

// oYML is the variant bit of an environment file named <env>.yml.
const oYML = 1 << 17

// oLinkedStack is the variant bit of a stack.yaml that is a symbolic link
// to stack.txt, which holds its content.
const oLinkedStack = 1 << 18

// oGen generates a history.
type oGen struct {
	t         *testing.T
	g         *gittest.Repo
	rnd       *rand.Rand
	live      []*oStack
	dups      []*oStack           // copies made under a name in use
	nested    []*oStack           // stacks made inside another stack's folder
	fps       []map[string]string // per commit: stack name -> oFingerprint
	gone      []string            // names no stack uses any more
	leftovers []string            // folders a move left behind (deleted by the next commit)
	view      func() []*oStack    // the stacks as committed, when o.live holds only part
	next      int
	notes     []string
	shared    map[string]int
}

func (o *oGen) pick(xs []string) string { return xs[o.rnd.Intn(len(xs))] }

func (o *oGen) newStack(dir, name string) *oStack {
	s := &oStack{dir: dir, name: name, desc: "a stack", vars: map[string]*oVar{
		"LOG_LEVEL": {def: "info", desc: "how much to log"},
		"VERSION":   {def: "'1.0'"},
		"DB_CLASS":  {def: "db.t4g.micro"},
		"SCHEDULE":  {def: "rate(1 hour)"},
		"API_KEY":   {secret: true},
		"UNUSED":    {def: "x"},
	}, comps: map[string]map[string]string{}, labels: map[string]string{}, envs: map[string]*oEnv{}, style: map[string]int{}, files: map[string]bool{}}
	for _, c := range oCompOrder {
		if (c == "cache" || c == "assets") && o.rnd.Intn(2) == 0 || c == "extra" {
			continue
		}
		s.comps[c] = map[string]string{}
		for k, vs := range oValues[c] {
			s.comps[c][k] = vs[0]
		}
	}
	if s.comps["cache"] == nil && s.comps["api"]["dependsOn"] == "[cache]" {
		s.comps["api"]["dependsOn"] = ""
	}
	if o.rnd.Intn(2) == 0 {
		s.watch = []string{o.pick(oWatches)}
	}
	if o.rnd.Intn(4) == 0 {
		s.style["stack.yaml"] = oLinkedStack
	}
	s.envs["dev"] = &oEnv{vars: map[string]string{}, over: map[string]map[string]string{}}
	s.envs["staging"] = &oEnv{vars: map[string]string{"LOG_LEVEL": "warn"}, over: map[string]map[string]string{}}
	s.envs["prod"] = &oEnv{vars: map[string]string{"LOG_LEVEL": "error", "DB_CLASS": "db.r6g.large"}, over: map[string]map[string]string{"api": {"replicas": "3"}, "db": {"multiAZ": "true"}}}
	return s
}

func (s *oStack) clone() *oStack {
	c := *s
	c.watch = slices.Clone(s.watch)
	c.vars = map[string]*oVar{}
	for k, v := range s.vars {
		x := *v
		c.vars[k] = &x
	}
	c.comps = map[string]map[string]string{}
	for k, v := range s.comps {
		c.comps[k] = mapsClone(v)
	}
	c.labels = mapsClone(s.labels)
	c.envs = map[string]*oEnv{}
	for k, v := range s.envs {
		e := &oEnv{vars: mapsClone(v.vars), over: map[string]map[string]string{}, style: v.style}
		for ck, cv := range v.over {
			e.over[ck] = mapsClone(cv)
		}
		c.envs[k] = e
	}
	c.style = mapsClone(s.style)
	c.files = mapsClone(s.files)
	return &c
}

func mapsClone[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// header renders apiVersion/kind/metadata of a document in one of the
// formatting variants.
func oHeader(kind, name, extraMeta string, style int) string {
	q := name
	if style&4 != 0 {
		q = strconv.Quote(name)
	}
	meta := "metadata:\n  name: " + q + "\n" + extraMeta
	head := "apiVersion: core.panka.io/v1\nkind: " + kind + "\n"
	if style&2 != 0 {
		head = "kind: " + kind + "   # the kind\napiVersion: \"core.panka.io/v1\"\n"
	}
	if style&8 != 0 {
		return meta + head
	}
	return head + meta
}

func oComment(style int) string {
	if style&1 != 0 {
		return fmt.Sprintf("# generated, variant %d\n\n", style)
	}
	return ""
}

// oSpec renders a map of YAML values as a block mapping under spec.
func oSpec(m map[string]string, indent string, style int) string {
	keys := sortedMapKeys(m)
	if style&16 != 0 {
		slices.Reverse(keys)
	}
	var b strings.Builder
	for _, k := range keys {
		if m[k] == "" {
			continue
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, k, m[k])
		if style&32 != 0 {
			b.WriteString("\n")
		}
	}
	if b.Len() == 0 {
		return indent + "{}\n"
	}
	return b.String()
}

func (s *oStack) compDoc(c string) string {
	st := s.style[oFileOf[c]]
	extra := ""
	if l := s.labels[c]; l != "" {
		extra = "  labels: " + l + "\n"
	}
	body := oSpec(s.comps[c], "  ", st)
	if body == "  {}\n" {
		return oHeader(oKinds[c], c, extra, st) + "spec: {}\n"
	}
	return oHeader(oKinds[c], c, extra, st) + "spec:\n" + body
}

// render returns every file of the stack, relative to its folder.
func (s *oStack) render() map[string]string {
	out := map[string]string{}
	st := s.style["stack.yaml"]
	var b strings.Builder
	if st&1024 != 0 {
		b.WriteString("--- # the stack\n")
	}
	b.WriteString(oComment(st))
	name := s.name
	switch {
	case st&256 != 0:
		name = "'" + name + "'"
	case st&4 != 0:
		name = strconv.Quote(name)
	}
	if st&128 != 0 {
		name += "   # identity: do not change"
	}
	if st&64 != 0 {
		b.WriteString("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata: {name: " + strings.TrimSuffix(strings.Split(name, " ")[0], "#") + ", description: " + s.desc + "}\n")
	} else {
		b.WriteString(strings.Replace(oHeader("Stack", "@NAME@", "  description: "+s.desc+"\n", st&^4), "@NAME@", name, 1))
	}
	b.WriteString("spec:\n  provider:\n    name: local\n")
	watch := func() {
		if len(s.watch) == 0 {
			return
		}
		if st&512 != 0 {
			var q []string
			for _, w := range s.watch {
				q = append(q, "'"+w+"'")
			}
			b.WriteString("  watch: [" + strings.Join(q, ", ") + "]\n")
			return
		}
		b.WriteString("  watch:\n")
		for _, w := range s.watch {
			if st&8192 != 0 {
				b.WriteString("    # shared files\n")
			}
			fmt.Fprintf(&b, "    - %q\n", w)
		}
	}
	if st&4096 != 0 {
		watch()
	}
	b.WriteString("  variables:\n")
	for _, n := range sortedMapKeys(s.vars) {
		v := s.vars[n]
		fmt.Fprintf(&b, "    %s:\n", n)
		if v.def != "" {
			fmt.Fprintf(&b, "      default: %s\n", v.def)
		}
		if v.desc != "" {
			fmt.Fprintf(&b, "      description: %s\n", v.desc)
		}
		if v.secret {
			b.WriteString("      secret: true\n")
		}
		if v.required {
			b.WriteString("      required: true\n")
		}
		if v.def == "" && v.desc == "" && !v.secret && !v.required {
			b.WriteString("      description: none\n")
		}
	}
	if st&4096 == 0 {
		watch()
	}
	out["stack.yaml"] = b.String()
	sep := "---\n"
	files := map[string][]string{}
	for _, c := range oCompOrder {
		if s.comps[c] != nil {
			files[oFileOf[c]] = append(files[oFileOf[c]], s.compDoc(c))
		}
	}
	for f, docs := range files {
		st := s.style[f]
		pre := oComment(st)
		switch {
		case strings.HasPrefix(f, "services/api/"):
			docs = append([]string{oHeader("Service", "api", "", st) + "spec: {}\n"}, docs...)
		case strings.HasPrefix(f, "services/worker/"):
			docs = append([]string{oHeader("Service", "background", "", st) + "spec:\n  owner: team-jobs\n"}, docs...)
		}
		out[f] = pre + strings.Join(docs, sep)
	}
	if s.comps["extra"] != nil {
		out[oLinkFile] = oLink + path.Base(oFileOf["extra"])
	}
	for env, e := range s.envs {
		var b strings.Builder
		b.WriteString(oComment(e.style))
		b.WriteString(oHeader("Environment", env, "", e.style))
		b.WriteString("spec:\n")
		if len(e.vars) > 0 {
			b.WriteString("  variables:\n" + oSpec(e.vars, "    ", e.style))
		} else if e.style&64 != 0 {
			b.WriteString("  variables: {}\n")
		}
		if len(e.over) > 0 {
			b.WriteString("  overrides:\n")
			for _, c := range sortedMapKeys(e.over) {
				b.WriteString("    " + c + ":\n" + oSpec(e.over[c], "      ", e.style))
			}
		}
		if len(e.vars) == 0 && len(e.over) == 0 && e.style&64 == 0 {
			b.WriteString("  variables: {}\n")
		}
		ext := ".yaml"
		if e.style&oYML != 0 {
			ext = ".yml"
		}
		out["environments/"+env+ext] = b.String()
	}
	for f := range out {
		st := s.style[f]
		if strings.HasPrefix(out[f], oLink) {
			continue
		}
		if env, ok := strings.CutPrefix(f, "environments/"); ok {
			st = s.envs[strings.TrimSuffix(strings.TrimSuffix(env, ".yaml"), ".yml")].style
		}
		if st&oCRLF != 0 {
			out[f] = strings.ReplaceAll(out[f], "\n", "\r\n")
		}
	}
	if s.broken == "environments:file" {
		// The environments folder replaced by a file of that name.
		for f := range out {
			if strings.HasPrefix(f, "environments/") {
				delete(out, f)
			}
		}
		out["environments"] = "dev, staging and prod live elsewhere now\n"
	}
	defer func() {
		if s.style["stack.yaml"]&oLinkedStack != 0 && out["stack.yaml"] != "" {
			out["stack.txt"], out["stack.yaml"] = out["stack.yaml"], oLink+"stack.txt"
		}
	}()
	if f, how, ok := strings.Cut(s.broken, ":"); ok && out[f] != "" {
		switch how {
		case "gone":
			delete(out, f)
		case "stack.yml", "Stack.yaml":
			out[how] = out[f]
			delete(out, f)
		case "syntax":
			out[f] += "  bogus: [\n"
		case "noname":
			out[f] = "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: [\nspec: {}\n"
		case "unknown":
			out[f] += "  bogus: 1\n"
		case "ghostref":
			out[f] = strings.Replace(out[f], "spec:\n", "spec:\n  command: ['${ghost.url}']\n", 1)
		case "undeclared":
			out[f] = strings.Replace(out[f], "spec:\n", "spec:\n  command: ['${NOT_DECLARED}']\n", 1)
		case "ghostoverride":
			out[f] += "  overrides:\n    ghost:\n      replicas: 1\n"
		case "badvalue":
			out[f] = strings.Replace(out[f], "spec:\n", "spec:\n  replicas: -3\n", 1)
		}
	}
	return out
}

// write renders the stack into its folder (staged), deleting files it no
// longer has.
func (o *oGen) write(s *oStack) {
	files := s.render()
	for f := range s.files {
		if _, ok := files[f]; !ok && o.g.Exists(s.dir+"/"+f) {
			o.g.Remove(s.dir + "/" + f)
		}
	}
	s.files = map[string]bool{}
	for f, c := range files {
		s.files[f] = true
		p := filepath.Join(o.g.Dir, filepath.FromSlash(s.dir+"/"+f))
		target, isLink := strings.CutPrefix(c, oLink)
		if st, err := os.Lstat(p); err == nil && (st.Mode()&os.ModeSymlink != 0) != isLink {
			// A link replaced by a file (not written through), or the
			// other way round.
			if err := os.Remove(p); err != nil {
				o.t.Fatal(err)
			}
		}
		if isLink {
			if cur, err := os.Readlink(p); err == nil && cur == target {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				o.t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				o.t.Fatal(err)
			}
			o.g.Git("add", "--", s.dir+"/"+f)
			continue
		}
		o.g.Write(s.dir+"/"+f, c)
	}
}

func (o *oGen) freshDir() string {
	for {
		d := fmt.Sprintf("stacks/%s/s%d", o.pick([]string{"team-a", "team-b", "team-a/nested", "platform", "team b", "équipe"}), o.next)
		o.next++
		if !o.g.Exists(d) {
			return d
		}
	}
}

// stackEdit applies one random edit inside a stack (no folder or name
// change), for use on any branch.
func (o *oGen) stackEdit(s *oStack) string {
	if s.broken != "" {
		s.broken = ""
		o.write(s)
		return s.name + ": fixed"
	}
	what := ""
	switch o.rnd.Intn(15) {
	case 0, 1: // a component value
		c := o.pick(sortedMapKeys(s.comps))
		k := o.pick(sortedMapKeys(oValues[c]))
		v := o.pick(oValues[c][k])
		if c == "api" && k == "dependsOn" && v == "[cache]" && s.comps["cache"] == nil {
			v = ""
		}
		s.comps[c][k] = v
		what = fmt.Sprintf("%s.%s=%q", c, k, v)
	case 2: // formatting only
		f := o.pick(sortedMapKeys(s.files))
		crlf := 0
		if o.rnd.Intn(4) == 0 {
			crlf = oCRLF
		}
		switch env, ok := strings.CutPrefix(f, "environments/"); {
		case ok:
			e := s.envs[strings.TrimSuffix(strings.TrimSuffix(env, ".yaml"), ".yml")]
			e.style = o.rnd.Intn(128) | crlf
			if o.rnd.Intn(4) == 0 {
				e.style |= oYML
			}
		case f == "stack.yaml":
			s.style[f] = o.rnd.Intn(16384) | crlf
			if o.rnd.Intn(3) == 0 {
				s.style[f] |= oLinkedStack
			}
		default:
			s.style[f] = o.rnd.Intn(64) | crlf
		}
		what = "format " + f
	case 3: // an environment variable
		env := o.pick(sortedMapKeys(s.envs))
		n := o.pick(sortedMapKeys(oEnvVars))
		if _, ok := s.envs[env].vars[n]; ok && o.rnd.Intn(2) == 0 {
			delete(s.envs[env].vars, n)
			what = env + " unset " + n
		} else {
			s.envs[env].vars[n] = o.pick(oEnvVars[n])
			what = env + " set " + n
		}
	case 4: // an override
		env := o.pick(sortedMapKeys(s.envs))
		c := o.pick(sortedMapKeys(oOverrides))
		k := o.pick(sortedMapKeys(oOverrides[c]))
		e := s.envs[env]
		if e.over[c] != nil && e.over[c][k] != "" && o.rnd.Intn(2) == 0 {
			delete(e.over[c], k)
			if len(e.over[c]) == 0 {
				delete(e.over, c)
			}
			what = env + " drop override " + c + "." + k
		} else {
			if e.over[c] == nil {
				e.over[c] = map[string]string{}
			}
			e.over[c][k] = o.pick(oOverrides[c][k])
			what = env + " override " + c + "." + k
		}
	case 5: // a variable default, description, or declaration
		n := o.pick(sortedMapKeys(s.vars))
		v := s.vars[n]
		switch o.rnd.Intn(4) {
		case 0:
			v.desc = o.pick([]string{"", "what it is", "described again"})
			what = n + " description"
		case 1:
			if n == "API_KEY" {
				v.required = !v.required
				what = n + " required"
			} else {
				v.def = o.pick(map[string][]string{"LOG_LEVEL": {"info", "error"}, "VERSION": {"'1.0'", "'1.1'"}, "DB_CLASS": {"db.t4g.micro", "db.t4g.medium"}, "SCHEDULE": {"rate(1 hour)", "rate(3 hours)"}, "UNUSED": {"x", "y"}}[n])
				what = n + " default " + v.def
			}
		case 2:
			if n != "API_KEY" && n != "LOG_LEVEL" {
				v.secret = !v.secret
				what = n + " secret"
			}
		case 3:
			s.desc = o.pick([]string{"a stack", "another description"})
			what = "stack description"
		}
	case 6: // an environment file added or deleted
		env := o.pick([]string{"qa", "staging", "perf"})
		if _, ok := s.envs[env]; ok {
			delete(s.envs, env)
			what = "delete env " + env
		} else {
			s.envs[env] = &oEnv{vars: map[string]string{}, over: map[string]map[string]string{}, style: o.rnd.Intn(128)}
			if o.rnd.Intn(2) == 0 {
				s.envs[env].vars["LOG_LEVEL"] = "debug"
			}
			what = "add env " + env
		}
	case 7: // labels
		c := o.pick(sortedMapKeys(s.comps))
		s.labels[c] = o.pick([]string{"", "{team: a}", "{team: b, tier: web}"})
		what = "labels " + c
	case 8: // an optional component added or removed
		c := o.pick([]string{"cache", "assets", "extra"})
		if s.comps[c] != nil {
			if c == "cache" && s.comps["api"]["dependsOn"] == "[cache]" {
				s.comps["api"]["dependsOn"] = ""
			}
			delete(s.comps, c)
			for _, e := range s.envs {
				delete(e.over, c)
			}
			what = "remove " + c
		} else {
			s.comps[c] = map[string]string{}
			for k, vs := range oValues[c] {
				s.comps[c][k] = vs[o.rnd.Intn(len(vs))]
			}
			what = "add " + c
		}
	case 9: // watch globs
		if len(s.watch) > 0 && o.rnd.Intn(2) == 0 {
			s.watch = nil
		} else {
			s.watch = append(s.watch, o.pick(oWatches))
		}
		what = fmt.Sprintf("watch %q", s.watch)
	case 10, 11: // break a file (fixed by the stack's next edit)
		f := o.pick(sortedMapKeys(s.files))
		if f == oLinkFile || f == "environments" {
			f = "stack.yaml"
		}
		hows := []string{"syntax", "unknown"}
		switch {
		case f == "stack.yaml":
			hows = append(hows, "noname")
		case strings.HasPrefix(f, "environments/"):
			hows = append(hows, "ghostoverride")
		case strings.HasPrefix(f, "services/"):
			hows = append(hows, "ghostref", "undeclared", "badvalue")
		}
		s.broken = f + ":" + o.pick(hows)
		what = "break " + s.broken
	default: // another component value
		c := o.pick(sortedMapKeys(s.comps))
		k := o.pick(sortedMapKeys(oValues[c]))
		s.comps[c][k] = o.pick(oValues[c][k])
		what = fmt.Sprintf("%s.%s=%q", c, k, s.comps[c][k])
	}
	o.write(s)
	return s.name + ": " + what
}

// touchShared edits a file outside the stacks.
func (o *oGen) touchShared(files []string) string {
	f := o.pick(files)
	o.shared[f]++
	if o.shared[f]%4 == 3 && o.g.Exists(f) {
		o.g.Remove(f)
		return "delete " + f
	}
	o.g.Write(f, fmt.Sprintf("v%d\n", o.shared[f]))
	return "touch " + f
}

// edit applies one random edit on the main line.
func (o *oGen) edit() string {
	i := o.rnd.Intn(len(o.live))
	s := o.live[i]
	switch o.rnd.Intn(20) {
	case 0: // move the folder
		if s.broken != "" {
			break
		}
		nd := o.freshDir()
		o.g.Move(s.dir, nd)
		old := s.dir
		s.dir, s.prevDir = nd, old
		if o.rnd.Intn(2) == 0 {
			return s.name + ": move " + old + " -> " + nd + "; " + o.stackEdit(s)
		}
		return s.name + ": move " + old + " -> " + nd
	case 1: // rename
		if s.broken != "" {
			break
		}
		old := s.name
		s.name = fmt.Sprintf("n%d", o.next)
		o.next++
		o.write(s)
		if !slices.ContainsFunc(o.live, func(x *oStack) bool { return x.name == old }) {
			o.gone = append(o.gone, old)
		}
		return old + ": renamed " + s.name
	case 2: // a new stack
		s := o.newStack(o.freshDir(), fmt.Sprintf("s%d", o.next))
		o.next++
		o.write(s)
		o.live = append(o.live, s)
		return s.name + ": new at " + s.dir
	case 3: // delete a stack
		if len(o.live) > 2 {
			o.g.Remove(s.dir)
			o.live = append(o.live[:i], o.live[i+1:]...)
			if !slices.ContainsFunc(o.live, func(x *oStack) bool { return x.name == s.name }) {
				o.gone = append(o.gone, s.name)
			}
			return s.name + ": deleted"
		}
	case 4, 5: // a shared file
		return o.touchShared(oShared)
	case 6: // two stacks swap folders, or names
		j := o.rnd.Intn(len(o.live))
		t := o.live[j]
		if j == i || s.broken != "" || t.broken != "" {
			break
		}
		if o.rnd.Intn(2) == 0 {
			tmp := o.freshDir()
			o.g.Move(s.dir, tmp)
			o.g.Move(t.dir, s.dir)
			o.g.Move(tmp, t.dir)
			s.dir, t.dir = t.dir, s.dir
			return s.name + ", " + t.name + ": swap folders"
		}
		s.name, t.name = t.name, s.name
		o.write(s)
		o.write(t)
		return s.name + ", " + t.name + ": swap names"
	case 7: // a copy of a stack under the same name (renamed or deleted by the next commit)
		if s.broken != "" || o.rnd.Intn(2) == 0 {
			break
		}
		c := s.clone()
		c.dir, c.files = o.freshDir(), map[string]bool{}
		if o.rnd.Intn(2) == 0 {
			delete(c.envs, "staging")
		}
		o.write(c)
		o.live = append(o.live, c)
		o.dups = append(o.dups, c)
		return s.name + ": copied to " + c.dir
	case 10: // a stack deleted and a new one made elsewhere under its name
		if s.broken != "" || o.rnd.Intn(2) == 0 {
			break
		}
		o.g.Remove(s.dir)
		n := o.newStack(o.freshDir(), s.name)
		o.write(n)
		o.live[i] = n
		return s.name + ": replaced by a new stack at " + n.dir
	case 11: // a stack takes the name of one deleted earlier
		if s.broken != "" || len(o.gone) == 0 {
			break
		}
		old := s.name
		k := o.rnd.Intn(len(o.gone))
		s.name = o.gone[k]
		if slices.ContainsFunc(o.live, func(x *oStack) bool { return x.name == s.name }) {
			s.name = old
			break
		}
		o.gone = slices.Delete(o.gone, k, k+1)
		o.gone = append(o.gone, old)
		o.write(s)
		return old + ": renamed to the freed name " + s.name
	case 13: // moved by a copy, the old folder left without a (readable) stack.yaml
		if s.broken != "" {
			break
		}
		old := s.dir
		s.dir, s.files = o.freshDir(), map[string]bool{}
		o.write(s)
		if o.rnd.Intn(2) == 0 {
			o.g.Remove(old + "/stack.yaml")
		} else {
			o.g.Write(old+"/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: [\n")
		}
		o.leftovers = append(o.leftovers, old)
		return s.name + ": copied to " + s.dir + ", " + old + " left behind"
	case 12: // a file made executable, or not (mode only)
		f := s.dir + "/" + o.pick(sortedMapKeys(s.files))
		if st, err := os.Lstat(filepath.Join(o.g.Dir, f)); err == nil && st.Mode().IsRegular() {
			o.g.Git("update-index", "--chmod="+o.pick([]string{"+x", "-x"}), "--", f)
			return s.name + ": chmod " + f
		}
	case 9: // a stack inside another one's folder (moved out or deleted by the next commit)
		if s.broken != "" || o.rnd.Intn(2) == 0 {
			break
		}
		c := o.newStack(fmt.Sprintf("%s/sub%d", s.dir, o.next), fmt.Sprintf("s%d", o.next+1))
		o.next += 2
		o.write(c)
		o.nested = append(o.nested, c)
		return c.name + ": new inside " + s.name + " at " + c.dir
	case 14: // moved back to the folder it was moved from
		if s.broken != "" || s.prevDir == "" || o.g.Exists(s.prevDir) {
			break
		}
		old := s.dir
		o.g.Move(s.dir, s.prevDir)
		s.dir, s.prevDir = s.prevDir, ""
		return s.name + ": moved back " + old + " -> " + s.dir
	case 15: // the environments folder replaced by a file (back at the stack's next edit)
		if s.broken != "" {
			break
		}
		s.broken = "environments:file"
		o.write(s)
		return s.name + ": environments/ made a file"
	case 8: // stack.yaml deleted or renamed, environments kept
		if s.broken != "" || o.rnd.Intn(2) == 0 {
			break
		}
		s.broken = "stack.yaml:" + o.pick([]string{"gone", "stack.yml", "Stack.yaml"})
		o.write(s)
		return s.name + ": " + s.broken
	}
	return o.stackEdit(s)
}

func (o *oGen) commit(msg string) gitops.Hash {
	return o.g.Commit(msg)
}

// oHistory generates a history: commits on main, and a branch merged back.
func oHistory(t *testing.T, rnd *rand.Rand, n int) (*oGen, []gitops.Hash, []string) {
	o := &oGen{t: t, g: gittest.New(t), rnd: rnd, shared: map[string]int{}}
	for i := 0; i < 4; i++ {
		s := o.newStack(o.freshDir(), fmt.Sprintf("s%d", o.next))
		o.next++
		o.write(s)
		o.live = append(o.live, s)
	}
	for _, f := range oShared {
		o.g.Write(f, "v0\n")
	}
	o.g.Write("panka.yaml", "version: v1\n")
	commits := []gitops.Hash{o.commit("base")}
	log := []string{"base"}
	add := func(edits []string) {
		msg := strings.Join(edits, "; ")
		commits = append(commits, o.commit(msg))
		log = append(log, msg)
		view := o.live
		if o.view != nil {
			view = o.view()
		}
		o.fps = append(o.fps, oFingerprints(view))
	}
	o.fps = append(o.fps, oFingerprints(o.live))
	for len(commits) < n {
		if len(o.leftovers) > 0 && o.rnd.Intn(2) == 0 {
			var edits []string
			for _, d := range o.leftovers {
				if o.g.Exists(d) && !slices.ContainsFunc(o.live, func(x *oStack) bool { return x.dir == d || strings.HasPrefix(x.dir, d+"/") }) {
					o.g.Remove(d)
					edits = append(edits, "leftover "+d+" deleted")
				}
			}
			o.leftovers = nil
			add(edits)
			continue
		}
		if len(o.nested) > 0 {
			var edits []string
			for _, c := range o.nested {
				if o.rnd.Intn(2) == 0 {
					o.g.Remove(c.dir)
					edits = append(edits, "nested "+c.dir+" deleted")
				} else {
					nd := o.freshDir()
					o.g.Move(c.dir, nd)
					edits = append(edits, "nested "+c.dir+" moved out to "+nd)
					c.dir = nd
					o.live = append(o.live, c)
				}
			}
			o.nested = nil
			add(edits)
			continue
		}
		if len(o.dups) > 0 {
			var edits []string
			for _, c := range o.dups {
				if !slices.Contains(o.live, c) {
					continue
				}
				if o.rnd.Intn(2) == 0 {
					o.g.Remove(c.dir)
					o.live = slices.DeleteFunc(o.live, func(x *oStack) bool { return x == c })
					edits = append(edits, "copy "+c.dir+" deleted")
				} else {
					c.name = fmt.Sprintf("n%d", o.next)
					o.next++
					o.write(c)
					edits = append(edits, "copy "+c.dir+" renamed "+c.name)
				}
			}
			o.dups = nil
			add(edits)
			continue
		}
		if len(commits)%7 == 5 && len(o.live) >= 3 && rnd.Intn(2) == 0 {
			// An octopus merge: two branches and main edit disjoint
			// stacks (and shared files) from one commit, then main
			// merges both branches at once.
			tip := o.g.Head().String()
			n := len(o.live)
			c1 := 1 + rnd.Intn(n-2)
			c2 := c1 + 1 + rnd.Intn(n-c1-1)
			groups := [3][2]int{{0, c1}, {c1, c2}, {c2, n}}
			shared := [3][]string{{"shared/common/a.json", "docs/api-1.md"}, {"shared/beta/conf.json", "shared/x/y/deep.txt"}, {"shared/alpha/conf.json", "config/base/settings.ini"}}
			var lives [3][]*oStack
			lives[0] = o.live
			for k := 1; k < 3; k++ {
				for _, x := range o.live {
					lives[k] = append(lives[k], x.clone())
				}
			}
			on := func(k, commitsN int, who string) {
				o.live = lives[k]
				for m := 0; m < commitsN; m++ {
					var edits []string
					for e := 0; e < 1+rnd.Intn(2); e++ {
						edits = append(edits, who+" "+o.stackEdit(o.live[groups[k][0]+rnd.Intn(groups[k][1]-groups[k][0])]))
					}
					if rnd.Intn(2) == 0 {
						edits = append(edits, who+" "+o.touchShared(shared[k]))
					}
					add(edits)
				}
			}
			var branches []string
			for k := 0; k < 2; k++ {
				b := fmt.Sprintf("octopus-%d-%d", len(commits), k)
				o.g.Git("checkout", "-q", "-b", b, tip)
				branches = append(branches, b)
				on(k, 1+rnd.Intn(2), b)
			}
			o.g.Git("checkout", "-q", "main")
			on(2, rnd.Intn(2), "main")
			o.g.Git(append([]string{"merge", "-q", "--no-edit"}, branches...)...)
			for i := 0; i < c2; i++ {
				if i >= c1 {
					lives[2][i] = lives[1][i]
				} else {
					lives[2][i] = lives[0][i]
				}
			}
			o.live = lives[2]
			commits = append(commits, o.g.Head())
			log = append(log, "octopus merge of "+strings.Join(branches, ", "))
			o.fps = append(o.fps, oFingerprints(o.live))
			continue
		}
		if len(commits)%5 == 3 && len(o.live) >= 2 {
			// A branch editing some stacks, main editing the others
			// meanwhile, then merged back (no conflicts).
			branch := fmt.Sprintf("feature-%d", len(commits))
			o.g.Git("checkout", "-q", "-b", branch)
			mainLive := make([]*oStack, len(o.live))
			for j, s := range o.live {
				mainLive[j] = s.clone()
			}
			branchLive := o.live
			cut := 1 + rnd.Intn(len(o.live)-1)
			onBranch := func(n int) {
				o.live = branchLive
				for k := 0; k < n; k++ {
					var edits []string
					for e := 0; e < 1+rnd.Intn(2); e++ {
						edits = append(edits, "branch "+o.stackEdit(o.live[rnd.Intn(cut)]))
					}
					if rnd.Intn(3) == 0 {
						edits = append(edits, "branch "+o.touchShared([]string{"shared/common/a.json", "docs/api-1.md"}))
					}
					add(edits)
				}
			}
			onMain := func(n int) {
				o.live = mainLive
				for k := 0; k < n; k++ {
					var edits []string
					for e := 0; e < 1+rnd.Intn(2); e++ {
						edits = append(edits, "main "+o.stackEdit(o.live[cut+rnd.Intn(len(o.live)-cut)]))
					}
					if rnd.Intn(3) == 0 {
						edits = append(edits, "main "+o.touchShared([]string{"shared/alpha/conf.json", "config/base/settings.ini"}))
					}
					add(edits)
				}
			}
			onBranch(1 + rnd.Intn(2))
			o.g.Git("checkout", "-q", "main")
			onMain(rnd.Intn(2))
			if rnd.Intn(2) == 0 {
				// Criss-cross: each side merges the other's tip, then both
				// go on; the final merge has two merge-bases.
				mainTip := o.g.Head().String()
				o.g.Git("merge", "-q", "--no-ff", "--no-edit", branch)
				commits = append(commits, o.g.Head())
				log = append(log, "criss-cross merge of "+branch+" into main")
				o.fps = append(o.fps, oFingerprints(append(slices.Clone(branchLive[:cut]), mainLive[cut:]...)))
				o.g.Git("checkout", "-q", branch)
				o.g.Git("merge", "-q", "--no-ff", "--no-edit", mainTip)
				// From now on each side holds the other's half as merged.
				var branchSnap, mainSnap []*oStack
				for _, x := range branchLive[:cut] {
					branchSnap = append(branchSnap, x.clone())
				}
				for _, x := range mainLive[cut:] {
					mainSnap = append(mainSnap, x.clone())
				}
				o.view = func() []*oStack {
					if &o.live[0] == &branchLive[0] {
						return append(slices.Clone(branchLive[:cut]), mainSnap...)
					}
					return append(slices.Clone(branchSnap), mainLive[cut:]...)
				}
				commits = append(commits, o.g.Head())
				log = append(log, "criss-cross merge of main into "+branch)
				o.fps = append(o.fps, oFingerprints(append(slices.Clone(branchLive[:cut]), mainLive[cut:]...)))
				onBranch(1)
				o.g.Git("checkout", "-q", "main")
				onMain(1)
			}
			o.g.Git("merge", "-q", "--no-ff", "--no-edit", branch)
			o.view = nil
			o.live = mainLive
			for j := 0; j < cut; j++ {
				o.live[j] = branchLive[j]
			}
			commits = append(commits, o.g.Head())
			log = append(log, "merge")
			o.fps = append(o.fps, oFingerprints(o.live))
			continue
		}
		// A commit with no follow-up pending may be reverted right away
		// (git revert HEAD): the stacks are as before it.
		calm := func() bool { return len(o.dups) == 0 && len(o.nested) == 0 && len(o.leftovers) == 0 }
		var before []*oStack
		var gone []string
		if calm() {
			for _, x := range o.live {
				before = append(before, x.clone())
			}
			gone = slices.Clone(o.gone)
		}
		var edits []string
		for e := 0; e < 1+rnd.Intn(3) && len(o.nested) == 0; e++ {
			edits = append(edits, o.edit())
		}
		add(edits)
		if before != nil && calm() && len(commits) < n && rnd.Intn(5) == 0 && o.g.Git("rev-parse", "HEAD^{tree}") != o.g.Git("rev-parse", "HEAD~1^{tree}") {
			o.g.Git("revert", "--no-edit", "HEAD")
			o.live, o.gone = before, gone
			commits = append(commits, o.g.Head())
			log = append(log, "revert of the commit before")
			o.fps = append(o.fps, oFingerprints(o.live))
		}
	}
	return o, commits, log
}

// oFingerprints gives, by name, what the resolved models of each stack
// are made of as the generator wrote it: everything but formatting,
// descriptions, watch globs and the folder. Broken stacks and names used
// twice are left out.
func oFingerprints(live []*oStack) map[string]string {
	out := map[string]string{}
	seen := map[string]int{}
	for _, s := range live {
		seen[s.name]++
		if s.broken != "" {
			continue
		}
		type env struct {
			Vars map[string]string
			Over map[string]map[string]string
		}
		type fp struct {
			Vars   map[string][3]string
			Comps  map[string]map[string]string
			Labels map[string]string
			Envs   map[string]env
		}
		f := fp{Vars: map[string][3]string{}, Comps: s.comps, Labels: map[string]string{}, Envs: map[string]env{}}
		for n, v := range s.vars {
			f.Vars[n] = [3]string{v.def, strconv.FormatBool(v.secret), strconv.FormatBool(v.required)}
		}
		for c, l := range s.labels {
			if l != "" && s.comps[c] != nil {
				f.Labels[c] = l
			}
		}
		for n, e := range s.envs {
			f.Envs[n] = env{e.vars, e.over}
		}
		out[s.name] = string(mustJSONBytes(f))
	}
	for n, k := range seen {
		if k > 1 {
			delete(out, n)
		}
	}
	return out
}

func mustJSONBytes(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// oAt is a stack as the oracle sees it at one commit.
type oAt struct {
	dir    string
	watch  []string
	envs   []string
	broken bool              // does not load (or its stack.yaml gives no name)
	models map[string]string // env -> canonical model, or "error: ..." when it does not resolve
	inputs map[string]string // env -> what its model is made of (blob ids of the stack's files but other overlays)
	all    string            // every file of the stack (blob ids by relative path)
}

// oSide is everything the oracle knows of one commit.
type oSide struct {
	byName  map[string]*oAt
	dups    map[string]bool
	orphans map[string]*oAt   // by folder: environments/ files without a stack.yaml
	dupDirs map[string]string // folder -> its name, for names used twice
}

// oLoad checks commit c out into a new work tree and loads every stack.
func oLoad(t *testing.T, g *gittest.Repo, c gitops.Hash, root string) (*oSide, string) {
	t.Helper()
	wt := filepath.Join(t.TempDir(), "wt")
	g.Git("worktree", "add", "-q", "--detach", wt, c.String())
	return oLoadDir(t, wt, oTree(g, c.String()), root), wt
}

// oTree gives the mode and blob id of every file of commit rev.
func oTree(g *gittest.Repo, rev string) map[string]string {
	out := map[string]string{}
	for _, l := range oNUL(g.Git("ls-tree", "-r", "-z", rev)) {
		meta, p, ok := strings.Cut(l, "\t")
		if f := strings.Fields(meta); ok && len(f) == 3 {
			out[p] = f[0] + " " + f[2]
		}
	}
	return out
}

// oRootGone reports whether err is the documented "stacks root is not a
// folder" error of a comparison where neither side has any stack.
func oRootGone(err error, sides ...*oSide) bool {
	if err == nil || !strings.Contains(err.Error(), "no stacks: stacks root") {
		return false
	}
	for _, s := range sides {
		if len(s.byName) > 0 || len(s.orphans) > 0 {
			return false
		}
	}
	return true
}

// oNUL splits git's -z output.
func oNUL(out string) []string {
	var paths []string
	for _, p := range strings.Split(out, "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// oDiskBlobs gives the mode and blob id of every file git sees in the
// work tree (tracked or untracked, not ignored), hashing what is on disk.
func oDiskBlobs(t *testing.T, g *gittest.Repo) map[string]string {
	t.Helper()
	var paths []string
	blobs := map[string]string{}
	for _, p := range strings.Split(g.Git("ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00") {
		st, err := os.Lstat(filepath.Join(g.Dir, p))
		switch {
		case p == "" || err != nil:
		case st.Mode()&os.ModeSymlink != 0:
			// git stores a symbolic link as a blob of its target.
			target, err := os.Readlink(filepath.Join(g.Dir, p))
			if err != nil {
				t.Fatal(err)
			}
			blobs[p] = "120000 " + plumbing.ComputeHash(plumbing.BlobObject, []byte(target)).String()
		case st.Mode().IsRegular() && !slices.Contains(paths, p):
			paths = append(paths, p)
		}
	}
	cmd := exec.Command("git", "hash-object", "--stdin-paths")
	cmd.Dir = g.Dir
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(out))
	for i, p := range paths {
		st, _ := os.Lstat(filepath.Join(g.Dir, p))
		mode := "100644"
		if st.Mode()&0o111 != 0 {
			mode = "100755"
		}
		blobs[p] = mode + " " + ids[i]
	}
	return blobs
}

// oLoadDir loads every stack of the work tree wt, whose files have the
// given modes and blob ids.
func oLoadDir(t *testing.T, wt string, blobs map[string]string, root string) *oSide {
	t.Helper()
	fsys := stacks.DirFS(wt)
	d, _ := stacks.DiscoverStacks(fsys, root)
	side := &oSide{byName: map[string]*oAt{}, dups: map[string]bool{}, orphans: map[string]*oAt{}, dupDirs: map[string]string{}}
	for n, dirs := range d.Duplicates {
		side.dups[n] = true
		for _, dir := range dirs {
			side.dupDirs[dir] = n
		}
	}
	inputs := func(dir string, envs []string) map[string]string {
		out := map[string]string{}
		for _, env := range append([]string{""}, envs...) {
			var b strings.Builder
			for _, p := range sortedMapKeys(blobs) {
				rel, ok := strings.CutPrefix(p, dir+"/")
				if !ok {
					continue
				}
				if e, ok := strings.CutPrefix(rel, "environments/"); ok && env != "" && e != env+".yaml" && e != env+".yml" {
					continue
				}
				fmt.Fprintf(&b, "%s %s\n", rel, blobs[p])
			}
			out[env] = b.String()
		}
		return out
	}
	for _, ref := range d.Refs {
		a := &oAt{dir: ref.Path, models: map[string]string{}}
		h, err := stacks.ReadHeader(fsys, ref.Path)
		if err == nil {
			a.envs = h.Environments
		} else {
			a.broken = true
		}
		// A stack.yaml with errors still watches its globs (docs/changed.md).
		_, a.watch, _ = stacks.ReadWatch(fsys, ref.Path)
		st, err := d.Load(ref)
		if err != nil {
			a.broken = true
		} else {
			a.envs = st.Environments()
			for _, env := range a.envs {
				r, err := st.Resolve(env, stacks.ResolveOptions{Lenient: true})
				if err != nil {
					a.models[env] = "error: " + err.Error()
				} else {
					a.models[env] = string(r.Canonical())
				}
			}
		}
		if a.envs == nil {
			a.envs = environmentFiles(wt, ref.Path)
		}
		a.inputs = inputs(ref.Path, a.envs)
		a.all = a.inputs[""]
		side.byName[ref.Name] = a
	}
	// A stack.yaml that gives no name: the stack is known by its folder
	// (matched with the other side by the caller).
	for _, u := range d.Unnamed {
		a := &oAt{dir: u.Path, broken: true, envs: u.Environments, models: map[string]string{}}
		a.inputs = inputs(u.Path, a.envs)
		a.all = a.inputs[""]
		side.byName["@"+u.Path] = a
	}
	// Folders that hold environment files but no stack.yaml (it was
	// deleted or renamed).
	envDirs := map[string]bool{}
	for p := range blobs {
		if root != "" && !strings.HasPrefix(p, root+"/") {
			continue // outside the stacks root
		}
		if d, _, ok := strings.Cut(p, "/environments/"); ok && !strings.Contains(strings.TrimPrefix(p, d+"/environments/"), "/") {
			envDirs[d] = true
		}
	}
	for d := range envDirs {
		if _, ok := blobs[d+"/stack.yaml"]; !ok {
			a := &oAt{dir: d, broken: true, envs: environmentFiles(wt, d), models: map[string]string{}}
			a.inputs = inputs(d, a.envs)
			a.all = a.inputs[""]
			side.orphans[d] = a
		}
	}
	return side
}

func environmentFiles(wt, dir string) []string {
	ents, _ := os.ReadDir(filepath.Join(wt, dir, "environments"))
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".yaml") {
			out = append(out, strings.TrimSuffix(n, ".yaml"))
		}
	}
	return out
}

// oGlob matches a spec.watch glob, written independently of the product:
// ** segments match any number of folders, *, ? and [..] (! negates)
// within one folder, and a glob naming a folder matches below it.
func oGlob(g, p string) bool {
	var re strings.Builder
	re.WriteString("^")
	segs := strings.Split(g, "/")
	for i, s := range segs {
		if s == "**" {
			re.WriteString("(?:[^/]+/)*")
			continue
		}
		for j := 0; j < len(s); j++ {
			switch c := s[j]; c {
			case '*':
				re.WriteString("[^/]*")
			case '?':
				re.WriteString("[^/]")
			case '[':
				k := strings.IndexByte(s[j:], ']')
				cls := s[j+1 : j+k]
				if strings.HasPrefix(cls, "!") {
					cls = "^/" + cls[1:]
				}
				re.WriteString("[" + cls + "]")
				j += k
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		if i < len(segs)-1 {
			re.WriteString("/")
		}
	}
	re.WriteString("(?:/.*)?$")
	return regexp.MustCompile(re.String()).MatchString(p)
}

// oExpect says what changed between two sides: resolved lines ("name
// change [old -> new] env:kind,...") and --paths names.
func oExpect(base, head *oSide, changed []string) (want, wantPaths []string) {
	// Folders whose stack.yaml gives no name keep the name they had at
	// the other side.
	for _, pair := range [][2]*oSide{{head, base}, {base, head}} {
		for n, a := range pair[0].byName {
			if !strings.HasPrefix(n, "@") {
				continue
			}
			delete(pair[0].byName, n)
			matched := false
			for on, oa := range pair[1].byName {
				if oa.dir == a.dir && !strings.HasPrefix(on, "@") {
					// Unless a stack.yaml elsewhere gives that name: then
					// this folder is what a move left behind.
					if pair[0].byName[on] == nil {
						pair[0].byName[on] = a
					}
					matched = true
				}
			}
			if n, ok := pair[1].dupDirs[a.dir]; ok && !matched {
				pair[0].byName[n] = a
				pair[0].dups[n] = true
			} else if !matched {
				// Known by its folder's name (with the error).
				pair[0].byName[path.Base(a.dir)] = a
			}
		}
	}
	// A stack whose stack.yaml is gone while its environments stay is
	// still that stack, broken (docs/changed.md: never removed). At base
	// such a folder is the stack restored at head, broken at base: it is
	// modified, not added.
	for n, a := range base.byName {
		if _, ok := head.byName[n]; !ok && head.orphans[a.dir] != nil {
			head.byName[n] = head.orphans[a.dir]
		}
	}
	for n, a := range head.byName {
		if _, ok := base.byName[n]; !ok && base.orphans[a.dir] != nil {
			base.byName[n] = base.orphans[a.dir]
		}
	}
	watched := func(a *oAt) bool {
		for _, p := range changed {
			for _, w := range a.watch {
				if oGlob(w, p) {
					return true
				}
			}
		}
		return false
	}
	under := func(a *oAt) bool {
		for _, p := range changed {
			if strings.HasPrefix(p, a.dir+"/") {
				return true
			}
		}
		return false
	}
	for _, name := range union(base.byName, head.byName) {
		sb, sh := base.byName[name], head.byName[name]
		var envs, pathEnvs []string
		line, suffix := name, ""
		switch {
		case sb == nil:
			line += " added"
			for _, env := range sh.envs {
				envs = append(envs, env+":added")
			}
		case sh == nil:
			line += " removed"
			for _, env := range sb.envs {
				envs = append(envs, env+":removed")
			}
		default:
			if sb.dir != sh.dir {
				line += " moved " + sb.dir + " -> " + sh.dir
			} else {
				line += " modified"
			}
			w := watched(sh)
			envH := toSetT(sh.envs)
			var comps []string
			for _, env := range union(toSetT(sb.envs), envH) {
				inB, inH := slices.Contains(sb.envs, env), envH[env]
				mb, mh := sb.models[env], sh.models[env]
				switch {
				case !inB:
					pathEnvs = append(pathEnvs, env+":added")
				case !inH:
					pathEnvs = append(pathEnvs, env+":removed")
				default:
					pathEnvs = append(pathEnvs, env+":modified")
				}
				if inB && inH && !sb.broken && !sh.broken {
					comps = append(comps, oChangedComponents(mb, mh)...)
				}
				switch {
				case !inB:
					envs = append(envs, env+":added")
				case !inH:
					envs = append(envs, env+":removed")
				case w:
					envs = append(envs, env+":modified")
				case sb.broken || sh.broken:
					// A stack that does not load (at either side) is
					// listed with every environment when any of its files
					// changed (docs/changed.md).
					if sb.all != sh.all {
						envs = append(envs, env+":modified")
					}
				case sb.inputs[env] == sh.inputs[env]:
					// Nothing the model is made of changed.
				case strings.HasPrefix(mb, "error: ") || strings.HasPrefix(mh, "error: ") || mb != mh:
					envs = append(envs, env+":modified")
				}
			}
			if comps = sortedMapKeys(toSetT(comps)); len(comps) > 0 && len(envs) > 0 {
				suffix = " [" + strings.Join(comps, ",") + "]"
			}
		}
		if len(envs) > 0 || !strings.HasSuffix(line, " modified") {
			want = append(want, line+" "+strings.Join(envs, ",")+suffix)
		}
		if pathEnvs == nil {
			pathEnvs = envs
		}
		if (sb != nil && under(sb)) || (sh != nil && (under(sh) || watched(sh))) {
			if len(pathEnvs) > 0 || !strings.HasSuffix(line, " modified") {
				wantPaths = append(wantPaths, line+" "+strings.Join(pathEnvs, ","))
			}
		}
	}
	sort.Strings(wantPaths)
	sort.Strings(want)
	return want, wantPaths
}

func toSetT(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// oChangedComponents lists the components whose resolved model differs
// between two canonical models (none when either does not resolve).
func oChangedComponents(a, b string) []string {
	type model struct {
		Components []map[string]any `json:"components"`
	}
	var ma, mb model
	if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return nil
	}
	byName := func(m model) map[string]string {
		out := map[string]string{}
		for _, c := range m.Components {
			out[fmt.Sprint(c["name"])] = string(mustJSONBytes(c))
		}
		return out
	}
	ca, cb := byName(ma), byName(mb)
	var out []string
	for _, n := range union(ca, cb) {
		if ca[n] != cb[n] {
			out = append(out, n)
		}
	}
	return out
}

// oSummarize renders Detect's result as oExpect does.
func oSummarize(res *changes.Result, paths bool) []string {
	var got []string
	for _, s := range res.Stacks {
		line := s.Stack + " " + string(s.Change)
		if s.Change == changes.Moved {
			line += " " + s.OldPath + " -> " + s.Path
		}
		var envs []string
		for _, env := range s.Environments {
			envs = append(envs, env+":"+string(s.EnvironmentChanges[env]))
		}
		line += " " + strings.Join(envs, ",")
		if len(s.Components) > 0 && !paths {
			line += " [" + strings.Join(s.Components, ",") + "]"
		}
		got = append(got, line)
	}
	sort.Strings(got)
	return got
}

func oEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestDetectAgainstOracle: see the top of this file.
func TestDetectAgainstOracle(t *testing.T) {
	seeds := []int64{}
	if s := os.Getenv("PANKA_ORACLE_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, n)
	} else {
		first := oEnvInt("PANKA_ORACLE_FIRST", 1)
		for i := first; i < first+oEnvInt("PANKA_ORACLE_SEEDS", 1); i++ {
			seeds = append(seeds, int64(i))
		}
	}
	n := oEnvInt("PANKA_ORACLE_COMMITS", 12)
	for _, sd := range seeds {
		t.Run(fmt.Sprint("seed ", sd), func(t *testing.T) {
			rnd := rand.New(rand.NewSource(sd))
			o, commits, log := oHistory(t, rnd, n)
			g := o.g
			t.Cleanup(func() {
				if os.Getenv("PANKA_ORACLE_LOG") != "" || t.Failed() {
					for i, l := range log {
						t.Logf("%d %s: %s", i, commits[i].String()[:7], l)
					}
				}
				if keep := os.Getenv("PANKA_ORACLE_KEEP"); keep != "" && t.Failed() {
					if err := exec.Command("cp", "-a", g.Dir, keep).Run(); err != nil {
						t.Log(err)
					}
				}
			})
			root := []string{"stacks", "", "stacks/team-a"}[sd%3]
			sides := map[gitops.Hash]*oSide{}
			wts := map[gitops.Hash]string{}
			for _, c := range commits {
				sides[c], wts[c] = oLoad(t, g, c, root)
			}
			for n, a := range sides[commits[0]].byName {
				for env, m := range a.models {
					if a.broken || strings.HasPrefix(m, "error: ") {
						t.Fatalf("the first commit's stack %s does not resolve in %s: %s", n, env, m)
					}
				}
			}
			// What the generator wrote the same (formatting, comments, key
			// order, quoting, line endings, descriptions and folder aside)
			// resolves the same: such edits change nothing (SPEC §4).
			if len(o.fps) != len(commits) {
				t.Fatalf("%d fingerprints for %d commits", len(o.fps), len(commits))
			}
			for i := range commits {
				for j := i + 1; j < len(commits); j++ {
					for name, fp := range o.fps[i] {
						a, b := sides[commits[i]].byName[name], sides[commits[j]].byName[name]
						if o.fps[j][name] != fp || a == nil || b == nil || a.broken || b.broken {
							continue
						}
						for env, m := range a.models {
							if b.models[env] != m {
								t.Errorf("%s/%s resolves differently at %d and %d, written the same:\n %s\n %s\n history:\n  %s", name, env, i, j, m, b.models[env], historyLog(log, i, j))
							}
						}
					}
				}
			}
			var repos []*gitops.Repo
			for _, m := range modes {
				r, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				repos = append(repos, r)
			}
			fails := 0
			// check runs Detect from b to h (to the work tree when
			// uncommitted) and compares with the oracle's answer for the
			// sides bs (b's merge-base with h) and hs.
			check := func(what string, b gitops.Hash, h gitops.Hash, hs *oSide, changed []string, bs *oSide, uncommitted bool, wtDir string) {
				t.Helper()
				bs, hs = cloneSide(bs), cloneSide(hs)
				want, wantPaths := oExpect(bs, hs, changed)
				for mi, m := range modes {
					for _, paths := range []bool{false, true} {
						opts := changes.Options{Base: b.String(), StacksRoot: root, Paths: paths, NoCache: rnd.Intn(2) == 0, Uncommitted: uncommitted}
						repo := repos[mi]
						where := "main work tree"
						if wtDir != "" {
							r, err := gitops.Open(wtDir, m.opts)
							if err != nil {
								t.Fatal(err)
							}
							defer r.Close()
							repo, where = r, "linked work tree"
						}
						if !uncommitted {
							opts.Head = h.String()
							if rnd.Intn(3) == 0 {
								// From the checkout of head: its index gives the
								// stack index.
								r, err := gitops.Open(wts[h], m.opts)
								if err != nil {
									t.Fatal(err)
								}
								defer r.Close()
								repo, opts.Head, where = r, "", "checkout of head"
							}
						}
						w := want
						if paths {
							w = wantPaths
						} else if rnd.Intn(4) == 0 {
							// An environment filter narrows the answer.
							f := []string{"prod", "[!p]*", "st*", "qa,dev"}[rnd.Intn(4)]
							opts.Environments = strings.Split(f, ",")
							w = oFilterEnvs(want, f)
							where += ", --environment " + f
						}
						if rnd.Intn(5) == 0 {
							// So does a stack filter.
							f := []string{"s1*", "[!n]*", "n*,s3", "s?"}[rnd.Intn(4)]
							opts.Stacks = strings.Split(f, ",")
							w = slices.DeleteFunc(slices.Clone(w), func(l string) bool {
								n, _, _ := strings.Cut(l, " ")
								for _, g := range opts.Stacks {
									if ok, _ := path.Match(strings.ReplaceAll(g, "[!", "[^"), n); ok {
										return false
									}
								}
								return true
							})
							where += ", --stack " + f
						}
						res, err := changes.Detect(context.Background(), repo, opts)
						if oRootGone(err, bs, hs) {
							continue
						}
						if err != nil {
							t.Fatalf("%s %s %s: %v", what, m.name, where, err)
						}
						got := oSummarize(res, paths)
						if !paths {
							// --why: when one file of a stack changed and an
							// environment changed, that file had an effect.
							for _, st := range res.Stacks {
								var own []string
								for _, p := range changed {
									if strings.HasPrefix(p, st.Path+"/") || (st.OldPath != "" && strings.HasPrefix(p, st.OldPath+"/")) {
										own = append(own, p)
									}
								}
								watched := slices.ContainsFunc(st.Reasons, func(r changes.Reason) bool { return strings.Contains(r.Detail, "spec.watch") })
								if len(own) != 1 || len(st.Environments) == 0 || st.Change != changes.Modified || watched || opts.Environments != nil {
									continue
								}
								for _, r := range st.Reasons {
									if r.File == own[0] && strings.Contains(r.Detail, "no effect") {
										t.Errorf("%s: %s %s: the only changed file %s said %q, with %q changed", what, m.name, st.Stack, r.File, r.Detail, st.Environments)
									}
								}
							}
						}
						if opts.Environments != nil {
							// Components are not narrowed by the oracle.
							for k := range got {
								got[k] = oNoComponents(got[k])
							}
						}
						// A name two folders use (a copy not yet renamed) is
						// listed, never as a plain addition; what else is
						// said of it is not checked here.
						for n := range hs.dups {
							listed := slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, n+" ") || l == n })
							said := slices.ContainsFunc(res.Problems, func(e error) bool { return strings.Contains(e.Error(), n) && strings.Contains(e.Error(), "unique") })
							if !bs.dups[n] && opts.Environments == nil && opts.Stacks == nil && (!listed || !said) {
								t.Errorf("%s %s paths=%v: %s is used twice at head, not listed as such: %q %v", what, m.name, paths, n, got, res.Problems)
							}
						}
						notDup := func(l string) bool { n, _, _ := strings.Cut(l, " "); return bs.dups[n] || hs.dups[n] }
						got, w = slices.DeleteFunc(got, notDup), slices.DeleteFunc(slices.Clone(w), notDup)
						if !slices.Equal(got, w) {
							fails++
							t.Errorf("%s: %s (%s, cache %v) paths=%v:\n got  %q\n want %q\n changed %q", what, m.name, where, !opts.NoCache, paths, got, w, changed)
							if fails > 5 {
								t.FailNow()
							}
						}
					}
				}
			}
			// checkEngines: with the same options the git binary and go-git
			// give the same JSON, byte for byte (reasons, their order and
			// the rename pairs in them too), and the same problems.
			checkEngines := func(what string, b, h gitops.Hash, uncommitted bool) {
				t.Helper()
				for _, paths := range []bool{false, true} {
					var outs [2]string
					for mi := range modes {
						opts := changes.Options{Base: b.String(), StacksRoot: root, Paths: paths, Uncommitted: uncommitted}
						if !uncommitted {
							opts.Head = h.String()
						}
						res, err := changes.Detect(context.Background(), repos[mi], opts)
						if err != nil {
							outs[mi] = "error: " + err.Error()
							continue
						}
						var probs []string
						for _, p := range res.Problems {
							probs = append(probs, p.Error())
						}
						outs[mi] = string(mustJSONBytes(res)) + "\n" + strings.Join(probs, "\n")
					}
					if outs[0] != outs[1] {
						t.Errorf("%s paths=%v: the engines differ:\n %s: %s\n %s: %s", what, paths, modes[0].name, outs[0], modes[1].name, outs[1])
					}
				}
			}
			// checkDefault runs Detect with the default base from the
			// checkout dir of commit h.
			checkDefault := func(what string, h gitops.Hash, bs *oSide, changed []string, dir string) {
				t.Helper()
				bs, hs := cloneSide(bs), cloneSide(sides[h])
				want, _ := oExpect(bs, hs, changed)
				for _, m := range modes {
					r, err := gitops.Open(dir, m.opts)
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					res, err := changes.Detect(context.Background(), r, changes.Options{StacksRoot: root, NoCache: rnd.Intn(2) == 0})
					if oRootGone(err, bs, hs) {
						continue
					}
					if err != nil {
						t.Fatalf("%s, %s: %v", what, m.name, err)
					}
					notDup := func(l string) bool { n, _, _ := strings.Cut(l, " "); return bs.dups[n] || hs.dups[n] }
					got, w := slices.DeleteFunc(oSummarize(res, false), notDup), slices.DeleteFunc(slices.Clone(want), notDup)
					if !slices.Equal(got, w) {
						t.Errorf("%s, %s (base %s):\n got  %q\n want %q", what, m.name, res.Base, got, w)
					}
				}
			}
			mergeBase := func(b, h string) gitops.Hash {
				bases := strings.Fields(g.Git("merge-base", "--all", b, h))
				sort.Strings(bases)
				return plumbing.NewHash(bases[0])
			}
			pairs := 0
			for i, b := range commits {
				for j, h := range commits {
					if i == j || (j < i && rnd.Intn(4) != 0) {
						continue
					}
					mb := mergeBase(b.String(), h.String())
					changed := oNUL(g.Git("diff", "-z", "--name-only", "--no-renames", mb.String(), h.String()))
					if sides[mb] == nil {
						t.Fatalf("merge-base %s is not a generated commit", mb)
					}
					pairs++
					what := fmt.Sprintf("%d..%d (%s..%s)\n history:\n  %s\n", i, j, b.String()[:7], h.String()[:7], historyLog(log, i, j))
					check(what, b, h, sides[h], changed, sides[mb], false, "")
					if rnd.Intn(3) == 0 {
						checkEngines(what, b, h, false)
					}
				}
			}
			// --since-deployed: each environment compared with the commit
			// deployed there (a random one where it resolved), or added
			// when never deployed; deployed but gone at head is removed.
			// Head is HEAD, or some commit: environments deployed at a
			// commit that descends from it are listed as deployed ahead.
			tip := commits[len(commits)-1]
			if g.Head() != tip {
				t.Fatalf("HEAD %s is not the last commit", g.Head())
			}
			sinceHead := ""
			if rnd.Intn(2) == 0 {
				tip = commits[rnd.Intn(len(commits))]
				sinceHead = tip.String()
			}
			deployed := fakeDeployed{}
			for _, c := range commits {
				for name, a := range sides[c].byName {
					if strings.HasPrefix(name, "@") || sides[c].dups[name] || a.broken {
						continue
					}
					for _, env := range sortedMapKeys(a.models) {
						if k := name + "/" + env; !strings.HasPrefix(a.models[env], "error: ") && (deployed[k] == "" || rnd.Intn(3) == 0) {
							deployed[k] = c.String()
						}
					}
				}
			}
			for _, k := range sortedMapKeys(deployed) {
				if rnd.Intn(5) == 0 {
					delete(deployed, k)
				}
			}
			// checkSince compares SinceDeployed (head: sinceHead, or the
			// work tree) with the oracle: hs is head's side, diff lists the
			// paths that differ between a commit and head.
			checkSince := func(what string, hs *oSide, tip gitops.Hash, sinceHead string, uncommitted bool, diff func(c string) []string) (nWant, nAhead int) {
				t.Helper()
				loose := func(name string) bool {
					a := hs.byName[name]
					return hs.dups[name] || (a != nil && a.broken) || slices.ContainsFunc(sortedMapKeys(hs.byName), func(n string) bool { return strings.HasPrefix(n, "@") && path.Base(n) == name })
				}
				var want []string
				for name, a := range hs.byName {
					for _, env := range a.envs {
						if _, ok := deployed[name+"/"+env]; !ok && !strings.HasPrefix(name, "@") && !loose(name) {
							want = append(want, name+" "+env+":added")
						}
					}
				}
				byCommit := map[string][]string{}
				for k, c := range deployed {
					byCommit[c] = append(byCommit[c], k)
				}
				var wantAhead []string
				for c, keys := range byCommit {
					d := plumbing.NewHash(c)
					if d != tip && exec.Command("git", "-C", g.Dir, "merge-base", "--is-ancestor", tip.String(), c).Run() == nil {
						for _, k := range keys {
							wantAhead = append(wantAhead, k+"@"+c[:7])
						}
						continue
					}
					lines, _ := oExpect(cloneSide(sides[d]), cloneSide(hs), diff(c))
					kinds := map[string]string{}
					for _, l := range lines {
						name, _, _ := strings.Cut(l, " ")
						l = oNoComponents(l)
						for _, e := range strings.Split(l[strings.LastIndex(l, " ")+1:], ",") {
							if env, kind, ok := strings.Cut(e, ":"); ok {
								kinds[name+"/"+env] = kind
							}
						}
					}
					for _, k := range keys {
						name, env, _ := strings.Cut(k, "/")
						if kind := kinds[k]; kind != "" && !loose(name) {
							want = append(want, name+" "+env+":"+kind)
						}
					}
				}
				sort.Strings(want)
				sort.Strings(wantAhead)
				for mi, m := range modes {
					res, err := changes.SinceDeployed(context.Background(), repos[mi], listedDeployed{deployed}, changes.Options{Head: sinceHead, Uncommitted: uncommitted, StacksRoot: root, NoCache: rnd.Intn(2) == 0})
					if oRootGone(err, hs, hs) {
						continue
					}
					if err != nil {
						t.Fatalf("%s, %s: %v", what, m.name, err)
					}
					var got []string
					for _, st := range res.Stacks {
						for _, env := range st.Environments {
							if !loose(st.Stack) {
								got = append(got, st.Stack+" "+env+":"+string(st.EnvironmentChanges[env]))
							}
						}
					}
					sort.Strings(got)
					var gotAhead []string
					for _, a := range res.DeployedAhead {
						gotAhead = append(gotAhead, a.Stack+"/"+a.Environment+"@"+a.Commit[:7])
					}
					sort.Strings(gotAhead)
					if !slices.Equal(got, want) || !slices.Equal(gotAhead, wantAhead) {
						var ds []string
						for _, k := range sortedMapKeys(deployed) {
							ds = append(ds, k+"@"+strconv.Itoa(slices.Index(commits, plumbing.NewHash(deployed[k]))))
						}
						t.Errorf("%s, %s, head %d:\n got  %q\n want %q\n ahead %q\n want %q\n deployed %s", what, m.name, slices.Index(commits, tip), got, want, gotAhead, wantAhead, strings.Join(ds, " "))
					}
				}
				return len(want), len(wantAhead)
			}
			nSince, nAhead := checkSince("since deployed", sides[tip], tip, sinceHead, false, func(c string) []string {
				return oNUL(g.Git("diff", "-z", "--name-only", "--no-renames", c, tip.String()))
			})

			// The work tree: edits staged, unstaged, untracked.
			var edits []string
			for k := 0; k < 1+rnd.Intn(3); k++ {
				edits = append(edits, o.edit())
			}
			if rnd.Intn(2) == 0 {
				g.Git("reset", "-q")
				edits = append(edits, "(unstaged)")
			}
			// Besides: a tracked file deleted (not staged), a deletion
			// staged with the file left untracked, or a new file added
			// with git add -N.
			var tracked []string
			for _, p := range oNUL(g.Git("ls-files", "-z")) {
				if strings.Contains(p, "/environments/") || strings.HasSuffix(p, ".yaml") && strings.HasPrefix(p, "stacks/") {
					tracked = append(tracked, p)
				}
			}
			if len(tracked) > 0 {
				f := tracked[rnd.Intn(len(tracked))]
				switch rnd.Intn(4) {
				case 0:
					if err := os.Remove(filepath.Join(g.Dir, f)); err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
					edits = append(edits, "rm "+f)
				case 1:
					g.Git("rm", "-q", "--cached", "--", f)
					edits = append(edits, "git rm --cached "+f)
				case 2:
					s := o.live[rnd.Intn(len(o.live))]
					f = s.dir + "/environments/uat.yaml"
					if s.broken == "" && !o.g.Exists(f) {
						g.WriteFile(f, oHeader("Environment", "uat", "", 0)+"spec:\n  variables: {}\n")
						g.Git("add", "-N", "--", f)
						edits = append(edits, "git add -N "+f)
					}
				}
			}
			blobs := oDiskBlobs(t, g)
			work := oLoadDir(t, g.Dir, blobs, root)
			head := g.Head()
			for i, b := range commits {
				if rnd.Intn(3) != 0 && i != len(commits)-1 {
					continue
				}
				mb := mergeBase(b.String(), head.String())
				var changed []string
				at := sides[mb]
				tree := oTree(g, mb.String())
				for _, p := range union(tree, blobs) {
					if tree[p] != blobs[p] {
						changed = append(changed, p)
					}
				}
				pairs++
				what := fmt.Sprintf("%d..work tree (%s)\n history:\n  %s\n  work tree: %s\n", i, b.String()[:7], historyLog(log, i, len(commits)-1), strings.Join(edits, "; "))
				check(what, b, head, work, changed, at, true, "")
				checkEngines(what, b, head, true)
			}
			checkSince("since deployed, work tree: "+strings.Join(edits, "; "), work, head, "", true, func(c string) []string {
				tree := oTree(g, c)
				var changed []string
				for _, p := range union(tree, blobs) {
					if tree[p] != blobs[p] {
						changed = append(changed, p)
					}
				}
				return changed
			})
			// The default base, from checkouts of some commits: with a
			// remote default branch at an older commit of main, a commit
			// on it (or behind it) is compared with its first parent (none:
			// everything added), any other with its merge-base with it.
			mains := strings.Fields(g.Git("rev-list", "--first-parent", "main"))
			originTip := mains[rnd.Intn(len(mains))]
			g.Git("remote", "add", "origin", g.Dir)
			g.Git("update-ref", "refs/remotes/origin/main", originTip)
			g.Git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
			empty := &oSide{byName: map[string]*oAt{}, dups: map[string]bool{}, orphans: map[string]*oAt{}, dupDirs: map[string]string{}}
			for i, c := range commits {
				if rnd.Intn(4) != 0 {
					continue
				}
				bs, b, from := empty, plumbing.ZeroHash, "the empty tree"
				if exec.Command("git", "-C", g.Dir, "merge-base", "--is-ancestor", c.String(), originTip).Run() == nil {
					if ps := strings.Fields(g.Git("rev-list", "--parents", "-n", "1", c.String()))[1:]; len(ps) > 0 {
						b, from = plumbing.NewHash(ps[0]), "first parent"
					}
				} else {
					b, from = mergeBase(c.String(), originTip), "merge-base with origin/main"
				}
				var changed []string
				if b.IsZero() {
					changed = oNUL(g.Git("ls-tree", "-r", "-z", "--name-only", c.String()))
				} else {
					bs, changed = sides[b], oNUL(g.Git("diff", "-z", "--name-only", "--no-renames", b.String(), c.String()))
				}
				pairs++
				checkDefault(fmt.Sprintf("default base of %d (origin/main at %s: %s)", i, originTip[:7], from), c, bs, changed, wts[c])
			}

			// A linked work tree (its own index and HEAD) with files of
			// another commit copied in, an environment file deleted, some
			// of it staged.
			ci := rnd.Intn(len(commits))
			c := commits[ci]
			wg := &gittest.Repo{T: t, Dir: wts[c]}
			edits = nil
			for k := 0; k < 1+rnd.Intn(3); k++ {
				c2 := commits[rnd.Intn(len(commits))]
				names := sortedMapKeys(sides[c2].byName)
				if c2 == c || len(names) == 0 {
					continue
				}
				a := sides[c2].byName[names[rnd.Intn(len(names))]]
				if err := os.RemoveAll(filepath.Join(wg.Dir, a.dir)); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Dir(filepath.Join(wg.Dir, a.dir)), 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("cp", "-a", filepath.Join(wts[c2], a.dir), filepath.Join(wg.Dir, a.dir)).CombinedOutput(); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				edits = append(edits, fmt.Sprintf("%s as at %d", a.dir, slices.Index(commits, c2)))
				if rnd.Intn(2) == 0 {
					wg.Git("add", "-A", "--", a.dir)
					edits = append(edits, "(staged)")
				}
			}
			if envs, _ := filepath.Glob(filepath.Join(wg.Dir, "stacks", "*", "*", "environments", "*.y*ml")); len(envs) > 0 {
				f := envs[rnd.Intn(len(envs))]
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
				edits = append(edits, "rm "+f[len(wg.Dir)+1:])
			}
			lblobs := oDiskBlobs(t, wg)
			lwork := oLoadDir(t, wg.Dir, lblobs, root)
			for i, b := range commits {
				if rnd.Intn(4) != 0 {
					continue
				}
				mb := mergeBase(b.String(), c.String())
				tree := oTree(g, mb.String())
				var changed []string
				for _, p := range union(tree, lblobs) {
					if tree[p] != lblobs[p] {
						changed = append(changed, p)
					}
				}
				pairs++
				check(fmt.Sprintf("%d..linked work tree at %d (%s)\n history:\n  %s\n  work tree: %s\n", i, ci, b.String()[:7], historyLog(log, i, ci), strings.Join(edits, "; ")), b, c, lwork, changed, sides[mb], true, wg.Dir)
			}
			t.Logf("%d commits, %d comparisons; since deployed: %d environments compared, %d deployed ahead", len(commits), pairs, nSince, nAhead)
		})
	}
}

// oFilterEnvs narrows oracle lines to the environments matching the
// comma-separated globs f; stacks left without any are dropped.
func oFilterEnvs(lines []string, f string) []string {
	var out []string
	for _, l := range lines {
		l = oNoComponents(l)
		i := strings.LastIndex(l, " ")
		var envs []string
		for _, e := range strings.Split(l[i+1:], ",") {
			env, _, _ := strings.Cut(e, ":")
			for _, g := range strings.Split(f, ",") {
				if ok, _ := path.Match(strings.ReplaceAll(g, "[!", "[^"), env); ok && env != "" {
					envs = append(envs, e)
					break
				}
			}
		}
		if len(envs) > 0 {
			out = append(out, l[:i+1]+strings.Join(envs, ","))
		}
	}
	return out
}

// oNoComponents drops the components from a line.
func oNoComponents(l string) string {
	if i := strings.LastIndex(l, " ["); i >= 0 && strings.HasSuffix(l, "]") {
		return l[:i]
	}
	return l
}

func historyLog(log []string, i, j int) string {
	var out []string
	lo, hi := min(i, j), max(i, j)
	for k := lo + 1; k <= hi; k++ {
		out = append(out, fmt.Sprintf("%d: %s", k, log[k]))
	}
	return strings.Join(out, "\n  ")
}

func cloneSide(s *oSide) *oSide {
	return &oSide{byName: mapsClone(s.byName), dups: mapsClone(s.dups), orphans: s.orphans, dupDirs: s.dupDirs}
}
