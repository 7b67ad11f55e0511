package token_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// appNames are the application claims the tests configure, as issue 9's
// --claims role,tenant,scope plus a namespaced one.
var appNames = []string{"role", "tenant", "scope", "https://example.com/roles"}

// fullClaims is testClaims with every optional claim set.
func fullClaims() token.Claims {
	c := testClaims()
	c.ClientID = "billing-backend"
	c.AuthTime = t0.Add(-2 * time.Hour)
	c.AMR = []string{"pwd", "otp"}
	c.Extra = map[string]json.RawMessage{
		"role":                      json.RawMessage(`"admin"`),
		"tenant":                    json.RawMessage(`{ "id" : 7, "name" : "acme" }`),
		"scope":                     json.RawMessage(`"read write"`),
		"https://example.com/roles": json.RawMessage(`["a", "b"]`),
	}
	return c
}

func appVerifier(r *token.KeyRing, now time.Time) *token.Verifier {
	v := verifierFor(r, now)
	v.Claims = appNames
	return v
}

// compactExtra returns m with every value in compact JSON, as Sign emits it.
func compactExtra(t *testing.T, m map[string]json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			t.Fatalf("compact %s: %v", v, err)
		}
		out[k] = json.RawMessage(b.Bytes())
	}
	return out
}

func sameClaims(got, want token.Claims) bool {
	return got.Issuer == want.Issuer && got.Subject == want.Subject && got.ID == want.ID &&
		got.SessionID == want.SessionID && slices.Equal(got.Audience, want.Audience) &&
		got.ExpiresAt.Equal(want.ExpiresAt) && got.IssuedAt.Equal(want.IssuedAt) &&
		got.ClientID == want.ClientID && got.AuthTime.Equal(want.AuthTime) &&
		slices.Equal(got.AMR, want.AMR) &&
		maps.EqualFunc(got.Extra, want.Extra, func(a, b json.RawMessage) bool { return string(a) == string(b) })
}

func TestSignVerifyNewClaims(t *testing.T) {
	cases := []struct {
		name string
		edit func(*token.Claims)
	}{
		{"all", func(*token.Claims) {}},
		{"client_id only", func(c *token.Claims) { c.AuthTime, c.AMR, c.Extra = time.Time{}, nil, nil }},
		{"auth_time only", func(c *token.Claims) { c.ClientID, c.AMR, c.Extra = "", nil, nil }},
		{"amr only", func(c *token.Claims) { c.ClientID, c.AuthTime, c.Extra = "", time.Time{}, nil }},
		{"extras only", func(c *token.Claims) { c.ClientID, c.AuthTime, c.AMR = "", time.Time{}, nil }},
		{"one extra", func(c *token.Claims) { c.Extra = map[string]json.RawMessage{"role": json.RawMessage(`"viewer"`)} }},
		{"extra of every JSON type", func(c *token.Claims) {
			c.Extra = map[string]json.RawMessage{
				"role": json.RawMessage(`null`), "tenant": json.RawMessage(`-1.5e3`), "scope": json.RawMessage(`true`),
				"https://example.com/roles": json.RawMessage(`[{"a":[1,{"b":null}]},"\u00e9\ud83d\ude00<&>"]`),
			}
		}},
		{"escapes in new strings", func(c *token.Claims) {
			c.ClientID = `client "é" <1> \ /`
			c.AMR = []string{"pwd", "a\u2028b"}
		}},
		{"none (previous version)", func(c *token.Claims) { *c = testClaims() }},
	}
	for _, alg := range allAlgs {
		for _, tc := range cases {
			t.Run(string(alg)+"/"+tc.name, func(t *testing.T) {
				r := ringFor(t, alg)
				want := fullClaims()
				tc.edit(&want)
				tok := mustSign(t, r, want)
				got, err := appVerifier(r, t0.Add(time.Minute)).Verify(tok)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want.Extra = compactExtra(t, want.Extra)
				if len(want.AMR) == 0 {
					want.AMR = nil
				}
				if !sameClaims(got, want) {
					t.Errorf("claims =\n%+v\nwant\n%+v", got, want)
				}
				if want.Extra == nil && got.Extra != nil || want.AMR == nil && got.AMR != nil {
					t.Errorf("absent claims came back non-nil: Extra %v, AMR %v", got.Extra, got.AMR)
				}
				if got.AuthTime.Location() != time.UTC && !got.AuthTime.IsZero() {
					t.Errorf("auth_time not in UTC: %v", got.AuthTime)
				}
			})
		}
	}
}

