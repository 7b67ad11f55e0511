package token_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/token"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// refKey is the refresh key of the tests (a server secret in real use).
var refKey = bytes.Repeat([]byte{3}, 32)

func newSessionID(t testing.TB) []byte {
	id := make([]byte, 16)
	rand.Read(id)
	return id
}

func TestRefreshRoundTrip(t *testing.T) {
	id := newSessionID(t)
	a, err := token.NewRefreshToken(refKey, id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := token.NewRefreshToken(refKey, id)
	if a == b {
		t.Fatal("two refresh tokens for one session are equal")
	}
	if !strings.HasPrefix(a, token.RefreshPrefix) || len(a) != 96 {
		t.Fatalf("token %q: want prefix %q and 96 chars", a, token.RefreshPrefix)
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
		if _, err := token.NewRefreshToken(refKey, make([]byte, n)); !errors.Is(err, token.ErrMalformed) {
			t.Errorf("%d-byte session id: %v, want ErrMalformed", n, err)
		}
	}
}

// TestRefreshEveryCorruptedCharacter replaces each character of a genuine
// token with every other character of the alphabet (and a few outside it).
func TestRefreshEveryCorruptedCharacter(t *testing.T) {
	tok, err := token.NewRefreshToken(refKey, newSessionID(t))
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
	good, _ := token.NewRefreshToken(refKey, newSessionID(t))
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
		{"right length, zeros", token.RefreshPrefix + strings.Repeat("A", 91)},
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
	key := refKey
	id := newSessionID(t)
	parent, _ := token.NewRefreshToken(refKey, id)
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
	sibling, _ := token.NewRefreshToken(refKey, id)
	if c, _ := token.DeriveRefreshToken(key, sibling); c == c1 {
		t.Fatal("derivation ignores the parent secret")
	}
	if _, err := token.NewRefreshToken(key[:31], id); !errors.Is(err, token.ErrWeakKey) {
		t.Errorf("NewRefreshToken, short key: %v, want ErrWeakKey", err)
	}
	if _, err := token.DeriveRefreshToken(key[:31], parent); !errors.Is(err, token.ErrWeakKey) {
		t.Errorf("short key: %v, want ErrWeakKey", err)
	}
	if _, err := token.DeriveRefreshToken(key, parent[:len(parent)-1]+"B"); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("bad parent: %v, want ErrMalformed", err)
	}
}

// forgeRefresh makes a token in the refresh format by hand, as an attacker who
// knows a session id can: any secret and tag, and a correct CRC32-C (the
// checksum guards against typos, not forgery).
func forgeRefresh(id, secret, tag []byte) string {
	body := slices.Concat(id, secret, tag)
	c := crc32.Update(0, crc32.MakeTable(crc32.Castagnoli), []byte(token.RefreshPrefix))
	c = crc32.Update(c, crc32.MakeTable(crc32.Castagnoli), body)
	return token.RefreshPrefix + base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint32(body, c))
}

