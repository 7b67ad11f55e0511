package redislimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/ratelimittest"
	"github.com/sessiond/sessiond/ratelimit/redislimit"
)

var backends = []struct {
	name   string
	client func(t testing.TB) redis.UniversalClient
}{
	{"single", func(t testing.TB) redis.UniversalClient {
		o, err := redis.ParseURL(testenv.RedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		return redis.NewClient(o)
	}},
	{"cluster", func(t testing.TB) redis.UniversalClient {
		u := testenv.RedisClusterURL(t)
		o, err := redis.ParseClusterURL("redis://" + firstNode(u))
		if err != nil {
			t.Fatal(err)
		}
		return redis.NewClusterClient(o)
	}},
}

// firstNode returns the first seed node of a redis-cluster:// URL.
func firstNode(clusterURL string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(clusterURL, "redis-cluster://"), ",")
	return first
}

// newClient returns a client and a fresh prefix whose keys are deleted
// when the test ends.
func newClient(t testing.TB, mk func(testing.TB) redis.UniversalClient) (redis.UniversalClient, string) {
	t.Helper()
	c := mk(t)
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "rltest-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		del := func(ctx context.Context, n *redis.Client) error {
			it := n.Scan(ctx, 0, prefix+":*", 500).Iterator()
			for it.Next(ctx) {
				n.Del(ctx, it.Val())
			}
			return it.Err()
		}
		var err error
		switch c := c.(type) {
		case *redis.ClusterClient:
			err = c.ForEachMaster(ctx, del)
		case *redis.Client:
			err = del(ctx, c)
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c, prefix
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ratelimittest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Limiter {
				c, prefix := newClient(t, b.client)
				return redislimit.New(c, prefix, redislimit.WithClock(now))
			})
		})
	}
}

func TestFailureConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ratelimittest.RunFailures(t, func(t *testing.T, now func() time.Time) ratelimit.FailureLimiter {
				c, prefix := newClient(t, b.client)
				return redislimit.New(c, prefix, redislimit.WithClock(now))
			})
		})
	}
}

// TestFailureServerClock: without WithClock the failure side judges by
// Redis's TIME too, and a key lives as long as its failures are
// remembered.
func TestFailureServerClock(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c, prefix := newClient(t, b.client)
			l := redislimit.New(c, prefix)
			bo := ratelimit.Backoff{Free: 1, Base: time.Hour, Max: 2 * time.Hour, Decay: 3 * time.Hour}
			for i := range 2 {
				if _, err := l.Fail(t.Context(), "k", bo); err != nil {
					t.Fatalf("fail %d: %v", i, err)
				}
			}
			w, err := l.Blocked(t.Context(), "k")
			if err != nil || w <= 59*time.Minute || w > time.Hour {
				t.Fatalf("Blocked = %v, %v; want just under an hour", w, err)
			}
			ttl, err := c.PTTL(t.Context(), prefix+":bo:{k}").Result()
			if err != nil || ttl <= 5*time.Hour+59*time.Minute || ttl > 6*time.Hour {
				t.Fatalf("PTTL = %v, %v; want about 6h (two failures of 3h)", ttl, err)
			}
		})
	}
}

// TestServerClock: without WithClock the script judges by Redis's TIME.
// A long interval keeps the test independent of how fast it runs.
func TestServerClock(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c, prefix := newClient(t, b.client)
			l := redislimit.New(c, prefix)
			lim := ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 2}
			for i, wantAllowed := range []bool{true, true, true, false, false} {
				d, err := l.Allow(t.Context(), "k", lim)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != wantAllowed {
					t.Fatalf("call %d: %+v, want allowed %v", i, d, wantAllowed)
				}
				if !d.Allowed && (d.RetryAfter <= 59*time.Minute || d.RetryAfter > time.Hour) {
					t.Fatalf("call %d: RetryAfter %v, want just under an hour", i, d.RetryAfter)
				}
			}
			// The key lives exactly as long as its TAT is ahead.
			ttl, err := c.PTTL(t.Context(), prefix+":rl:{k}").Result()
			if err != nil || ttl <= 2*time.Hour+59*time.Minute || ttl > 3*time.Hour {
				t.Fatalf("PTTL = %v, %v; want about 3h", ttl, err)
			}
		})
	}
}

// TestBackendDown: with Redis gone, Allow fails with ErrBackend and a
// denial, never an allowance.
func TestBackendDown(t *testing.T) {
	p := testenv.StartRedis(t)
	o, err := redis.ParseURL(p.URL() + "?max_retries=-1&dial_timeout=200ms")
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	l := redislimit.New(c, "x")
	lim := ratelimit.PerSecond(10, 0)
	if d, err := l.Allow(t.Context(), "k", lim); err != nil || !d.Allowed {
		t.Fatalf("with the server up: %+v, %v", d, err)
	}
	p.Kill()
	d, err := l.Allow(t.Context(), "k", lim)
	if !errors.Is(err, redislimit.ErrBackend) || d.Allowed {
		t.Fatalf("with the server down: %+v, %v; want a denial wrapping ErrBackend", d, err)
	}
	bo := ratelimit.Backoff{Free: 1, Base: time.Second, Max: time.Minute, Decay: time.Minute}
	if _, err := l.Blocked(t.Context(), "k"); !errors.Is(err, redislimit.ErrBackend) {
		t.Fatalf("Blocked with the server down: %v; want ErrBackend", err)
	}
	if _, err := l.Fail(t.Context(), "k", bo); !errors.Is(err, redislimit.ErrBackend) {
		t.Fatalf("Fail with the server down: %v; want ErrBackend", err)
	}
	if err := l.Forget(t.Context(), "k"); !errors.Is(err, redislimit.ErrBackend) {
		t.Fatalf("Forget with the server down: %v; want ErrBackend", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Allow(ctx, "k", lim); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
	if _, err := l.Fail(ctx, "k", bo); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fail cancelled: %v, want context.Canceled", err)
	}
}

func BenchmarkAllow(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			c, prefix := newClient(b, be.client)
			l := redislimit.New(c, prefix)
			lim := ratelimit.PerSecond(1_000_000_000, 0)
			for b.Loop() {
				if _, err := l.Allow(b.Context(), "k", lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
