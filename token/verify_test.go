package token_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			r := ringFor(t, alg)
			want := testClaims()
			tok := mustSign(t, r, want)
			h, _ := parts(t, tok)
			wantHeader := fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"at+jwt"}`, alg, activeKID(t, r))
			if h != wantHeader {
				t.Errorf("header = %s, want %s", h, wantHeader)
			}
			got, err := verifierFor(r, t0.Add(time.Minute)).Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Issuer != want.Issuer || got.Subject != want.Subject || got.ID != want.ID ||
				got.SessionID != want.SessionID || !slices.Equal(got.Audience, want.Audience) ||
				!got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) {
				t.Errorf("claims = %+v, want %+v", got, want)
			}
		})
	}
}

func TestSignWireClaims(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	c := testClaims()
	_, p := parts(t, mustSign(t, r, c))
	want := `{"iss":"https://auth.example.com","sub":"user-42","aud":"api.example.com","exp":1772367000,"iat":1772366400,"jti":"jti-0001","sid":"c2Vzc2lvbi1pZC0xMjM0"}`
	if p != want {
		t.Errorf("payload = %s\nwant      %s", p, want)
	}
	c.Audience = []string{"a", testAudience}
	_, p = parts(t, mustSign(t, r, c))
	if !strings.Contains(p, `"aud":["a","api.example.com"]`) {
		t.Errorf("multi-valued aud not an array: %s", p)
	}
}

func TestSignRefusesIncompleteClaims(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	tests := []struct {
		name string
		edit func(*token.Claims)
	}{
		{"no issuer", func(c *token.Claims) { c.Issuer = "" }},
		{"no subject", func(c *token.Claims) { c.Subject = "" }},
		{"no jti", func(c *token.Claims) { c.ID = "" }},
		{"no sid", func(c *token.Claims) { c.SessionID = "" }},
		{"no audience", func(c *token.Claims) { c.Audience = nil }},
		{"empty audience value", func(c *token.Claims) { c.Audience = []string{""} }},
		{"no iat", func(c *token.Claims) { c.IssuedAt = time.Time{} }},
		{"exp before iat", func(c *token.Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) }},
		{"exp too far", func(c *token.Claims) { c.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.edit(&c)
			if _, err := r.Sign(c); !errors.Is(err, token.ErrMalformed) {
				t.Errorf("Sign = %v, want ErrMalformed", err)
			}
		})
	}
}

// claimsJSON returns a valid claims object with one member replaced
// (or removed, when value is "") or extra members appended.
func claimsJSON(replace map[string]string, extra string) string {
	members := [][2]string{
		{"iss", `"` + testIssuer + `"`},
		{"sub", `"user-42"`},
		{"aud", `"` + testAudience + `"`},
		{"exp", "1772367000"},
		{"iat", "1772366400"},
		{"jti", `"jti-0001"`},
		{"sid", `"c2Vzc2lvbi1pZC0xMjM0"`},
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, m := range members {
		v := m[1]
		if r, ok := replace[m[0]]; ok {
			v = r
		}
		if v == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:%s", m[0], v)
	}
	b.WriteString(extra)
	b.WriteByte('}')
	return b.String()
}

func TestVerifyForgedContent(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	kid := activeKID(t, r)
	hdr := func(extra string) string { return `{"alg":"EdDSA","kid":"` + kid + `","typ":"at+jwt"` + extra + `}` }
	okClaims := claimsJSON(nil, "")
	tests := []struct {
		name            string
		header, payload string
		want            error // nil: accepted
	}{
		{"baseline", hdr(""), okClaims, nil},
		{"json whitespace", "{ \"alg\" : \"EdDSA\",\n\t\"kid\":\"" + kid + "\", \"typ\":\"at+jwt\" }", " " + okClaims + "\n", nil},
		{"typ upper case", `{"alg":"EdDSA","kid":"` + kid + `","typ":"AT+JWT"}`, okClaims, nil},
		{"typ media type", `{"alg":"EdDSA","kid":"` + kid + `","typ":"application/at+jwt"}`, okClaims, nil},
		{"escaped values", `{"alg":"Ed\u0044SA","kid":"` + kid + `","typ":"at\/jwt"}`, okClaims, token.ErrHeader},
		{"escaped alg", `{"alg":"Ed\u0044SA","kid":"` + kid + `","typ":"at+jwt"}`, okClaims, nil},
		{"alg none", `{"alg":"none","kid":"` + kid + `","typ":"at+jwt"}`, okClaims, token.ErrAlgorithm},
		{"alg other", `{"alg":"ES256","kid":"` + kid + `","typ":"at+jwt"}`, okClaims, token.ErrAlgorithm},
		{"alg lower case", `{"alg":"eddsa","kid":"` + kid + `","typ":"at+jwt"}`, okClaims, token.ErrAlgorithm},
		{"alg missing", `{"kid":"` + kid + `","typ":"at+jwt"}`, okClaims, token.ErrAlgorithm},
		{"alg not a string", `{"alg":1,"kid":"` + kid + `","typ":"at+jwt"}`, okClaims, token.ErrMalformed},
		{"kid unknown", `{"alg":"EdDSA","kid":"nope","typ":"at+jwt"}`, okClaims, token.ErrUnknownKey},
		{"kid missing", `{"alg":"EdDSA","typ":"at+jwt"}`, okClaims, token.ErrUnknownKey},
		{"typ missing", `{"alg":"EdDSA","kid":"` + kid + `"}`, okClaims, token.ErrHeader},
		{"typ JWT", `{"alg":"EdDSA","kid":"` + kid + `","typ":"JWT"}`, okClaims, token.ErrHeader},
		{"crit", hdr(`,"crit":["exp"]`), okClaims, token.ErrHeader},
		{"jku", hdr(`,"jku":"https://evil.example/jwks"`), okClaims, token.ErrHeader},
		{"x5u", hdr(`,"x5u":"https://evil.example/cert"`), okClaims, token.ErrHeader},
		{"jwk", hdr(`,"jwk":{"kty":"OKP"}`), okClaims, token.ErrHeader},
		{"x5c", hdr(`,"x5c":["MIIB"]`), okClaims, token.ErrHeader},
		{"b64", hdr(`,"b64":false`), okClaims, token.ErrHeader},
		{"cty", hdr(`,"cty":"JWT"`), okClaims, token.ErrHeader},
		{"duplicate alg", hdr(`,"alg":"EdDSA"`), okClaims, token.ErrHeader},
		{"duplicate kid", hdr(`,"kid":"other"`), okClaims, token.ErrHeader},
		{"case variant Alg", hdr(`,"Alg":"none"`), okClaims, token.ErrHeader},
		{"header trailing data", hdr("") + "x", okClaims, token.ErrMalformed},
		{"header not object", `["EdDSA"]`, okClaims, token.ErrMalformed},
		{"header trailing comma", `{"alg":"EdDSA","kid":"` + kid + `","typ":"at+jwt",}`, okClaims, token.ErrMalformed},

		{"claims unknown nbf", hdr(""), claimsJSON(nil, `,"nbf":1772366400`), token.ErrMalformed},
		{"claims unknown role", hdr(""), claimsJSON(nil, `,"role":"admin"`), token.ErrMalformed},
		{"claims duplicate sub", hdr(""), claimsJSON(nil, `,"sub":"admin"`), token.ErrMalformed},
		{"claims duplicate exp", hdr(""), claimsJSON(nil, `,"exp":99999999999`), token.ErrMalformed},
		{"claims case variant SUB", hdr(""), claimsJSON(nil, `,"SUB":"admin"`), token.ErrMalformed},
		{"claims case variant Exp", hdr(""), claimsJSON(map[string]string{"exp": ""}, `,"Exp":1772367000`), token.ErrMalformed},
		{"claims escaped name", hdr(""), claimsJSON(nil, `,"\u0073ub":"admin"`), token.ErrMalformed},
		{"exp missing", hdr(""), claimsJSON(map[string]string{"exp": ""}, ""), token.ErrMalformed},
		{"iat missing", hdr(""), claimsJSON(map[string]string{"iat": ""}, ""), token.ErrMalformed},
		{"sub missing", hdr(""), claimsJSON(map[string]string{"sub": ""}, ""), token.ErrMalformed},
		{"sid missing", hdr(""), claimsJSON(map[string]string{"sid": ""}, ""), token.ErrMalformed},
		{"jti missing", hdr(""), claimsJSON(map[string]string{"jti": ""}, ""), token.ErrMalformed},
		{"iss missing", hdr(""), claimsJSON(map[string]string{"iss": ""}, ""), token.ErrMalformed},
		{"aud missing", hdr(""), claimsJSON(map[string]string{"aud": ""}, ""), token.ErrMalformed},
		{"sub empty", hdr(""), claimsJSON(map[string]string{"sub": `""`}, ""), token.ErrMalformed},
		{"sid empty", hdr(""), claimsJSON(map[string]string{"sid": `""`}, ""), token.ErrMalformed},
		{"sub null", hdr(""), claimsJSON(map[string]string{"sub": `null`}, ""), token.ErrMalformed},
		{"sub number", hdr(""), claimsJSON(map[string]string{"sub": `42`}, ""), token.ErrMalformed},
		{"sub object", hdr(""), claimsJSON(map[string]string{"sub": `{"id":1}`}, ""), token.ErrMalformed},
		{"exp string", hdr(""), claimsJSON(map[string]string{"exp": `"1772367000"`}, ""), token.ErrMalformed},
		{"exp float", hdr(""), claimsJSON(map[string]string{"exp": `1772367000.5`}, ""), token.ErrMalformed},
		{"exp float zero fraction", hdr(""), claimsJSON(map[string]string{"exp": `1772367000.0`}, ""), token.ErrMalformed},
		{"exp exponent", hdr(""), claimsJSON(map[string]string{"exp": `1.772367e9`}, ""), token.ErrMalformed},
		{"exp negative", hdr(""), claimsJSON(map[string]string{"exp": `-1`}, ""), token.ErrMalformed},
		{"exp huge", hdr(""), claimsJSON(map[string]string{"exp": `99999999999999999999`}, ""), token.ErrMalformed},
		{"exp past year 9999", hdr(""), claimsJSON(map[string]string{"exp": `253402300800`}, ""), token.ErrMalformed},
		{"exp leading zero", hdr(""), claimsJSON(map[string]string{"exp": `01772367000`}, ""), token.ErrMalformed},
		{"exp bool", hdr(""), claimsJSON(map[string]string{"exp": `true`}, ""), token.ErrMalformed},
		{"aud number", hdr(""), claimsJSON(map[string]string{"aud": `42`}, ""), token.ErrMalformed},
		{"aud empty array", hdr(""), claimsJSON(map[string]string{"aud": `[]`}, ""), token.ErrMalformed},
		{"aud array of numbers", hdr(""), claimsJSON(map[string]string{"aud": `[1]`}, ""), token.ErrMalformed},
		{"aud array trailing comma", hdr(""), claimsJSON(map[string]string{"aud": `["` + testAudience + `",]`}, ""), token.ErrMalformed},
		{"aud array ok", hdr(""), claimsJSON(map[string]string{"aud": `["other", "` + testAudience + `"]`}, ""), nil},
		{"aud array without ours", hdr(""), claimsJSON(map[string]string{"aud": `["other"]`}, ""), token.ErrAudience},
		{"aud wrong", hdr(""), claimsJSON(map[string]string{"aud": `"other"`}, ""), token.ErrAudience},
		{"aud case variant", hdr(""), claimsJSON(map[string]string{"aud": `"API.example.com"`}, ""), token.ErrAudience},
		{"iss wrong", hdr(""), claimsJSON(map[string]string{"iss": `"https://evil.example.com"`}, ""), token.ErrIssuer},
		{"iss prefix", hdr(""), claimsJSON(map[string]string{"iss": `"https://auth.example.com/"`}, ""), token.ErrIssuer},
		{"invalid utf-8", hdr(""), claimsJSON(map[string]string{"sub": "\"\xff\xfe\""}, ""), token.ErrMalformed},
		{"raw control char", hdr(""), claimsJSON(map[string]string{"sub": "\"a\x01b\""}, ""), token.ErrMalformed},
		{"lone surrogate", hdr(""), claimsJSON(map[string]string{"sub": `"\ud800"`}, ""), token.ErrMalformed},
		{"surrogate pair ok", hdr(""), claimsJSON(map[string]string{"sub": `"\ud83d\ude00"`}, ""), nil},
		{"bad escape", hdr(""), claimsJSON(map[string]string{"sub": `"\x41"`}, ""), token.ErrMalformed},
		{"claims trailing data", hdr(""), okClaims + "{}", token.ErrMalformed},
		{"claims array", hdr(""), "[" + okClaims + "]", token.ErrMalformed},
		{"claims empty", hdr(""), "", token.ErrMalformed},
		{"claims truncated", hdr(""), okClaims[:len(okClaims)-1], token.ErrMalformed},
	}
	v := verifierFor(r, t0.Add(time.Minute))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := forge(t, r, tt.header, tt.payload)
			_, err := v.Verify(tok)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyTime(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	tok := mustSign(t, r, testClaims()) // iat t0, exp t0+10m
	exp := t0.Add(10 * time.Minute)
	tests := []struct {
		name   string
		now    time.Time
		leeway time.Duration
		want   error
	}{
		{"fresh", t0, 0, nil},
		{"just before exp", exp.Add(-time.Second), 0, nil},
		{"within default leeway", exp.Add(29 * time.Second), 0, nil},
		{"past default leeway", exp.Add(30 * time.Second), 0, token.ErrExpired},
		{"long past", exp.Add(time.Hour), 0, token.ErrExpired},
		{"small leeway", exp.Add(6 * time.Second), 5 * time.Second, token.ErrExpired},
		{"leeway capped at 60s (inside)", exp.Add(59 * time.Second), 5 * time.Minute, nil},
		{"leeway capped at 60s (outside)", exp.Add(90 * time.Second), 5 * time.Minute, token.ErrExpired},
		{"iat within leeway", t0.Add(-29 * time.Second), 0, nil},
		{"iat in the future", t0.Add(-31 * time.Second), 0, token.ErrNotYetValid},
		{"iat future capped leeway", t0.Add(-61 * time.Second), 5 * time.Minute, token.ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := verifierFor(r, tt.now)
			v.Leeway = tt.leeway
			_, err := v.Verify(tok)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierPinsEverything(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	tok := mustSign(t, r, testClaims())
	now := func() time.Time { return t0 }
	tests := []struct {
		name string
		v    *token.Verifier
		want error
	}{
		{"zero value", &token.Verifier{}, token.ErrUnknownKey},
		{"no issuer", &token.Verifier{Keys: r, Audience: testAudience, Now: now}, token.ErrIssuer},
		{"no audience", &token.Verifier{Keys: r, Issuer: testIssuer, Now: now}, token.ErrAudience},
		{"other ring", verifierFor(ringFor(t, token.ES256), t0), token.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.v.Verify(tok); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyMutatedCompact mutates the compact serialisation of a genuine
// token of every algorithm.
func TestVerifyMutatedCompact(t *testing.T) {
	for _, alg := range allAlgs {
		r := ringFor(t, alg)
		tok := mustSign(t, r, testClaims())
		other := mustSign(t, r, func() token.Claims { c := testClaims(); c.Subject = "admin"; return c }())
		p := strings.Split(tok, ".")
		op := strings.Split(other, ".")
		lastFlip := func(s string) string { // a different char with the same decoded bits is non-canonical
			last := s[len(s)-1]
			for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
				if c != last {
					cand := s[:len(s)-1] + string(c)
					a, err1 := b64.DecodeString(s)
					b, err2 := b64.DecodeString(cand)
					if err1 == nil && err2 == nil && string(a) == string(b) {
						return cand
					}
				}
			}
			return ""
		}
		flipBit := func(s string, i int) string {
			raw, _ := b64.DecodeString(s)
			raw[i] ^= 1
			return b64.EncodeToString(raw)
		}
		tests := []struct {
			name string
			tok  string
			want error
		}{
			{"empty", "", token.ErrMalformed},
			{"two parts", p[0] + "." + p[1], token.ErrMalformed},
			{"four parts", tok + ".", token.ErrMalformed},
			{"four parts with data", tok + ".AAAA", token.ErrMalformed},
			{"no signature", p[0] + "." + p[1] + ".", token.ErrSignature},
			{"padding", p[0] + "." + p[1] + "." + p[2] + "==", token.ErrMalformed},
			{"padded header", p[0] + "=." + p[1] + "." + p[2], token.ErrMalformed},
			{"leading space", " " + tok, token.ErrMalformed},
			{"trailing newline", tok + "\n", token.ErrMalformed},
			{"newline inside payload", p[0] + "." + p[1][:5] + "\n" + p[1][5:] + "." + p[2], token.ErrMalformed},
			{"CR inside signature", p[0] + "." + p[1] + "." + p[2][:5] + "\r" + p[2][5:], token.ErrMalformed},
			{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(tok), nil}, // nil: checked below
			{"flipped signature bit", p[0] + "." + p[1] + "." + flipBit(p[2], 0), token.ErrSignature},
			{"truncated signature", p[0] + "." + p[1] + "." + p[2][:len(p[2])-4], nil}, // malformed or bad signature, by length
			{"payload of another token", p[0] + "." + op[1] + "." + p[2], token.ErrSignature},
			{"signature of another token", p[0] + "." + p[1] + "." + op[2], token.ErrSignature},
			{"flipped payload bit", p[0] + "." + flipBit(p[1], 10) + "." + p[2], token.ErrSignature},
		}
		if c := lastFlip(p[1]); c != "" {
			tests = append(tests, struct {
				name string
				tok  string
				want error
			}{"non-canonical payload", p[0] + "." + c + "." + p[2], token.ErrMalformed})
		}
		if c := lastFlip(p[2]); c != "" {
			tests = append(tests, struct {
				name string
				tok  string
				want error
			}{"non-canonical signature", p[0] + "." + p[1] + "." + c, token.ErrMalformed})
		}
		v := verifierFor(r, t0)
		for _, tt := range tests {
			t.Run(string(alg)+"/"+tt.name, func(t *testing.T) {
				_, err := v.Verify(tt.tok)
				if err == nil {
					if tt.tok == tok {
						return
					}
					t.Fatalf("mutated token accepted: %q", tt.tok)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("Verify = %v, want %v", err, tt.want)
				}
			})
		}
	}
}

func TestVerifyTooLarge(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	tok := mustSign(t, r, testClaims())
	v := verifierFor(r, t0)
	v.MaxLen = len(tok) - 1
	if _, err := v.Verify(tok); !errors.Is(err, token.ErrTooLarge) {
		t.Fatalf("Verify = %v, want ErrTooLarge", err)
	}
	v.MaxLen = 0 // default 4096
	if _, err := v.Verify(strings.Repeat("A", 4097)); !errors.Is(err, token.ErrTooLarge) {
		t.Fatalf("Verify = %v, want ErrTooLarge", err)
	}
	v.MaxLen = len(tok)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify at exactly MaxLen = %v", err)
	}
}

// TestAlgorithmConfusion signs with HMAC over the public key of an
// asymmetric ring and claims HS256 under its kid.
func TestAlgorithmConfusion(t *testing.T) {
	for _, alg := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			r := ringFor(t, alg)
			jwks, err := r.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			h := `{"alg":"HS256","kid":"` + activeKID(t, r) + `","typ":"at+jwt"}`
			input := b64.EncodeToString([]byte(h)) + "." + b64.EncodeToString([]byte(claimsJSON(nil, "")))
			m := hmac.New(sha256.New, jwks)
			m.Write([]byte(input))
			tok := input + "." + b64.EncodeToString(m.Sum(nil))
			if _, err := verifierFor(r, t0).Verify(tok); !errors.Is(err, token.ErrAlgorithm) {
				t.Fatalf("Verify = %v, want ErrAlgorithm", err)
			}
		})
	}
}

// TestES256SignatureForms checks DER signatures, the psychic signature
// (r = s = 0, CVE-2022-21449) and out-of-range scalars on real tokens.
func TestES256SignatureForms(t *testing.T) {
	r := ringFor(t, token.ES256)
	tok := mustSign(t, r, testClaims())
	p := strings.Split(tok, ".")
	raw, err := b64.DecodeString(p[2])
	if err != nil || len(raw) != 64 {
		t.Fatalf("signature is %d bytes (%v), want raw 64", len(raw), err)
	}
	rr, ss := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	der, err := asn1.Marshal(struct{ R, S *big.Int }{rr, ss})
	if err != nil {
		t.Fatal(err)
	}
	n := new(big.Int).Set(ecdsaN())
	fixed := func(a, b *big.Int) string {
		sig := make([]byte, 64)
		a.FillBytes(sig[:32])
		b.FillBytes(sig[32:])
		return p[0] + "." + p[1] + "." + b64.EncodeToString(sig)
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"DER encoded", p[0] + "." + p[1] + "." + b64.EncodeToString(der)},
		{"r=s=0", fixed(big.NewInt(0), big.NewInt(0))},
		{"r=0", fixed(big.NewInt(0), ss)},
		{"s=0", fixed(rr, big.NewInt(0))},
		{"r=N", fixed(n, ss)},
		{"r+N overflow", fixed(new(big.Int).Add(rr, n).Mod(new(big.Int).Add(rr, n), new(big.Int).Lsh(big.NewInt(1), 256)), ss)},
		{"s=N", fixed(rr, n)},
		{"65 bytes", p[0] + "." + p[1] + "." + b64.EncodeToString(append(raw, 0))},
		{"63 bytes", p[0] + "." + p[1] + "." + b64.EncodeToString(raw[:63])},
	}
	v := verifierFor(r, t0)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("genuine token: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(tt.tok); !errors.Is(err, token.ErrSignature) {
				t.Fatalf("Verify = %v, want ErrSignature", err)
			}
		})
	}
}

func ecdsaN() *big.Int {
	n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
	return n
}

func TestHS256Rules(t *testing.T) {
	if _, err := token.NewHMACKeyRing(make([]byte, 31), t0); !errors.Is(err, token.ErrWeakKey) {
		t.Errorf("31-byte secret: %v, want ErrWeakKey", err)
	}
	if _, err := token.NewKeyRing(token.HS256, t0); !errors.Is(err, token.ErrAlgorithm) {
		t.Errorf("NewKeyRing(HS256): %v, want ErrAlgorithm", err)
	}
	if _, err := token.NewKeyRing("none", t0); !errors.Is(err, token.ErrAlgorithm) {
		t.Errorf("NewKeyRing(none): %v, want ErrAlgorithm", err)
	}
	r := ringFor(t, token.HS256)
	tok := mustSign(t, r, testClaims())
	p := strings.Split(tok, ".")
	mac, _ := b64.DecodeString(p[2])
	for _, n := range []int{0, 16, 31} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			bad := p[0] + "." + p[1] + "." + b64.EncodeToString(mac[:n])
			if _, err := verifierFor(r, t0).Verify(bad); !errors.Is(err, token.ErrSignature) {
				t.Fatalf("Verify = %v, want ErrSignature", err)
			}
		})
	}
	// Same secret, same kid: another process verifies.
	r2, err := token.NewHMACKeyRing(hmacSecret, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifierFor(r2, t0).Verify(tok); err != nil {
		t.Fatalf("second ring with the same secret: %v", err)
	}
	other, _ := token.NewHMACKeyRing([]byte("another secret of thirty-two bytes!"), t0)
	if _, err := verifierFor(other, t0).Verify(tok); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("other secret: %v, want ErrUnknownKey", err)
	}
}
