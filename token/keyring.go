package token

import (
	"bytes"
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
	"unicode/utf8"
)

// minRSABits is the smallest RSA modulus accepted for signing or verifying:
// a ring sealed before keys were generated at genRSABits keeps working, its
// 2048-bit keys signing until rotated out and verifying until they expire.
const minRSABits = 2048

// genRSABits is the modulus of every RSA key generated here: 3072 bits, the
// 128-bit security level OWASP ASVS 5.0 (V11.2) and NIST SP 800-57 ask for;
// 2048 bits is only 112.
const genRSABits = 3072

// minHMACKey is the shortest HS256 secret accepted (RFC 7518 §3.2: at least
// the hash output size).
const minHMACKey = 32

// key is one signing key of a ring. Keys are immutable once built; a ring
// swaps whole snapshots.
type key struct {
	id        string
	alg       Algorithm
	created   time.Time
	activates time.Time // from then on it may sign (see snapshot.signer)
	retire    time.Time // zero for the newest key; set on the signer when a successor is rotated in

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
	k := &key{alg: alg, created: now, activates: activation(now, 0)}
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
		priv, err := rsa.GenerateKey(rand.Reader, genRSABits)
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

// activation returns when a key rotated in at now, published ahead of
// time, may start signing. Activation times are whole seconds, like the
// iat of the tokens Sign compares them with, so a key activates at the same
// token second on every node. With ahead > 0 it is now+ahead rounded up
// (never less than ahead of now); with ahead <= 0 it is now rounded down,
// so the key signs even a token issued earlier in the current second.
func activation(now time.Time, ahead time.Duration) time.Time {
	if ahead <= 0 {
		return now.Truncate(time.Second)
	}
	t := now.Add(ahead).Round(0)
	if f := t.Truncate(time.Second); !f.Equal(t) {
		return f.Add(time.Second)
	}
	return t
}

// snapshot is an immutable view of a ring, newest key first. keys[0] is
// the only key without a retirement time; at a time before its activation
// it is pending and keys[1] signs (see signer).
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

// pending reports whether the newest key is published but does not sign
// yet at t. Only the newest key can be pending, and never the only key.
func (s *snapshot) pending(t time.Time) bool {
	return len(s.keys) > 1 && s.keys[0].activates.After(t)
}

// signer returns the index of the key that signs at t: the newest key once
// its activation time is reached, the one before it until then; -1 for an
// empty ring. A ring always has a signer: a lone key signs even before its
// activation time (a node whose clock is behind the one that made it).
func (s *snapshot) signer(t time.Time) int {
	switch {
	case len(s.keys) == 0:
		return -1
	case s.pending(t):
		return 1
	}
	return 0
}

// rotate returns s with a fresh alg key, and whether anything changed;
// see KeyRing.Rotate for the rules.
func (s *snapshot) rotate(alg Algorithm, now time.Time, ahead, retain time.Duration) (*snapshot, bool, error) {
	if ahead > 0 && s.pending(now) {
		return s, false, nil
	}
	if alg == "" {
		if len(s.keys) == 0 {
			return nil, false, fmt.Errorf("%w: no algorithm given and the ring has no key to take it from", ErrAlgorithm)
		}
		alg = s.keys[0].alg
	}
	k, err := generateKey(alg, now)
	if err != nil {
		return nil, false, err
	}
	old := s.keys
	if s.pending(now) {
		old = old[1:] // an immediate rotation drops the pending key: it never signed
	}
	if len(old) > 0 {
		k.activates = activation(now, ahead)
	}
	// The previous signer signs until the new key activates (now, for an
	// immediate rotation), so its last token expires within retain of that.
	last := now.Round(0)
	if k.activates.After(last) {
		last = k.activates
	}
	retain = max(retain, 0)
	keys := make([]*key, 0, len(old)+1)
	keys = append(keys, k)
	for i, o := range old {
		if i == 0 {
			c := *o
			c.retire = last.Add(retain)
			o = &c
		}
		keys = append(keys, o)
	}
	return &snapshot{keys: keys, ver: s.ver}, true, nil
}

// pruned returns s without the keys retired at now, and whether any went.
// The newest key and the signer at now are always kept.
func (s *snapshot) pruned(now time.Time) (*snapshot, bool) {
	sig := s.signer(now)
	keys := make([]*key, 0, len(s.keys))
	for i, k := range s.keys {
		if i == 0 || i == sig || k.usable(now) {
			keys = append(keys, k)
		}
	}
	if len(keys) == len(s.keys) {
		return s, false
	}
	return &snapshot{keys: keys, ver: s.ver}, true
}

// info describes keys[i] as of now.
func (s *snapshot) info(i int, now time.Time) KeyInfo {
	k := s.keys[i]
	return KeyInfo{
		ID: k.id, Alg: k.alg, CreatedAt: k.created, ActivatesAt: k.activates,
		Active: i == s.signer(now), Pending: i == 0 && s.pending(now), RetireAt: k.retire,
	}
}

// KeyRing holds one active signing key, older keys kept for verification
// until every token they signed has expired, and at most one pending key:
// published in the JWKS ahead of its activation time, signing from then on.
// Which key signs is a function of time only (see Sign), so every node
// holding the same ring switches at the same instant without any store
// write. Build one with NewKeyRing,
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
// Ed25519 for EdDSA, P-256 for ES256, RSA-3072 for RS256. HS256 is refused
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
	k.created, k.activates = now, activation(now, 0)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sessiond/kid/v1"))
	k.id = base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
	return newRing(k), nil
}