func TestVerifyRefreshToken(t *testing.T) {
	id := newSessionID(t)
	good, err := token.NewRefreshToken(refKey, id)
	if err != nil {
		t.Fatal(err)
	}
	child, err := token.DeriveRefreshToken(refKey, good)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"new": good, "derived": child} {
		got, err := token.VerifyRefreshToken(refKey, tok)
		if err != nil || !bytes.Equal(got, id) {
			t.Fatalf("%s: VerifyRefreshToken = %x, %v; want %x", name, got, err, id)
		}
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good[len(token.RefreshPrefix):])
	secret, tag := raw[16:48], raw[48:64]
	otherKey := bytes.Repeat([]byte{4}, 32)
	underOther, _ := token.NewRefreshToken(otherKey, id)
	flipped := bytes.Clone(tag)
	flipped[15] ^= 1
	forgeries := map[string]string{
		"zero tag":          forgeRefresh(id, secret, make([]byte, 16)),
		"one bit of tag":    forgeRefresh(id, secret, flipped),
		"tag of other id":   forgeRefresh(newSessionID(t), secret, tag),
		"tag, other secret": forgeRefresh(id, bytes.Repeat([]byte{7}, 32), tag),
		"other key":         underOther,
	}
	for name, tok := range forgeries {
		t.Run(name, func(t *testing.T) {
			if _, err := token.ParseRefreshToken(tok); err != nil {
				t.Fatalf("the forgery does not even parse (%v): the test proves nothing", err)
			}
			if _, err := token.VerifyRefreshToken(refKey, tok); !errors.Is(err, token.ErrSignature) {
				t.Fatalf("VerifyRefreshToken = %v, want ErrSignature", err)
			}
			if _, err := token.DeriveRefreshToken(refKey, tok); !errors.Is(err, token.ErrSignature) {
				t.Fatalf("DeriveRefreshToken = %v, want ErrSignature", err)
			}
			if _, _, _, err := token.RefreshLineage(refKey, tok); !errors.Is(err, token.ErrSignature) {
				t.Fatalf("RefreshLineage = %v, want ErrSignature", err)
			}
		})
	}
	if _, err := token.VerifyRefreshToken(refKey[:31], good); !errors.Is(err, token.ErrWeakKey) {
		t.Errorf("short key: %v, want ErrWeakKey", err)
	}
	if _, err := token.VerifyRefreshToken(refKey, good[:len(good)-1]); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("truncated: %v, want ErrMalformed", err)
	}
}

// TestRefreshLineage: RefreshLineage answers what VerifyRefreshToken and
// two DeriveRefreshToken calls answer, for fresh and derived tokens, and
// refuses what they refuse.
func TestRefreshLineage(t *testing.T) {
	id := newSessionID(t)
	fresh, _ := token.NewRefreshToken(refKey, id)
	derived, _ := token.DeriveRefreshToken(refKey, fresh)
	for name, parent := range map[string]string{"new": fresh, "derived": derived} {
		t.Run(name, func(t *testing.T) {
			gotID, child, grandchild, err := token.RefreshLineage(refKey, parent)
			if err != nil {
				t.Fatal(err)
			}
			wantChild, _ := token.DeriveRefreshToken(refKey, parent)
			wantGrandchild, _ := token.DeriveRefreshToken(refKey, wantChild)
			if !bytes.Equal(gotID, id) || child != wantChild || grandchild != wantGrandchild {
				t.Fatalf("RefreshLineage = %x, %s, %s; want %x, %s, %s", gotID, child, grandchild, id, wantChild, wantGrandchild)
			}
			for _, tok := range []string{child, grandchild} {
				if got, err := token.VerifyRefreshToken(refKey, tok); err != nil || !bytes.Equal(got, id) {
					t.Fatalf("a derived token does not verify: %x, %v", got, err)
				}
			}
		})
	}
	for _, tt := range []struct {
		name string
		key  []byte
		tok  string
		want error
	}{
		{"short key", refKey[:31], fresh, token.ErrWeakKey},
		{"truncated", refKey, fresh[:len(fresh)-1], token.ErrMalformed},
		{"one character changed", refKey, flipLast(fresh), token.ErrMalformed},
		{"other key", bytes.Repeat([]byte{4}, 32), fresh, token.ErrSignature},
		{"empty", refKey, "", token.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if gotID, c, g, err := token.RefreshLineage(tt.key, tt.tok); !errors.Is(err, tt.want) || gotID != nil || c != "" || g != "" {
				t.Fatalf("RefreshLineage = %x, %q, %q, %v; want nothing and %v", gotID, c, g, err, tt.want)
			}
		})
	}
}

// flipLast changes the last character of tok (its checksum's).
func flipLast(tok string) string {
	last := "A"
	if strings.HasSuffix(tok, "A") {
		last = "Q"
	}
	return tok[:len(tok)-1] + last
}
