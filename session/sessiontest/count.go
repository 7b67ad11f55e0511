package sessiontest

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// sessionCounter is the optional interface behind the active-sessions
// metric.
type sessionCounter interface {
	CountSessions(ctx context.Context, now time.Time) (int64, error)
}

// testCount: a store that counts live sessions counts exactly those alive
// at now: not the expired, not the deleted.
func testCount(t *testing.T, s session.Store) {
	c, ok := s.(sessionCounter)
	if !ok {
		t.Skip("the store does not count sessions (optional)")
	}
	ctx := t.Context()
	a := NewRecord("count-a", 0)
	b := NewRecord("count-a", time.Minute)
	short := NewRecord("count-b", 0)
	short.IdleExpiresAt = Base.Add(time.Hour)
	gone := NewRecord("count-b", 0)
	for _, r := range []*session.Record{a, b, short, gone} {
		mustCreate(t, s, r)
	}
	if _, err := s.Delete(ctx, gone.ID, Base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{Base.Add(time.Second), 3},
		{Base.Add(time.Hour), 2}, // short is dead at exactly its expiry
		{Base.Add(8 * 24 * time.Hour), 0},
	} {
		n, err := c.CountSessions(ctx, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Fatalf("CountSessions at +%v = %d, want %d", tc.at.Sub(Base), n, tc.want)
		}
	}
}
