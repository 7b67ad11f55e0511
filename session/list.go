package session

import (
	"context"
	"fmt"
)

// List returns all the user's live sessions, oldest first (by creation,
// then id). It reads the store a page of MaxStorePage at a time, so it
// holds no more than the answer and one page; a caller that shows
// sessions to a person wants ListPage instead, whose cost is bounded by
// its page size.
func (m *Manager) List(ctx context.Context, userID string) ([]*Session, error) {
	now := m.now()
	out := []*Session{}
	var pos PageCursor
	for {
		recs, err := m.store.ListUserPage(ctx, userID, pos, MaxStorePage)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		for _, r := range recs {
			pos = CursorOf(r)
			if r.Expired(now) || m.revoked.has(r.ID, now) {
				continue
			}
			out = append(out, newSession(r))
		}
		if len(recs) < MaxStorePage {
			return out, nil
		}
	}
}
