package stacks

import (
	"math/rand"
	"path"
	"regexp"
	"testing"
)

// The hand-written matchers of the resolver agree with the regular
// expressions they replace.
func TestMatchersAgreeWithRegexps(t *testing.T) {
	nameRe := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	refRe := regexp.MustCompile(`^([a-z][a-z0-9-]*)\.([A-Za-z][A-Za-z0-9]*)$`)
	inputs := []string{"", "A", "_", "a1", "1a", "A_B", "a-b", "a.b", "db.endpoint", "users-db.endpoint", "Db.endpoint", "db.Endpoint",
		"db.end-point", "db.", ".x", "a.b.c", "a..b", "-a.b", "a-.b1", "a.1b", "é.x", "a b", "a\n"}
	r := rand.New(rand.NewSource(1))
	const alphabet = "aZ_-.0 9z"
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.Intn(6))
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, s := range inputs {
		if got, want := isName(s), nameRule.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, nameRule says %v", s, got, want)
		}
		if got, want := isName([]byte(s)), nameRule.MatchString(s); got != want {
			t.Errorf("isName([]byte(%q)) = %v, nameRule says %v", s, got, want)
		}
		if got, want := isEnvName(s), nameRe.MatchString(s); got != want {
			t.Errorf("isEnvName(%q) = %v, regexp says %v", s, got, want)
		}
		comp, out, ok := splitRef(s)
		m := refRe.FindStringSubmatch(s)
		if ok != (m != nil) || ok && (comp != m[1] || out != m[2]) {
			t.Errorf("splitRef(%q) = %q, %q, %v; regexp says %q", s, comp, out, ok, m)
		}
		if got, want := isSymbolicVar("${var."+s+"}"), nameRe.MatchString(s); got != want {
			t.Errorf("isSymbolicVar(${var.%s}) = %v, want %v", s, got, want)
		}
	}
}

// hasCycle finds a cycle exactly when NewGraph does.
func TestHasCycleAgreesWithGraph(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	names := []string{"a", "b", "c", "d", "e", "f"}
	for i := 0; i < 5000; i++ {
		n := 1 + r.Intn(len(names))
		comps := make([]Component, n)
		deps := map[string][]string{}
		for j := range comps {
			comps[j].Name = names[j]
			for k := r.Intn(3); k > 0; k-- {
				d := names[r.Intn(len(names))] // may be unknown (j >= n) or itself
				comps[j].DependsOn = append(comps[j].DependsOn, d)
			}
			deps[names[j]] = comps[j].DependsOn
		}
		_, err := NewGraph(deps)
		if got := hasCycle(comps); got != (err != nil) {
			t.Fatalf("hasCycle(%v) = %v, NewGraph error %v", deps, got, err)
		}
	}
	// Unsorted components: hasCycle defers to Graph.
	if !hasCycle([]Component{{Name: "b"}, {Name: "a"}}) {
		t.Error("hasCycle on unsorted components must answer true (Graph decides)")
	}
}

func TestJoinName(t *testing.T) {
	for _, dir := range []string{".", "", "/", "a", "a/b", "stacks/team-01"} {
		for _, name := range []string{"x", "x.yaml", ".hidden", "", ".", "..", "a/b"} {
			if got, want := joinName(dir, name), path.Join(dir, name); got != want {
				t.Errorf("joinName(%q, %q) = %q, want %q", dir, name, got, want)
			}
		}
	}
}
