package redisstore_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/redisstore"
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

// TestSilentFeedIsReplaced: a node whose pub/sub connection goes silent
// without closing notices by its PING, says so, subscribes again and
// catches up on the revocation it missed, long before the 30 s reload.
func TestSilentFeedIsReplaced(t *testing.T) {
	direct := testenv.RedisURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	// The listening node's pool goes through the proxy too, and its
	// connections stall with the feed's: the catch-up's read on one of
	// them waits out the read timeout, set here as a node sets its store
	// deadline (go-redis's default is 3 s).
	q := u.Query()
	q.Set("read_timeout", liveDeadline.String())
	u.RawQuery = q.Encode()
	other, prefix := open(t, direct)
	var log testenv.LogBuffer
	deaf := openPrefix(t, u.String(), prefix, redisstore.WithFeedLiveness(liveInterval, liveDeadline), redisstore.WithLogger(log.Logger()))
	sessiontest.RunSilentFeed(t, deaf, other, proxy, within)
	if !log.Contains("revocation feed lost") || !log.Contains("revocation feed reconnected") {
		t.Fatalf("the silent feed and its recovery were not logged:\n%s", log.String())
	}
}

// TestFeedLivenessIsAnswered: on a single server and on a cluster (where
// the subscription lives on the master of the channel's slot), a quiet
// feed's pings are answered: it keeps hearing, with no reconnect.
func TestFeedLivenessIsAnswered(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := open(t, b.url(t), redisstore.WithFeedLiveness(50*time.Millisecond, liveDeadline))
			if err := s.SubscribeRevocations(t.Context(), func(session.Revocation) {}); err != nil {
				t.Fatal(err)
			}
			first := s.FeedStatus().LastHeard
			deadline := time.Now().Add(10 * time.Second)
			for !s.FeedStatus().LastHeard.After(first.Add(100 * time.Millisecond)) {
				if time.Now().After(deadline) {
					t.Fatalf("no reply to the feed's pings: %+v", s.FeedStatus())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if st := s.FeedStatus(); st.Err != nil || st.Reconnects != 0 {
				t.Fatalf("FeedStatus of a quiet, healthy feed = %+v", st)
			}
		})
	}
}
