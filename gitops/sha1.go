package gitops

import (
	"crypto"
	"crypto/sha1"

	"github.com/go-git/go-git/v5/plumbing/hash"
)

// go-git hashes objects with SHA-1 collision detection (sha1cd) by default,
// about 5 times slower than crypto/sha1 (hardware-accelerated): a far-apart
// comparison in pure go-git spent a fifth of its time hashing the objects it
// reads from packs to key its cache. panka never takes objects from
// elsewhere — git received and checked them (git's own SHA-1 has collision
// detection) — and hashes work-tree files only to compare them with the
// blobs git indexed, so plain SHA-1 gives the same ids without the cost.
func init() {
	if err := hash.RegisterHash(crypto.SHA1, sha1.New); err != nil {
		panic(err)
	}
}