// TestSignNewClaimsWire pins what Sign emits: the registered members in
// their order, client_id auth_time amr, then the application claims sorted
// by name, values compact.
func TestSignNewClaimsWire(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	_, p := parts(t, mustSign(t, r, fullClaims()))
	want := `{"iss":"https://auth.example.com","sub":"user-42","aud":"api.example.com","exp":1772367000,"iat":1772366400,` +
		`"jti":"jti-0001","sid":"c2Vzc2lvbi1pZC0xMjM0","client_id":"billing-backend","auth_time":1772359200,"amr":["pwd","otp"],` +
		`"https://example.com/roles":["a","b"],"role":"admin","scope":"read write","tenant":{"id":7,"name":"acme"}}`
	if p != want {
		t.Errorf("payload = %s\nwant      %s", p, want)
	}
	// Same claims, same bytes, whatever the map's iteration order.
	for range 20 {
		if _, again := parts(t, mustSign(t, r, fullClaims())); again != p {
			t.Fatalf("payload not deterministic:\n%s\n%s", again, p)
		}
	}
	// Unset optional claims leave the payload of the previous version.
	c := testClaims()
	_, old := parts(t, mustSign(t, r, c))
	c.AMR, c.Extra = []string{}, map[string]json.RawMessage{}
	if _, p := parts(t, mustSign(t, r, c)); p != old {
		t.Errorf("empty AMR and Extra changed the payload:\n%s\n%s", p, old)
	}
	if !strings.HasSuffix(old, `"sid":"c2Vzc2lvbi1pZC0xMjM0"}`) {
		t.Errorf("payload without new claims = %s", old)
	}
}

func TestSignRefusesBadNewClaims(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	extra := func(name, value string) func(*token.Claims) {
		return func(c *token.Claims) {
			c.Extra = map[string]json.RawMessage{"role": json.RawMessage(`"x"`), name: json.RawMessage(value)}
		}
	}
	tests := []struct {
		name     string
		edit     func(*token.Claims)
		nameErr  bool // also ErrClaimName
		contains string
	}{
		{"client_id invalid utf-8", func(c *token.Claims) { c.ClientID = "a\xffb" }, false, "client_id"},
		{"auth_time before 1970", func(c *token.Claims) { c.AuthTime = time.Unix(-1, 0) }, false, "auth_time"},
		{"auth_time at 1970", func(c *token.Claims) { c.AuthTime = time.Unix(0, 0) }, false, "auth_time"},
		{"auth_time after 9999", func(c *token.Claims) { c.AuthTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, false, "auth_time"},
		{"amr empty value", func(c *token.Claims) { c.AMR = []string{"pwd", ""} }, false, "amr"},
		{"amr invalid utf-8", func(c *token.Claims) { c.AMR = []string{"\xff"} }, false, "amr"},
		{"amr 17 values", func(c *token.Claims) { c.AMR = slices.Repeat([]string{"otp"}, 17) }, false, "17 amr values"},
		{"extra registered name", extra("sub", `"admin"`), true, `reserved claim name "sub"`},
		{"extra registered name other case", extra("Exp", `1`), true, `reserved claim name "exp"`},
		{"extra name of a new claim", extra("client_id", `"x"`), true, `reserved claim name "client_id"`},
		{"extra amr", extra("amr", `["pwd"]`), true, `reserved claim name "amr"`},
		{"extra secret name", extra("password", `"hunter2"`), true, "looks like a secret"},
		{"extra empty name", extra("", `1`), true, "empty"},
		{"extra bad name", extra("ro le", `1`), true, "not allowed"},
		{"extra case variants", extra("Role", `"y"`), true, "differ only in letter case"},
		{"extra empty value", extra("tenant", ``), false, "tenant"},
		{"extra nil value", func(c *token.Claims) { c.Extra = map[string]json.RawMessage{"role": nil} }, false, "role"},
		{"extra not JSON", extra("tenant", `acme`), false, "tenant"},
		{"extra two values", extra("tenant", `1 2`), false, "tenant"},
		{"extra duplicate member", extra("tenant", `{"id":1,"id":2}`), false, "duplicate member"},
		{"extra invalid utf-8", extra("tenant", "\"\xff\""), false, "tenant"},
		{"extra lone surrogate", extra("tenant", `"\ud800"`), false, "tenant"},
		{"extra too deep", extra("tenant", strings.Repeat("[", 33)+strings.Repeat("]", 33)), false, "too deep"},
		{"extra trailing comma", extra("tenant", `[1,]`), false, "tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.edit(&c)
			_, err := r.Sign(c)
			if !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("Sign = %v, want ErrMalformed", err)
			}
			if errors.Is(err, token.ErrClaimName) != tt.nameErr {
				t.Errorf("Sign = %v: wraps ErrClaimName %v, want %v", err, !tt.nameErr, tt.nameErr)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("Sign = %q, want it to say %q", err, tt.contains)
			}
		})
	}
}

