package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	jwt "github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/token"
)

// The benchmarks measure the decision recorded in token.go: the full
// Verify against the bare signature check on the same signing input (the
// floor), and golang-jwt v5 doing the same job with the same key.
// Targets: Verify/EdDSA and Verify/ES256 <= 1.10x floor, Verify/HS256 <= 4x
// floor, <= 15 allocs/op.

type benchCase struct {
	alg   token.Algorithm
	ring  *token.KeyRing
	tok   string
	input []byte // signing input
	sig   []byte
	pub   any // public key, or the HMAC secret
}

func benchCases(b *testing.B) []benchCase {
	b.Helper()
	var out []benchCase
	for _, alg := range allAlgs {
		r := ringFor(b, alg)
		c := testClaims()
		c.Subject = "3f0a7c2e-9b1d-4e57-a8c6-2d4f9e1b7a30"
		c.ID = "Jr7k2mQ9xW4pL8vN1cT6bA"
		c.SessionID = "hT3nV8qK1wZ5yR9mC2xL7g"
		tok := mustSign(b, r, c)
		i := strings.LastIndexByte(tok, '.')
		sig, err := b64.DecodeString(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		bc := benchCase{alg: alg, ring: r, tok: tok, input: []byte(tok[:i]), sig: sig}
		if alg == token.HS256 {
			bc.pub = hmacSecret
		} else {
			raw, err := r.JWKS()
			if err != nil {
				b.Fatal(err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				b.Fatal(err)
			}
			bc.pub = set.Keys[0].Key
		}
		out = append(out, bc)
	}
	return out
}

func BenchmarkVerify(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(string(bc.alg), func(b *testing.B) {
			v := verifierFor(bc.ring, t0.Add(time.Minute))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(bc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyClaims measures Verify by a verifier configured with
// application claims (appNames): on the token of BenchmarkVerify (plain),
// with client_id, auth_time and amr added (profile, what every sessiond
// token carries since issue 9), and with three application claims too
// (app).
func BenchmarkVerifyClaims(b *testing.B) {
	for _, alg := range allAlgs {
		r := ringFor(b, alg)
		base := testClaims()
		base.Subject = "3f0a7c2e-9b1d-4e57-a8c6-2d4f9e1b7a30"
		base.ID = "Jr7k2mQ9xW4pL8vN1cT6bA"
		base.SessionID = "hT3nV8qK1wZ5yR9mC2xL7g"
		profile := base
		profile.ClientID = "sessiond"
		profile.AuthTime = t0.Add(-time.Hour)
		profile.AMR = []string{"pwd"}
		app := profile
		app.Extra = map[string]json.RawMessage{
			"role":   json.RawMessage(`"admin"`),
			"tenant": json.RawMessage(`"acme"`),
			"scope":  json.RawMessage(`"read write"`),
		}
		for _, tc := range []struct {
			name string
			c    token.Claims
		}{{"plain", base}, {"profile", profile}, {"app", app}} {
			tok := mustSign(b, r, tc.c)
			b.Run(string(alg)+"/"+tc.name, func(b *testing.B) {
				v := verifierFor(r, t0.Add(time.Minute))
				v.Claims = appNames
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkFloor(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(string(bc.alg), func(b *testing.B) {
			b.ReportAllocs()
			switch bc.alg {
			case token.EdDSA:
				pub := bc.pub.(ed25519.PublicKey)
				for b.Loop() {
					if !ed25519.Verify(pub, bc.input, bc.sig) {
						b.Fatal("bad signature")
					}
				}
			case token.ES256:
				pub := bc.pub.(*ecdsa.PublicKey)
				r, s := new(big.Int).SetBytes(bc.sig[:32]), new(big.Int).SetBytes(bc.sig[32:])
				for b.Loop() {
					h := sha256.Sum256(bc.input)
					if !ecdsa.Verify(pub, h[:], r, s) {
						b.Fatal("bad signature")
					}
				}
			case token.RS256:
				pub := bc.pub.(*rsa.PublicKey)
				for b.Loop() {
					h := sha256.Sum256(bc.input)
					if rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], bc.sig) != nil {
						b.Fatal("bad signature")
					}
				}
			case token.HS256:
				key := bc.pub.([]byte)
				for b.Loop() {
					m := hmac.New(sha256.New, key)
					m.Write(bc.input)
					if !hmac.Equal(m.Sum(nil), bc.sig) {
						b.Fatal("bad signature")
					}
				}
			}
		})
	}
}

func BenchmarkGolangJWT(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(string(bc.alg), func(b *testing.B) {
			p := jwt.NewParser(
				jwt.WithValidMethods([]string{string(bc.alg)}),
				jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience),
				jwt.WithExpirationRequired(),
				jwt.WithTimeFunc(func() time.Time { return t0.Add(time.Minute) }),
			)
			keyFunc := func(*jwt.Token) (any, error) { return bc.pub, nil }
			b.ReportAllocs()
			for b.Loop() {
				var c jwt.RegisteredClaims
				if _, err := p.ParseWithClaims(bc.tok, &c, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
