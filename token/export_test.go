package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"time"
)

// Test-only hooks. They reach the JWS signature layer directly, for test
// vectors whose payloads are not sessiond claims and for forging tokens.

// TestKey is a single verification key built by KeyFromPublic or
// HMACKeyForTest.
type TestKey = key

// KeyFromPublic builds a verify-only key for alg with the same floors the
// ring applies (RSA >= 2048 bits, P-256 only).
func KeyFromPublic(alg Algorithm, kid string, pub crypto.PublicKey) (*TestKey, error) {
	k := &key{id: kid, alg: alg}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if alg != EdDSA || len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 key for %s", ErrAlgorithm, alg)
		}
		k.edPub = p
	case *ecdsa.PublicKey:
		if alg != ES256 || p.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("%w: EC key for %s", ErrAlgorithm, alg)
		}
		k.ecPub = p
	case *rsa.PublicKey:
		if alg != RS256 {
			return nil, fmt.Errorf("%w: RSA key for %s", ErrAlgorithm, alg)
		}
		if p.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("%w: %d-bit RSA key", ErrWeakKey, p.N.BitLen())
		}
		k.rsaPub = p
	default:
		return nil, fmt.Errorf("%w: %T", ErrAlgorithm, pub)
	}
	return k, nil
}

// HMACKeyForTest builds an HS256 key without the 32-byte floor, for the
// primitive HMAC vectors (some use 16-byte keys).
func HMACKeyForTest(kid string, secret []byte) *TestKey {
	k := newHMACKey(secret)
	k.id = kid
	return k
}

// VerifySignature runs the JWS layer of Verify (shape, strict base64url,
// strict header, kid, alg, signature) against the single key k, without
// the claims and typ checks.
func VerifySignature(jws string, k *TestKey) error {
	_, _, err := verifyJWS([]byte(jws), &snapshot{keys: []*key{k}}, time.Now(), nil, nil)
	return err
}

// VerifyPrimitive checks a bare signature over msg with k, as Verify does
// after parsing.
func VerifyPrimitive(k *TestKey, msg, sig []byte) error { return k.verify(msg, sig) }

// SignWithActiveKey signs arbitrary bytes with the key of r that is active
// now, so tests can forge correctly signed tokens with any header or claims.
func SignWithActiveKey(r *KeyRing, now time.Time, input []byte) ([]byte, error) {
	s := r.load()
	i := s.signer(now)
	if i < 0 {
		return nil, ErrUnknownKey
	}
	return s.keys[i].sign(input)
}

// ParseClaims parses a claims set as Verify does after the signature,
// accepting the application claims names (which must pass
// CheckClaimNames), without the iss, aud and time checks.
func ParseClaims(payload []byte, names []string) (Claims, error) {
	var app map[string]string
	if len(names) > 0 {
		v := &Verifier{Claims: names}
		v.initClaims()
		if v.appErr != nil {
			return Claims{}, v.appErr
		}
		app = v.app
	}
	return parseClaims(payload, "", "", app)
}

// EncodeClaims returns the claims set Sign would sign for c.
func EncodeClaims(c Claims) ([]byte, error) { return encodeClaims(c) }

// CheckValue reports whether b is one JSON value as an application
// claim's value must be.
func CheckValue(b []byte) error { return checkValue(b) }
