package session

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"github.com/sessiond/sessiond/token"
)

// Identity is what an access token proves: the caller's session and user.
// Verify returns it without reading the store.
type Identity struct {
	SessionID string
	UserID    string
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// ClientID is the client the session was issued to (client_id).
	ClientID string
	// AuthTime is when the user last authenticated (auth_time); zero if
	// the token did not say.
	AuthTime time.Time
	// AMR lists how (amr, RFC 8176); nil if the token did not say.
	AMR []string
	// Claims are the token's application claims; read them with Claim,
	// StringClaim or ClaimAs. Callers must not change them: a verified
	// token's Identity may be shared with later verifications of it.
	Claims map[string]json.RawMessage
}

// Verify checks an access token and returns the identity it proves. It
// reads no store: the signature, the claims and the in-memory set of
// revoked sessions decide. Errors wrap ErrInvalidToken, and ErrRevoked when
// the session was revoked.
func (m *Manager) Verify(ctx context.Context, accessToken string) (*Identity, error) {
	now := m.now()
	var key [sha256.Size]byte
	if m.cache != nil {
		key = sha256.Sum256([]byte(accessToken))
		if id, ok := m.cache.get(key, now); ok {
			if m.revoked.has(id.SessionID, now) {
				return nil, invalidToken(ErrRevoked)
			}
			cp := *id // callers may not change the cached entry
			return &cp, nil
		}
	}
	c, err := m.verifier.Verify(accessToken)
	if errors.Is(err, token.ErrUnknownKey) && m.reloadKeysNow(ctx, now) {
		c, err = m.verifier.Verify(accessToken)
	}
	if err != nil {
		return nil, invalidToken(err)
	}
	if m.revoked.has(c.SessionID, now) {
		return nil, invalidToken(ErrRevoked)
	}
	id := &Identity{SessionID: c.SessionID, UserID: c.Subject, TokenID: c.ID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt,
		ClientID: c.ClientID, AuthTime: c.AuthTime, AMR: c.AMR, Claims: c.Extra}
	if m.cache != nil {
		cp := *id
		m.cache.put(key, &cp, now)
	}
	return id, nil
}

// reloadKeysNow reloads the key ring on demand, at most once a second, so
// forged tokens with random kids cannot turn into a flood of store reads.
func (m *Manager) reloadKeysNow(ctx context.Context, now time.Time) bool {
	if m.reloadKeys == nil {
		return false
	}
	last := m.lastReload.Load()
	if now.UnixNano()-last < int64(time.Second) || !m.lastReload.CompareAndSwap(last, now.UnixNano()) {
		return false
	}
	return m.reloadKeys(ctx) == nil
}

// FlushVerifyCache forgets every remembered verification, e.g. after a key
// was withdrawn in an emergency.
func (m *Manager) FlushVerifyCache() {
	if m.cache != nil {
		m.cache.flush()
	}
}
