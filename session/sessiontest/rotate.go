package sessiontest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

const (
	grace = 10 * time.Second
	hold  = time.Hour
)

func rotateReq(presented, next []byte, now time.Time) session.RotateRequest {
	return session.RotateRequest{
		Presented:     presented,
		Next:          next,
		NextChild:     NewHash(),
		Now:           now,
		Grace:         grace,
		IdleExpiresAt: now.Add(24 * time.Hour),
		RevokeHold:    hold,
	}
}

func mustRotate(t *testing.T, s session.Store, id string, req session.RotateRequest, want session.RotateOutcome) *session.Record {
	t.Helper()
	out, r, err := s.Rotate(t.Context(), id, req)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if out != want {
		t.Fatalf("Rotate = %v, want %v", out, want)
	}
	return r
}

func testRotate(t *testing.T, s session.Store) {
	t0 := Base.Add(time.Minute) // the first rotation

	t.Run("rotated", func(t *testing.T) {
		orig := NewRecord("u", 0)
		mustCreate(t, s, orig.Clone())
		next := NewHash()
		req := rotateReq(orig.RefreshHash, next, t0)
		want := orig.Clone()
		want.PrevRefreshHash = orig.RefreshHash
		want.RefreshHash = next
		want.NextRefreshHash = req.NextChild
		want.RotatedAt = t0
		want.LastSeenAt = t0
		want.IdleExpiresAt = req.IdleExpiresAt

		got := mustRotate(t, s, orig.ID, req, session.Rotated)
		if got == nil {
			t.Fatal("Rotated returned no record")
		}
		mustSame(t, got, want)
		if got.Version != 2 {
			t.Fatalf("returned Version = %d, want 2", got.Version)
		}
		stored := mustGet(t, s, orig.ID)
		mustSame(t, stored, want)
		if stored.Version != 2 {
			t.Fatalf("stored Version = %d, want 2", stored.Version)
		}
		// The returned record is the caller's own.
		got.RefreshHash[0] ^= 0xff
		mustSame(t, mustGet(t, s, orig.ID), want)
	})

	// chain creates a session and rotates it once at t0 from h0 to h1.
	chain := func(t *testing.T) (r *session.Record, h0, h1 []byte) {
		t.Helper()
		r = NewRecord("u", 0)
		mustCreate(t, s, r.Clone())
		h0, h1 = r.RefreshHash, NewHash()
		mustRotate(t, s, r.ID, rotateReq(h0, h1, t0), session.Rotated)
		return mustGet(t, s, r.ID), h0, h1
	}

	graceCases := []struct {
		name  string
		after time.Duration // since the rotation
	}{
		{"at-once", 0},
		{"within", grace / 2},
		{"last-moment", grace - time.Microsecond},
	}
	for _, tc := range graceCases {
		t.Run("grace-replay/"+tc.name, func(t *testing.T) {
			before, h0, h1 := chain(t)
			// The replay's own Next differs: a GraceReplay does not
			// rotate. It marks the current token reissued (handed out
			// twice) and bumps Version, once.
			want := before.Clone()
			want.RefreshReissued = true
			got := mustRotate(t, s, before.ID, rotateReq(h0, NewHash(), t0.Add(tc.after)), session.GraceReplay)
			mustSame(t, got, want)
			after := mustGet(t, s, before.ID)
			mustSame(t, after, want)
			if after.Version != before.Version+1 {
				t.Fatalf("first GraceReplay: Version %d -> %d, want +1", before.Version, after.Version)
			}
			mustRotate(t, s, before.ID, rotateReq(h0, NewHash(), t0.Add(tc.after)), session.GraceReplay)
			again := mustGet(t, s, before.ID)
			mustSame(t, again, want)
			if again.Version != after.Version {
				t.Fatalf("second GraceReplay changed Version %d -> %d", after.Version, again.Version)
			}
			if !bytes.Equal(again.RefreshHash, h1) {
				t.Fatal("GraceReplay changed the current token")
			}
			wantNotRevoked(t, s, t0, before.ID)
		})
	}

	// A parent handed out once whose child was never used stays valid
	// however late: its holder lost the answer to the refresh.
	for _, after := range []time.Duration{grace, grace + time.Hour, 5 * time.Hour} {
		t.Run("lost-answer/after-"+after.String(), func(t *testing.T) {
			before, h0, h1 := chain(t)
			now := t0.Add(after)
			want := before.Clone()
			want.RefreshReissued = true
			got := mustRotate(t, s, before.ID, rotateReq(h0, NewHash(), now), session.GraceReplay)
			mustSame(t, got, want)
			// Retried again, still the same child; Version moved once.
			mustRotate(t, s, before.ID, rotateReq(h0, NewHash(), now.Add(time.Hour)), session.GraceReplay)
			if v := mustGet(t, s, before.ID).Version; v != before.Version+1 {
				t.Fatalf("Version %d after two late replays, want %d", v, before.Version+1)
			}
			wantNotRevoked(t, s, now, before.ID)
			// The child then rotates as usual, and the parent is dead.
			h2 := NewHash()
			now = now.Add(2 * time.Hour)
			got = mustRotate(t, s, before.ID, rotateReq(h1, h2, now), session.Rotated)
			if !bytes.Equal(got.RefreshHash, h2) || !bytes.Equal(got.PrevRefreshHash, h1) ||
				got.RefreshReissued || !got.PrevRefreshReissued {
				t.Fatalf("rotation of a reissued child: cur %x prev %x reissued %v prev reissued %v",
					got.RefreshHash, got.PrevRefreshHash, got.RefreshReissued, got.PrevRefreshReissued)
			}
			mustRotate(t, s, before.ID, rotateReq(h0, NewHash(), now.Add(time.Second)), session.Reused)
			wantGone(t, s, before.ID)
			wantRevoked(t, s, now.Add(time.Second), before.ID, now.Add(time.Second+hold))
		})
	}

	// A store that acknowledged a rotation and then lost it (Redis with
	// appendfsync everysec after an OS crash, a failover to a replica that
	// lagged, a restored snapshot) holds the token before it, while the
	// client holds the child: the record's NextRefreshHash. The client
	// resumes; the token the store still holds is then theft as usual.
	t.Run("resumed/first-rotation-lost", func(t *testing.T) {
		r := NewRecord("u", 0) // the state after login; the rotation to r.NextRefreshHash was lost
		mustCreate(t, s, r.Clone())
		lost := r.NextRefreshHash
		req := rotateReq(lost, NewHash(), t0)
		want := r.Clone()
		want.PrevRefreshHash = lost
		want.RefreshHash = req.Next
		want.NextRefreshHash = req.NextChild
		want.RotatedAt, want.LastSeenAt, want.IdleExpiresAt = t0, t0, req.IdleExpiresAt
		got := mustRotate(t, s, r.ID, req, session.Resumed)
		mustSame(t, got, want)
		stored := mustGet(t, s, r.ID)
		mustSame(t, stored, want)
		if stored.Version != 2 {
			t.Fatalf("Version after Resumed = %d, want 2", stored.Version)
		}
		wantNotRevoked(t, s, t0, r.ID)
		// Its answer lost too: the resumed token is a parent handed out once.
		mustRotate(t, s, r.ID, rotateReq(lost, NewHash(), t0.Add(time.Hour)), session.GraceReplay)
		// The token the store had kept is older than both: theft.
		now := t0.Add(2 * time.Hour)
		mustRotate(t, s, r.ID, rotateReq(r.RefreshHash, NewHash(), now), session.Reused)
		wantGone(t, s, r.ID)
		wantRevoked(t, s, now, r.ID, now.Add(hold))
	})
	t.Run("resumed/later-rotation-lost", func(t *testing.T) {
		r := NewRecord("u", 0)
		mustCreate(t, s, r.Clone())
		req := rotateReq(r.RefreshHash, NewHash(), t0)
		mustRotate(t, s, r.ID, req, session.Rotated)
		// The store keeps this state and loses the next rotation, whose
		// child the client holds: req.NextChild.
		got := mustRotate(t, s, r.ID, rotateReq(req.NextChild, NewHash(), t0.Add(time.Hour)), session.Resumed)
		if !bytes.Equal(got.PrevRefreshHash, req.NextChild) || got.PrevRefreshReissued || got.RefreshReissued {
			t.Fatalf("after Resumed: prev %x (want %x) prev reissued %v reissued %v",
				got.PrevRefreshHash, req.NextChild, got.PrevRefreshReissued, got.RefreshReissued)
		}
		// The child of a child is not resumed: only one lost step is told apart.
		r2 := NewRecord("u", 0)
		mustCreate(t, s, r2.Clone())
		mustRotate(t, s, r2.ID, rotateReq(NewHash(), NewHash(), t0), session.Reused)
		wantGone(t, s, r2.ID)
	})
	// A record written before NextRefreshHash existed cannot resume, and
	// an empty presented hash never matches its empty NextRefreshHash.
	t.Run("resumed/none-stored", func(t *testing.T) {
		r := NewRecord("u", 0)
		r.NextRefreshHash = nil
		mustCreate(t, s, r.Clone())
		mustSame(t, mustGet(t, s, r.ID), r)
		mustRotate(t, s, r.ID, rotateReq(nil, NewHash(), t0), session.Reused)
		wantGone(t, s, r.ID)
	})

	// Once the child has been used, the parent is theft however soon
	// after the grace window it comes.
	t.Run("reused/parent-after-child-used", func(t *testing.T) {
		r, h0, h1 := chain(t)
		t1 := t0.Add(time.Hour)
		mustRotate(t, s, r.ID, rotateReq(h1, NewHash(), t1), session.Rotated)
		mustRotate(t, s, r.ID, rotateReq(h0, NewHash(), t1.Add(time.Hour)), session.Reused)
		wantGone(t, s, r.ID)
		wantRevoked(t, s, t1.Add(time.Hour), r.ID, t1.Add(time.Hour+hold))
	})

	// A parent that was handed out twice (a replay of its own parent: a
	// thief and the owner each hold it) is valid only within the grace
	// window: after it, the second of them to refresh is a reuse, though
	// the child was never used.
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  session.RotateOutcome
	}{
		{"within-grace", grace - time.Microsecond, session.GraceReplay},
		{"at-grace-end", grace, session.Reused},
		{"after-grace", grace + time.Hour, session.Reused},
	} {
		t.Run("reissued-parent/"+tc.name, func(t *testing.T) {
			r, h0, h1 := chain(t)
			mustRotate(t, s, r.ID, rotateReq(h0, NewHash(), t0.Add(time.Hour)), session.GraceReplay) // h1 handed out again
			t1 := t0.Add(2 * time.Hour)
			mustRotate(t, s, r.ID, rotateReq(h1, NewHash(), t1), session.Rotated) // one holder of h1 refreshes
			now := t1.Add(tc.after)
			mustRotate(t, s, r.ID, rotateReq(h1, NewHash(), now), tc.want) // the other
			if tc.want == session.Reused {
				wantGone(t, s, r.ID)
				wantRevoked(t, s, now, r.ID, now.Add(hold))
			}
		})
	}

	// A command that reaches the store after its caller's deadline
	// changes nothing, whatever it presents: no rotation, no replay mark,
	// no revocation.
	t.Run("deadline-passed", func(t *testing.T) {
		before, h0, h1 := chain(t)
		for _, presented := range [][]byte{h1, h0, NewHash()} {
			for _, now := range []time.Time{t0, t0.Add(time.Hour)} {
				req := rotateReq(presented, NewHash(), now)
				req.Deadline = time.Now().Add(-time.Second)
				out, got, err := s.Rotate(t.Context(), before.ID, req)
				if !errors.Is(err, session.ErrStore) || !errors.Is(err, session.ErrDeadline) {
					t.Fatalf("Rotate after its deadline = %v, %v, %v; want ErrDeadline (an ErrStore)", out, got, err)
				}
			}
		}
		after := mustGet(t, s, before.ID)
		mustSame(t, after, before)
		if after.Version != before.Version {
			t.Fatalf("Rotate after its deadline changed Version %d -> %d", before.Version, after.Version)
		}
		wantNotRevoked(t, s, t0, before.ID)
		// A deadline still ahead does not stand in the way.
		req := rotateReq(h1, NewHash(), t0.Add(time.Minute))
		req.Deadline = time.Now().Add(time.Minute)
		mustRotate(t, s, before.ID, req, session.Rotated)
	})

	// The reissued marks are data like any other: Create and Update keep
	// them.
	t.Run("reissued-marks-stored", func(t *testing.T) {
		r := NewRecord("u", 0)
		r.PrevRefreshHash, r.RotatedAt = NewHash(), Base
		r.RefreshReissued, r.PrevRefreshReissued = true, true
		mustCreate(t, s, r.Clone())
		got := mustGet(t, s, r.ID)
		mustSame(t, got, r)
		got.RefreshReissued, got.PrevRefreshReissued = false, true
		got.NextRefreshHash = NewHash()
		if err := s.Update(t.Context(), got); err != nil {
			t.Fatalf("Update: %v", err)
		}
		mustSame(t, mustGet(t, s, r.ID), got)
	})

	reuseCases := []struct {
		name    string
		present func(h0, h1 []byte) []byte
		after   time.Duration
	}{
		{"random-within-grace", func(_, _ []byte) []byte { return NewHash() }, time.Second},
		{"random-later", func(_, _ []byte) []byte { return NewHash() }, time.Hour},
		{"flipped-bit", func(_, h1 []byte) []byte { b := bytes.Clone(h1); b[31] ^= 1; return b }, time.Second},
		{"truncated", func(_, h1 []byte) []byte { return h1[:16] }, time.Second},
		{"empty", func(_, _ []byte) []byte { return nil }, time.Second},
	}
	for _, tc := range reuseCases {
		t.Run("reused/"+tc.name, func(t *testing.T) {
			r, h0, h1 := chain(t)
			now := t0.Add(tc.after)
			if got := mustRotate(t, s, r.ID, rotateReq(tc.present(h0, h1), NewHash(), now), session.Reused); got != nil {
				t.Logf("Reused returned a record (ignored): %v", got.ID)
			}
			wantGone(t, s, r.ID)
			wantRevoked(t, s, now, r.ID, now.Add(hold))
			if rs, _ := s.ListUser(t.Context(), r.UserID); containsID(rs, r.ID) {
				t.Fatal("reused session still listed")
			}
			// The current token is dead with it.
			if _, _, err := s.Rotate(t.Context(), r.ID, rotateReq(h1, NewHash(), now)); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("Rotate after reuse = %v, want ErrNotFound", err)
			}
		})
	}

	t.Run("reused/never-rotated", func(t *testing.T) {
		r := NewRecord("u", 0)
		mustCreate(t, s, r.Clone())
		mustRotate(t, s, r.ID, rotateReq(NewHash(), NewHash(), t0), session.Reused)
		wantGone(t, s, r.ID)
		wantRevoked(t, s, t0, r.ID, t0.Add(hold))
	})

	// A session stored without a refresh hash has no token: an empty
	// presented hash does not match it (session.Decide), it is a reuse.
	t.Run("reused/empty-against-none", func(t *testing.T) {
		r := NewRecord("u", 0)
		r.RefreshHash = nil
		mustCreate(t, s, r.Clone())
		for _, presented := range [][]byte{nil, {}} {
			if out := session.Decide(mustGet(t, s, r.ID), rotateReq(presented, NewHash(), t0)); out != session.Reused {
				t.Fatalf("session.Decide = %v, want Reused", out)
			}
		}
		mustRotate(t, s, r.ID, rotateReq(nil, NewHash(), t0), session.Reused)
		wantGone(t, s, r.ID)
	})

	t.Run("chain", func(t *testing.T) {
		// h0 -> h1 -> h2; then the grandparent h0 is a reuse even within grace.
		r, h0, h1 := chain(t)
		h2 := NewHash()
		t1 := t0.Add(time.Second)
		got := mustRotate(t, s, r.ID, rotateReq(h1, h2, t1), session.Rotated)
		if !bytes.Equal(got.PrevRefreshHash, h1) || !bytes.Equal(got.RefreshHash, h2) || got.Version != 3 {
			t.Fatalf("second rotation: prev %x cur %x version %d", got.PrevRefreshHash, got.RefreshHash, got.Version)
		}
		mustRotate(t, s, r.ID, rotateReq(h1, NewHash(), t1.Add(time.Second)), session.GraceReplay)
		mustRotate(t, s, r.ID, rotateReq(h0, NewHash(), t1.Add(time.Second)), session.Reused)
		wantGone(t, s, r.ID)
	})

	expiredCases := []struct {
		name string
		edit func(r *session.Record)
		now  time.Time
	}{
		{"idle", func(r *session.Record) { r.IdleExpiresAt = Base.Add(time.Hour) }, Base.Add(2 * time.Hour)},
		{"idle-exactly", func(r *session.Record) { r.IdleExpiresAt = Base.Add(time.Hour) }, Base.Add(time.Hour)},
		{"absolute", func(r *session.Record) { r.AbsExpiresAt = Base.Add(time.Hour) }, Base.Add(2 * time.Hour)},
		{"absolute-exactly", func(r *session.Record) { r.AbsExpiresAt = Base.Add(time.Hour) }, Base.Add(time.Hour)},
	}
	for _, tc := range expiredCases {
		t.Run("expired/"+tc.name, func(t *testing.T) {
			r := NewRecord("u", 0)
			tc.edit(r)
			mustCreate(t, s, r.Clone())
			for _, presented := range [][]byte{r.RefreshHash, NewHash()} {
				out, got, err := s.Rotate(t.Context(), r.ID, rotateReq(presented, NewHash(), tc.now))
				if !errors.Is(err, session.ErrNotFound) {
					t.Fatalf("Rotate of an expired session = %v, %v, %v; want ErrNotFound", out, got, err)
				}
			}
			// Nothing was rotated.
			if got, err := s.Get(t.Context(), r.ID); err == nil && !bytes.Equal(got.RefreshHash, r.RefreshHash) {
				t.Fatal("Rotate changed an expired session")
			}
		})
	}
}

