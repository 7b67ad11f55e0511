package pgstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/pgstore"
)

// TestPoolSize: the pool holds DefaultMaxConns connections unless the URL
// sets pool_max_conns, as a URL parameter or a DSN key, and the store
// never opens more: with every connection taken, a store call waits and
// fails at its deadline, and goes through once one is back.
func TestPoolSize(t *testing.T) {
	base := testenv.PostgresURL(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	tests := []struct {
		name string
		url  string
		want int32
	}{
		{"default", base, pgstore.DefaultMaxConns()},
		{"url-parameter", base + sep + "pool_max_conns=3", 3},
		{"url-parameter-large", base + sep + "pool_max_conns=64", 64},
		{"dsn-key", dsnOf(t, base) + " pool_max_conns = 2", 2},
	}
	if d := pgstore.DefaultMaxConns(); d < 16 {
		t.Fatalf("DefaultMaxConns() = %d, want at least 16", d)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := pgstore.Open(ctx, tt.url, pgstore.WithSchema(freshSchema(t)), pgstore.WithAutoMigrate())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			pool := pgstore.Pool(s)
			if got := pool.Stat().MaxConns(); got != tt.want {
				t.Fatalf("MaxConns = %d, want %d", got, tt.want)
			}
			r := sessiontest.NewRecord("u", 0)
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			if tt.want > 4 {
				// Many calls at once: never more connections than the cap.
				var wg sync.WaitGroup
				for range 2 * tt.want {
					wg.Go(func() {
						if _, err := s.Get(ctx, r.ID); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if got := pool.Stat().TotalConns(); got > tt.want {
					t.Fatalf("%d connections open, cap %d", got, tt.want)
				}
				return
			}
			held := make([]*pgxpool.Conn, 0, tt.want)
			for range tt.want {
				c, err := pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if _, err := s.Get(short, r.ID); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get with all %d connections taken = %v, want the deadline", tt.want, err)
			}
			held[0].Release()
			if _, err := s.Get(ctx, r.ID); err != nil {
				t.Fatalf("Get once a connection is back: %v", err)
			}
			for _, c := range held[1:] {
				c.Release()
			}
		})
	}
}

// dsnOf turns a postgres:// URL into the key=value form.
func dsnOf(t *testing.T, url string) string {
	t.Helper()
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	c := pc.ConnConfig
	dsn := "host=" + c.Host + " port=" + strconv.Itoa(int(c.Port)) + " user=" + c.User + " dbname=" + c.Database + " sslmode=disable"
	if c.Password != "" {
		dsn += " password=" + c.Password
	}
	return dsn
}
