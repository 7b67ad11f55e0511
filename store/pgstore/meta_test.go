package pgstore_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// A User-Agent header may carry any byte from 0x80 to 0xFF (obs-text), and
// a server that cuts a long one at a byte count may split a character. A
// login from such a client must still work on PostgreSQL, whose text
// columns refuse invalid UTF-8 and NUL: the store must not turn the
// client's header into a 503.
func TestLoginWithHostileDeviceMetadata(t *testing.T) {
	ctx := t.Context()
	s := open(t, freshSchema(t))
	m := newManager(t, s)
	tests := []struct {
		name string
		meta session.Meta
	}{
		{"obs-text-ua", session.Meta{UserAgent: "Mozilla/5.0 \xff\xfe", IP: "192.0.2.1"}},
		{"split-rune-ua", session.Meta{UserAgent: strings.Repeat("a", 511) + "é"[:1]}},
		{"nul-ua", session.Meta{UserAgent: "curl\x00/8"}},
		{"nul-ip", session.Meta{IP: "192.0.2.1\x00"}},
		{"bad-auth-method", session.Meta{AuthMethod: "pass\xffword"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, err := m.Login(ctx, "alice", tt.meta)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			got, err := m.Get(ctx, tk.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{got.UserAgent, got.IP, got.AuthMethod} {
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
					t.Fatalf("stored metadata %q", v)
				}
			}
		})
	}
}

// Application data that one backend cannot keep must be refused by the
// Manager for every backend, with ErrInvalidData, rather than reach
// PostgreSQL and come back as a store failure (a 503): jsonb refuses NUL
// and unpaired UTF-16 surrogates, which a json.RawMessage can carry.
func TestAppDataPostgresCannotKeep(t *testing.T) {
	ctx := t.Context()
	s := open(t, freshSchema(t))
	m := newManager(t, s)
	tk, err := m.Login(ctx, "alice", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"lone-high-surrogate", `"\ud800"`, false},
		{"lone-low-surrogate", `"a\uDC00b"`, false},
		{"reversed-pair", `"\udc00\ud800"`, false},
		{"high-then-other-escape", `"\ud800\n"`, false},
		{"nul", `{"x":"\u0000"}`, false},
		{"pair", `"\ud83d\ude00"`, true},
		{"escaped-backslash-then-u", `"\\ud800 \\u0000"`, true},
		{"plain", `{"cart":[1,2,3]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Update(ctx, tk.Session.ID, func(s *session.Session) error {
				return s.Set("k", json.RawMessage(tt.raw))
			})
			if tt.ok && err != nil {
				t.Fatalf("Update: %v", err)
			}
			if !tt.ok && !errors.Is(err, session.ErrInvalidData) {
				t.Fatalf("Update = %v, want ErrInvalidData", err)
			}
		})
	}
}

// newManager returns a Manager on s with a fixed clock, closed with the test.
func newManager(t *testing.T, s session.Store) *session.Manager {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	keys, err := token.NewKeyRing(token.EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	refKey := make([]byte, 32)
	rand.Read(refKey)
	m, err := session.New(t.Context(), session.Config{
		Store: s, Keys: keys, Issuer: "https://issuer.test", Audience: "api.test",
		RefreshKey: refKey, Now: func() time.Time { return now }, RevocationPoll: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
