package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"sync"
	"sync/atomic"
	"time"
)

// minRSABits is the smallest RSA modulus accepted for signing or verifying.
const minRSABits = 2048

// minHMACKey is the shortest HS256 secret accepted (RFC 7518 §3.2: at least
// the hash output size).
const minHMACKey = 32

// key is one signing key of a ring. Keys are immutable once built; a ring
// swaps whole snapshots.
type key struct {
	id      string
	alg     Algorithm
	created time.Time
	retire  time.Time // zero while active or not yet retiring

	ed     ed25519.PrivateKey // EdDSA (nil when verify-only)
	edPub  ed25519.PublicKey
	ec     *ecdsa.PrivateKey // ES256 (nil when verify-only)
	ecPub  *ecdsa.PublicKey
	rsa    *rsa.PrivateKey // RS256 (nil when verify-only)
	rsaPub *rsa.PublicKey
	secret []byte // HS256

	macs *sync.Pool // HS256: keyed HMAC states, reused via Reset
}

// usable reports whether k may verify tokens at now: keys past their
// retirement are refused even before Prune drops them.
func (k *key) usable(now time.Time) bool {
	return k.retire.IsZero() || now.Before(k.retire)
}

func newHMACKey(secret []byte) *key {
	s := append([]byte(nil), secret...)
	return &key{alg: HS256, secret: s, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, s) }}}
}

// generateKey makes a fresh key for alg. HS256 secrets are not generated
// here: HMAC rings are built from a caller's secret.
func generateKey(alg Algorithm, now time.Time) (*key, error) {
	k := &key{alg: alg, created: now}
	switch alg {
	case EdDSA:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generating Ed25519 key: %w", err)
		}
		k.ed, k.edPub = priv, pub
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generating P-256 key: %w", err)
		}
		k.ec, k.ecPub = priv, &priv.PublicKey
	case RS256:
		priv, err := rsa.GenerateKey(rand.Reader, minRSABits)
		if err != nil {
			return nil, fmt.Errorf("token: generating RSA key: %w", err)
		}
		k.rsa, k.rsaPub = priv, &priv.PublicKey
	case HS256:
		return nil, fmt.Errorf("%w: HS256 keys come from NewHMACKeyRing, not generated", ErrAlgorithm)
	default:
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
	}
	id, err := newKeyID()
	if err != nil {
		return nil, err
	}
	k.id = id
	return k, nil
}

// newKeyID returns 128 random bits, base64url: unguessable and unique
// without coordination between nodes.
func newKeyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// snapshot is an immutable view of a ring: keys[0] is the active key.
// ver is the version of the shared ring it was read from or saved as (see
// RingStore), 0 if none: a reload that arrives late never replaces a
// newer snapshot with an older one.
type snapshot struct {
	keys []*key
	ver  uint64
}

func (s *snapshot) find(kid []byte, now time.Time) *key {
	for _, k := range s.keys {
		if k.id == string(kid) && k.usable(now) {
			return k
		}
	}
	return nil
}

// KeyRing holds one active signing key and older keys kept for verification
// until every token they signed has expired. Build one with NewKeyRing,
// NewHMACKeyRing, OpenKeyRing or LoadOrCreateKeyRing; the zero value has no
// keys (Sign fails, Verify refuses everything). It is safe for concurrent use:
// readers (Sign, Verify, JWKS) load an immutable snapshot without locking;
// writers (Rotate, Prune, Replace) build a new snapshot under a mutex.
type KeyRing struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[snapshot]
}

// load returns the current snapshot; a zero KeyRing has no keys.
func (r *KeyRing) load() *snapshot {
	if s := r.snap.Load(); s != nil {
		return s
	}
	return &snapshot{}
}

func newRing(keys ...*key) *KeyRing {
	r := &KeyRing{}
	r.snap.Store(&snapshot{keys: keys})
	return r
}

