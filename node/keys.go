package node

import (
	"cmp"
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

// Rotation says how RotateKeys rotates.
type Rotation struct {
	// Alg of the new key; "" means the node's SigningAlg, or if that is
	// empty too the algorithm of the ring's newest key (the pending one if
	// any, else the signer), read from the store.
	Alg token.Algorithm
	// Immediately makes the new key sign at once rather than PublishAhead
	// after it is published: for a key that was compromised, accepting
	// that clients caching the JWKS refuse fresh tokens until they fetch it
	// again.
	Immediately bool
}

// RotateKeys rotates the shared signing key for every node on the store.
// The new key is published in the JWKS at once and signs from
// PublishAhead later, so clients that cache the JWKS have it before they
// meet a token it signed (unless r.Immediately). Tokens of the old key
// stay valid until they expire. The rotation is audited once.
func (n *Node) RotateKeys(ctx context.Context, r Rotation) (token.KeyInfo, error) {
	now := n.cfg.Now()
	ahead := n.cfg.PublishAhead()
	if r.Immediately {
		ahead = 0
	}
	alg := cmp.Or(r.Alg, n.cfg.SigningAlg)
	switch alg {
	case "", token.EdDSA, token.ES256, token.RS256: // "": token keeps the ring's
	default:
		return token.KeyInfo{}, fmt.Errorf("%w: signing algorithm %q: want EdDSA, ES256 or RS256", ErrConfig, alg)
	}
	k, err := token.RotateShared(ctx, n.backend, n.keys, DeriveKey(n.master, "keyring"), alg, now, ahead, keyRetain)
	if err != nil {
		return token.KeyInfo{}, fmt.Errorf("rotate keys: %w", err)
	}
	n.keys.Prune(now)
	n.audit.Log(ctx, audit.Event{Kind: audit.KeyRotated})
	return k, nil
}

// rotateIfDue starts a scheduled rotation when the signing key is within
// PublishAhead of KeyRotation and no successor is published yet.
func (n *Node) rotateIfDue(ctx context.Context) {
	if !n.keys.NeedsRotation(n.cfg.Now(), n.cfg.KeyRotation, n.cfg.PublishAhead()) {
		return
	}
	if _, err := n.RotateKeys(ctx, Rotation{}); err != nil {
		n.cfg.Logger.Error("scheduled key rotation failed", "err", err)
	}
}
