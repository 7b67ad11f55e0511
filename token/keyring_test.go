package token_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sessiond/sessiond/token"
)

// TestJWKSInteropGoJose verifies our tokens with go-jose v4 using nothing
// but our JWKS output.
func TestJWKSInteropGoJose(t *testing.T) {
	for _, alg := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			r := ringFor(t, alg)
			raw, err := r.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatalf("go-jose cannot read our JWKS %s: %v", raw, err)
			}
			tok := mustSign(t, r, testClaims())
			parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			if len(parsed.Headers) != 1 {
				t.Fatalf("headers: %v", parsed.Headers)
			}
			keys := set.Key(parsed.Headers[0].KeyID)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys for kid %q", len(keys), parsed.Headers[0].KeyID)
			}
			if !keys[0].IsPublic() || !keys[0].Valid() || keys[0].Use != "sig" || keys[0].Algorithm != string(alg) {
				t.Errorf("JWKS key not a valid public signing key for %s: %+v", alg, keys[0])
			}
			var std jwt.Claims
			var extra struct {
				Sid string `json:"sid"`
			}
			if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			err = std.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testAudience}, Time: t0.Add(time.Minute)}, 0)
			if err != nil {
				t.Fatalf("go-jose validate: %v", err)
			}
			if std.Subject != "user-42" || extra.Sid != testClaims().SessionID || parsed.Headers[0].ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("go-jose read sub=%q sid=%q headers=%v", std.Subject, extra.Sid, parsed.Headers[0])
			}
			// A token from another ring must not verify with this JWKS.
			foreign := mustSign(t, ringFor(t, token.HS256), testClaims())
			fp, err := jwt.ParseSigned(foreign, []jose.SignatureAlgorithm{jose.HS256})
			if err != nil {
				t.Fatal(err)
			}
			if err := fp.Claims(keys[0].Key, &std); err == nil {
				t.Error("go-jose verified a foreign token with our key")
			}
		})
	}
}

