// Package memstore is an in-memory backend of session.Store,
// session.RevocationFeed and token.RingStore (and, in accounts.go,
// account.Store).
//
// It is meant for tests and for library users who run a single process and
// accept that a restart logs everybody out. Everything lives in maps guarded
// by one mutex; records are deep-copied on the way in and out so callers
// never alias the store's memory.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"github.com/sessiond/sessiond/store/internal/revfeed"
	"slices"
	"sync"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// deleteBatch bounds how many sessions DeleteExpired removes while holding
// the write lock, so a large sweep does not stall requests.
const deleteBatch = 1000

// Store is an in-memory session store. The zero value is an empty store
// ready to use, as is New(). All methods are safe for concurrent use.
type Store struct {
	mu       sync.RWMutex
	sessions map[string]*session.Record // id -> record (owned by the store)
	byUser   map[string][]userEntry     // userID -> its sessions by (CreatedAt, ID)
	revoked  map[string]time.Time       // session id -> Until
	ring     []byte                     // sealed key ring
	ringVer  uint64                     // version of ring, 0: none
	feed     revfeed.Feed               // in-process revocation feed
	acc      accounts                   // account.Store half, see accounts.go
}

var (
	_ session.Store          = (*Store)(nil)
	_ session.RevocationFeed = (*Store)(nil)
	_ token.RingStore        = (*Store)(nil)
)

// New returns an empty store.
func New() *Store { return new(Store) }

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	return nil
}

// Create stores a copy of r with Version 1 and sets r.Version to 1.
// It returns session.ErrExists if the id is taken.
func (s *Store) Create(ctx context.Context, r *session.Record) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	c := r.Clone()
	c.Version = 1
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[c.ID]; ok {
		return fmt.Errorf("memstore: create %w", session.ErrExists)
	}
	s.put(c)
	r.Version = 1
	return nil
}

// put stores c and indexes it. The caller holds s.mu for writing.
func (s *Store) put(c *session.Record) {
	if s.sessions == nil {
		s.sessions = make(map[string]*session.Record)
		s.byUser = make(map[string][]userEntry)
	}
	s.sessions[c.ID] = c
	e := userEntry{c.CreatedAt, c.ID}
	ids := s.byUser[c.UserID]
	i, _ := slices.BinarySearchFunc(ids, e, compareEntry)
	s.byUser[c.UserID] = slices.Insert(ids, i, e)
}

// remove deletes the session id and its index entry. The caller holds s.mu
// for writing.
func (s *Store) remove(id string) {
	r, ok := s.sessions[id]
	if !ok {
		return
	}
	delete(s.sessions, id)
	ids := s.byUser[r.UserID]
	if i, ok := slices.BinarySearchFunc(ids, userEntry{r.CreatedAt, r.ID}, compareEntry); ok {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(s.byUser, r.UserID)
	} else {
		s.byUser[r.UserID] = ids
	}
}

// revoke records a revocation, keeping the later Until if one exists, and
// queues it for subscribers. The caller holds s.mu for writing, which keeps
// the feed in the order the writes happened.
func (s *Store) revoke(id string, until time.Time) {
	if s.revoked == nil {
		s.revoked = make(map[string]time.Time)
	}
	if old, ok := s.revoked[id]; ok && old.After(until) {
		until = old
	}
	s.revoked[id] = until
	s.feed.Publish(session.Revocation{SessionID: id, Until: until})
}

// Get returns a copy of the record, or session.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*session.Record, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.sessions[id]
	if !ok {
		return nil, fmt.Errorf("memstore: get %w", session.ErrNotFound)
	}
	return r.Clone(), nil
}

// Update replaces the record if the stored Version equals r.Version.
func (s *Store) Update(ctx context.Context, r *session.Record) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	c := r.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.sessions[c.ID]
	if !ok {
		return fmt.Errorf("memstore: update %w", session.ErrNotFound)
	}
	if old.Version != c.Version {
		return fmt.Errorf("memstore: update %w", session.ErrConflict)
	}
	c.Version++
	s.remove(c.ID) // the user id may have changed
	s.put(c)
	r.Version = c.Version
	return nil
}

