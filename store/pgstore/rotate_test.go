package pgstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/pgstore"
)

// TestRotateTakesOneStatement: rotating the current token is decided by
// the one UPDATE ... RETURNING, never by sessiond_rotate; every other
// outcome (a replay within grace, a resumed session, reuse, a deadline
// passed, a session gone) goes to sessiond_rotate, and comes out as the
// conformance suite wants it.
func TestRotateTakesOneStatement(t *testing.T) {
	s := open(t, freshSchema(t))
	ctx := t.Context()
	r := sessiontest.NewRecord("u", 0)
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	now := sessiontest.Base
	req := func(presented, next []byte) session.RotateRequest {
		now = now.Add(time.Second)
		return session.RotateRequest{Presented: presented, Next: next, NextChild: sessiontest.NewHash(), Now: now,
			Grace: 10 * time.Second, IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
			Deadline: time.Now().Add(time.Minute)}
	}
	cur := r.RefreshHash
	var prev, child []byte
	for i := range 5 {
		next := sessiontest.NewHash()
		rq := req(cur, next)
		out, got, err := s.Rotate(ctx, r.ID, rq)
		if err != nil || out != session.Rotated || string(got.RefreshHash) != string(next) || string(got.NextRefreshHash) != string(rq.NextChild) {
			t.Fatalf("rotation %d: %v, %+v, %v", i, out, got, err)
		}
		prev, cur, child = cur, next, rq.NextChild
	}
	if n := pgstore.SlowRotations(s); n != 0 {
		t.Fatalf("%d of 5 rotations of the current token went to sessiond_rotate", n)
	}
	steps := []struct {
		name      string
		presented []byte
		deadline  time.Time
		want      session.RotateOutcome
		wantErr   error
	}{
		{"replay within grace", prev, time.Time{}, session.GraceReplay, nil},
		{"deadline passed", cur, time.Now().Add(-time.Second), 0, session.ErrDeadline},
		{"resumed (the stored child of the current token)", child, time.Time{}, session.Resumed, nil},
		{"reuse", sessiontest.NewHash(), time.Time{}, session.Reused, nil},
		{"session gone", cur, time.Time{}, 0, session.ErrNotFound},
	}
	for i, st := range steps {
		rq := req(st.presented, sessiontest.NewHash())
		if !st.deadline.IsZero() {
			rq.Deadline = st.deadline
		}
		out, _, err := s.Rotate(ctx, r.ID, rq)
		if out != st.want || (st.wantErr == nil) != (err == nil) || (st.wantErr != nil && !errors.Is(err, st.wantErr)) {
			t.Fatalf("%s: %v, %v; want %v, %v", st.name, out, err, st.want, st.wantErr)
		}
		if n := pgstore.SlowRotations(s); n != int64(i+1) {
			t.Fatalf("%s: sessiond_rotate decided %d calls, want %d", st.name, n, i+1)
		}
	}
}