func TestJWKSContents(t *testing.T) {
	raw, err := ringFor(t, token.HS256).JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"keys":[]}` {
		t.Errorf("HMAC ring JWKS = %s, want no keys", raw)
	}
	for _, alg := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256} {
		raw, err := ringFor(t, alg).JWKS()
		if err != nil {
			t.Fatal(err)
		}
		var set struct{ Keys []map[string]any }
		if err := json.Unmarshal(raw, &set); err != nil {
			t.Fatal(err)
		}
		for _, k := range set.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					t.Errorf("%s JWKS leaks private member %q", alg, private)
				}
			}
			if k["use"] != "sig" || k["alg"] != string(alg) || k["kid"] == "" {
				t.Errorf("%s JWKS key %v", alg, k)
			}
		}
	}
}

func TestRotateAndPrune(t *testing.T) {
	r, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := activeKID(t, r)
	oldTok := mustSign(t, r, testClaims())

	rotatedAt := t0.Add(time.Minute)
	if _, err := r.Rotate(token.ES256, rotatedAt, 0, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	retire := rotatedAt.Add(15 * time.Minute)
	keys := r.Keys(rotatedAt)
	if len(keys) != 2 || !keys[0].Active || keys[0].Alg != token.ES256 || keys[0].ID == oldKID ||
		keys[1].Active || keys[1].ID != oldKID || !keys[1].RetireAt.Equal(retire) || !keys[0].RetireAt.IsZero() ||
		!keys[0].ActivatesAt.Equal(rotatedAt) || keys[0].Pending {
		t.Fatalf("keys after rotate: %+v", keys)
	}
	c := testClaims()
	c.IssuedAt, c.ExpiresAt = rotatedAt, rotatedAt.Add(30*time.Minute)
	newTok := mustSign(t, r, c)
	if h, _ := parts(t, newTok); !strings.Contains(h, `"alg":"ES256"`) {
		t.Errorf("new token not signed by the new key: %s", h)
	}

	// The old token verifies until the old key retires, not after.
	if _, err := verifierFor(r, t0.Add(5*time.Minute)).Verify(oldTok); err != nil {
		t.Errorf("old token after rotation: %v", err)
	}
	// Retired at retire even before Prune (a long-lived token would
	// otherwise outlive its key).
	c2 := testClaims()
	c2.ExpiresAt = t0.Add(time.Hour)
	r2, _ := token.NewKeyRing(token.EdDSA, t0)
	long := mustSign(t, r2, c2)
	r2.Rotate(token.EdDSA, t0, 0, 10*time.Minute)
	if _, err := verifierFor(r2, t0.Add(10*time.Minute)).Verify(long); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("token of a retired key: %v, want ErrUnknownKey", err)
	}
	if _, err := verifierFor(r2, t0.Add(10*time.Minute-time.Second)).Verify(long); err != nil {
		t.Errorf("token one second before its key retires: %v", err)
	}

	r.Prune(retire.Add(-time.Second))
	if n := len(r.Keys(retire)); n != 2 {
		t.Fatalf("Prune before retirement dropped keys: %d left", n)
	}
	r.Prune(retire)
	keys = r.Keys(retire)
	if len(keys) != 1 || !keys[0].Active {
		t.Fatalf("after Prune: %+v", keys)
	}
	if _, err := verifierFor(r, t0.Add(5*time.Minute)).Verify(oldTok); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("old token after Prune: %v, want ErrUnknownKey", err)
	}
	if _, err := verifierFor(r, rotatedAt.Add(time.Minute)).Verify(newTok); err != nil {
		t.Errorf("new token after Prune: %v", err)
	}
	// Rotating twice keeps the first retirement date.
	r.Rotate(token.EdDSA, retire, 0, time.Hour)
	r.Rotate(token.EdDSA, retire.Add(time.Minute), 0, 2*time.Hour)
	keys = r.Keys(retire.Add(time.Minute))
	if len(keys) != 3 || !keys[2].RetireAt.Equal(retire.Add(time.Hour)) || !keys[1].RetireAt.Equal(retire.Add(time.Minute+2*time.Hour)) {
		t.Errorf("double rotation: %+v", keys)
	}
	if _, err := r.Rotate(token.HS256, retire, 0, time.Hour); !errors.Is(err, token.ErrAlgorithm) {
		t.Errorf("Rotate(HS256) = %v, want ErrAlgorithm", err)
	}
}

func TestSealOpen(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			var r *token.KeyRing
			var err error
			if alg == token.HS256 {
				r, err = token.NewHMACKeyRing(hmacSecret, t0)
			} else {
				r, err = token.NewKeyRing(alg, t0)
				if err == nil {
					_, err = r.Rotate(alg, t0.Add(time.Minute), 0, time.Hour)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			before := mustSign(t, r, testClaims())
			blob, err := r.Seal(master)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(blob, []byte(activeKID(t, r))) || bytes.Contains(blob, hmacSecret) {
				t.Error("sealed blob shows key material in clear")
			}
			opened, err := token.OpenKeyRing(blob, master)
			if err != nil {
				t.Fatalf("OpenKeyRing: %v", err)
			}
			if got, want := opened.Keys(t0.Add(time.Minute)), r.Keys(t0.Add(time.Minute)); !sameKeys(got, want) {
				t.Fatalf("keys %+v, want %+v", got, want)
			}
			if _, err := verifierFor(opened, t0.Add(time.Minute)).Verify(before); err != nil {
				t.Errorf("opened ring does not verify the original's token: %v", err)
			}
			after := mustSign(t, opened, testClaims())
			if _, err := verifierFor(r, t0.Add(time.Minute)).Verify(after); err != nil {
				t.Errorf("original ring does not verify the opened ring's token: %v", err)
			}

			wrong := bytes.Repeat([]byte{8}, 32)
			if _, err := token.OpenKeyRing(blob, wrong); !errors.Is(err, token.ErrSealed) {
				t.Errorf("wrong master: %v, want ErrSealed", err)
			}
			for _, i := range []int{0, 4, 5, 20, len(blob) - 1} {
				bad := bytes.Clone(blob)
				bad[i] ^= 0x40
				if _, err := token.OpenKeyRing(bad, master); !errors.Is(err, token.ErrSealed) {
					t.Errorf("blob modified at %d: %v, want ErrSealed", i, err)
				}
			}
			if _, err := token.OpenKeyRing(blob[:len(blob)-1], master); !errors.Is(err, token.ErrSealed) {
				t.Errorf("truncated blob: %v, want ErrSealed", err)
			}
			if _, err := r.Seal(master[:16]); !errors.Is(err, token.ErrWeakKey) {
				t.Errorf("16-byte master: %v, want ErrWeakKey", err)
			}
			if _, err := token.OpenKeyRing(blob, master[:31]); !errors.Is(err, token.ErrWeakKey) {
				t.Errorf("31-byte master: %v, want ErrWeakKey", err)
			}
		})
	}
	if _, err := token.OpenKeyRing(nil, master); !errors.Is(err, token.ErrSealed) {
		t.Errorf("empty blob: %v, want ErrSealed", err)
	}
}

func TestReplace(t *testing.T) {
	a, _ := token.NewKeyRing(token.EdDSA, t0)
	b, _ := token.NewKeyRing(token.EdDSA, t0)
	tokB := mustSign(t, b, testClaims())
	if _, err := verifierFor(a, t0).Verify(tokB); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("before Replace: %v", err)
	}
	a.Replace(b)
	if _, err := verifierFor(a, t0).Verify(tokB); err != nil {
		t.Fatalf("after Replace: %v", err)
	}
	if activeKID(t, a) != activeKID(t, b) {
		t.Error("active key not replaced")
	}
	// Later changes to b do not leak into a.
	b.Rotate(token.EdDSA, t0, 0, time.Minute)
	if activeKID(t, a) == activeKID(t, b) {
		t.Error("rotation of the source ring changed the replaced ring")
	}
}

// TestConcurrentRotateVerify runs verification while the ring rotates,
// prunes and is replaced (meaningful under -race).
func TestConcurrentRotateVerify(t *testing.T) {
	r, _ := token.NewKeyRing(token.EdDSA, t0)
	other, _ := token.NewKeyRing(token.EdDSA, t0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := r.Sign(testClaims())
				if err != nil {
					t.Error(err)
					return
				}
				// The key may be pruned or replaced meanwhile; only a
				// well-formed outcome is required.
				if _, err := verifierFor(r, t0).Verify(tok); err != nil && !errors.Is(err, token.ErrUnknownKey) {
					t.Errorf("Verify: %v", err)
				}
				if _, err := r.JWKS(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range 50 {
		now := t0.Add(time.Duration(i) * time.Second)
		ahead := time.Duration(i%3) * time.Second // 0: immediate, else pending
		if _, err := r.Rotate(token.EdDSA, now, ahead, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		r.Prune(now)
		if i%10 == 0 {
			r.Replace(other)
		}
		_ = r.Keys(now)
	}
	close(stop)
	wg.Wait()
}

func TestZeroKeyRing(t *testing.T) {
	var r token.KeyRing
	if _, err := r.Sign(testClaims()); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("Sign on zero ring: %v, want ErrUnknownKey", err)
	}
	tok := mustSign(t, ringFor(t, token.EdDSA), testClaims())
	if _, err := verifierFor(&r, t0).Verify(tok); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("Verify on zero ring: %v, want ErrUnknownKey", err)
	}
	if raw, err := r.JWKS(); err != nil || string(raw) != `{"keys":[]}` {
		t.Errorf("JWKS on zero ring: %s %v", raw, err)
	}
	if _, err := r.Rotate(token.EdDSA, t0, 0, time.Minute); err != nil || len(r.Keys(t0)) != 1 {
		t.Errorf("Rotate on zero ring: %v, keys %+v", err, r.Keys(t0))
	}
}
