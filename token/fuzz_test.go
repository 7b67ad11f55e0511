package token_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, and it
// must accept nothing but the exact tokens the ring signed: any mutation of
// a genuine token is refused.
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
	}
	kid := activeKID(f, r)
	// Seeds the ring signed with unusual content: they count as signed.
	for _, tok := range []string{
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt","crit":["x"]}`, claimsJSON(nil, "")),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(nil, `,"sub":"x"`)),
		forge(f, r, `{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claimsJSON(map[string]string{"sub": `"\ud83d\ude00\u0041"`}, "")),
	} {
		genuine[tok] = true
		f.Add(tok)
	}
	f.Add("")
	f.Add("..")
	vr := verifierFor(r, t0.Add(time.Minute))
	vh := verifierFor(h, t0.Add(time.Minute))
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []*token.Verifier{vr, vh} {
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