// NewKeyRing returns a ring with one freshly generated key for alg:
// Ed25519 for EdDSA, P-256 for ES256, RSA-2048 for RS256. HS256 is refused
// (ErrAlgorithm): use NewHMACKeyRing.
func NewKeyRing(alg Algorithm, now time.Time) (*KeyRing, error) {
	k, err := generateKey(alg, now)
	if err != nil {
		return nil, err
	}
	return newRing(k), nil
}

// NewHMACKeyRing returns an HS256 ring over secret, for library mode where
// the verifier is the issuer. The secret must be at least 32 bytes
// (ErrWeakKey). The key id is derived from the secret (a truncated SHA-256
// under a fixed label), so every process given the same secret agrees on it.
func NewHMACKeyRing(secret []byte, now time.Time) (*KeyRing, error) {
	if len(secret) < minHMACKey {
		return nil, fmt.Errorf("%w: HS256 secret is %d bytes, need at least %d", ErrWeakKey, len(secret), minHMACKey)
	}
	k := newHMACKey(secret)
	k.created = now
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sessiond/kid/v1"))
	k.id = base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
	return newRing(k), nil
}

// Rotate makes a freshly generated key for alg the active signing key. The
// previous active key stays valid for verification until now+retain (give
// it at least the access-token lifetime plus leeway); keys already retiring
// keep their date. Prune drops retired keys. HS256 cannot be rotated to.
func (r *KeyRing) Rotate(alg Algorithm, now time.Time, retain time.Duration) error {
	k, err := generateKey(alg, now)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load().keys
	keys := make([]*key, 0, len(old)+1)
	keys = append(keys, k)
	for _, o := range old {
		if o.retire.IsZero() {
			c := *o
			c.retire = now.Add(retain)
			o = &c
		}
		keys = append(keys, o)
	}
	r.snap.Store(&snapshot{keys: keys, ver: r.load().ver})
	return nil
}

// Prune drops keys whose retirement time is at or before now. The active
// key is never dropped.
func (r *KeyRing) Prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load().keys
	keys := make([]*key, 0, len(old))
	for _, k := range old {
		if k.usable(now) {
			keys = append(keys, k)
		}
	}
	if len(keys) != len(old) {
		r.snap.Store(&snapshot{keys: keys, ver: r.load().ver})
	}
}

// Replace atomically swaps in other's keys (used when a node reloads the
// shared ring). Tokens in flight are verified against either the old or the
// new set, never a mix.
func (r *KeyRing) Replace(other *KeyRing) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.Store(other.load())
}

// replaceShared swaps in other's keys as version ver of the shared ring,
// unless r already holds that version or a later one of the same ring (an
// older view: its active key is one r knows). A lower version with keys r
// has never seen means the store was reset; that ring is taken, so nodes
// converge again.
func (r *KeyRing) replaceShared(other *KeyRing, ver uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, next := r.load(), other.load()
	if ver <= cur.ver && len(next.keys) > 0 {
		for _, k := range cur.keys {
			if k.id == next.keys[0].id {
				return
			}
		}
	}
	r.snap.Store(&snapshot{keys: next.keys, ver: ver})
}

// KeyInfo describes one key of a ring, without its key material.
type KeyInfo struct {
	ID        string
	Alg       Algorithm
	CreatedAt time.Time
	Active    bool      // the key that signs new tokens
	RetireAt  time.Time // zero for the active key
}

