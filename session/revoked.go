package session

import (
	"sync"
	"time"
)

// revokedSet is the in-memory set of revoked session ids that Verify
// consults instead of the store. Entries live until every access token of
// their session has expired anyway.
type revokedSet struct {
	mu  sync.RWMutex
	ids map[string]time.Time // session id -> until
}

func newRevokedSet() *revokedSet { return &revokedSet{ids: make(map[string]time.Time)} }

func (s *revokedSet) add(r Revocation) {
	s.mu.Lock()
	if r.Until.After(s.ids[r.SessionID]) {
		s.ids[r.SessionID] = r.Until
	}
	s.mu.Unlock()
}

func (s *revokedSet) has(id string, now time.Time) bool {
	s.mu.RLock()
	until, ok := s.ids[id]
	s.mu.RUnlock()
	return ok && now.Before(until)
}

func (s *revokedSet) prune(now time.Time) {
	s.mu.Lock()
	for id, until := range s.ids {
		if !now.Before(until) {
			delete(s.ids, id)
		}
	}
	s.mu.Unlock()
}

func (s *revokedSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ids)
}
