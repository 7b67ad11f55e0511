package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/session"
)

// Errors say each thing once: a wrapped sentinel keeps its "session: "
// prefix and no wrapper repeats it ("session: session: revoked").
func TestErrorsDoNotStutter(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	a := login(t, m, "alice")
	if err := m.Revoke(ctx, a.Session.ID); err != nil {
		t.Fatal(err)
	}
	_, errUpdate := m.Update(ctx, a.Session.ID, func(*session.Session) error { return nil })
	_, errGet := m.Get(ctx, a.Session.ID)
	_, errRefresh := m.Refresh(ctx, a.RefreshToken, session.Meta{})
	_, errVerify := m.Verify(ctx, a.AccessToken)
	_, errLogin := m.Login(ctx, "", session.Meta{})
	for name, err := range map[string]error{"update": errUpdate, "get": errGet, "refresh": errRefresh, "verify": errVerify, "login": errLogin} {
		if err == nil {
			t.Fatalf("%s of a revoked session succeeded", name)
		}
		if strings.Count(err.Error(), "session:") > 1 {
			t.Errorf("%s: %q stutters", name, err)
		}
	}
	if !errors.Is(errUpdate, session.ErrRevoked) && !errors.Is(errUpdate, session.ErrNotFound) {
		t.Fatalf("update: %v", errUpdate)
	}
}
