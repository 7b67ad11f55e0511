package token_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// TestRSAKeySizes: a generated RS256 key has a 3072-bit modulus (ASVS
// 5.0 asks 128-bit security), while an existing 2048-bit key still
// verifies and anything smaller is refused.
func TestRSAKeySizes(t *testing.T) {
	r, err := token.NewKeyRing(token.RS256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			N string `json:"n"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	n, err := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	if err != nil {
		t.Fatal(err)
	}
	if bits := len(n) * 8; bits != 3072 {
		t.Errorf("generated RSA modulus is %d bits, want 3072", bits)
	}

	for _, tc := range []struct {
		bits    int
		wantErr error
	}{
		{bits: 2048},
		{bits: 1024, wantErr: token.ErrWeakKey},
	} {
		priv, err := rsa.GenerateKey(rand.Reader, tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		k, err := token.KeyFromPublic(token.RS256, "k", &priv.PublicKey)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%d bits: %v, want %v", tc.bits, err, tc.wantErr)
		}
		if err != nil {
			continue
		}
		msg := []byte("header.payload")
		sum := sha256.Sum256(msg)
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		if err := token.VerifyPrimitive(k, msg, sig); err != nil {
			t.Errorf("%d-bit key no longer verifies: %v", tc.bits, err)
		}
	}
}
