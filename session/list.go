package session

import (
	"context"
	"fmt"
)

// List returns the user's live sessions, oldest first.
func (m *Manager) List(ctx context.Context, userID string) ([]*Session, error) {
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	now := m.now()
	out := make([]*Session, 0, len(recs))
	for _, r := range recs {
		if r.Expired(now) || m.revoked.has(r.ID, now) {
			continue
		}
		out = append(out, newSession(r))
	}
	return out, nil
}
