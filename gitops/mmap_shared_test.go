package gitops

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMapShared: two holders of a file share one mapping, which stays
// readable until the last one releases it.
func TestMapShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pack-x.pack")
	if err := os.WriteFile(p, []byte("PACK contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := mapShared(p, 13)
	if !canMap {
		// Nothing is mapped here: callers read with ReadAt.
		if a != nil {
			t.Fatal("a mapping where files are not mapped")
		}
		unmapShared(a)
		return
	}
	if a == nil {
		t.Fatal("the file was not mapped")
	}
	b := mapShared(p, 13)
	if &a[0] != &b[0] {
		t.Fatal("the second holder got a mapping of its own")
	}
	unmapShared(a)
	if string(b) != "PACK contents" {
		t.Fatalf("after the first release: %q", b)
	}
	shared.Lock()
	refs := shared.byKey[sharedKey{p, 13}].refs
	shared.Unlock()
	if refs != 1 {
		t.Fatalf("refs = %d, want 1", refs)
	}
	unmapShared(b)
	shared.Lock()
	_, left := shared.byKey[sharedKey{p, 13}]
	shared.Unlock()
	if left {
		t.Fatal("the mapping is kept after its last release")
	}
	// Another size (never for a pack, whose name is its contents' hash) is
	// another mapping.
	c := mapShared(p, 4)
	if string(c) != "PACK" {
		t.Fatalf("mapping of 4 bytes: %q", c)
	}
	unmapShared(c)
}
