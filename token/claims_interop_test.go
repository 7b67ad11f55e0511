package token_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	jwt "github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/token"
)

// appTokenClaims is how a Go application using golang-jwt v5 declares
// sessiond's claims.
type appTokenClaims struct {
	jwt.RegisteredClaims
	SessionID string           `json:"sid"`
	ClientID  string           `json:"client_id"`
	AuthTime  *jwt.NumericDate `json:"auth_time"`
	AMR       []string         `json:"amr"`
	Role      string           `json:"role"`
	Tenant    struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"tenant"`
	Scope string   `json:"scope"`
	Roles []string `json:"https://example.com/roles"`
}

// TestNewClaimsInteropGolangJWT: golang-jwt v5, with keys from our JWKS
// through keyfunc v3 (the secret for HS256), verifies tokens carrying every
// new claim with its strict options on, and reads each claim as sessiond
// meant it; a plain map shows exactly the members sessiond put there.
func TestNewClaimsInteropGolangJWT(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			r := ringFor(t, alg)
			var kf jwt.Keyfunc
			if alg == token.HS256 {
				kf = func(*jwt.Token) (any, error) { return hmacSecret, nil }
			} else {
				raw, err := r.JWKS()
				if err != nil {
					t.Fatal(err)
				}
				k, err := keyfunc.NewJWKSetJSON(raw)
				if err != nil {
					t.Fatalf("keyfunc cannot read our JWKS: %v", err)
				}
				kf = k.Keyfunc
			}
			p := jwt.NewParser(
				jwt.WithValidMethods([]string{string(alg)}),
				jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithStrictDecoding(),
				jwt.WithTimeFunc(func() time.Time { return t0.Add(time.Minute) }),
			)
			tok := mustSign(t, r, fullClaims())
			var c appTokenClaims
			parsed, err := p.ParseWithClaims(tok, &c, kf)
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			if parsed.Header["typ"] != "at+jwt" {
				t.Errorf("typ = %v", parsed.Header["typ"])
			}
			want := fullClaims()
			if c.Subject != want.Subject || c.ID != want.ID || c.SessionID != want.SessionID ||
				c.ClientID != want.ClientID || c.AuthTime == nil || !c.AuthTime.Equal(want.AuthTime) ||
				!slices.Equal(c.AMR, want.AMR) || c.Role != "admin" || c.Tenant.ID != 7 || c.Tenant.Name != "acme" ||
				c.Scope != "read write" || !slices.Equal(c.Roles, []string{"a", "b"}) {
				t.Errorf("golang-jwt read %+v", c)
			}
			var m jwt.MapClaims
			if _, err := p.ParseWithClaims(tok, &m, kf); err != nil {
				t.Fatalf("golang-jwt, map: %v", err)
			}
			names := slices.Sorted(maps.Keys(m))
			wantNames := []string{"amr", "aud", "auth_time", "client_id", "exp", "https://example.com/roles",
				"iat", "iss", "jti", "role", "scope", "sid", "sub", "tenant"}
			if !slices.Equal(names, wantNames) {
				t.Errorf("members = %q, want %q", names, wantNames)
			}
			if at, err := m.GetExpirationTime(); err != nil || !at.Equal(want.ExpiresAt) {
				t.Errorf("exp = %v, %v", at, err)
			}
			// Without the new claims, a token decodes as it always did.
			var old appTokenClaims
			if _, err := p.ParseWithClaims(mustSign(t, r, testClaims()), &old, kf); err != nil ||
				old.ClientID != "" || old.AuthTime != nil || old.AMR != nil || old.Role != "" {
				t.Errorf("token without new claims: %+v, %v", old, err)
			}
		})
	}
}

// TestNewClaimsInteropGoJose: go-jose v4, from our JWKS alone, reads the
// same members and values.
func TestNewClaimsInteropGoJose(t *testing.T) {
	for _, alg := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			r := ringFor(t, alg)
			raw, err := r.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			parsed, err := josejwt.ParseSigned(mustSign(t, r, fullClaims()), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			keys := set.Key(parsed.Headers[0].KeyID)
			if len(keys) != 1 {
				t.Fatalf("%d keys for kid %q", len(keys), parsed.Headers[0].KeyID)
			}
			var std josejwt.Claims
			var all map[string]any
			if err := parsed.Claims(keys[0].Key, &std, &all); err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: testIssuer, AnyAudience: josejwt.Audience{testAudience}, Time: t0.Add(time.Minute)}, 0); err != nil {
				t.Fatalf("go-jose validate: %v", err)
			}
			want := map[string]any{
				"client_id": "billing-backend", "auth_time": float64(fullClaims().AuthTime.Unix()),
				"amr": []any{"pwd", "otp"}, "role": "admin", "scope": "read write",
				"tenant": map[string]any{"id": float64(7), "name": "acme"}, "https://example.com/roles": []any{"a", "b"},
			}
			for k, v := range want {
				if got, err := json.Marshal(all[k]); err != nil || string(got) != mustJSON(t, v) {
					t.Errorf("%s = %s, want %s", k, got, mustJSON(t, v))
				}
			}
		})
	}
}
