package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/redisstore"
)

// TestPoolSize: pool_size in the store URL sizes the client's pool, on a
// single server (go-redis's own parameter) and per node of a cluster,
// and the store never opens more connections than that: with every
// connection taken a store call fails at its deadline, and goes through
// once one is back. Without it the pool holds DefaultPoolSize connections,
// on a single server and per cluster node.
func TestPoolSize(t *testing.T) {
	withQuery := func(u, q string) string {
		if strings.Contains(u, "?") {
			return u + "&" + q
		}
		return u + "?" + q
	}
	tests := []struct {
		name    string
		url     func(t testing.TB) string
		want    int
		cluster bool
	}{
		{"single-default", testenv.RedisURL, redisstore.DefaultPoolSize(), false},
		{"single-pool_size", func(t testing.TB) string { return withQuery(testenv.RedisURL(t), "pool_size=2") }, 2, false},
		{"cluster-default", testenv.RedisClusterURL, redisstore.DefaultPoolSize(), true},
		{"cluster-pool_size", func(t testing.TB) string { return withQuery(testenv.RedisClusterURL(t), "pool_size=2") }, 2, true},
	}
	if d := redisstore.DefaultPoolSize(); d < 64 {
		t.Fatalf("DefaultPoolSize() = %d, want at least 64", d)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t, tt.url(t))
			ctx := t.Context()
			r := sessiontest.NewRecord("u", 0)
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			// The client of the session's node: the whole client on a
			// single server, the master of the session's slot on a cluster.
			var node *redis.Client
			switch c := s.Client().(type) {
			case *redis.Client:
				if tt.cluster {
					t.Fatal("a single-server client for a cluster URL")
				}
				node = c
			case *redis.ClusterClient:
				var err error
				if node, err = c.MasterForKey(ctx, "x:{"+r.ID+"}"); err != nil {
					t.Fatal(err)
				}
			}
			if got := node.Options().PoolSize; got != tt.want {
				t.Fatalf("PoolSize = %d, want %d", got, tt.want)
			}
			// Many calls at once never open more than the pool holds.
			var wg sync.WaitGroup
			for range 3 * tt.want {
				wg.Go(func() {
					if _, err := s.Get(ctx, r.ID); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := node.PoolStats().TotalConns; int(got) > tt.want {
				t.Fatalf("%d connections open, pool_size %d", got, tt.want)
			}
			if tt.want > 2 {
				return
			}
			// Take every connection (a dedicated Conn holds one from the
			// pool while it has run a command and is not closed).
			held := make([]*redis.Conn, 0, tt.want)
			for range tt.want {
				c := node.Conn()
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if _, err := s.Get(short, r.ID); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get with all %d connections taken = %v, want the deadline", tt.want, err)
			}
			held[0].Close()
			if _, err := s.Get(ctx, r.ID); err != nil {
				t.Fatalf("Get once a connection is back: %v", err)
			}
			for _, c := range held[1:] {
				c.Close()
			}
		})
	}
}
