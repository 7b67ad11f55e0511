package sessiontest

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Link is what a test does to the connections between a store client and
// its server; testenv.Proxy does it.
type Link interface {
	// Stall stops forwarding on the connections open now, both ways,
	// keeping them open; new connections get through.
	Stall()
	// Resume forwards on them again.
	Resume()
}

// RunSilentFeed states what a store whose revocation feed runs over a
// connection (one that implements session.FeedHealth) must do when that
// connection goes silent without closing. deaf and other are two clients
// of one store (two nodes); deaf reaches its server through link, and its
// liveness check must be set short enough to act within within. When the
// link stalls and the other node revokes a session at once (so the
// message is lost on the stalled connection):
//
//   - deaf's FeedStatus reports an error, wrapping session.ErrStore,
//     while it cannot hear;
//   - within within, deaf's Manager knows the session as revoked (its
//     feed noticed, connected again and caught up; the Managers' periodic
//     reload is off) and FeedStatus is healthy again, one reconnect
//     counted;
//   - after the link resumes, a new revocation arrives by the feed.
//
// within is the only reading of the wall clock that judges speed: it
// should be a few times the liveness interval plus deadline, and far under
// the 30 s periodic reload the check replaces.
func RunSilentFeed(t *testing.T, deaf, other session.Store, link Link, within time.Duration) {
	t.Helper()
	health, ok := deaf.(session.FeedHealth)
	if !ok {
		t.Fatalf("%T does not implement session.FeedHealth", deaf)
	}
	n := newNodes(t, other)
	speaker := n.start(t)
	n.cfg.Store = deaf
	listener := n.start(t)

	tk := mustLogin(t, speaker, "ann")
	if _, err := listener.Verify(t.Context(), tk.AccessToken); err != nil {
		t.Fatalf("the listening node refuses a live token: %v", err)
	}
	if st := health.FeedStatus(); st.Err != nil || st.LastHeard.IsZero() || st.Reconnects != 0 {
		t.Fatalf("FeedStatus of a fresh subscription = %+v", st)
	}

	link.Stall()
	start := time.Now()
	if err := speaker.Revoke(t.Context(), tk.Session.ID); err != nil {
		t.Fatal(err)
	}
	var noticed, recovered time.Duration
	for {
		st := health.FeedStatus()
		if st.Err != nil && noticed == 0 {
			noticed = time.Since(start)
			if !errors.Is(st.Err, session.ErrStore) {
				t.Errorf("FeedStatus().Err = %v, want it to wrap session.ErrStore", st.Err)
			}
		}
		if st.Err == nil && noticed != 0 && listener.Revoked(tk.Session.ID) {
			recovered = time.Since(start)
			if st.Reconnects != 1 {
				t.Errorf("Reconnects = %d after one silent connection, want 1", st.Reconnects)
			}
			break
		}
		if time.Since(start) > within {
			t.Fatalf("%v after the link stalled: FeedStatus %+v, revoked on the listening node: %v (noticed after %v)",
				within, st, listener.Revoked(tk.Session.ID), noticed)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("silent feed noticed after %v; revocation heard and feed healthy after %v", noticed, recovered)
	if _, err := listener.Verify(t.Context(), tk.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("the listening node still accepts a revoked session's token: %v", err)
	}

	link.Resume()
	tk2 := mustLogin(t, speaker, "bob")
	if err := speaker.Revoke(t.Context(), tk2.Session.ID); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, listener, tk2.Session.ID)
	if st := health.FeedStatus(); st.Err != nil {
		t.Fatalf("FeedStatus after the link resumed = %+v", st)
	}
}
