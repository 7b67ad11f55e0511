package session

import (
	"context"
	"fmt"
	"time"
)

// Sweep deletes expired sessions and forgotten revocations from the store
// now, and returns how many sessions went.
func (m *Manager) Sweep(ctx context.Context) (int, error) {
	now := m.now()
	m.revoked.prune(now)
	if m.cache != nil {
		m.cache.prune(now)
	}
	n, err := m.store.DeleteExpired(ctx, now)
	if err != nil {
		return n, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}

// RunSweeper calls Sweep every interval until ctx is done. Errors are
// passed to onErr (if not nil) and the loop goes on.
func (m *Manager) RunSweeper(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := m.Sweep(ctx); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
