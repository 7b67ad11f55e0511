package sessiontest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// testManagerReauthenticate: Manager.Reauthenticate makes a session's
// auth time now with compare-and-set, so that racing with refreshes and
// data updates of the same session on two nodes it loses none of them (the
// last rotated refresh token still refreshes, every data key is kept) and
// the auth time sticks; and a session revoked on one node is never written
// back by the other, which may not have heard of the revocation yet.
func testManagerReauthenticate(t *testing.T, s session.Store) {
	n := newNodes(t, s)
	var offset atomic.Int64
	n.cfg.Now = func() time.Time { return Base.Add(time.Duration(offset.Load())) }
	a, b := n.start(t), n.start(t)
	ctx := t.Context()
	login := mustLogin(t, a, "alice")
	offset.Store(int64(time.Hour))
	at := Base.Add(time.Hour)

	// 4 of each: a writer that loses a compare-and-set lost it to another
	// writer's success, so none of the 11 others can make one of these lose
	// all 16 attempts of Update and Reauthenticate.
	const rounds = 4
	var wg sync.WaitGroup
	errs := make(chan error, 3*rounds)
	last := login.RefreshToken
	wg.Go(func() { // one client refreshing, in turn, alternating nodes
		for i := range rounds {
			node := []*session.Manager{a, b}[i%2]
			tk, err := node.Refresh(ctx, last, session.Meta{})
			if err != nil {
				errs <- err
				return
			}
			last = tk.RefreshToken
		}
	})
	for i := range rounds {
		node := []*session.Manager{a, b}[i%2]
		wg.Go(func() {
			if _, err := node.Reauthenticate(ctx, login.Session.ID, session.Meta{AuthMethod: "password"}); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			_, err := node.Update(ctx, login.Session.ID, func(s *session.Session) error { return s.Set("k"+strconv.Itoa(i), i) })
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing refreshes, data updates and re-authentications: %v", err)
	}
	if t.Failed() {
		return
	}
	rec := mustGet(t, s, login.Session.ID)
	if !rec.AuthTime.Equal(at) {
		t.Errorf("stored auth time %v, want %v", rec.AuthTime, at)
	}
	for i := range rounds {
		if _, ok := rec.Data["k"+strconv.Itoa(i)]; !ok {
			t.Errorf("data key k%d was lost to a re-authentication", i)
		}
	}
	tk, err := b.Refresh(ctx, last, session.Meta{})
	if err != nil {
		t.Fatalf("the last refresh token after the race: %v (a rotation was undone)", err)
	}
	id, err := a.Verify(ctx, tk.AccessToken)
	if err != nil || !id.AuthTime.Equal(at.Truncate(time.Second)) {
		t.Fatalf("a token refreshed after the re-authentication: %v, auth_time %v, want %v", err, id.AuthTime, at.Truncate(time.Second))
	}

	// Revoked on a: b, told or not yet, never writes it back.
	if err := a.Revoke(ctx, login.Session.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.Reauthenticate(context.WithoutCancel(ctx), login.Session.ID, session.Meta{})
	if !errors.Is(err, session.ErrNotFound) && !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("re-authenticating a revoked session on another node: %v, want ErrNotFound or ErrRevoked", err)
	}
	wantGone(t, s, login.Session.ID)
}