// Rotate does refresh-token rotation as one step under the write lock.
// req.Deadline is checked on the real clock once the lock is held, before
// anything is decided.
func (s *Store) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.DeadlinePassed(time.Now()) {
		return 0, nil, fmt.Errorf("memstore: rotate: %w", session.ErrDeadline)
	}
	r, ok := s.sessions[id]
	if !ok || r.Expired(req.Now) {
		return 0, nil, fmt.Errorf("memstore: rotate %w", session.ErrNotFound)
	}
	out, c := session.Apply(r, req)
	switch out {
	case session.Rotated, session.Resumed, session.GraceReplay:
		if c != nil {
			s.sessions[id] = c
			r = c
		}
		return out, r.Clone(), nil
	default:
		s.remove(id)
		s.revoke(id, req.Now.Add(req.RevokeHold))
		return session.Reused, nil, nil
	}
}

// Delete removes one session and records its revocation until until.
func (s *Store) Delete(ctx context.Context, id string, until time.Time) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return false, nil
	}
	s.remove(id)
	s.revoke(id, until)
	return true, nil
}

// DeleteUser removes every session of userID except the one with id except,
// records their revocations and returns the ids removed.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for _, e := range s.byUser[userID] {
		if e.id != except {
			gone = append(gone, e.id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		s.remove(id)
		s.revoke(id, until)
	}
	return gone, nil
}

// ListUser returns copies of the user's sessions, oldest first.
func (s *Store) ListUser(ctx context.Context, userID string) ([]*session.Record, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]*session.Record, 0, len(s.byUser[userID]))
	for _, e := range s.byUser[userID] {
		out = append(out, s.sessions[e.id].Clone())
	}
	s.mu.RUnlock()
	return out, nil
}

// Revocations returns the revocations whose Until is after now, ordered by
// session id.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]session.Revocation, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []session.Revocation
	for id, until := range s.revoked {
		if until.After(now) {
			out = append(out, session.Revocation{SessionID: id, Until: until})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b session.Revocation) int { return cmp.Compare(a.SessionID, b.SessionID) })
	return out, nil
}

// DeleteExpired removes the sessions dead at now and the revocations whose
// Until has passed. It finds candidates under the read lock, then deletes
// them in batches of at most deleteBatch under the write lock, checking
// each again (an Update may have extended it meanwhile).
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	var dead, forget []string
	s.mu.RLock()
	for id, r := range s.sessions {
		if r.Expired(now) {
			dead = append(dead, id)
		}
	}
	for id, until := range s.revoked {
		if !until.After(now) {
			forget = append(forget, id)
		}
	}
	s.mu.RUnlock()

	n := 0
	for batch := range slices.Chunk(dead, deleteBatch) {
		if err := ctxErr(ctx); err != nil {
			return n, err
		}
		s.mu.Lock()
		for _, id := range batch {
			if r, ok := s.sessions[id]; ok && r.Expired(now) {
				s.remove(id)
				n++
			}
		}
		s.mu.Unlock()
	}
	for batch := range slices.Chunk(forget, deleteBatch) {
		if err := ctxErr(ctx); err != nil {
			return n, err
		}
		s.mu.Lock()
		for _, id := range batch {
			if until, ok := s.revoked[id]; ok && !until.After(now) {
				delete(s.revoked, id)
			}
		}
		s.mu.Unlock()
	}
	return n, nil
}

// SubscribeRevocations calls fn, from a goroutine of its own, for every
// revocation this store records after SubscribeRevocations returns, in the
// order they were recorded, until ctx is done. Events wait in an unbounded
// queue, so a slow fn never blocks a write and no event is dropped.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.feed.Subscribe(ctx, fn)
	return nil
}

// LoadKeyRing returns a copy of the sealed key ring and its version, or
// (nil, 0, nil) if none was saved.
func (s *Store) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ringVer == 0 {
		return nil, 0, nil
	}
	return bytes.Clone(s.ring), s.ringVer, nil
}

// SaveKeyRing stores a copy of blob as version prev+1 if the stored
// version is prev, and returns token.ErrRingConflict otherwise.
func (s *Store) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ringVer != prev {
		return fmt.Errorf("memstore: save key ring at version %d (stored %d): %w", prev, s.ringVer, token.ErrRingConflict)
	}
	s.ring = bytes.Clone(blob)
	s.ringVer = prev + 1
	return nil
}

// Close stops nothing and releases nothing: the store lives until it is
// garbage. It exists to satisfy session.Store.
func (s *Store) Close() error { return nil }
