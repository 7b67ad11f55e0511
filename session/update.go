package session

import (
	"context"
	"errors"
	"fmt"
)

// Get returns a live session by id (a store read).
func (m *Manager) Get(ctx context.Context, id string) (*Session, error) {
	rec, err := m.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return newSession(rec), nil
}

func (m *Manager) get(ctx context.Context, id string) (*Record, error) {
	if _, ok := decodeID(id); !ok {
		return nil, fmt.Errorf("session %q: %w", "malformed id", ErrNotFound)
	}
	now := m.now()
	if m.revoked.has(id, now) {
		return nil, ErrRevoked
	}
	rec, err := m.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if rec.Expired(now) {
		return nil, ErrExpired
	}
	return rec, nil
}

// Update runs fn on a fresh snapshot of the session and writes the result
// back with compare-and-set, retrying a few times if a concurrent write got
// there first. It never writes back a session that was revoked or expired
// meanwhile (ErrNotFound, ErrRevoked or ErrExpired), and refuses data over
// Policy.MaxDataBytes with ErrDataTooLarge, writing nothing. Only the
// application data is taken from fn's changes.
func (m *Manager) Update(ctx context.Context, id string, fn func(*Session) error) (*Session, error) {
	const attempts = 16
	for range attempts {
		rec, err := m.get(ctx, id)
		if err != nil {
			return nil, err
		}
		s := newSession(rec)
		if err := fn(s); err != nil {
			return nil, err
		}
		n, err := dataSize(s.data)
		if err != nil {
			return nil, err
		}
		if n > m.policy.MaxDataBytes {
			return nil, fmt.Errorf("%w: %d bytes, the cap is %d", ErrDataTooLarge, n, m.policy.MaxDataBytes)
		}
		rec.Data = s.data
		err = m.store.Update(ctx, rec)
		switch {
		case err == nil:
			return newSession(rec), nil
		case errors.Is(err, ErrConflict):
			continue
		default:
			return nil, fmt.Errorf("update: %w", err)
		}
	}
	return nil, fmt.Errorf("update after %d attempts: %w", attempts, ErrConflict)
}