// Rotate adds a freshly generated alg key to the ring and returns it as of
// now. The new key is published at once (JWKS, Verify) and signs from its
// activation time, now+ahead rounded up to a whole second: pass for ahead
// at least the lifetime for which clients cache the JWKS, plus a margin, so
// that none of them meets a token whose key it has not fetched. ahead <= 0
// activates the key at once (now rounded down to the second), as after a
// key compromise; a ring without keys also gets a key that signs at once.
//
// The key that signs at now retires at its successor's activation plus
// retain (give it at least the longest access-token lifetime plus leeway;
// a negative retain counts as 0): until then it still verifies the tokens
// it signed. Keys already retiring keep their date. Prune drops retired
// keys. HS256 cannot be rotated to (ErrAlgorithm). An empty alg keeps the
// algorithm of the ring's newest key (the pending one if any, else the
// signer), so a rotation that names none never changes what verifiers
// must accept.
//
// A ring holds at most one pending key. While one is pending, a rotation
// with ahead > 0 changes nothing and returns the pending key: a repeated or
// concurrent scheduled rotation can neither postpone the switch nor stack
// keys. An immediate rotation (ahead <= 0) drops the pending key, which has
// signed nothing (it is as exposed as the signer if the ring leaked), and
// activates its own fresh key now.
func (r *KeyRing) Rotate(alg Algorithm, now time.Time, ahead, retain time.Duration) (KeyInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, changed, err := r.load().rotate(alg, now, ahead, retain)
	if err != nil {
		return KeyInfo{}, err
	}
	if changed {
		r.snap.Store(next)
	}
	return next.info(0, now), nil
}

// NeedsRotation reports whether a scheduled rotation with publish-ahead
// ahead is due at now: no key is pending, and the signer has signed for at
// least maxAge-ahead since its activation. Rotating then, the successor is
// published ahead before it takes over, and each key signs for maxAge
// (keep maxAge well above ahead). A ring without keys needs one.
func (r *KeyRing) NeedsRotation(now time.Time, maxAge, ahead time.Duration) bool {
	s := r.load()
	if len(s.keys) == 0 {
		return true
	}
	if s.pending(now) {
		return false
	}
	return !now.Before(s.keys[s.signer(now)].activates.Add(maxAge - ahead))
}

