package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/ratelimit/redislimit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/boltstore"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/store/pgstore"
	"github.com/sessiond/sessiond/store/redisstore"
	"github.com/sessiond/sessiond/token"
)

// Backend is what one store URL provides: sessions, accounts and the
// shared key ring, so one --store keeps everything.
type Backend interface {
	session.Store
	account.Store
	token.RingStore
}

// DefaultStore is the store a node uses when none is given: bbolt in
// ./sessiond-data.
const DefaultStore = "bolt://sessiond-data"

// Driver is one kind of store: how to open it and what it can do. The
// registry below lists them; adding a backend is a folder under store/ and
// one entry there.
type Driver struct {
	// Name names the kind ("bolt", "redis", ...).
	Name string
	// Schemes are the URL schemes it serves.
	Schemes []string
	// Shared: nodes on the same URL share sessions, keys and revocations,
	// so several may run on it at once. Signup is off by default on a
	// shared store, and every node must be given the same master key.
	Shared bool
	// Persistent: what it keeps survives a restart (memory:// does not).
	Persistent bool
	// Check judges the URL without opening or creating anything, so bad
	// usage changes nothing. The error wraps ErrConfig.
	Check func(url string) error
	// Open opens the store at url.
	Open func(ctx context.Context, url string, o OpenOptions) (Backend, error)
	// DataDir is the directory a generated master key may be kept in ("":
	// none; the key must be given).
	DataDir func(url string) string
	// Limiter returns a rate limiter whose state lives in b and so holds
	// across nodes, or nil (limits then live in each node's memory).
	Limiter func(b Backend) ratelimit.Limiter
	// Warnings, if set, says what in the store's own settings can lose
	// acknowledged writes; Open logs each at warn level.
	Warnings func(ctx context.Context, b Backend) []string
}

// OpenOptions tune Driver.Open.
type OpenOptions struct {
	// AutoMigrate applies pending PostgreSQL migrations instead of refusing
	// to start on an unmigrated database.
	AutoMigrate bool
	// StoreTimeout is Config.StoreTimeout: the driver makes it the
	// store's own limit on a call (statement_timeout, socket deadlines),
	// unless the URL sets one itself.
	StoreTimeout time.Duration
	// Logger receives the store's own operational messages (a revocation
	// feed lost and reconnected). Nil: slog.Default().
	Logger *slog.Logger
}

// drivers is the registry of backends.
var drivers = []Driver{
	{
		Name: "bolt", Schemes: []string{"bolt"}, Persistent: true,
		Check: func(url string) error {
			if _, dir, _ := strings.Cut(url, "://"); dir == "" {
				return fmt.Errorf("%w: store %q: bolt needs a directory, e.g. bolt:///var/lib/sessiond", ErrConfig, RedactStoreURL(url))
			}
			return nil
		},
		Open: func(_ context.Context, url string, _ OpenOptions) (Backend, error) {
			_, dir, _ := strings.Cut(url, "://")
			return boltstore.Open(dir)
		},
		DataDir: func(url string) string { _, dir, _ := strings.Cut(url, "://"); return dir },
	},
	{
		Name: "memory", Schemes: []string{"memory"},
		Check: func(url string) error {
			if _, rest, _ := strings.Cut(url, "://"); rest != "" {
				return fmt.Errorf("%w: store %q: memory:// takes nothing after the scheme", ErrConfig, RedactStoreURL(url))
			}
			return nil
		},
		Open: func(context.Context, string, OpenOptions) (Backend, error) { return memstore.New(), nil },
	},
	{
		Name: "redis", Schemes: []string{"redis", "rediss", "redis-cluster"}, Shared: true, Persistent: true,
		Check: func(url string) error {
			if err := redisstore.CheckURL(url); err != nil {
				return fmt.Errorf("%w: %w", ErrConfig, err)
			}
			return nil
		},
		Open: func(ctx context.Context, url string, o OpenOptions) (Backend, error) {
			return redisstore.Open(ctx, url, redisstore.WithTimeout(o.StoreTimeout), redisstore.WithLogger(o.Logger))
		},
		Limiter: func(b Backend) ratelimit.Limiter {
			if rs, ok := b.(*redisstore.Store); ok {
				return redislimit.New(rs.Client(), rs.Prefix())
			}
			return nil
		},
		Warnings: func(ctx context.Context, b Backend) []string {
			rs, ok := b.(*redisstore.Store)
			if !ok {
				return nil
			}
			ds, err := rs.Durability(ctx)
			if err != nil {
				return []string{"could not read Redis's persistence settings: " + err.Error()}
			}
			var out []string
			for _, d := range ds {
				if r := d.Risk(); r != "" {
					out = append(out, r)
				}
			}
			return out
		},
	},
	{
		Name: "postgres", Schemes: []string{"postgres", "postgresql"}, Shared: true, Persistent: true,
		Check: func(url string) error {
			if err := pgstore.CheckURL(url); err != nil {
				return fmt.Errorf("%w: %w", ErrConfig, err)
			}
			return nil
		},
		Open: func(ctx context.Context, url string, o OpenOptions) (Backend, error) {
			opts := []pgstore.Option{pgstore.WithStatementTimeout(o.StoreTimeout), pgstore.WithLogger(o.Logger)}
			if o.AutoMigrate {
				opts = append(opts, pgstore.WithAutoMigrate())
			}
			return pgstore.Open(ctx, url, opts...)
		},
	},
}

// Drivers lists the registered kinds of store.
func Drivers() []Driver { return append([]Driver(nil), drivers...) }

// LookupStore finds the driver of a store URL and checks the URL, opening
// and creating nothing. The error wraps ErrConfig.
func LookupStore(url string) (Driver, error) {
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return Driver{}, fmt.Errorf("%w: store %q: want scheme://..., e.g. %s", ErrConfig, RedactStoreURL(url), DefaultStore)
	}
	var names []string
	for _, d := range drivers {
		for _, s := range d.Schemes {
			if s == scheme {
				if err := d.Check(url); err != nil {
					return Driver{}, err
				}
				return d, nil
			}
			names = append(names, s)
		}
	}
	return Driver{}, fmt.Errorf("%w: store %q: unknown scheme %q (%s)", ErrConfig, RedactStoreURL(url), scheme, strings.Join(names, ", "))
}

// OpenBackend opens the store named by url:
//
//	bolt:///abs/path, bolt://relative/path   embedded bbolt (the default)
//	memory://                                in memory, gone at exit
//	redis://[user:pass@]host:port/db         Redis (rediss:// for TLS)
//	redis-cluster://h1:p1,h2:p2,...          Redis Cluster
//	postgres://user@host:port/db?...         PostgreSQL (postgresql:// too)
//
// Errors never carry the URL's passwords.
func OpenBackend(ctx context.Context, url string, o OpenOptions) (Backend, Driver, error) {
	d, err := LookupStore(url)
	if err != nil {
		return nil, Driver{}, err
	}
	b, err := d.Open(ctx, url, o)
	if err != nil {
		return nil, Driver{}, redactErr(err, url)
	}
	return b, d, nil
}

// sharedLimiter is the limiter kept in b by whichever driver knows b.
func sharedLimiter(b Backend) ratelimit.Limiter {
	for _, d := range drivers {
		if d.Limiter != nil {
			if l := d.Limiter(b); l != nil {
				return l
			}
		}
	}
	return nil
}
