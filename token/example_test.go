package token_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/token"
)

func ExampleVerifier_Verify() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ring, err := token.NewKeyRing(token.EdDSA, now)
	if err != nil {
		panic(err)
	}
	tok, err := ring.Sign(token.Claims{
		Issuer:    "https://auth.example.com",
		Subject:   "user-42",
		Audience:  []string{"api.example.com"},
		IssuedAt:  now,
		ExpiresAt: now.Add(10 * time.Minute),
		ID:        "jti-1",
		SessionID: "sid-1",
	})
	if err != nil {
		panic(err)
	}
	v := &token.Verifier{
		Keys:     ring,
		Issuer:   "https://auth.example.com",
		Audience: "api.example.com",
		Now:      func() time.Time { return now.Add(time.Minute) },
	}
	c, err := v.Verify(tok)
	fmt.Println(c.Subject, c.SessionID, err)

	v.Now = func() time.Time { return now.Add(time.Hour) }
	_, err = v.Verify(tok)
	fmt.Println(errors.Is(err, token.ErrExpired))
	// Output:
	// user-42 sid-1 <nil>
	// true
}

// Application claims: the signer sets them in Extra, the verifier names
// the ones it accepts.
func ExampleVerifier_Verify_applicationClaims() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ring, err := token.NewKeyRing(token.ES256, now)
	if err != nil {
		panic(err)
	}
	names := []string{"role", "tenant", "scope"} // from configuration
	if err := token.CheckClaimNames(names); err != nil {
		panic(err)
	}
	tok, err := ring.Sign(token.Claims{
		Issuer: "https://auth.example.com", Subject: "user-42", Audience: []string{"api.example.com"},
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute), ID: "jti-1", SessionID: "sid-1",
		ClientID: "billing-backend",
		AuthTime: now.Add(-time.Hour),
		AMR:      []string{"pwd", "otp"},
		Extra: map[string]json.RawMessage{
			"role":   json.RawMessage(`"admin"`),
			"tenant": json.RawMessage(`{"id": 7}`),
		},
	})
	if err != nil {
		panic(err)
	}
	v := &token.Verifier{
		Keys: ring, Issuer: "https://auth.example.com", Audience: "api.example.com",
		Now:    func() time.Time { return now.Add(time.Minute) },
		Claims: names,
	}
	c, err := v.Verify(tok)
	fmt.Println(c.ClientID, c.AMR, c.AuthTime.Format(time.TimeOnly), err)
	fmt.Println(string(c.Extra["role"]), string(c.Extra["tenant"]))

	fmt.Println(errors.Is(token.CheckClaimName("password"), token.ErrClaimName))
	_, err = ring.Sign(token.Claims{
		Issuer: "https://auth.example.com", Subject: "user-42", Audience: []string{"api.example.com"},
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute), ID: "jti-2", SessionID: "sid-1",
		Extra: map[string]json.RawMessage{"Sub": json.RawMessage(`"admin"`)},
	})
	fmt.Println(errors.Is(err, token.ErrMalformed), errors.Is(err, token.ErrClaimName))
	// Output:
	// billing-backend [pwd otp] 11:00:00 <nil>
	// "admin" {"id":7}
	// true
	// true true
}

func ExampleDeriveRefreshToken() {
	sessionID := make([]byte, 16)
	key := make([]byte, 32) // a server secret in real use
	parent, err := token.NewRefreshToken(key, sessionID)
	if err != nil {
		panic(err)
	}
	child, _ := token.DeriveRefreshToken(key, parent)
	again, _ := token.DeriveRefreshToken(key, parent) // a retried refresh
	id, _ := token.VerifyRefreshToken(key, child)
	fmt.Println(child == again, len(token.HashRefreshToken(child)), len(id))
	_, err = token.ParseRefreshToken("sdrt_garbage")
	fmt.Println(errors.Is(err, token.ErrMalformed))
	// Output:
	// true 32 16
	// true
}

func ExampleKeyRing_Rotate() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ring, err := token.NewKeyRing(token.ES256, now)
	if err != nil {
		panic(err)
	}
	// Publish the successor 5m10s before it signs: the JWKS is served
	// with max-age=300, plus a margin. The old key verifies for an hour
	// and a minute after the switch (longest token plus leeway).
	next, err := ring.Rotate(token.ES256, now, 5*time.Minute+10*time.Second, time.Hour+time.Minute)
	if err != nil {
		panic(err)
	}
	fmt.Println(next.Pending, next.ActivatesAt.Format(time.TimeOnly))
	for _, at := range []time.Time{now.Add(5 * time.Minute), next.ActivatesAt} {
		for _, k := range ring.Keys(at) {
			if k.Active {
				fmt.Println(at.Format(time.TimeOnly), "signs with the new key:", k.ID == next.ID)
			}
		}
	}
	fmt.Println(ring.NeedsRotation(now, 30*24*time.Hour, 5*time.Minute))
	// Output:
	// true 12:05:10
	// 12:05:00 signs with the new key: false
	// 12:05:10 signs with the new key: true
	// false
}
