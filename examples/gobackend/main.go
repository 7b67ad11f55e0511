// Command gobackend is a Go web application that keeps its own users and
// uses sessiond for their sessions, the Go twin of examples/express.
//
// It checks passwords itself (users.go), asks sessiond for a session on
// login (POST /v1/sessions with its client credentials) carrying the
// user's role as a claim, and keeps the two tokens in httpauth's cookies
// (HttpOnly, Secure, __Host- prefixed). On every request it
// verifies the access token locally from sessiond's JWKS with golang-jwt
// and keyfunc (no call to sessiond), puts the identity in the request
// context with httpauth.WithIdentity, and refreshes the session when the
// access token has expired. The role claim decides who may see /admin.
//
// Run sessiond with a service client and the claims role and tenant:
//
//	go run ./cmd/sessiond serve --store memory:// --clients clients.json --claims role,tenant
//
// then this (see README.md):
//
//	SESSIOND_CLIENT_SECRET=... go run ./examples/gobackend
//
// Environment: SESSIOND_URL (default http://127.0.0.1:8080),
// SESSIOND_CLIENT_ID (shop), SESSIOND_CLIENT_SECRET (required),
// SESSIOND_ISSUER and SESSIOND_AUDIENCE (sessiond's --issuer and
// --audience, default sessiond), DEMO_PASSWORD (of the demo users ann, an
// admin, and bob; default "correct horse battery staple") and ADDR
// (default 127.0.0.1:3000).
package main

import (
	"cmp"
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	secret := os.Getenv("SESSIOND_CLIENT_SECRET")
	if secret == "" {
		return errors.New("SESSIOND_CLIENT_SECRET is required: the secret of this backend in sessiond's --clients file")
	}
	password := cmp.Or(os.Getenv("DEMO_PASSWORD"), "correct horse battery staple")
	users, err := newUsers([]user{
		{ID: "user-1", Username: "ann", Role: "admin", Tenant: "acme"},
		{ID: "user-2", Username: "bob", Role: "user", Tenant: "acme"},
	}, func(user) string { return password }, bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newApp(ctx, config{
		Users:        users,
		SessiondURL:  cmp.Or(os.Getenv("SESSIOND_URL"), "http://127.0.0.1:8080"),
		ClientID:     cmp.Or(os.Getenv("SESSIOND_CLIENT_ID"), "shop"),
		ClientSecret: secret,
		Issuer:       cmp.Or(os.Getenv("SESSIOND_ISSUER"), "sessiond"),
		Audience:     cmp.Or(os.Getenv("SESSIOND_AUDIENCE"), "sessiond"),
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cmp.Or(os.Getenv("ADDR"), "127.0.0.1:3000"),
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("example listening on http://%s", srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
