package engine

import (
	"encoding/json"
	"strings"
	"time"
)

// ComponentsTouched reads b, a DIY checkpoint (CheckpointPath), and
// returns the components it holds (top-level resources, by name; the
// stack's root resource and providers left out) and those of them that
// an operation may have changed at or after since: a resource of the
// component (itself or one below it) created or modified then, pending
// (an operation was in flight when the run stopped) or marked for
// deletion (a replacement that did not finish). ok is false when b is not
// a checkpoint panka can read. Pulumi stamps a resource's modified time
// only when a step creates or updates it; one a run left as it was keeps
// its earlier time.
func ComponentsTouched(b []byte, since time.Time) (present, touched map[string]bool, ok bool) {
	var doc struct {
		Checkpoint struct {
			Latest *struct {
				Resources []struct {
					URN      string     `json:"urn"`
					Type     string     `json:"type"`
					Parent   string     `json:"parent"`
					Delete   bool       `json:"delete"`
					Created  *time.Time `json:"created"`
					Modified *time.Time `json:"modified"`
				} `json:"resources"`
				Pending []struct {
					Resource struct {
						URN    string `json:"urn"`
						Parent string `json:"parent"`
					} `json:"resource"`
				} `json:"pending_operations"`
			} `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, false
	}
	present, touched = map[string]bool{}, map[string]bool{}
	latest := doc.Checkpoint.Latest
	if latest == nil {
		return present, touched, true
	}
	name := func(urn string) string { return urn[strings.LastIndex(urn, "::")+2:] }
	// Parents come before their children in a checkpoint.
	component := map[string]string{}
	root := map[string]bool{}
	of := func(urn, parent, typ string) string {
		if c, ok := component[parent]; ok {
			return c
		}
		if typ == "pulumi:pulumi:Stack" || strings.HasPrefix(typ, "pulumi:providers:") || (parent != "" && !root[parent]) {
			return ""
		}
		return name(urn)
	}
	for _, r := range latest.Resources {
		if r.Type == "pulumi:pulumi:Stack" {
			root[r.URN] = true
			continue
		}
		c := of(r.URN, r.Parent, r.Type)
		if c == "" {
			continue
		}
		component[r.URN] = c
		present[c] = true
		if r.Delete || r.Created == nil || r.Modified == nil || !r.Created.Before(since) || !r.Modified.Before(since) {
			touched[c] = true
		}
	}
	for _, p := range latest.Pending {
		if c := of(p.Resource.URN, p.Resource.Parent, ""); c != "" {
			touched[c] = true
		}
	}
	return present, touched, true
}
