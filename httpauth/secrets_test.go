package httpauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

func TestDeriveSecrets(t *testing.T) {
	master := make([]byte, 32)
	rand.Read(master)
	s, err := httpauth.DeriveSecrets(master)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		got     []byte
		purpose string
	}{{s.RefreshKey, token.PurposeRefresh}, {s.CSRFKey, token.PurposeCSRF}, {s.AuditKey, token.PurposeAuditHash}, {s.KeyRingKey, token.PurposeKeyRing}} {
		if !bytes.Equal(k.got, token.DeriveKey(master, k.purpose)) {
			t.Errorf("%s key is not the server's derivation", k.purpose)
		}
	}
	// The keys work where they go.
	keys, _ := token.NewKeyRing(token.EdDSA, time.Now())
	m, err := session.New(context.Background(), session.Config{Store: memstore.New(), Keys: keys, Issuer: "i", Audience: "a", RefreshKey: s.RefreshKey, RevocationPoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{Manager: m, CSRFKey: s.CSRFKey}); err != nil {
		t.Fatal(err)
	}
	for name, weak := range map[string][]byte{"all zero": make([]byte, 32), "short": master[:16], "repeated": bytes.Repeat([]byte{9}, 32)} {
		if _, err := httpauth.DeriveSecrets(weak); !errors.Is(err, token.ErrWeakKey) {
			t.Errorf("%s master key: %v", name, err)
		}
	}
}
