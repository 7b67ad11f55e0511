package httpauth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// Protect a handler: requests without a valid, unrevoked access token get
// 401 with an OAuth-style JSON error; the rest see the caller's identity.
func ExampleAuth_Require() {
	ctx := context.Background()
	keys, _ := token.NewKeyRing(token.EdDSA, time.Now())
	refreshKey := make([]byte, 32)
	rand.Read(refreshKey)
	m, _ := session.New(ctx, session.Config{Store: memstore.New(), Keys: keys, Issuer: "iss", Audience: "aud", RefreshKey: refreshKey})
	defer m.Close()

	auth := httpauth.New(m)
	mux := http.NewServeMux()
	mux.Handle("GET /me", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		fmt.Fprintln(w, "hello", id.UserID)
	})))

	tokens, _ := m.Login(ctx, "user-42", session.Meta{})
	req := httptest.NewRequest("GET", "/me", nil)
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/me", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 hello user-42
	// 401 {"error":"unauthorized","error_description":"an access token is required"}
}