// TestVerifyNewClaimsForged: correctly signed tokens whose new claims are
// malformed are refused on content; well-formed variants are accepted.
func TestVerifyNewClaimsForged(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	kid := activeKID(t, r)
	hdr := `{"alg":"EdDSA","kid":"` + kid + `","typ":"at+jwt"}`
	seventeen := `[` + strings.Repeat(`"otp",`, 16) + `"otp"]`
	sixteen := `[` + strings.Repeat(`"otp",`, 15) + `"otp"]`
	tests := []struct {
		name  string
		extra string // appended to a valid claims set
		want  error  // nil: accepted
	}{
		{"all new claims", `,"client_id":"app","auth_time":1772366000,"amr":["pwd"],"role":"admin","tenant":{"id":7},"scope":"a b"`, nil},
		{"new claims first", `,"role":"admin"`, nil},
		{"whitespace", `, "client_id" : "app" , "amr" : [ "pwd" , "otp" ] , "role" : [ 1 , { "a" : null } ] `, nil},
		{"auth_time zero", `,"auth_time":0`, nil},
		{"amr 16 values", `,"amr":` + sixteen, nil},
		{"namespaced claim", `,"https://example.com/roles":["a"]`, nil},

		{"client_id empty", `,"client_id":""`, token.ErrMalformed},
		{"client_id number", `,"client_id":42`, token.ErrMalformed},
		{"client_id null", `,"client_id":null`, token.ErrMalformed},
		{"client_id array", `,"client_id":["app"]`, token.ErrMalformed},
		{"client_id object", `,"client_id":{"id":"app"}`, token.ErrMalformed},
		{"client_id bool", `,"client_id":true`, token.ErrMalformed},
		{"client_id duplicate", `,"client_id":"app","client_id":"admin"`, token.ErrMalformed},
		{"client_id case variant", `,"Client_ID":"app"`, token.ErrMalformed},
		{"client_id upper case", `,"CLIENT_ID":"app"`, token.ErrMalformed},
		{"client_id escaped name", `,"client\u005fid":"app"`, token.ErrMalformed},
		{"client_id invalid utf-8", ",\"client_id\":\"\xff\"", token.ErrMalformed},

		{"auth_time string", `,"auth_time":"1772366000"`, token.ErrMalformed},
		{"auth_time float", `,"auth_time":1772366000.5`, token.ErrMalformed},
		{"auth_time exponent", `,"auth_time":1.7e9`, token.ErrMalformed},
		{"auth_time negative", `,"auth_time":-1`, token.ErrMalformed},
		{"auth_time leading zero", `,"auth_time":01772366000`, token.ErrMalformed},
		{"auth_time past year 9999", `,"auth_time":253402300800`, token.ErrMalformed},
		{"auth_time null", `,"auth_time":null`, token.ErrMalformed},
		{"auth_time bool", `,"auth_time":true`, token.ErrMalformed},
		{"auth_time array", `,"auth_time":[1772366000]`, token.ErrMalformed},
		{"auth_time duplicate", `,"auth_time":1772366000,"auth_time":1`, token.ErrMalformed},
		{"auth_time case variant", `,"Auth_Time":1772366000`, token.ErrMalformed},

		{"amr string", `,"amr":"pwd"`, token.ErrMalformed},
		{"amr empty array", `,"amr":[]`, token.ErrMalformed},
		{"amr number", `,"amr":1`, token.ErrMalformed},
		{"amr null", `,"amr":null`, token.ErrMalformed},
		{"amr object", `,"amr":{"pwd":true}`, token.ErrMalformed},
		{"amr of numbers", `,"amr":[1]`, token.ErrMalformed},
		{"amr mixed", `,"amr":["pwd",1]`, token.ErrMalformed},
		{"amr with null", `,"amr":["pwd",null]`, token.ErrMalformed},
		{"amr nested array", `,"amr":[["pwd"]]`, token.ErrMalformed},
		{"amr empty string", `,"amr":[""]`, token.ErrMalformed},
		{"amr empty string later", `,"amr":["pwd",""]`, token.ErrMalformed},
		{"amr trailing comma", `,"amr":["pwd",]`, token.ErrMalformed},
		{"amr unclosed", `,"amr":["pwd"`, token.ErrMalformed},
		{"amr 17 values", `,"amr":` + seventeen, token.ErrMalformed},
		{"amr duplicate", `,"amr":["pwd"],"amr":["otp"]`, token.ErrMalformed},
		{"amr case variant", `,"AMR":["pwd"]`, token.ErrMalformed},

		{"unconfigured claim", `,"group":"x"`, token.ErrMalformed},
		{"unconfigured claim after configured", `,"role":"admin","group":"x"`, token.ErrMalformed},
		{"configured name other case", `,"Role":"admin"`, token.ErrMalformed},
		{"configured name escaped", `,"\u0072ole":"admin"`, token.ErrMalformed},
		{"duplicate extra", `,"role":"admin","role":"viewer"`, token.ErrMalformed},
		{"duplicate extra apart", `,"role":"admin","scope":"a","role":"admin"`, token.ErrMalformed},
		{"registered name again", `,"sub":"admin"`, token.ErrMalformed},
		{"nbf", `,"nbf":1772366400`, token.ErrMalformed},
		{"extra not JSON", `,"role":admin`, token.ErrMalformed},
		{"extra single quotes", `,"role":'admin'`, token.ErrMalformed},
		{"extra missing value", `,"role":`, token.ErrMalformed},
		{"extra two values", `,"role":"a" "b"`, token.ErrMalformed},
		{"extra duplicate member", `,"tenant":{"id":1,"id":2}`, token.ErrMalformed},
		{"extra trailing comma", `,"tenant":{"id":1,}`, token.ErrMalformed},
		{"extra NaN", `,"tenant":NaN`, token.ErrMalformed},
		{"extra leading zero", `,"tenant":007`, token.ErrMalformed},
		{"extra lone surrogate", `,"role":"\udc00"`, token.ErrMalformed},
		{"extra invalid utf-8", ",\"role\":\"\xc3\"", token.ErrMalformed},
		{"extra too deep", `,"tenant":` + strings.Repeat("[", 33) + strings.Repeat("]", 33), token.ErrMalformed},
		{"extra unclosed", `,"tenant":{"id":1`, token.ErrMalformed},
	}
	v := appVerifier(r, t0.Add(time.Minute))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := forge(t, r, hdr, claimsJSON(nil, tt.extra))
			c, err := v.Verify(tok)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v (claims %+v), want %v", err, c, tt.want)
			}
		})
	}
	// Without Claims, a verifier refuses every application claim, and
	// still takes the registered new ones.
	plain := verifierFor(r, t0.Add(time.Minute))
	for _, extra := range []string{`,"role":"admin"`, `,"scope":"a"`, `,"https://example.com/roles":[]`} {
		if _, err := plain.Verify(forge(t, r, hdr, claimsJSON(nil, extra))); !errors.Is(err, token.ErrMalformed) {
			t.Errorf("verifier without Claims, %s: %v, want ErrMalformed", extra, err)
		}
	}
	if _, err := plain.Verify(forge(t, r, hdr, claimsJSON(nil, `,"client_id":"app","auth_time":1,"amr":["pwd"]`))); err != nil {
		t.Errorf("verifier without Claims refused client_id, auth_time, amr: %v", err)
	}
}