func containsID(rs []*session.Record, id string) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}

func testRotateConcurrent(t *testing.T, s session.Store) {
	const n = 32
	now := Base.Add(time.Minute)
	cases := []struct {
		name     string
		sameNext bool
	}{
		{"same-next", true},
		{"different-next", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecord("u", 0)
			mustCreate(t, s, r.Clone())
			shared := NewHash()
			nexts := make([][]byte, n)
			for i := range nexts {
				if tc.sameNext {
					nexts[i] = shared
				} else {
					nexts[i] = NewHash()
				}
			}
			outs := make([]session.RotateOutcome, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					outs[i], _, errs[i] = s.Rotate(t.Context(), r.ID, rotateReq(r.RefreshHash, nexts[i], now))
				})
			}
			close(start)
			wg.Wait()

			winner := -1
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("goroutine %d: Rotate: %v", i, errs[i])
				}
				switch outs[i] {
				case session.Rotated:
					if winner >= 0 {
						t.Fatalf("goroutines %d and %d both Rotated", winner, i)
					}
					winner = i
				case session.GraceReplay:
				default:
					t.Fatalf("goroutine %d: %v, want Rotated or GraceReplay", i, outs[i])
				}
			}
			if winner < 0 {
				t.Fatal("no goroutine Rotated")
			}
			got := mustGet(t, s, r.ID)
			if !bytes.Equal(got.RefreshHash, nexts[winner]) {
				t.Fatalf("stored RefreshHash %x is not the winner's Next %x", got.RefreshHash, nexts[winner])
			}
			if !bytes.Equal(got.PrevRefreshHash, r.RefreshHash) {
				t.Fatalf("stored PrevRefreshHash %x, want the presented %x", got.PrevRefreshHash, r.RefreshHash)
			}
			// One rotation, and the replays' one mark of the child as
			// handed out more than once.
			if got.Version != 3 || !got.RefreshReissued {
				t.Fatalf("Version = %d, RefreshReissued = %v after one rotation and its replays, want 3, true",
					got.Version, got.RefreshReissued)
			}
		})
	}
}
