package session_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// The session id is no secret: it is the sid claim of every access token
// (readable by any resource server the token is sent to) and it is listed
// on the devices page. Knowing it must not let anyone end the session: a
// refresh token that names the session but was not issued by this server
// (a valid checksum is easy, it is CRC32-C) is refused as invalid, before
// the store is asked, and is not taken for a stolen token whose reuse
// revokes the session.
func TestForgedRefreshTokenCannotRevokeTheSession(t *testing.T) {
	f := newFixture(t)
	counting := &countingStore{Store: f.store}
	m := f.manager(t, func(c *session.Config) { c.Store = counting })
	victim := login(t, m, "alice")
	id, err := m.Verify(ctx, victim.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := base64.RawURLEncoding.DecodeString(id.SessionID) // from the token's sid claim
	if err != nil {
		t.Fatal(err)
	}
	before := counting.reads.Load()
	for range 3 {
		forged, err := token.NewRefreshToken(bytes.Repeat([]byte{1}, 32), sid)
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Refresh(ctx, forged, session.Meta{})
		if !errors.Is(err, session.ErrInvalidToken) || errors.Is(err, session.ErrReused) {
			t.Fatalf("forged refresh token: %v; want ErrInvalidToken, not ErrReused", err)
		}
	}
	if n := counting.reads.Load() - before; n != 0 {
		t.Fatalf("forged refresh tokens reached the store %d times", n)
	}
	if _, err := m.Verify(ctx, victim.AccessToken); err != nil {
		t.Fatalf("victim's access token after the forgeries: %v", err)
	}
	if _, err := m.Refresh(ctx, victim.RefreshToken, session.Meta{}); err != nil {
		t.Fatalf("victim's refresh token after the forgeries: %v", err)
	}
}