// TestVerifyNewClaimsValues checks what Verify returns for forged but
// well-formed values: the raw JSON of each extra, UTC times, escapes decoded.
func TestVerifyNewClaimsValues(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	hdr := `{"alg":"EdDSA","kid":"` + activeKID(t, r) + `","typ":"at+jwt"}`
	tok := forge(t, r, hdr, claimsJSON(nil, `,"client_id":"a\u0070p","auth_time":1772366000,"amr":["p\u0077d","mfa"],"tenant": {"id" : 7},"role":"\u00e9"`))
	c, err := appVerifier(r, t0.Add(time.Minute)).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"tenant": json.RawMessage(`{"id" : 7}`), "role": json.RawMessage(`"\u00e9"`)}
	if c.ClientID != "app" || !c.AuthTime.Equal(time.Unix(1772366000, 0)) || c.AuthTime.Location() != time.UTC ||
		!slices.Equal(c.AMR, []string{"pwd", "mfa"}) || !reflect.DeepEqual(c.Extra, want) ||
		c.Subject != "user-42" || c.SessionID != "c2Vzc2lvbi1pZC0xMjM0" || c.ID != "jti-0001" {
		t.Errorf("claims = %+v", c)
	}
	// A previous version's token: no new claims, all absent.
	c, err = appVerifier(r, t0.Add(time.Minute)).Verify(mustSign(t, r, testClaims()))
	if err != nil || c.ClientID != "" || !c.AuthTime.IsZero() || c.AMR != nil || c.Extra != nil {
		t.Errorf("old token: %+v, %v", c, err)
	}
}

