package node

import (
	"context"
	"fmt"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// keyRetain is how long a retired signing key keeps verifying: the longest
// an access token may live, plus the verifier's largest leeway.
const keyRetain = session.MaxAccessTTL + session.MaxLeeway

// ReloadKeys picks up key rotations other nodes saved in the store.
func (n *Node) ReloadKeys(ctx context.Context) error {
	return token.ReloadShared(ctx, n.backend, n.keys, DeriveKey(n.master, "keyring"))
}

// RotateKeys rotates the shared signing key for every node on the store.
// The new key is published in the JWKS at once and signs from
// PublishAhead later, so clients that cache the JWKS have it before they
// meet a token it signed; immediately signs with it at once instead (after
// a key was compromised, accepting that caching clients refuse fresh
// tokens until they refetch). Tokens of the old key stay valid until they
// expire. The rotation is audited once.
func (n *Node) RotateKeys(ctx context.Context, immediately bool) error {
	now := n.cfg.Now()
	ahead := n.cfg.PublishAhead()
	if immediately {
		ahead = 0
	}
	if _, err := token.RotateShared(ctx, n.backend, n.keys, DeriveKey(n.master, "keyring"), n.cfg.SigningAlg, now, ahead, keyRetain); err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	n.keys.Prune(now)
	n.audit.Log(ctx, audit.Event{Kind: audit.KeyRotated})
	return nil
}

// rotateIfDue starts a scheduled rotation when the signing key is within
// PublishAhead of KeyRotation and no successor is published yet.
func (n *Node) rotateIfDue(ctx context.Context) {
	if !n.keys.NeedsRotation(n.cfg.Now(), n.cfg.KeyRotation, n.cfg.PublishAhead()) {
		return
	}
	if err := n.RotateKeys(ctx, false); err != nil {
		n.cfg.Logger.Error("scheduled key rotation failed", "err", err)
	}
}
