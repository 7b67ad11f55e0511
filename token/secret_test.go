package token_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/token"
)

func TestCheckSecret(t *testing.T) {
	random := make([]byte, 32)
	rand.Read(random)
	long := make([]byte, 64)
	rand.Read(long)
	tests := []struct {
		name string
		key  []byte
		ok   bool
		says string // part of the error message
	}{
		{"random 32 bytes", random, true, ""},
		{"random 64 bytes", long, true, ""},
		{"text with 16 distinct bytes", []byte("0123456789abcdef0123456789abcdef"), true, ""},
		{"nil", nil, false, "0 bytes, need at least 32"},
		{"31 random bytes", random[:31], false, "31 bytes, need at least 32"},
		{"all zero", make([]byte, 32), false, "all 32 bytes are zero"},
		{"all zero, long", make([]byte, 64), false, "all 64 bytes are zero"},
		{"one byte repeated", bytes.Repeat([]byte{7}, 32), false, "one byte repeated 32 times"},
		{"two bytes alternating", bytes.Repeat([]byte{1, 2}, 16), false, "only 2 distinct byte values"},
		{"seven distinct values", bytes.Repeat([]byte("abcdefg"), 5), false, "only 7 distinct byte values"},
		{"eight distinct values", bytes.Repeat([]byte("abcdefgh"), 4), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := token.CheckSecret(tc.key)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, token.ErrWeakKey) {
				t.Fatalf("err = %v, want ErrWeakKey", err)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "/dev/urandom") {
				t.Fatalf("err = %q: want it to say %q and how to make a key", err, tc.says)
			}
			if len(tc.key) > 0 && strings.Contains(err.Error(), hex.EncodeToString(tc.key)) {
				t.Fatal("the error quotes the key")
			}
		})
	}
}

// TestDeriveKey pins the derivation: sessiond serve derives its keys from
// SESSIOND_MASTER_KEY with it, so a change would make every node of a new
// version disagree with the old ones (refresh tokens, CSRF tokens, the
// sealed key ring). The vectors were checked with OpenSSL's HKDF (openssl
// kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt key:... -kdfopt
// info:sessiond/v1/refresh HKDF).
func TestDeriveKey(t *testing.T) {
	master := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		purpose, want string
	}{
		{token.PurposeKeyRing, "4368c16cce204951b13d4a36beaa7ef560a66673044457009e861f75062df7c7"},
		{token.PurposeRefresh, "8bc83e2ec7d723dd0558d00cdfe1571fec51ba83b8b11cbda912fb2b03baa4da"},
		{token.PurposeCSRF, "a9df0df46dfd770b40080c41cf222bcd0afb1ffc13b24b31969685cc27895067"},
		{token.PurposeAuditHash, "976848b4d9bbbe419262ee656bdf40a9a47d041e5e36a011a8839b1e3ed8c977"},
	}
	for _, tc := range tests {
		t.Run(tc.purpose, func(t *testing.T) {
			if got := hex.EncodeToString(token.DeriveKey(master, tc.purpose)); got != tc.want {
				t.Fatalf("DeriveKey(%q) = %s, want %s", tc.purpose, got, tc.want)
			}
			if err := token.CheckSecret(token.DeriveKey(master, tc.purpose)); err != nil {
				t.Fatalf("a derived key fails CheckSecret: %v", err)
			}
		})
	}
}
