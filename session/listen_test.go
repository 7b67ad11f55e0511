package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// A passive Manager (what a one-shot admin command opens) hears no
// revocation feed until it Listens; it still loads what the store remembers
// at New, and its own revocations bite on it at once.
func TestPassiveManagerListensOnlyWhenAsked(t *testing.T) {
	f := newFixture(t)
	node1 := f.manager(t, nil)
	early := login(t, node1, "alice")
	if err := node1.Revoke(ctx, early.Session.ID); err != nil {
		t.Fatal(err)
	}
	passive := f.manager(t, func(c *session.Config) { c.Passive = true })
	if !passive.Revoked(early.Session.ID) {
		t.Fatal("a passive Manager did not load the revocations the store remembers")
	}

	listening := f.manager(t, nil)
	a := login(t, node1, "alice")
	if err := node1.Revoke(ctx, a.Session.ID); err != nil {
		t.Fatal(err)
	}
	// A listening Manager hears it through the feed; by then the passive
	// one would have too, were it subscribed.
	waitRevoked(t, listening, a.Session.ID)
	if passive.Revoked(a.Session.ID) {
		t.Fatal("a passive Manager heard the revocation feed")
	}

	if err := passive.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	if !passive.Revoked(a.Session.ID) {
		t.Fatal("Listen did not load what was revoked before it")
	}
	b := login(t, node1, "alice")
	if err := node1.Revoke(ctx, b.Session.ID); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, passive, b.Session.ID)
	if err := passive.Listen(ctx); err == nil {
		t.Fatal("a second Listen succeeded")
	}

	own := login(t, passive, "bob")
	if err := passive.Revoke(ctx, own.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := passive.Verify(ctx, own.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("own revocation on a passive Manager: %v", err)
	}
}

// By default a user keeps at most DefaultMaxSessionsPerUser live sessions:
// the 101st login ends the oldest; NoSessionCap lifts the cap.
func TestDefaultSessionCap(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	first := login(t, m, "alice")
	for range session.DefaultMaxSessionsPerUser {
		f.clock.Advance(time.Millisecond) // "oldest" is by creation time
		login(t, m, "alice")
	}
	list, err := m.List(ctx, "alice")
	if err != nil || len(list) != session.DefaultMaxSessionsPerUser {
		t.Fatalf("%d live sessions, %v", len(list), err)
	}
	if _, err := m.Verify(ctx, first.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("the oldest session outlived the cap: %v", err)
	}
	free := f.manager(t, func(c *session.Config) { c.Policy.MaxSessionsPerUser = session.NoSessionCap })
	for range session.DefaultMaxSessionsPerUser + 1 {
		login(t, free, "bob")
	}
	if list, _ := free.List(ctx, "bob"); len(list) != session.DefaultMaxSessionsPerUser+1 {
		t.Fatalf("NoSessionCap still capped: %d", len(list))
	}
}
