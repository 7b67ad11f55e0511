package token_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "api.example.com"
)

var hmacSecret = []byte("0123456789abcdef0123456789abcdef")

// rings caches one ring per algorithm: RSA key generation is slow.
var (
	ringsMu sync.Mutex
	rings   = map[token.Algorithm]*token.KeyRing{}
)

func ringFor(t testing.TB, alg token.Algorithm) *token.KeyRing {
	t.Helper()
	ringsMu.Lock()
	defer ringsMu.Unlock()
	if r, ok := rings[alg]; ok {
		return r
	}
	var r *token.KeyRing
	var err error
	if alg == token.HS256 {
		r, err = token.NewHMACKeyRing(hmacSecret, t0)
	} else {
		r, err = token.NewKeyRing(alg, t0)
	}
	if err != nil {
		t.Fatalf("new %s ring: %v", alg, err)
	}
	rings[alg] = r
	return r
}

var allAlgs = []token.Algorithm{token.EdDSA, token.ES256, token.RS256, token.HS256}

func testClaims() token.Claims {
	return token.Claims{
		Issuer:    testIssuer,
		Subject:   "user-42",
		Audience:  []string{testAudience},
		ExpiresAt: t0.Add(10 * time.Minute),
		IssuedAt:  t0,
		ID:        "jti-0001",
		SessionID: "c2Vzc2lvbi1pZC0xMjM0",
	}
}

// claimsAt is testClaims issued at now, for ten minutes: Sign picks the key
// active at the issue time.
func claimsAt(now time.Time) token.Claims {
	c := testClaims()
	c.IssuedAt, c.ExpiresAt = now, now.Add(10*time.Minute)
	return c
}

func verifierFor(r *token.KeyRing, now time.Time) *token.Verifier {
	return &token.Verifier{Keys: r, Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return now }}
}

func mustSign(t testing.TB, r *token.KeyRing, c token.Claims) string {
	t.Helper()
	s, err := r.Sign(c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return s
}

// activeKID returns the kid of the key that signs at t0, the tests' now.
func activeKID(t testing.TB, r *token.KeyRing) string {
	t.Helper()
	return activeKIDAt(t, r, t0)
}

// activeKIDAt returns the kid of the key that signs at now.
func activeKIDAt(t testing.TB, r *token.KeyRing, now time.Time) string {
	t.Helper()
	for _, k := range r.Keys(now) {
		if k.Active {
			return k.ID
		}
	}
	t.Fatal("no active key")
	return ""
}

var b64 = base64.RawURLEncoding

// forge builds a compact token from raw header and payload JSON, correctly
// signed by r's key active at t0: whatever Verify refuses about it, it refuses on
// content, not on the signature.
func forge(t testing.TB, r *token.KeyRing, header, payload string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := token.SignWithActiveKey(r, t0, []byte(input))
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// parts decodes the header and payload of a compact token.
func parts(t testing.TB, tok string) (header, payload string) {
	t.Helper()
	p := strings.Split(tok, ".")
	h, err := b64.DecodeString(p[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := b64.DecodeString(p[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(h), string(c)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
