package session_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// TestRefreshKeyRefused: a refresh key anyone can guess lets anyone make
// refresh tokens that pass the tag check (the forged-refresh attack the
// tag prevents), so New refuses the keys that are certainly not secret,
// says why and how to make one, and starts nothing.
func TestRefreshKeyRefused(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		key  []byte
		says string
	}{
		{"none", nil, "0 bytes, need at least 32"},
		{"short", []byte("0123456789abcdef"), "16 bytes, need at least 32"},
		{"all zero", make([]byte, 32), "all 32 bytes are zero"},
		{"one byte repeated", bytes.Repeat([]byte{0xff}, 32), "one byte repeated 32 times"},
		{"a short pattern repeated", bytes.Repeat([]byte("abc"), 11), "only 3 distinct byte values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.cfg
			cfg.RefreshKey = tc.key
			m, err := session.New(ctx, cfg)
			if err == nil {
				m.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, session.ErrPolicy) || !errors.Is(err, token.ErrWeakKey) {
				t.Fatalf("err = %v, want ErrPolicy and token.ErrWeakKey", err)
			}
			for _, want := range []string{"RefreshKey", tc.says, "crypto/rand.Read"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to say %q", err, want)
				}
			}
		})
	}
	t.Run("a random key", func(t *testing.T) {
		m, err := session.New(ctx, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	})
}
