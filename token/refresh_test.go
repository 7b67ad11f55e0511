package token_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/token"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func newSessionID(t testing.TB) []byte {
	id := make([]byte, 16)
	rand.Read(id)
	return id
}

func TestRefreshRoundTrip(t *testing.T) {
	id := newSessionID(t)
	a, err := token.NewRefreshToken(id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := token.NewRefreshToken(id)
	if a == b {
		t.Fatal("two refresh tokens for one session are equal")
	}
	if !strings.HasPrefix(a, token.RefreshPrefix) || len(a) != 75 {
		t.Fatalf("token %q: want prefix %q and 75 chars", a, token.RefreshPrefix)
	}
	got, err := token.ParseRefreshToken(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, id) {
		t.Fatalf("session id %x, want %x", got, id)
	}
	if h := token.HashRefreshToken(a); len(h) != 32 || bytes.Equal(h, token.HashRefreshToken(b)) {
		t.Fatalf("hash %x", h)
	}
	for _, n := range []int{0, 15, 17, 32} {
		if _, err := token.NewRefreshToken(make([]byte, n)); !errors.Is(err, token.ErrMalformed) {
			t.Errorf("%d-byte session id: %v, want ErrMalformed", n, err)
		}
	}
}

// TestRefreshEveryCorruptedCharacter replaces each character of a genuine
// token with every other character of the alphabet (and a few outside it).
func TestRefreshEveryCorruptedCharacter(t *testing.T) {
	tok, err := token.NewRefreshToken(newSessionID(t))
	if err != nil {
		t.Fatal(err)
	}
	repl := alphabet + "=+/ .\n\x00é"
	for i := range len(tok) {
		for _, c := range repl {
			bad := tok[:i] + string(c) + tok[i+1:]
			if bad == tok {
				continue
			}
			if _, err := token.ParseRefreshToken(bad); !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("corruption at %d to %q accepted (err %v)", i, c, err)
			}
		}
	}
	// Swapping two adjacent different characters.
	for i := range len(tok) - 1 {
		if tok[i] == tok[i+1] {
			continue
		}
		bad := tok[:i] + string(tok[i+1]) + string(tok[i]) + tok[i+2:]
		if _, err := token.ParseRefreshToken(bad); err == nil {
			t.Fatalf("swap at %d accepted", i)
		}
	}
}

func TestParseRefreshGarbage(t *testing.T) {
	good, _ := token.NewRefreshToken(newSessionID(t))
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"prefix only", token.RefreshPrefix},
		{"no prefix", good[5:]},
		{"other prefix", "sdat_" + good[5:]},
		{"upper prefix", "SDRT_" + good[5:]},
		{"one short", good[:len(good)-1]},
		{"one long", good + "A"},
		{"padded", good + "="},
		{"access token", "eyJhbGciOiJFZERTQSJ9.e30.sig"},
		{"right length, zeros", token.RefreshPrefix + strings.Repeat("A", 70)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := token.ParseRefreshToken(tt.in); !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("ParseRefreshToken(%q) = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestDeriveRefreshToken(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	id := newSessionID(t)
	parent, _ := token.NewRefreshToken(id)
	c1, err := token.DeriveRefreshToken(key, parent)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := token.DeriveRefreshToken(key, parent)
	if c1 != c2 {
		t.Fatal("derivation not deterministic")
	}
	if c1 == parent {
		t.Fatal("child equals parent")
	}
	if got, err := token.ParseRefreshToken(c1); err != nil || !bytes.Equal(got, id) {
		t.Fatalf("child names %x (%v), want %x", got, err, id)
	}
	grandchild, _ := token.DeriveRefreshToken(key, c1)
	if grandchild == c1 || grandchild == parent {
		t.Fatal("grandchild repeats an ancestor")
	}
	otherKey, _ := token.DeriveRefreshToken(bytes.Repeat([]byte{4}, 32), parent)
	if otherKey == c1 {
		t.Fatal("derivation ignores the key")
	}
	sibling, _ := token.NewRefreshToken(id)
	if c, _ := token.DeriveRefreshToken(key, sibling); c == c1 {
		t.Fatal("derivation ignores the parent secret")
	}
	if _, err := token.DeriveRefreshToken(key[:31], parent); !errors.Is(err, token.ErrWeakKey) {
		t.Errorf("short key: %v, want ErrWeakKey", err)
	}
	if _, err := token.DeriveRefreshToken(key, parent[:len(parent)-1]+"B"); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("bad parent: %v, want ErrMalformed", err)
	}
}