// Keys lists the ring's keys, the active one first.
func (r *KeyRing) Keys() []KeyInfo {
	keys := r.load().keys
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{ID: k.id, Alg: k.alg, CreatedAt: k.created, Active: i == 0, RetireAt: k.retire}
	}
	return out
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns the ring's public keys as a JSON Web Key Set (RFC 7517):
// {"keys":[...]} with kty, crv/x/y or n/e, kid, alg and use "sig". HMAC
// secrets are never included.
func (r *KeyRing) JWKS() ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	enc := base64.RawURLEncoding.EncodeToString
	for _, k := range r.load().keys {
		j := jwk{Kid: k.id, Alg: string(k.alg), Use: "sig"}
		switch k.alg {
		case EdDSA:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc(k.edPub)
		case ES256:
			b, err := k.ecPub.Bytes() // 0x04 || X || Y, 32 bytes each
			if err != nil {
				return nil, fmt.Errorf("token: encoding EC key: %w", err)
			}
			j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", enc(b[1:33]), enc(b[33:])
		case RS256:
			j.Kty, j.N, j.E = "RSA", enc(k.rsaPub.N.Bytes()), enc(big.NewInt(int64(k.rsaPub.E)).Bytes())
		default:
			continue // HMAC and anything unknown: never published
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

// wireHeader and wireClaims fix the member order of what Sign emits.
type wireHeader struct {
	Alg Algorithm `json:"alg"`
	Kid string    `json:"kid"`
	Typ string    `json:"typ"`
}

type wireClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud any    `json:"aud"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
	Jti string `json:"jti"`
	Sid string `json:"sid"`
}

// Sign issues an access token for c with the active key: header
// {"alg","kid","typ":"at+jwt"} in that order, claims as described on
// Claims. It refuses (ErrMalformed) claims that Verify would refuse: empty
// iss, sub, jti, sid or audience, a missing or out-of-range iat, or exp not
// after iat. Times are truncated to whole seconds.
func (r *KeyRing) Sign(c Claims) (string, error) {
	if err := checkClaimsToSign(c); err != nil {
		return "", err
	}
	keys := r.load().keys
	if len(keys) == 0 {
		return "", fmt.Errorf("%w: key ring has no keys", ErrUnknownKey)
	}
	k := keys[0]
	h, err := json.Marshal(wireHeader{Alg: k.alg, Kid: k.id, Typ: "at+jwt"})
	if err != nil {
		return "", fmt.Errorf("token: encoding header: %w", err)
	}
	w := wireClaims{Iss: c.Issuer, Sub: c.Subject, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(), Jti: c.ID, Sid: c.SessionID}
	if len(c.Audience) == 1 {
		w.Aud = c.Audience[0]
	} else {
		w.Aud = c.Audience
	}
	p, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("token: encoding claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, enc.EncodedLen(len(h))+enc.EncodedLen(len(p))+2+enc.EncodedLen(512))
	buf = enc.AppendEncode(buf, h)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, p)
	sig, err := k.sign(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

func checkClaimsToSign(c Claims) error {
	bad := func(why string) error { return fmt.Errorf("%w: cannot sign: %s", ErrMalformed, why) }
	switch {
	case c.Issuer == "":
		return bad("empty issuer")
	case c.Subject == "":
		return bad("empty subject")
	case c.ID == "":
		return bad("empty token id (jti)")
	case c.SessionID == "":
		return bad("empty session id (sid)")
	case len(c.Audience) == 0:
		return bad("no audience")
	case c.IssuedAt.Unix() <= 0 || c.IssuedAt.Unix() > maxNumericDate:
		return bad("issued-at missing or out of range")
	case c.ExpiresAt.Unix() <= c.IssuedAt.Unix() || c.ExpiresAt.Unix() > maxNumericDate:
		return bad("expiry not after issued-at or out of range")
	}
	for _, a := range c.Audience {
		if a == "" {
			return bad("empty audience value")
		}
	}
	return nil
}

func (k *key) sign(input []byte) ([]byte, error) {
	switch k.alg {
	case EdDSA:
		return ed25519.Sign(k.ed, input), nil
	case ES256:
		h := sha256.Sum256(input)
		rr, ss, err := ecdsa.Sign(rand.Reader, k.ec, h[:])
		if err != nil {
			return nil, fmt.Errorf("token: ES256 signing: %w", err)
		}
		sig := make([]byte, 64)
		rr.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return sig, nil
	case RS256:
		h := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, h[:])
		if err != nil {
			return nil, fmt.Errorf("token: RS256 signing: %w", err)
		}
		return sig, nil
	case HS256:
		m := k.macs.Get().(hash.Hash)
		m.Reset()
		m.Write(input)
		sig := m.Sum(nil)
		k.macs.Put(m)
		return sig, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrAlgorithm, k.alg)
}