func TestVerifierClaimsConfig(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	plainTok := mustSign(t, r, testClaims())
	tests := []struct {
		name   string
		claims []string
		ok     bool
	}{
		{"none", nil, true},
		{"empty", []string{}, true},
		{"issue 9", []string{"role", "tenant", "scope"}, true},
		{"registered", []string{"role", "sub"}, false},
		{"registered other case", []string{"SID"}, false},
		{"new registered", []string{"client_id"}, false},
		{"reserved", []string{"nonce"}, false},
		{"secret", []string{"api_key"}, false},
		{"case variants", []string{"role", "ROLE"}, false},
		{"twice", []string{"role", "role"}, false},
		{"bad character", []string{"role tenant"}, false},
		{"empty name", []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := verifierFor(r, t0.Add(time.Minute))
			v.Claims = tt.claims
			for range 2 { // the first Verify and a later one answer alike
				_, err := v.Verify(plainTok)
				if tt.ok {
					if err != nil {
						t.Fatalf("Verify = %v", err)
					}
					continue
				}
				if !errors.Is(err, token.ErrClaimName) || !strings.Contains(err.Error(), "verifier Claims") {
					t.Fatalf("Verify with Claims %q = %v, want ErrClaimName", tt.claims, err)
				}
			}
		})
	}
	// The zero value still refuses everything, with Claims or not.
	if _, err := (&token.Verifier{Claims: []string{"role"}}).Verify(plainTok); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("zero Verifier with Claims: %v, want ErrUnknownKey", err)
	}
}

// TestVerifierClaimsConcurrent: the first Verify of a Verifier with Claims
// may happen on many goroutines at once (run with -race).
func TestVerifierClaimsConcurrent(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	tok := mustSign(t, r, fullClaims())
	v := appVerifier(r, t0.Add(time.Minute))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			c, err := v.Verify(tok)
			if err == nil && string(c.Extra["role"]) != `"admin"` {
				err = fmt.Errorf("role = %s", c.Extra["role"])
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestVerifyLargeClaims: a token over MaxLen is refused before parsing,
// whatever its claims; under a raised MaxLen it verifies, values intact.
func TestVerifyLargeClaims(t *testing.T) {
	r := ringFor(t, token.EdDSA)
	c := testClaims()
	big := `"` + strings.Repeat("x", 5000) + `"`
	c.Extra = map[string]json.RawMessage{"role": json.RawMessage(big)}
	tok := mustSign(t, r, c)
	v := appVerifier(r, t0.Add(time.Minute))
	if _, err := v.Verify(tok); !errors.Is(err, token.ErrTooLarge) {
		t.Fatalf("Verify of a %d-byte token = %v, want ErrTooLarge", len(tok), err)
	}
	v = appVerifier(r, t0.Add(time.Minute))
	v.MaxLen = 16 << 10
	got, err := v.Verify(tok)
	if err != nil || string(got.Extra["role"]) != big {
		t.Fatalf("Verify under MaxLen %d: %v (role %d bytes)", v.MaxLen, err, len(got.Extra["role"]))
	}
}
