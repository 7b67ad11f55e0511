package session

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/token"
)

// RefreshTokenSession returns the live session whose current refresh token
// is refreshToken, without rotating it (for RFC 7662 introspection and
// RFC 7009 revocation). A malformed token is refused before any store
// read; a parent that was already rotated, or a token of a revoked or
// expired session, is ErrInvalidToken.
func (m *Manager) RefreshTokenSession(ctx context.Context, refreshToken string) (*Session, error) {
	raw, err := token.VerifyRefreshToken(m.refKey, refreshToken)
	if err != nil {
		return nil, invalidToken(err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw)
	rec, err := m.get(ctx, id)
	if err != nil {
		if isStoreFailure(err) {
			return nil, err
		}
		return nil, invalidToken(err)
	}
	if subtle.ConstantTimeCompare(token.HashRefreshToken(refreshToken), rec.RefreshHash) != 1 {
		return nil, fmt.Errorf("%w: not the session's current refresh token", ErrInvalidToken)
	}
	return newSession(rec), nil
}

// isStoreFailure tells a failure of the store (fail closed, 503) from an
// answer about the session (gone, expired, revoked).
func isStoreFailure(err error) bool {
	for _, e := range []error{ErrNotFound, ErrExpired, ErrRevoked} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}
