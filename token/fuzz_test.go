package token_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, and it
// must accept nothing but the exact tokens the ring signed: any mutation of
// a genuine token is refused. It runs verifiers with and without
// application claims; the genuine tokens include every new claim.
func FuzzVerify(f *testing.F) {
	r, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		f.Fatal(err)
	}
	h, err := token.NewHMACKeyRing(hmacSecret, t0)
	if err != nil {
		f.Fatal(err)
	}
	genuine := map[string]bool{}
	for _, ring := range []*token.KeyRing{r, h} {
		c := testClaims()
		for _, aud := range [][]string{{testAudience}, {"x", testAudience}} {
			c.Audience = aud
			tok := mustSign(f, ring, c)
			genuine[tok] = true
			f.Add(tok)
			f.Add(tok[:len(tok)-1])
			f.Add(strings.Replace(tok, ".", "..", 1))
		}
		tok := mustSign(f, ring, fullClaims())
		genuine[tok] = true
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
	}
	kid := activeKID(f, r)
	// Seeds the ring signed with unusual content: they count as signed.
	for _, tok := range []string{
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt","crit":["x"]}`, claimsJSON(nil, "")),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(nil, `,"sub":"x"`)),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(map[string]string{"sub": `"\ud83d\ude00\u0041"`}, "")),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(nil, `,"role":"a","role":"b"`)),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(nil, `,"amr":[],"tenant":{"a":[1,{"b":-0.5e+1}]}`)),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(nil, `,"client_id":"x","auth_time":1,"amr":["pwd"],"scope":null`)),
	} {
		genuine[tok] = true
		f.Add(tok)
	}
	f.Add("")
	f.Add("..")
	vr := verifierFor(r, t0.Add(time.Minute))
	vh := verifierFor(h, t0.Add(time.Minute))
	vra := appVerifier(r, t0.Add(time.Minute))
	vha := appVerifier(h, t0.Add(time.Minute))
	for _, ring := range []*token.KeyRing{r, h} {
		if _, err := appVerifier(ring, t0.Add(time.Minute)).Verify(mustSign(f, ring, fullClaims())); err != nil {
			f.Fatalf("genuine token with every claim refused: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []*token.Verifier{vr, vh, vra, vha} {
			c, err := v.Verify(s)
			if err == nil && !genuine[s] {
				t.Fatalf("accepted a token the ring did not sign: %q -> %+v", s, c)
			}
		}
	})
}

// FuzzParseRefreshToken: never panics; whatever parses names a 16-byte
// session id that derivation preserves, and the parse is the same for the
// token and its child.
func FuzzParseRefreshToken(f *testing.F) {
	key := bytes.Repeat([]byte{1}, 32)
	tok, err := token.NewRefreshToken(key, bytes.Repeat([]byte{9}, 16))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(tok[:len(tok)-1] + "B")
	f.Add(token.RefreshPrefix)
	f.Add("")
	f.Add(strings.ToUpper(tok))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := token.ParseRefreshToken(s)
		vid, verr := token.VerifyRefreshToken(key, s)
		child, derr := token.DeriveRefreshToken(key, s)
		if (verr == nil) != (derr == nil) || (verr == nil && err != nil) {
			t.Fatalf("Parse err %v, Verify err %v, Derive err %v", err, verr, derr)
		}
		if err != nil {
			return
		}
		if verr != nil {
			// Parses but was not made under key: only a forgery does that
			// (a fuzzer finding the tag would be finding HMAC collisions).
			if !errors.Is(verr, token.ErrSignature) {
				t.Fatalf("well-formed token refused with %v, want ErrSignature", verr)
			}
			return
		}
		if !bytes.Equal(vid, id) {
			t.Fatalf("Verify id %x, Parse id %x", vid, id)
		}
		if len(id) != 16 || !strings.HasPrefix(s, token.RefreshPrefix) {
			t.Fatalf("parsed %q to id %x", s, id)
		}
		cid, err := token.VerifyRefreshToken(key, child)
		if err != nil || !bytes.Equal(cid, id) || child == s {
			t.Fatalf("child %q of %q: id %x err %v", child, s, cid, err)
		}
	})
}

// FuzzParseClaims feeds arbitrary claims sets to the parser Verify runs
// after the signature, with application claims configured. It must never
// panic; what it accepts must be JSON whose application claims are
// configured and valid to encoding/json; and when Sign would sign those
// claims, they encode to a set that parses back to the same claims and
// encodes to the same bytes again.
func FuzzParseClaims(f *testing.F) {
	for _, extra := range []string{
		"",
		`,"client_id":"app","auth_time":1772366000,"amr":["pwd","otp"]`,
		`,"role":"admin","tenant":{"id":7,"tags":["a","b"]},"scope":"read write"`,
		`,"https://example.com/roles":[true,false,null,-1.5e-3,"\u00e9"]`,
		`,"role":{"a":1,"\u0061":2}`,
		`,"amr":[""]`,
		`,"role":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add([]byte(claimsJSON(nil, extra)))
	}
	f.Add([]byte(claimsJSON(map[string]string{"aud": `["a","api.example.com"]`}, `,"scope":"x"`)))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := token.ParseClaims(b, appNames)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted claims that are not JSON: %q", b)
		}
		for n, v := range c.Extra {
			if !slices.Contains(appNames, n) || !json.Valid(v) {
				t.Fatalf("accepted %s = %q from %q", n, v, b)
			}
		}
		enc, err := token.EncodeClaims(c)
		if err != nil {
			return // accepted on the wire but not signable (iat 0, exp <= iat, ...)
		}
		again, err := token.ParseClaims(enc, appNames)
		if err != nil {
			t.Fatalf("Sign's encoding of %+v does not parse: %v\n%s", c, err, enc)
		}
		enc2, err := token.EncodeClaims(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %s\nthen %s (%v)", enc, enc2, err)
		}
		c.Extra = compactExtra(t, c.Extra)
		if !sameClaims(again, c) {
			t.Fatalf("round trip changed the claims:\n%+v\n%+v", c, again)
		}
	})
}
