package memstore

import (
	"context"
	"time"
)

// CountSessions returns how many sessions are alive at now.
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int64, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n int64
	for _, r := range s.sessions {
		if !r.Expired(now) {
			n++
		}
	}
	return n, nil
}