// Prune drops keys whose retirement time is at or before now. The key that
// signs at now and a pending key are never dropped.
func (r *KeyRing) Prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if next, changed := r.load().pruned(now); changed {
		r.snap.Store(next)
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
// older view: it shares a key with r's). A lower version with none of r's
// keys means the store was reset; that ring is taken, so nodes converge
// again.
//
// Shared, not only the newest key: an immediate rotation drops a pending
// key, so the view before it has a newest key that the view after it no
// longer holds; both still hold the key that signed before. Activation
// needs no reload: a ring's keys and versions do not change when a pending
// key starts signing, only the time passed to Sign does.
func (r *KeyRing) replaceShared(other *KeyRing, ver uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, next := r.load(), other.load()
	if ver <= cur.ver && sharesKey(cur, next) {
		return
	}
	r.snap.Store(&snapshot{keys: next.keys, ver: ver})
}

func sharesKey(a, b *snapshot) bool {
	for _, x := range a.keys {
		for _, y := range b.keys {
			if x.id == y.id {
				return true
			}
		}
	}
	return false
}

// KeyInfo describes one key of a ring as of the time it was asked for,
// without its key material.
type KeyInfo struct {
	ID        string
	Alg       Algorithm
	CreatedAt time.Time
	// ActivatesAt is when the key starts (or started) signing, a whole
	// second. A key from a ring sealed before activation times existed
	// reports its creation time, truncated to the second.
	ActivatesAt time.Time
	// Active: the key that signs new tokens at that time.
	Active bool
	// Pending: published in the JWKS and verifying, but not signing
	// before ActivatesAt. At most one key is pending, listed first.
	Pending bool
	// RetireAt is when the key stops verifying: zero for the newest key
	// (pending, or active with no successor); set on the active key while
	// a successor is pending.
	RetireAt time.Time
}

// Keys lists the ring's keys as of now, newest first: a pending key if
// any, then the active key, then the retiring ones.
func (r *KeyRing) Keys(now time.Time) []KeyInfo {
	s := r.load()
	out := make([]KeyInfo, len(s.keys))
	for i := range s.keys {
		out[i] = s.info(i, now)
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
// {"keys":[...]} with kty, crv/x/y or n/e, kid, alg and use "sig", newest
// first: a pending key (so clients fetch it before it signs), the active
// key, and the retiring ones not yet pruned. HMAC secrets are never
// included.
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

// wireHeader and wireClaims fix the member order of what Sign emits. The
// optional members are omitted when unset, so claims without them encode
// exactly as before they existed.
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

	ClientID string   `json:"client_id,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

// Sign issues an access token for c with the key active at c.IssuedAt (so
// pass the current time as IssuedAt): the newest key if its activation
// time is at or before IssuedAt, otherwise the key it succeeds; a pending
// key signs nothing before its activation. Header
// {"alg","kid","typ":"at+jwt"} in that order, claims as described on
// Claims. It refuses (ErrMalformed)
// claims that Verify would refuse: empty iss, sub, jti, sid or audience, a
// missing or out-of-range iat, or exp not after iat; an auth_time before
// 1970 or after 9999; more than 16 amr values or an empty one; client_id or
// an amr value that is not valid UTF-8; an Extra name that CheckClaimNames
// refuses (the error also wraps ErrClaimName) or a value that is not exactly
// one strict JSON value (see Claims.Extra). Times are truncated to whole
// seconds. Extra members follow the others, sorted by name, their values
// in compact JSON, so equal claims always encode the same.
//
// Signing does not check that a Verifier will accept the Extra names: it
// must list them in its Claims.
func (r *KeyRing) Sign(c Claims) (string, error) {
	p, err := encodeClaims(c)
	if err != nil {
		return "", err
	}
	s := r.load()
	i := s.signer(c.IssuedAt)
	if i < 0 {
		return "", fmt.Errorf("%w: key ring has no keys", ErrUnknownKey)
	}
	k := s.keys[i]
	h, err := json.Marshal(wireHeader{Alg: k.alg, Kid: k.id, Typ: "at+jwt"})
	if err != nil {
		return "", fmt.Errorf("token: encoding header: %w", err)
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

// encodeClaims checks c (checkClaimsToSign) and returns the claims set
// Sign signs.
func encodeClaims(c Claims) ([]byte, error) {
	names, err := checkClaimsToSign(c)
	if err != nil {
		return nil, err
	}
	w := wireClaims{Iss: c.Issuer, Sub: c.Subject, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(), Jti: c.ID, Sid: c.SessionID,
		ClientID: c.ClientID, AMR: c.AMR}
	if len(c.Audience) == 1 {
		w.Aud = c.Audience[0]
	} else {
		w.Aud = c.Audience
	}
	if !c.AuthTime.IsZero() {
		w.AuthTime = c.AuthTime.Unix()
	}
	p, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("token: encoding claims: %w", err)
	}
	if len(names) == 0 {
		return p, nil
	}
	b := bytes.NewBuffer(make([]byte, 0, len(p)+64*len(names)))
	b.Write(p[:len(p)-1]) // without its closing brace
	for _, n := range names {
		// A valid name needs no escaping (CheckClaimName).
		b.WriteString(`,"`)
		b.WriteString(n)
		b.WriteString(`":`)
		if err := json.Compact(b, c.Extra[n]); err != nil {
			return nil, fmt.Errorf("token: encoding claim %q: %w", n, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// checkClaimsToSign refuses claims Verify would refuse, and returns the
// names of c.Extra, sorted.
func checkClaimsToSign(c Claims) ([]string, error) {
	bad := func(why string) error { return fmt.Errorf("%w: cannot sign: %s", ErrMalformed, why) }
	switch {
	case c.Issuer == "":
		return nil, bad("empty issuer")
	case c.Subject == "":
		return nil, bad("empty subject")
	case c.ID == "":
		return nil, bad("empty token id (jti)")
	case c.SessionID == "":
		return nil, bad("empty session id (sid)")
	case len(c.Audience) == 0:
		return nil, bad("no audience")
	case c.IssuedAt.Unix() <= 0 || c.IssuedAt.Unix() > maxNumericDate:
		return nil, bad("issued-at missing or out of range")
	case c.ExpiresAt.Unix() <= c.IssuedAt.Unix() || c.ExpiresAt.Unix() > maxNumericDate:
		return nil, bad("expiry not after issued-at or out of range")
	case !utf8.ValidString(c.ClientID):
		return nil, bad("client_id is not valid UTF-8")
	case !c.AuthTime.IsZero() && (c.AuthTime.Unix() <= 0 || c.AuthTime.Unix() > maxNumericDate):
		return nil, bad("auth_time out of range")
	case len(c.AMR) > maxAMR:
		return nil, bad(fmt.Sprintf("%d amr values, at most %d", len(c.AMR), maxAMR))
	}
	for _, a := range c.Audience {
		if a == "" {
			return nil, bad("empty audience value")
		}
	}
	for _, m := range c.AMR {
		if m == "" || !utf8.ValidString(m) {
			return nil, bad(fmt.Sprintf("amr value %q is empty or not valid UTF-8", m))
		}
	}
	if len(c.Extra) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(c.Extra))
	for n := range c.Extra {
		// Insertion sort: a token carries a handful of claims.
		i := len(names)
		names = append(names, n)
		for ; i > 0 && names[i-1] > n; i-- {
			names[i] = names[i-1]
		}
		names[i] = n
	}
	if err := CheckClaimNames(names); err != nil {
		return nil, fmt.Errorf("%w: cannot sign: %w", ErrMalformed, err)
	}
	for _, n := range names {
		if err := checkValue(c.Extra[n]); err != nil {
			return nil, fmt.Errorf("%w: cannot sign: claim %q: %w", ErrMalformed, n, err)
		}
	}
	return names, nil
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
