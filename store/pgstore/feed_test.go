package pgstore_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/pgstore"
)

// Liveness settings of the feed tests: short, so that they run in a
// second or two.
const (
	liveInterval = 200 * time.Millisecond
	liveDeadline = 500 * time.Millisecond
	// within bounds how long a silent feed may take to be noticed,
	// replaced and caught up: generous (a loaded machine), and far under
	// the 30 s periodic reload it must beat.
	within = 3*(liveInterval+liveDeadline) + 2*time.Second
)

// TestSilentFeedIsReplaced: a node whose LISTEN connection goes silent
// without closing notices by its SELECT 1, says so, listens again and
// catches up on the revocation it missed, long before the 30 s reload.
// Everything of that node (its pool too) goes through the stalled proxy.
func TestSilentFeedIsReplaced(t *testing.T) {
	direct := testenv.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":5432"
	}
	proxy := testenv.NewProxy(t, host)
	u.Host = proxy.Addr()
	schema := freshSchema(t)
	other := open(t, schema)
	var log testenv.LogBuffer
	deaf, err := pgstore.Open(context.Background(), u.String(), pgstore.WithSchema(schema),
		pgstore.WithFeedLiveness(liveInterval, liveDeadline), pgstore.WithLogger(log.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deaf.Close() })
	sessiontest.RunSilentFeed(t, deaf, other, proxy, within)
	if !log.Contains("revocation feed lost") || !log.Contains("revocation feed reconnected") {
		t.Fatalf("the silent feed and its recovery were not logged:\n%s", log.String())
	}
}

// TestFeedLivenessIsAnswered: a quiet listener's checks are answered: it
// keeps hearing, with no reconnect.
func TestFeedLivenessIsAnswered(t *testing.T) {
	s := open(t, freshSchema(t), pgstore.WithFeedLiveness(50*time.Millisecond, liveDeadline))
	if err := s.SubscribeRevocations(t.Context(), func(session.Revocation) {}); err != nil {
		t.Fatal(err)
	}
	first := s.FeedStatus().LastHeard
	deadline := time.Now().Add(10 * time.Second)
	for !s.FeedStatus().LastHeard.After(first.Add(100 * time.Millisecond)) {
		if time.Now().After(deadline) {
			t.Fatalf("no answer to the listener's checks: %+v", s.FeedStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.FeedStatus(); st.Err != nil || st.Reconnects != 0 {
		t.Fatalf("FeedStatus of a quiet, healthy listener = %+v", st)
	}
}
