package node_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/store/redisstore"
)

// feedStore is a store whose feed health the test sets.
type feedStore struct {
	*memstore.Store
	mu sync.Mutex
	st session.FeedStatus
}

func (s *feedStore) FeedStatus() session.FeedStatus { s.mu.Lock(); defer s.mu.Unlock(); return s.st }
func (s *feedStore) set(st session.FeedStatus)      { s.mu.Lock(); s.st = st; s.mu.Unlock() }

// metric returns the value of the named gauge or counter, or fails.
func metric(t *testing.T, n *node.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// FeedHealth is an error until Run listens, then what the store's feed
// says; /metrics has the feed's silence and reconnects.
func TestFeedHealthAndMetrics(t *testing.T) {
	ctx := context.Background()
	st := &feedStore{Store: memstore.New()}
	heard := time.Now().Add(-42 * time.Second)
	st.set(session.FeedStatus{LastHeard: heard, Reconnects: 3})
	n, err := node.Open(ctx, cfg(st, &clock{t: time.Now()}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.FeedHealth(); err == nil {
		t.Fatal("FeedHealth before Run = nil; the node is not listening yet")
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- n.Run(runCtx) }()
	defer func() { stop(); <-ran }()
	<-n.Running()
	if err := n.FeedHealth(); err != nil {
		t.Fatalf("FeedHealth of a hearing node = %v", err)
	}
	if s := metric(t, n, "sessiond_revocation_feed_silence_seconds"); s < 42 || s > 42+60 {
		t.Fatalf("silence = %v s, want about 42", s)
	}
	if r := metric(t, n, "sessiond_revocation_feed_reconnects_total"); r != 3 {
		t.Fatalf("reconnects = %v, want 3", r)
	}

	deaf := errors.New("no reply to PING")
	st.set(session.FeedStatus{LastHeard: heard, Err: deaf, Reconnects: 3})
	if err := n.FeedHealth(); !errors.Is(err, deaf) {
		t.Fatalf("FeedHealth of a deaf feed = %v, want it to wrap the feed's error", err)
	}
	st.set(session.FeedStatus{LastHeard: time.Now(), Reconnects: 4})
	if err := n.FeedHealth(); err != nil {
		t.Fatalf("FeedHealth after the feed reconnected = %v", err)
	}
	if r := metric(t, n, "sessiond_revocation_feed_reconnects_total"); r != 4 {
		t.Fatalf("reconnects = %v, want 4", r)
	}
}

// The embedded stores' feeds are in-process and never deaf.
func TestInProcessFeedIsHealthy(t *testing.T) {
	var f session.FeedHealth = memstore.New()
	if st := f.FeedStatus(); st.Err != nil || st.LastHeard.IsZero() {
		t.Fatalf("memstore FeedStatus = %+v", st)
	}
}

// The node's logger reaches its store: a feed connection that breaks is
// logged in the node's log, and so is its recovery. A private Redis, so
// that killing its pub/sub clients disturbs no other test.
func TestFeedLossIsLoggedByTheNode(t *testing.T) {
	ctx := context.Background()
	p := testenv.StartRedis(t)
	var log testenv.LogBuffer
	c := cfg(nil, &clock{t: time.Now()})
	c.Backend, c.Store, c.Now, c.Logger = nil, p.URL(), nil, log.Logger()
	n, err := node.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- n.Run(runCtx) }()
	defer func() { stop(); <-ran }()
	<-n.Running()
	admin := redis.NewClient(&redis.Options{Addr: p.Addr()})
	defer admin.Close()
	if killed, err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || killed != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want 1 killed", killed, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !log.Contains("revocation feed lost") || !log.Contains("revocation feed reconnected") {
		if time.Now().After(deadline) {
			t.Fatalf("the node's log does not tell of the lost feed:\n%s", log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.FeedHealth(); err != nil {
		t.Fatalf("FeedHealth after the feed reconnected = %v", err)
	}
}

// Two nodes on one Redis, one of them through a proxy that stalls: while
// its feed cannot hear, that node's FeedHealth says so and its silence
// metric grows; within seconds (not the 30 s re-read) it has heard the
// revocation the other node made meanwhile, and FeedHealth is nil again,
// one reconnect counted.
func TestSilentFeedMakesTheNodeUnhealthyUntilCaughtUp(t *testing.T) {
	ctx := context.Background()
	direct := testenv.RedisURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	u.RawQuery = "read_timeout=500ms" // the pool stalls too; see redisstore's TestSilentFeedIsReplaced
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "sdtest-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		o, err := redis.ParseURL(direct)
		if err != nil {
			t.Error(err)
			return
		}
		c := redis.NewClient(o)
		defer c.Close()
		keys, _ := c.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	open := func(url string, opts ...redisstore.Option) *node.Node {
		s, err := redisstore.Open(ctx, url, append(opts, redisstore.WithPrefix(prefix))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c := cfg(s, &clock{t: time.Now()})
		c.Shared = true
		n, err := node.Open(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- n.Run(runCtx) }()
		t.Cleanup(func() { stop(); <-ran; n.Close() })
		<-n.Running()
		return n
	}
	speaker := open(direct)
	listener := open(u.String(), redisstore.WithFeedLiveness(200*time.Millisecond, 500*time.Millisecond))

	tk, err := speaker.Manager().Login(ctx, "ann", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := listener.FeedHealth(); err != nil {
		t.Fatalf("FeedHealth before the stall = %v", err)
	}
	proxy.Stall()
	start := time.Now()
	if err := speaker.Manager().Revoke(ctx, tk.Session.ID); err != nil {
		t.Fatal(err)
	}
	var deaf error
	var silence float64
	for {
		if err := listener.FeedHealth(); err != nil && deaf == nil {
			deaf = err
			silence = metric(t, listener, "sessiond_revocation_feed_silence_seconds")
		}
		if deaf != nil && listener.FeedHealth() == nil && listener.Manager().Revoked(tk.Session.ID) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10 s after the stall: FeedHealth %v, revoked %v (deaf: %v)", listener.FeedHealth(), listener.Manager().Revoked(tk.Session.ID), deaf)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("FeedHealth said %q; silence then %.2f s; healthy and revoked after %v", deaf, silence, time.Since(start))
	if !errors.Is(deaf, session.ErrStore) || silence < 0.5 {
		t.Fatalf("while deaf: FeedHealth %v, silence %v s", deaf, silence)
	}
	if r := metric(t, listener, "sessiond_revocation_feed_reconnects_total"); r != 1 {
		t.Fatalf("reconnects = %v, want 1", r)
	}
}
