package gitops

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// maxRescans bounds the re-reads of the pack folder for one object lookup
// (each is one more repack that happened meanwhile).
const maxRescans = 3

// packStorage is go-git's filesystem storage made safe against another
// process replacing the packs while panka runs (`git gc`, auto gc after a
// commit, `git repack`, a fetch). go-git lists the packs and loads their
// indexes once; after a repack it looks for objects in packs that are gone
// ("packfile not found") or misses objects moved from loose files into a
// new pack (reported as not in the local history). Like git
// (reprepare_packed_git), a lookup that fails while the set of packs has
// changed re-reads them and tries again. Callers serialize access as for
// go-git's own storage (Repo.mu).
type packStorage struct {
	*filesystem.Storage
	packDir string
	cache   cache.Object

	// bases bounds the delta bases each pack read keeps (baseCacheBytes).
	bases int

	mu   sync.Mutex
	seen string      // the pack names when the indexes were last reloaded; "" unknown
	pr   *packReader // the packs read first (see packReader), opened on first use
}

func newPackStorage(st *filesystem.Storage, objectsDir string, c cache.Object) *packStorage {
	return &packStorage{Storage: st, packDir: filepath.Join(objectsDir, "pack"), cache: c, bases: baseCacheBytes}
}

// reader is the pack reader, opened on first use.
func (s *packStorage) reader() *packReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pr == nil {
		s.pr = openPackReader(s.packDir, s.cache, s.bases)
	}
	return s.pr
}

// get reads h from the packs read first, else through go-git's storage.
func (s *packStorage) get(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.reader().object(t, h)
	if errors.Is(err, errNotInPacks) {
		return s.Storage.EncodedObject(t, h)
	}
	return o, err
}

// Close closes the pack files.
func (s *packStorage) Close() error {
	s.mu.Lock()
	var err error
	if s.pr != nil {
		err = s.pr.close()
		s.pr = nil
	}
	s.mu.Unlock()
	if cerr := s.Storage.Close(); err == nil {
		err = cerr
	}
	return err
}

// rescan reloads the pack indexes when err says an object or pack was not
// found and the packs changed since they were last (re)loaded. It reports
// whether the lookup is worth trying again.
func (s *packStorage) rescan(err error) bool {
	if !errors.Is(err, plumbing.ErrObjectNotFound) && !errors.Is(err, dotgit.ErrPackfileNotFound) && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	now := s.packNames()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen != "" && now == s.seen {
		return false // same packs: the object is really missing
	}
	s.seen = now
	s.Reindex()
	if s.pr != nil {
		s.pr.close()
		s.pr = nil
	}
	return true
}

// packNames lists the pack files, sorted (their names are content hashes).
func (s *packStorage) packNames() string {
	ents, err := os.ReadDir(s.packDir)
	if err != nil {
		return "?" + err.Error()
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pack") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return "packs:" + strings.Join(names, ",")
}

// EncodedObject implements storer.EncodedObjectStorer.
func (s *packStorage) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.get(t, h)
	for i := 0; err != nil && i < maxRescans && s.rescan(err); i++ {
		o, err = s.get(t, h)
	}
	return o, err
}

// HasEncodedObject implements storer.EncodedObjectStorer.
func (s *packStorage) HasEncodedObject(h plumbing.Hash) error {
	if s.reader().has(h) {
		return nil
	}
	err := s.Storage.HasEncodedObject(h)
	for i := 0; err != nil && i < maxRescans && s.rescan(err); i++ {
		err = s.Storage.HasEncodedObject(h)
	}
	return err
}

// EncodedObjectSize implements storer.EncodedObjectStorer.
func (s *packStorage) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	n, err := s.Storage.EncodedObjectSize(h)
	for i := 0; err != nil && i < maxRescans && s.rescan(err); i++ {
		n, err = s.Storage.EncodedObjectSize(h)
	}
	return n, err
}

// HashesWithPrefix resolves abbreviated ids, also in packs written since
// the indexes were loaded.
func (s *packStorage) HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error) {
	hs, err := s.Storage.HashesWithPrefix(prefix)
	for i := 0; (err != nil || len(hs) == 0) && i < maxRescans && s.rescan(plumbing.ErrObjectNotFound); i++ {
		hs, err = s.Storage.HashesWithPrefix(prefix)
	}
	return hs, err
}

// packListing returns the name of a pack whose index lists h, or "".
func (s *packStorage) packListing(h plumbing.Hash) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pr == nil {
		s.pr = openPackReader(s.packDir, s.cache, s.bases)
	}
	for _, p := range s.pr.packs {
		if _, err := p.idx.FindOffset(h); err == nil {
			return p.name
		}
	}
	return ""
}
