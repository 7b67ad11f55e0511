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

// Mark a sensitive handler: it runs only for a session whose user
// authenticated within the last 15 minutes. Older sessions get 403
// insufficient_user_authentication (RFC 9470) and re-authenticate: the
// application checks the password again, Manager.Reauthenticate hands out
// an access token with a new auth_time, and the retry goes through.
func ExampleRequireRecentAuth() {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	keys, _ := token.NewKeyRing(token.EdDSA, now)
	refreshKey := make([]byte, 32)
	rand.Read(refreshKey)
	m, _ := session.New(ctx, session.Config{Store: memstore.New(), Keys: keys, Issuer: "iss", Audience: "aud",
		RefreshKey: refreshKey, Now: clock})
	defer m.Close()

	auth := httpauth.New(m)
	mux := http.NewServeMux()
	// auth.RequireRecentAuth judges on the Manager's clock; the package's
	// httpauth.RequireRecentAuth(15*time.Minute) on the real one.
	mux.Handle("POST /account/email", auth.Require(auth.RequireRecentAuth(15*time.Minute)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "email changed") }))))

	call := func(accessToken string) {
		req := httptest.NewRequest("POST", "/account/email", nil)
		req.Header.Set("Authorization", "Bearer "+accessToken)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	tokens, _ := m.Login(ctx, "user-42", session.Meta{AuthMethod: "password"})
	call(tokens.AccessToken)

	now = now.Add(20 * time.Minute) // the login is now 20 minutes old
	tokens, _ = m.Refresh(ctx, tokens.RefreshToken, session.Meta{})
	call(tokens.AccessToken) // a refresh keeps the auth_time

	// The application checked the user's password again.
	fresh, _ := m.Reauthenticate(ctx, tokens.Session.ID, session.Meta{AuthMethod: "password"})
	call(fresh.AccessToken)
	// Output:
	// 200 email changed
	// 403 {"error":"insufficient_user_authentication","error_description":"this needs an authentication at most 15 minutes old; authenticate again and retry"}
	// 200 email changed
}
