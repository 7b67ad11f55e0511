package session

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/token"
)

// Refresh rotates a refresh token: it returns a new access token and the
// child refresh token. The same parent presented again within the grace
// window, or later while its child has never been used (a client that lost
// the answer), gets the same child; the child of the stored token (the
// store lost the rotation that handed it out) resumes the session; any
// other reuse revokes the whole session and returns ErrReused (see
// Decide). A store that reaches the
// rotation after ctx's deadline changes nothing and the error wraps
// ErrDeadline, an ErrStore. A malformed, unknown or expired token returns an error
// wrapping ErrInvalidToken.
//
// A refresh costs one store round trip, the rotation (Store.Rotate: one
// script on Redis, one UPDATE on PostgreSQL), and nothing else: the token
// is checked by its HMAC tag, revocations by the node's memory, and no
// rate limit is asked. The per-session limit of authenticated calls
// (httpauth.Auth.SessionLimit) is not applied here because rotation
// already orders a session's refreshes: each needs the token the one
// before it returned, so they run one at a time, each after its client
// has read the previous answer, like one client's sequential requests. A
// parent presented again within the grace window is a replay, answered
// from the stored record without a write after the first (Redis marks the
// token reissued once); after the window, or once its child was used, it
// is reuse, which revokes the session, and every later use is refused
// from the node's memory of the revocation without a store call. What no
// limit bounds is a client replaying one parent within its grace window
// (RefreshGrace, 10 s by default): one store round trip and one signature
// each, as many as it sends.
func (m *Manager) Refresh(ctx context.Context, refreshToken string, meta Meta) (*Tokens, error) {
	// Verify, not just parse: a token that names a session but was not
	// made under our key must be refused here, not reach Rotate, which
	// would take it for a stolen token and revoke the session.
	// RefreshLineage also derives the child handed out and the child's own
	// child, whose hash the store keeps (see RotateRequest.NextChild).
	raw, child, grandchild, err := token.RefreshLineage(m.refKey, refreshToken)
	if err != nil {
		return nil, invalidToken(err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw)
	now := m.now()
	if m.revoked.has(id, now) {
		return nil, invalidToken(ErrRevoked)
	}
	// The deadline is ctx's, on the real clock (the store checks it on its
	// own), while the decision is judged at now, the Manager's clock.
	deadline, _ := ctx.Deadline()
	outcome, rec, err := m.store.Rotate(ctx, id, RotateRequest{
		Presented:     token.HashRefreshToken(refreshToken),
		Next:          token.HashRefreshToken(child),
		NextChild:     token.HashRefreshToken(grandchild),
		Now:           now,
		Grace:         m.policy.RefreshGrace,
		IdleExpiresAt: now.Add(m.policy.IdleTimeout), // Record.ExpiresAt caps it at the absolute expiry
		RevokeHold:    revokeHold,
		Deadline:      deadline,
	})
	if outcome == Reused && err != nil {
		// The store made the session unusable but could not record its
		// revocation: refuse its tokens here at least, and say so.
		m.revoked.add(Revocation{SessionID: id, Until: now.Add(revokeHold)})
		m.audit.Log(ctx, audit.Event{Kind: audit.ReuseDetected, SessionID: id, IP: meta.IP, UserAgent: meta.UserAgent,
			Reason: "revocation not recorded in the store: other nodes accept its access tokens until they expire"})
		return nil, invalidToken(ErrReused)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, invalidToken(err)
		}
		return nil, fmt.Errorf("refresh: %w", err)
	}
	switch outcome {
	case Reused:
		m.revoked.add(Revocation{SessionID: id, Until: now.Add(revokeHold)})
		m.audit.Log(ctx, audit.Event{Kind: audit.ReuseDetected, SessionID: id, IP: meta.IP, UserAgent: meta.UserAgent})
		return nil, invalidToken(ErrReused)
	case GraceReplay:
		// The token did not rotate; answer from the record as stored now.
		if rec == nil {
			if rec, err = m.store.Get(ctx, id); err != nil {
				return nil, fmt.Errorf("refresh: %w", err)
			}
		}
	case Rotated:
	case Resumed:
		// The store lost the rotation that handed out this token (see
		// Resumed); the client did nothing wrong and keeps its session.
		// The audit line's reason "resumed" tells the operator the store
		// lost acknowledged writes.
	default:
		return nil, fmt.Errorf("%w: store returned outcome %v", ErrStore, outcome)
	}
	// A session with less than minRefreshLife left is refused: access
	// tokens carry whole seconds, so exp (truncated, never past the
	// session's end) could fall on iat, which Sign refuses: that was a 500.
	// The store has already rotated, but nothing of it is handed out, and
	// the session dies within the second: no client can tell. Refusing
	// before the rotation would take a store read on every refresh, which
	// the hot path does not pay; the check belongs in the stores' atomic
	// step (issue 12 reworks it).
	if rec.ExpiresAt().Sub(now) < minRefreshLife {
		return nil, invalidToken(ErrExpired)
	}
	at, exp, err := m.sign(rec, now)
	if err != nil {
		return nil, err
	}
	m.audit.Log(ctx, audit.Event{Kind: audit.Refresh, SessionID: id, UserID: rec.UserID, IP: meta.IP, Reason: outcome.String()})
	return &Tokens{AccessToken: at, AccessExpiresAt: exp, RefreshToken: child, Session: newSession(rec)}, nil
}

// minRefreshLife is the least a session must have left for Refresh to
// rotate it: one second, the granularity of an access token's exp and
// iat (see Refresh).
const minRefreshLife = time.Second

// sign issues an access token for rec, never outliving the session.
func (m *Manager) sign(rec *Record, now time.Time) (string, time.Time, error) {
	exp := minTime(now.Add(m.policy.AccessTTL), rec.ExpiresAt()).Truncate(time.Second)
	jti, _ := newID()
	at, err := m.keys.Sign(token.Claims{
		Issuer:    m.issuer,
		Subject:   rec.UserID,
		Audience:  []string{m.audience},
		ExpiresAt: exp,
		IssuedAt:  now.Truncate(time.Second),
		ID:        jti,
		SessionID: rec.ID,
		ClientID:  cmp.Or(rec.ClientID, m.clientID),
		AuthTime:  rec.AuthTime.Truncate(time.Second),
		AMR:       rec.AMR,
		Extra:     rec.Claims,
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return at, exp, nil
}
