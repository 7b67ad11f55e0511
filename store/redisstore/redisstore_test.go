package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/account/accounttest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/redisstore"
)

// backends are the two real deployments every contract test runs against.
var backends = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"single", testenv.RedisURL},
	{"cluster", testenv.RedisClusterURL},
}

// randomPrefix isolates one test's keys from every other's.
func randomPrefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "sdtest-" + hex.EncodeToString(b)
}

// open opens a Store with a fresh prefix; when the test ends it deletes
// the prefix's keys (SCAN on every master) and closes the store.
func open(t testing.TB, url string, opts ...redisstore.Option) (*redisstore.Store, string) {
	t.Helper()
	prefix := randomPrefix()
	s := openPrefix(t, url, prefix, opts...)
	t.Cleanup(func() { deleteKeys(t, s.Client(), prefix) })
	return s, prefix
}

// openPrefix opens another Store on an existing prefix (another node).
func openPrefix(t testing.TB, url, prefix string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(t.Context(), url, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func deleteKeys(t testing.TB, c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	del := func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, prefix+":*", 500).Iterator()
		for iter.Next(ctx) {
			if err := node.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, del)
	case *redis.Client:
		err = del(ctx, c)
	}
	if err != nil {
		t.Errorf("cleanup of %s: %v", prefix, err)
	}
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			sessiontest.Run(t, func(t *testing.T) session.Store {
				s, _ := open(t, url)
				return s
			})
		})
	}
}

func TestAccounts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			accounttest.Run(t, func(t *testing.T) account.Store {
				s, _ := open(t, url)
				return s
			})
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		opts      []redisstore.Option
		wantStore bool // the error wraps session.ErrStore (unreachable)
	}{
		{"unknown-scheme", "memcached://127.0.0.1:11211", nil, false},
		{"not-a-url", "127.0.0.1:6379", nil, false},
		{"bad-db", "redis://127.0.0.1:6379/x", nil, false},
		{"cluster-bad-node", "redis-cluster://127.0.0.1:7101,nohostport", nil, false},
		{"cluster-query", "redis-cluster://127.0.0.1:7101?x=1", nil, false},
		{"cluster-pool-size-zero", "redis-cluster://127.0.0.1:7101?pool_size=0", nil, false},
		{"cluster-pool-size-twice", "redis-cluster://127.0.0.1:7101?pool_size=2&pool_size=3", nil, false},
		{"cluster-pool-size-word", "redis-cluster://127.0.0.1:7101?pool_size=many", nil, false},
		{"cluster-pool-size-and-other", "redis-cluster://127.0.0.1:7101?pool_size=2&dial_timeout=1s", nil, false},
		{"bad-prefix", "redis://127.0.0.1:6379/0", []redisstore.Option{redisstore.WithPrefix("a{b")}, false},
		{"empty-prefix", "redis://127.0.0.1:6379/0", []redisstore.Option{redisstore.WithPrefix("")}, false},
		{"unreachable", "redis://127.0.0.1:1/0?dial_timeout=200ms", nil, true},
		{"unreachable-cluster", "redis-cluster://u:secret@127.0.0.1:1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.Open(t.Context(), tt.url, tt.opts...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if got := errors.Is(err, session.ErrStore); got != tt.wantStore {
				t.Fatalf("Open = %v; wraps ErrStore %v, want %v", err, got, tt.wantStore)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenURLs(t *testing.T) {
	tests := []struct {
		name string
		url  func(t testing.TB) string
	}{
		{"redis", testenv.RedisURL},
		{"redis-cluster", testenv.RedisClusterURL},
		{"redis-cluster-trailing-slash", func(t testing.TB) string { return testenv.RedisClusterURL(t) + "/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t, tt.url(t))
			r := sessiontest.NewRecord("u", 0)
			if err := s.Create(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(t.Context(), r.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStoreErrors: once the server is gone, every call fails with an
// error wrapping session.ErrStore (callers fail closed), not a hang and
// not a false "not found".
func TestStoreErrors(t *testing.T) {
	p := testenv.StartRedis(t)
	s := openPrefix(t, p.URL()+"?max_retries=-1&dial_timeout=200ms", randomPrefix())
	r := sessiontest.NewRecord("u", 0)
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	ctx := t.Context()
	calls := map[string]func() error{
		"get":         func() error { _, err := s.Get(ctx, r.ID); return err },
		"create":      func() error { return s.Create(ctx, sessiontest.NewRecord("u", 0)) },
		"delete":      func() error { _, err := s.Delete(ctx, r.ID, sessiontest.Base); return err },
		"list-user":   func() error { _, err := s.ListUser(ctx, "u"); return err },
		"revocations": func() error { _, err := s.Revocations(ctx, sessiontest.Base); return err },
		"rotate": func() error {
			_, _, err := s.Rotate(ctx, r.ID, session.RotateRequest{Presented: r.RefreshHash, Next: sessiontest.NewHash(), Now: sessiontest.Base})
			return err
		},
		"account": func() error { _, err := s.AccountByEmail(ctx, "a@example.com"); return err },
		"ring":    func() error { _, _, err := s.LoadKeyRing(ctx); return err },
		"feed": func() error {
			return s.SubscribeRevocations(ctx, func(session.Revocation) {})
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, session.ErrStore) {
				t.Fatalf("with the server down: %v, want ErrStore", err)
			}
		})
	}
}
