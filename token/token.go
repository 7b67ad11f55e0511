// Package token issues and verifies sessiond's access tokens, keeps the key
// ring that signs them, and encodes the opaque refresh tokens.
//
// Access tokens are JWTs in JWS compact serialisation following the RFC 9068
// profile: header {"alg","kid","typ":"at+jwt"}, the claims iss, sub, aud,
// exp, iat, jti and sid, where known client_id, auth_time and amr, and the
// application claims the operator configured (role, tenant, scope, ...).
// Nothing else is issued, so nothing else is accepted: [Verifier.Verify]
// refuses any other header parameter or claim, including an application
// claim that is not in its [Verifier.Claims].
//
// # Application claims
//
// An application claim is named by the operator and carries any JSON value
// ([Claims.Extra]). Its name must pass [CheckClaimName]: 1 to 64 characters
// of A-Z a-z 0-9 _ . : / -, starting with a letter (so collision-resistant
// URI names such as "https://example.com/roles" are allowed), not a
// registered or reserved claim name in any letter case, and nothing that
// looks like a secret (password, token, ...): access tokens are readable by
// anyone who holds them. [KeyRing.Sign] emits application claims sorted by
// name, in compact JSON, after the registered ones; [Verifier.Verify]
// validates each value as exactly one strict JSON value (RFC 8259, strings
// valid UTF-8 without lone surrogates, no member name twice in an object,
// at most 32 levels deep) and returns it raw. [KeyRing.Sign] refuses a
// value that Verify would refuse.
//
// Why a narrow, hand-written verifier rather than a JOSE library: general
// libraries decode into maps or reflection-driven structs, which accept
// duplicate member names (the last one wins), match claim names
// case-insensitively (golang-jwt v5: "Sub" can override "sub"), ignore "crit"
// and cost several times the signature check itself. This package parses the
// tiny flat JSON objects of the header and the claims with a strict scanner
// that knows exactly which members may appear, refuses duplicates and
// unknowns, and decodes into stack buffers; it measures within a few per cent
// of the bare signature check (see bench_test.go). Signing uses encoding/json.
//
// # Key rotation
//
// A [KeyRing] signs with one key at a time. [KeyRing.Rotate] and
// [RotateShared] add a key that is published at once, in [KeyRing.JWKS]
// and for verification, but signs only from its activation time, a
// publish-ahead later; until then it is pending. The publish-ahead must be
// at least the lifetime for which clients may cache the JWKS (the
// max-age the server sends with it) plus a margin for clock skew and for
// clients that fetch late: a client that fetched the set just before the
// rotation then holds the new key before any token it signs. When the
// pending key activates, the previous signer retires: it keeps verifying
// for retain more (the longest access-token lifetime plus leeway), so
// every token it signed expires before it goes. A publish-ahead of 0
// switches at once, for a key compromise, accepting that caching clients
// refuse new tokens until they refetch.
//
// Which key signs is a function of the issue time only (see
// [KeyRing.Sign]): activation writes nothing, so every node that holds the
// ring switches at the same second without coordination. Nodes must
// reload the shared ring ([ReloadShared]) more often than the
// publish-ahead, so they hold a pending key before it activates; a
// scheduler asks [KeyRing.NeedsRotation] when to rotate.
//
// Refresh tokens are opaque: "sdrt_" + base64url(session id || secret ||
// tag || CRC32-C), the tag an HMAC under the server's refresh key. See
// [NewRefreshToken] and [VerifyRefreshToken].
package token

import (
	"encoding/json"
	"errors"
	"time"
)

// Algorithm is a JWS "alg" value supported by sessiond.
type Algorithm string

// The supported algorithms. EdDSA is the default; HS256 is for library mode
// only, with a secret of at least 32 bytes.
const (
	EdDSA Algorithm = "EdDSA" // Ed25519 (RFC 8037)
	ES256 Algorithm = "ES256" // ECDSA P-256 / SHA-256, raw r||s signature
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 / SHA-256, keys >= 2048 bits
	HS256 Algorithm = "HS256" // HMAC-SHA256, secrets >= 32 bytes
)

