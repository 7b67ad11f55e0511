package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/audit"
)

// Reauthenticate records that the user of the live session id has just
// proved who they are again (the caller checked it: a password typed anew,
// a passkey): the session's AuthTime becomes now, and the access token it
// returns carries that auth_time, as will every token its refreshes issue.
// The session keeps its id, its AMR and its refresh token: the Tokens
// returned have no RefreshToken (the client keeps the one it holds).
// Access tokens issued before keep their old auth_time until they expire;
// the client uses the new one.
//
// The write is a compare-and-set (Store.Update) retried on conflict, so a
// refresh or a data update that lands meanwhile is never undone, and a
// session revoked or expired meanwhile is never written back: a session
// that is gone, revoked, expired, or has less than a second left is an
// error wrapping ErrNotFound, ErrRevoked or ErrExpired and nothing is
// written. meta describes the client, for the audit line (reauth.ok, its
// Reason meta.AuthMethod).
func (m *Manager) Reauthenticate(ctx context.Context, id string, meta Meta) (*Tokens, error) {
	meta = meta.clean()
	const attempts = 16
	for range attempts {
		rec, err := m.get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("reauthenticate: %w", err)
		}
		now := m.now()
		// As Refresh: an access token needs at least a second between its
		// iat and its exp, which never lies past the session's end.
		if rec.ExpiresAt().Sub(now) < minRefreshLife {
			return nil, fmt.Errorf("reauthenticate: %w", ErrExpired)
		}
		rec.AuthTime = now
		err = m.store.Update(ctx, rec)
		switch {
		case err == nil:
		case errors.Is(err, ErrConflict):
			continue
		default:
			return nil, fmt.Errorf("reauthenticate: %w", err)
		}
		at, exp, err := m.sign(rec, now)
		if err != nil {
			return nil, err
		}
		m.audit.Log(ctx, audit.Event{Kind: audit.ReauthOK, SessionID: id, UserID: rec.UserID, IP: meta.IP,
			UserAgent: meta.UserAgent, Reason: meta.AuthMethod})
		return &Tokens{AccessToken: at, AccessExpiresAt: exp, Session: newSession(rec)}, nil
	}
	return nil, fmt.Errorf("reauthenticate after %d attempts: %w", attempts, ErrConflict)
}
