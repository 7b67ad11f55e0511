package session

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/audit"
)

// Revoke ends one session at once: its refresh token stops working and its
// access tokens are refused by Verify on every node fed by the store.
// Revoking a session that is already gone is not an error.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	return m.revoke(ctx, id, audit.Event{Kind: audit.Revoke, SessionID: id})
}

// RevokeFor is Revoke, audited once with why it was done ("admin",
// "rfc7009 by client api", ...).
func (m *Manager) RevokeFor(ctx context.Context, id, reason string) error {
	return m.revoke(ctx, id, audit.Event{Kind: audit.Revoke, SessionID: id, Reason: reason})
}

// Logout is Revoke, audited as a logout by the session's own user.
func (m *Manager) Logout(ctx context.Context, id string) error {
	return m.revoke(ctx, id, audit.Event{Kind: audit.Logout, SessionID: id})
}

func (m *Manager) revoke(ctx context.Context, id string, ev audit.Event) error {
	now := m.now()
	until := now.Add(revokeHold)
	// Refuse the session's tokens on this node first, whatever the store
	// says: the feed would tell us too, but later, and a store failure
	// must fail closed here rather than leave the session usable.
	m.revoked.add(Revocation{SessionID: id, Until: until})
	if _, err := m.store.Delete(ctx, id, until); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	m.audit.Log(ctx, ev)
	return nil
}

// RevokeUser ends every session of userID except the one with id except
// ("" ends them all: log out everywhere). It returns the ids it ended. A
// user id no store can keep (see Start) is ErrInvalidUserID, and nothing
// is read or written.
func (m *Manager) RevokeUser(ctx context.Context, userID, except string) ([]string, error) {
	return m.RevokeUserFor(ctx, userID, except, "")
}

// RevokeUserFor is RevokeUser, audited with why it was done ("claims
// changed", "by client api", ...).
func (m *Manager) RevokeUserFor(ctx context.Context, userID, except, reason string) ([]string, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	now := m.now()
	until := now.Add(revokeHold)
	ids, err := m.store.DeleteUser(ctx, userID, except, until)
	if err != nil {
		return nil, fmt.Errorf("revoke user: %w", err)
	}
	for _, id := range ids {
		m.revoked.add(Revocation{SessionID: id, Until: until})
	}
	m.audit.Log(ctx, audit.Event{Kind: audit.RevokeUser, UserID: userID, Count: len(ids), Reason: reason})
	return ids, nil
}

// Revoked reports whether this node knows the session as revoked.
func (m *Manager) Revoked(id string) bool { return m.revoked.has(id, m.now()) }

// RevokedCount is how many revoked sessions this node keeps in memory.
func (m *Manager) RevokedCount() int { return m.revoked.len() }

// LoadRevocations reads the store's current revocations into the in-memory
// set. New calls it; it runs again periodically as a safety net.
func (m *Manager) LoadRevocations(ctx context.Context) error {
	revs, err := m.store.Revocations(ctx, m.now())
	if err != nil {
		return fmt.Errorf("load revocations: %w", err)
	}
	for _, r := range revs {
		m.revoked.add(r)
	}
	return nil
}

func (m *Manager) pollRevocations(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = m.LoadRevocations(ctx) // a failure keeps the set we have; the feed still runs
			m.revoked.prune(m.now())
		}
	}
}