// Claims of an access token. On the wire, in this order: iss sub aud exp
// iat jti sid, then client_id auth_time amr when set, then the Extra
// members sorted by name; exp, iat and auth_time as NumericDate (whole
// seconds), aud a string when it holds one value, an array otherwise.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user
	Audience  []string  // aud
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat
	ID        string    // jti
	SessionID string    // sid

	// ClientID is client_id (RFC 9068 §2.2): the OAuth client the token
	// was issued to, that is the service client that minted the session,
	// or sessiond's own client id for its logins. "" means absent.
	ClientID string
	// AuthTime is auth_time (RFC 9068 §2.2.1, OIDC Core §2): when the user
	// authenticated, whole seconds. The zero time means absent. It is not
	// compared with iat: a session refreshed on a node whose clock is a
	// little behind may carry an auth_time after its iat.
	AuthTime time.Time
	// AMR is amr (RFC 8176): the authentication method references, such as
	// "pwd", "otp", "mfa", "hwk"; each non-empty, at most 16. nil or empty
	// means absent.
	AMR []string
	// Extra holds the application claims, by name, each value one JSON
	// value (string, number, boolean, null, array or object) exactly as on
	// the wire. Names must pass CheckClaimName; Verify returns only the
	// names of its Verifier.Claims. nil or empty means none.
	Extra map[string]json.RawMessage
}

// Sentinel errors. Errors returned by this package wrap one of these, so
// callers branch with errors.Is.
var (
	// ErrMalformed: not a well-formed token (shape, base64url, JSON,
	// claims not exactly those sessiond issues), or claims Sign refuses.
	ErrMalformed = errors.New("token: malformed")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("token: invalid signature")
	// ErrExpired: exp is past, beyond the leeway.
	ErrExpired = errors.New("token: expired")
	// ErrNotYetValid: iat is in the future, beyond the leeway.
	ErrNotYetValid = errors.New("token: issued in the future")
	// ErrIssuer: iss is not the Verifier's Issuer.
	ErrIssuer = errors.New("token: wrong issuer")
	// ErrAudience: aud does not contain the Verifier's Audience.
	ErrAudience = errors.New("token: wrong audience")
	// ErrUnknownKey: no usable key of the ring has the header's kid.
	ErrUnknownKey = errors.New("token: unknown key id")
	// ErrAlgorithm: alg is missing, "none", or not the key's algorithm;
	// or an algorithm sessiond does not support.
	ErrAlgorithm = errors.New("token: algorithm not allowed")
	// ErrHeader: a header parameter other than alg, kid and typ (crit, jku,
	// x5u, jwk, x5c, b64, ...), a duplicate one, or typ other than at+jwt.
	ErrHeader = errors.New("token: forbidden or unknown header parameter")
	// ErrTooLarge: the token is longer than the Verifier's MaxLen.
	ErrTooLarge = errors.New("token: too large")
	// ErrWeakKey: an HMAC secret, master key or derivation key shorter than
	// required, or an RSA key below 2048 bits (new RSA keys are generated
	// at 3072 bits; existing 2048-bit keys are still accepted).
	ErrWeakKey = errors.New("token: key too weak")
	// ErrClaimName: a name that may not be an application claim (see
	// CheckClaimName), or two names that differ only in letter case. Sign
	// wraps it together with ErrMalformed.
	ErrClaimName = errors.New("token: claim name not allowed")
	// ErrSealed: a sealed key ring cannot be opened: wrong master key, or
	// the blob was modified or is not a sealed ring.
	ErrSealed = errors.New("token: cannot open sealed key ring (wrong master key or corrupted data)")
)

// maxNumericDate is 9999-12-31T23:59:59Z; larger exp or iat values are refused.
const maxNumericDate = 253402300799
