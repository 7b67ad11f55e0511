package httpauth_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// An application that keeps its users in cookies: login sets the session
// cookies and hands the page its CSRF token; a shopping cart lives in the
// session's application data, written with compare-and-set through the
// Manager; cookie-authenticated POSTs must carry the X-CSRF-Token header,
// and every unsafe method goes through net/http's CrossOriginProtection too.
func ExampleSetSessionCookies() {
	ctx := context.Background()
	keys, _ := token.NewKeyRing(token.EdDSA, time.Now())
	refreshKey, csrfKey := make([]byte, 32), make([]byte, 32)
	rand.Read(refreshKey)
	rand.Read(csrfKey)
	m, _ := session.New(ctx, session.Config{Store: memstore.New(), Keys: keys, Issuer: "shop", Audience: "shop", RefreshKey: refreshKey})
	defer m.Close()

	csrf := &httpauth.CSRF{Key: csrfKey}
	auth := &httpauth.Auth{Manager: m, CSRF: csrf}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the user's password here ...
		tokens, err := m.Login(r.Context(), "user-42", session.Meta{UserAgent: r.UserAgent()})
		if err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		httpauth.SetSessionCookies(w, tokens, time.Now())
		json.NewEncoder(w).Encode(map[string]string{"csrf_token": csrf.Token(tokens.Session.ID)})
	})
	mux.Handle("POST /cart", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		item := r.FormValue("item")
		_, err := m.Update(r.Context(), id.SessionID, func(s *session.Session) error {
			cart, _, err := session.Get[[]string](s, "cart")
			if err != nil {
				return err
			}
			return s.Set("cart", append(cart, item))
		})
		if err != nil {
			http.Error(w, "could not update the cart", http.StatusConflict)
		}
	})))
	mux.Handle("GET /cart", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		s, err := m.Get(r.Context(), id.SessionID)
		if err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		cart, _, _ := session.Get[[]string](s, "cart")
		fmt.Fprintln(w, strings.Join(cart, ", "))
	})))
	srv := httptest.NewTLSServer(http.NewCrossOriginProtection().Handler(mux)) // Secure cookies want HTTPS
	defer srv.Close()

	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	resp, _ := client.Post(srv.URL+"/login", "application/json", nil)
	var login struct {
		CSRFToken string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()

	addToCart := func(item, csrfToken string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/cart", strings.NewReader("item="+item))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if csrfToken != "" {
			req.Header.Set(httpauth.CSRFHeader, csrfToken)
		}
		resp, _ := client.Do(req)
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("add tea:", addToCart("tea", login.CSRFToken))
	fmt.Println("add cake:", addToCart("cake", login.CSRFToken))
	fmt.Println("add without the CSRF token:", addToCart("stolen", ""))

	resp, _ = client.Get(srv.URL + "/cart")
	cart, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print("cart: ", string(cart))
	// Output:
	// add tea: 200
	// add cake: 200
	// add without the CSRF token: 403
	// cart: tea, cake
}
