package session_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// A Manager logs a user in, verifies the access token on every request
// without a store read, rotates the refresh token, and revokes at once.
func ExampleManager() {
	ctx := context.Background()
	keys, _ := token.NewKeyRing(token.EdDSA, time.Now())
	refreshKey := make([]byte, 32)
	rand.Read(refreshKey) // in production: the same secret on every node
	m, err := session.New(ctx, session.Config{
		Store:      memstore.New(),
		Keys:       keys,
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		RefreshKey: refreshKey,
	})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	tokens, _ := m.Login(ctx, "user-42", session.Meta{AuthMethod: "password"})
	id, _ := m.Verify(ctx, tokens.AccessToken)
	fmt.Println("user:", id.UserID)

	next, _ := m.Refresh(ctx, tokens.RefreshToken, session.Meta{})
	fmt.Println("rotated:", next.RefreshToken != tokens.RefreshToken)

	_ = m.Logout(ctx, id.SessionID)
	_, err = m.Verify(ctx, next.AccessToken)
	fmt.Println("after logout:", err != nil)
	// Output:
	// user: user-42
	// rotated: true
	// after logout: true
}

// Application data lives on the session and is written with compare-and-set.
func ExampleGet() {
	ctx := context.Background()
	keys, _ := token.NewKeyRing(token.EdDSA, time.Now())
	refreshKey := make([]byte, 32)
	rand.Read(refreshKey)
	m, _ := session.New(ctx, session.Config{Store: memstore.New(), Keys: keys, Issuer: "iss", Audience: "aud", RefreshKey: refreshKey})
	defer m.Close()
	tokens, _ := m.Login(ctx, "user-42", session.Meta{})

	_, _ = m.Update(ctx, tokens.Session.ID, func(s *session.Session) error {
		return s.Set("cart", []string{"book"})
	})
	s, _ := m.Get(ctx, tokens.Session.ID)
	cart, ok, _ := session.Get[[]string](s, "cart")
	fmt.Println(cart, ok)
	// Output: [book] true
}

// A backend that authenticated its user itself (single sign-on, a passkey)
// starts the session with the claims its access tokens should carry; its
// handlers read them from the Identity.
func ExampleManager_Start() {
	ctx := context.Background()
	keys, _ := token.NewKeyRing(token.ES256, time.Now())
	refreshKey := make([]byte, 32)
	rand.Read(refreshKey)
	m, _ := session.New(ctx, session.Config{
		Store: memstore.New(), Keys: keys, Issuer: "https://auth.example.com", Audience: "api",
		RefreshKey: refreshKey, Claims: []string{"role", "tenant"},
	})
	defer m.Close()

	tokens, err := m.Start(ctx, session.Grant{
		UserID:   "user-42",
		ClientID: "shop",
		AMR:      []string{"hwk"},
		Claims:   map[string]json.RawMessage{"role": json.RawMessage(`"admin"`), "tenant": json.RawMessage(`"acme"`)},
	})
	if err != nil {
		panic(err)
	}
	id, _ := m.Verify(ctx, tokens.AccessToken)
	role, _ := id.StringClaim("role")
	fmt.Println(id.UserID, id.ClientID, role, id.AMR)
	// Output:
	// user-42 shop admin [hwk]
}
