package gitops

import "sync"

// The pack readers of one process (the go-git pack-reader pool, the
// merge-base walks' own storages) map the same pack and index files: each
// mapping of a file counts its resident pages in the process's RSS again.
// mapShared maps a file once while any reader holds it.
var shared struct {
	sync.Mutex
	byKey  map[sharedKey]*sharedMapping
	byAddr map[*byte]*sharedMapping
}

type sharedKey struct {
	path string
	size int64
}

type sharedMapping struct {
	key  sharedKey
	b    []byte
	refs int
}

// mapShared is mapFile of a file git never rewrites in place (a pack or
// its index: their names are content hashes), shared with the other
// holders of the same path and size; release it with unmapShared.
func mapShared(path string, size int64) []byte {
	shared.Lock()
	defer shared.Unlock()
	k := sharedKey{path, size}
	if m := shared.byKey[k]; m != nil {
		m.refs++
		return m.b
	}
	b := mapFile(path, size)
	if len(b) == 0 {
		return b
	}
	if shared.byKey == nil {
		shared.byKey, shared.byAddr = map[sharedKey]*sharedMapping{}, map[*byte]*sharedMapping{}
	}
	m := &sharedMapping{key: k, b: b, refs: 1}
	shared.byKey[k], shared.byAddr[&b[0]] = m, m
	return b
}

// unmapShared releases a mapping of mapShared, unmapping it with its last
// holder.
func unmapShared(b []byte) {
	if len(b) == 0 {
		return
	}
	shared.Lock()
	defer shared.Unlock()
	m := shared.byAddr[&b[0]]
	if m == nil {
		unmapFile(b)
		return
	}
	if m.refs--; m.refs == 0 {
		delete(shared.byKey, m.key)
		delete(shared.byAddr, &b[0])
		unmapFile(m.b)
	}
}
