package node_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/token"
)

// TestParseMasterKey: SESSIOND_MASTER_KEY is 32 bytes in base64, and one
// anyone could guess (all zero, one byte repeated) is refused, since every
// key sessiond derives from it would be known too.
func TestParseMasterKey(t *testing.T) {
	good := []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")
	tests := []struct {
		name, in string
		weak     bool // refused as token.ErrWeakKey
		ok       bool
	}{
		{"standard base64", base64.StdEncoding.EncodeToString(good), false, true},
		{"URL base64 without padding, newline", base64.RawURLEncoding.EncodeToString(good) + "\n", false, true},
		{"not base64", "not base64!", false, false},
		{"16 bytes", base64.StdEncoding.EncodeToString(good[:16]), false, false},
		{"all zero", base64.StdEncoding.EncodeToString(make([]byte, 32)), true, false},
		{"one byte repeated", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32))), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := node.ParseMasterKey(tc.in)
			if tc.ok {
				if err != nil || string(k) != string(good) {
					t.Fatalf("got %q, %v", k, err)
				}
				return
			}
			if !errors.Is(err, node.ErrConfig) || errors.Is(err, token.ErrWeakKey) != tc.weak {
				t.Fatalf("err = %v: want ErrConfig, weak key %v", err, tc.weak)
			}
		})
	}
}

// TestDeriveKeyIsTokens: the node derives with token.DeriveKey, which
// library users call to get the same keys from the same master key.
func TestDeriveKeyIsTokens(t *testing.T) {
	master := []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")
	for _, p := range []string{token.PurposeKeyRing, token.PurposeRefresh, token.PurposeCSRF, token.PurposeAuditHash} {
		if string(node.DeriveKey(master, p)) != string(token.DeriveKey(master, p)) {
			t.Fatalf("%s: node and token derive different keys", p)
		}
	}
}
