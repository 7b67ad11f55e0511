package sessiontest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

func testExpiry(t *testing.T, s session.Store) {
	ctx := t.Context()
	now := Base.Add(2 * time.Hour)
	mk := func(user string, idle, abs time.Duration) *session.Record {
		r := NewRecord(user, 0)
		r.IdleExpiresAt = Base.Add(idle)
		r.AbsExpiresAt = Base.Add(abs)
		mustCreate(t, s, r)
		return r
	}
	idleDead := mk("u", time.Hour, 7*24*time.Hour)
	absDead := mk("u", 24*time.Hour, time.Hour)
	idleAtNow := mk("u", 2*time.Hour, 7*24*time.Hour) // dead at exactly now
	absAtNow := mk("u", 24*time.Hour, 2*time.Hour)
	live := mk("u", 2*time.Hour+time.Microsecond, 7*24*time.Hour)
	otherLive := mk("v", 3*time.Hour, 7*24*time.Hour)
	otherDead := mk("v", time.Minute, 7*24*time.Hour)
	dead := []*session.Record{idleDead, absDead, idleAtNow, absAtNow, otherDead}

	// Two revocations: one over before now, one still running.
	oldRev, newRev := mk("w", 24*time.Hour, 48*time.Hour), mk("w", 24*time.Hour, 48*time.Hour)
	if ok, err := s.Delete(ctx, oldRev.ID, now.Add(-time.Second)); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, err := s.Delete(ctx, newRev.ID, now.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}

	n, err := s.DeleteExpired(ctx, now)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != len(dead) {
		t.Errorf("DeleteExpired = %d, want %d", n, len(dead))
	}
	t.Run("dead-gone", func(t *testing.T) {
		for _, r := range dead {
			wantGone(t, s, r.ID)
		}
	})
	t.Run("live-kept", func(t *testing.T) {
		mustSame(t, mustGet(t, s, live.ID), live)
		mustSame(t, mustGet(t, s, otherLive.ID), otherLive)
	})
	t.Run("index", func(t *testing.T) {
		for user, want := range map[string][]string{"u": {live.ID}, "v": {otherLive.ID}, "w": nil} {
			rs, err := s.ListUser(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(rs); !slices.Equal(got, want) {
				t.Errorf("ListUser(%s) = %v, want %v", user, got, want)
			}
		}
	})
	t.Run("revocations", func(t *testing.T) {
		// Asked about a time before the sweep, the store shows what it
		// still remembers: the finished revocation is forgotten.
		revs := revocationsAt(t, s, Base)
		if _, ok := revs[oldRev.ID]; ok {
			t.Error("revocation whose Until passed is still kept")
		}
		if _, ok := revs[newRev.ID]; !ok {
			t.Error("running revocation was forgotten")
		}
		// Sweeping deletes nothing that was already revoked from the count.
		for _, r := range dead {
			if _, ok := revs[r.ID]; ok {
				t.Errorf("expiry of %s recorded a revocation", r.ID)
			}
		}
	})
	t.Run("again", func(t *testing.T) {
		if n, err := s.DeleteExpired(ctx, now); n != 0 || err != nil {
			t.Fatalf("second DeleteExpired = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("many", func(t *testing.T) {
		// More than one small batch, mixed with live sessions.
		const m = 150
		var keep []string
		for i := range m {
			r := NewRecord("many", time.Duration(i)*time.Microsecond)
			if i%3 == 0 {
				r.IdleExpiresAt = now.Add(time.Hour)
				keep = append(keep, r.ID)
			} else {
				r.IdleExpiresAt = now.Add(-time.Duration(i) * time.Microsecond)
			}
			mustCreate(t, s, r)
		}
		n, err := s.DeleteExpired(ctx, now)
		if err != nil || n != m-len(keep) {
			t.Fatalf("DeleteExpired = %d, %v; want %d", n, err, m-len(keep))
		}
		rs, err := s.ListUser(ctx, "many")
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(rs); !slices.Equal(got, keep) {
			t.Fatalf("left %d sessions, want %d", len(got), len(keep))
		}
	})
}

func testRevoke(t *testing.T, s session.Store) {
	ctx := t.Context()
	until := Base.Add(time.Hour)
	a1, a2, a3, a4 := NewRecord("alice", time.Minute), NewRecord("alice", 2*time.Minute), NewRecord("alice", 3*time.Minute), NewRecord("alice", 4*time.Minute)
	b1 := NewRecord("bob", 0)
	for _, r := range []*session.Record{a1, a2, a3, a4, b1} {
		mustCreate(t, s, r)
	}
	listed := func(t *testing.T, user string) []string {
		t.Helper()
		rs, err := s.ListUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return ids(rs)
	}

	t.Run("delete-one", func(t *testing.T) {
		ok, err := s.Delete(ctx, a1.ID, until)
		if !ok || err != nil {
			t.Fatalf("Delete = %v, %v; want true, nil", ok, err)
		}
		wantGone(t, s, a1.ID)
		wantRevoked(t, s, Base, a1.ID, until)
		wantRevoked(t, s, until.Add(-time.Microsecond), a1.ID, until)
		wantNotRevoked(t, s, until, a1.ID)
		wantNotRevoked(t, s, until.Add(time.Hour), a1.ID)
		if got := listed(t, "alice"); !slices.Equal(got, []string{a2.ID, a3.ID, a4.ID}) {
			t.Fatalf("ListUser = %v", got)
		}
	})
	t.Run("delete-again", func(t *testing.T) {
		// A missing session records nothing, not even a later Until.
		ok, err := s.Delete(ctx, a1.ID, until.Add(5*time.Hour))
		if ok || err != nil {
			t.Fatalf("second Delete = %v, %v; want false, nil", ok, err)
		}
		wantNotRevoked(t, s, until.Add(time.Hour), a1.ID)
	})
	t.Run("all-but-one", func(t *testing.T) {
		gone, err := s.DeleteUser(ctx, "alice", a3.ID, until)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sorted(gone), sorted([]string{a2.ID, a4.ID}); !slices.Equal(got, want) {
			t.Fatalf("DeleteUser removed %v, want %v", got, want)
		}
		if got := listed(t, "alice"); !slices.Equal(got, []string{a3.ID}) {
			t.Fatalf("ListUser = %v, want only the kept one", got)
		}
		wantGone(t, s, a2.ID)
		wantGone(t, s, a4.ID)
		mustGet(t, s, a3.ID)
		wantRevoked(t, s, Base, a2.ID, until)
		wantRevoked(t, s, Base, a4.ID, until)
		wantNotRevoked(t, s, Base, a3.ID)
	})
	t.Run("all", func(t *testing.T) {
		gone, err := s.DeleteUser(ctx, "alice", "", until)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gone, []string{a3.ID}) {
			t.Fatalf("DeleteUser removed %v, want [%s]", gone, a3.ID)
		}
		if got := listed(t, "alice"); len(got) != 0 {
			t.Fatalf("ListUser = %v, want none", got)
		}
		wantRevoked(t, s, Base, a3.ID, until)
		if gone, err := s.DeleteUser(ctx, "alice", "", until); err != nil || len(gone) != 0 {
			t.Fatalf("DeleteUser of nobody's sessions = %v, %v", gone, err)
		}
	})
	t.Run("except-of-another-user", func(t *testing.T) {
		c1 := NewRecord("carol", 0)
		mustCreate(t, s, c1)
		gone, err := s.DeleteUser(ctx, "carol", b1.ID, until)
		if err != nil || !slices.Equal(gone, []string{c1.ID}) {
			t.Fatalf("DeleteUser = %v, %v; want [%s]", gone, err, c1.ID)
		}
	})
	t.Run("others-untouched", func(t *testing.T) {
		mustSame(t, mustGet(t, s, b1.ID), b1)
		if got := listed(t, "bob"); !slices.Equal(got, []string{b1.ID}) {
			t.Fatalf("ListUser(bob) = %v", got)
		}
		wantNotRevoked(t, s, Base, b1.ID)
	})
}

func testFeed(t *testing.T, s session.Store) {
	feed, ok := s.(session.RevocationFeed)
	if !ok {
		t.Skip("store does not implement session.RevocationFeed")
	}
	ctx := t.Context()
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan session.Revocation, 100)
	if err := feed.SubscribeRevocations(subCtx, func(r session.Revocation) { events <- r }); err != nil {
		t.Fatalf("SubscribeRevocations: %v", err)
	}
	// A second subscriber stays to the end.
	stays := make(chan session.Revocation, 100)
	if err := feed.SubscribeRevocations(ctx, func(r session.Revocation) { stays <- r }); err != nil {
		t.Fatalf("SubscribeRevocations: %v", err)
	}
	next := func(t *testing.T, ch <-chan session.Revocation) session.Revocation {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(eventWait):
			t.Fatal("no revocation event arrived")
			return session.Revocation{}
		}
	}
	want := func(t *testing.T, wantIDs []string, until time.Time) {
		t.Helper()
		for _, ch := range []<-chan session.Revocation{events, stays} {
			var got []string
			for range wantIDs {
				r := next(t, ch)
				if !r.Until.Equal(until) {
					t.Fatalf("event for %s until %v, want %v", r.SessionID, r.Until, until)
				}
				got = append(got, r.SessionID)
			}
			if !slices.Equal(sorted(got), sorted(wantIDs)) {
				t.Fatalf("events for %v, want %v", got, wantIDs)
			}
		}
	}
	until := Base.Add(time.Hour)

	t.Run("delete", func(t *testing.T) {
		r := NewRecord("u", 0)
		mustCreate(t, s, r)
		// Deleting a missing session records nothing, so the next event
		// is the real delete's.
		if _, err := s.Delete(ctx, NewID(), until); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete(ctx, r.ID, until); err != nil {
			t.Fatal(err)
		}
		want(t, []string{r.ID}, until)
	})
	t.Run("delete-user", func(t *testing.T) {
		r1, r2, keep := NewRecord("v", 0), NewRecord("v", time.Minute), NewRecord("v", 2*time.Minute)
		for _, r := range []*session.Record{r1, r2, keep} {
			mustCreate(t, s, r)
		}
		if _, err := s.DeleteUser(ctx, "v", keep.ID, until); err != nil {
			t.Fatal(err)
		}
		want(t, []string{r1.ID, r2.ID}, until)
	})
	t.Run("reused", func(t *testing.T) {
		r := NewRecord("w", 0)
		mustCreate(t, s, r)
		now := Base.Add(time.Minute)
		mustRotate(t, s, r.ID, rotateReq(NewHash(), NewHash(), now), session.Reused)
		want(t, []string{r.ID}, now.Add(hold))
	})
	t.Run("no-event-for-expiry-or-rotation", func(t *testing.T) {
		r := NewRecord("x", 0)
		mustCreate(t, s, r)
		mustRotate(t, s, r.ID, rotateReq(r.RefreshHash, NewHash(), Base), session.Rotated)
		if _, err := s.DeleteExpired(ctx, r.AbsExpiresAt); err != nil {
			t.Fatal(err)
		}
		// Events arrive in order, so the next one is this delete's.
		last := NewRecord("x", 0)
		mustCreate(t, s, last)
		if _, err := s.Delete(ctx, last.ID, until); err != nil {
			t.Fatal(err)
		}
		want(t, []string{last.ID}, until)
	})
	t.Run("after-cancel", func(t *testing.T) {
		cancel()
		r := NewRecord("y", 0)
		mustCreate(t, s, r)
		if _, err := s.Delete(ctx, r.ID, until); err != nil {
			t.Fatal(err)
		}
		if got := next(t, stays); got.SessionID != r.ID {
			t.Fatalf("event for %s, want %s", got.SessionID, r.ID)
		}
		// The absence of a call can only be seen by waiting a little; a
		// short wait can miss a late call but never fails a good store.
		select {
		case got := <-events:
			t.Fatalf("cancelled subscriber called for %s", got.SessionID)
		case <-time.After(50 * time.Millisecond):
		}
	})
	t.Run("subscribe-cancelled", func(t *testing.T) {
		dead, stop := context.WithCancel(ctx)
		stop()
		err := feed.SubscribeRevocations(dead, func(session.Revocation) {})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("SubscribeRevocations(cancelled) = %v; want nil or context.Canceled", err)
		}
	})
}
