package httpauth

import (
	"fmt"

	"github.com/sessiond/sessiond/token"
)

// Secrets are the keys an application embedding sessiond needs, all
// derived from one master key, so it keeps one secret instead of four.
type Secrets struct {
	// RefreshKey is session.Config.RefreshKey.
	RefreshKey []byte
	// CSRFKey is WebConfig.CSRFKey (or CSRF.Key).
	CSRFKey []byte
	// AuditKey keys the session hashes of audit events (audit.New).
	AuditKey []byte
	// KeyRingKey seals a key ring kept in a store (token.LoadOrCreateKeyRing).
	KeyRingKey []byte
}

// DeriveSecrets derives the Secrets from master exactly as sessiond serve
// derives its own keys from SESSIOND_MASTER_KEY (token.DeriveKey, one
// HKDF-SHA256 label per purpose), so an application and a sessiond server
// given the same master key agree on every key. master must be at least 32
// random bytes: a key token.CheckSecret refuses (too short, all zero, one
// byte repeated) is an error wrapping token.ErrWeakKey, as all four keys
// would be as easy to guess.
func DeriveSecrets(master []byte) (Secrets, error) {
	if err := token.CheckSecret(master); err != nil {
		return Secrets{}, fmt.Errorf("httpauth: master key: %w", err)
	}
	return Secrets{
		RefreshKey: token.DeriveKey(master, token.PurposeRefresh),
		CSRFKey:    token.DeriveKey(master, token.PurposeCSRF),
		AuditKey:   token.DeriveKey(master, token.PurposeAuditHash),
		KeyRingKey: token.DeriveKey(master, token.PurposeKeyRing),
	}, nil
}
