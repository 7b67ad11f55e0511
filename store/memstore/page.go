package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/sessiond/sessiond/session"
)

// userEntry is one session in a user's index, which is kept ordered by
// compareEntry: the listing order of session.Store.ListUserPage.
type userEntry struct {
	created time.Time
	id      string
}

func compareEntry(a, b userEntry) int {
	return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id))
}

// ListUserPage returns copies of at most limit of the user's sessions
// after the position after, in the order (CreatedAt, ID). It finds the
// position by binary search in the user's ordered index, so a page costs
// O(log n + limit) under the read lock.
func (s *Store) ListUserPage(ctx context.Context, userID string, after session.PageCursor, limit int) ([]*session.Record, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if err := session.CheckPageLimit(limit); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := s.byUser[userID]
	start := 0
	if !after.IsZero() {
		i, found := slices.BinarySearchFunc(ids, userEntry{after.CreatedAt, after.ID}, compareEntry)
		if found {
			i++
		}
		start = i
	}
	ids = ids[start:]
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]*session.Record, 0, len(ids))
	for _, e := range ids {
		out = append(out, s.sessions[e.id].Clone())
	}
	return out, nil
}
