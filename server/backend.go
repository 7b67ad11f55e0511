package server

import (
	"context"
	"fmt"
	"strings"

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

// Backend is what one --store URL provides: sessions, accounts and the
// shared key ring.
type Backend interface {
	session.Store
	account.Store
	token.RingStore
}

// DefaultStore is the store sessiond uses when none is given: bbolt in
// ./sessiond-data.
const DefaultStore = "bolt://sessiond-data"

// StoreKind says what kind of store a URL names.
type StoreKind string

// Kinds of store.
const (
	KindBolt     StoreKind = "bolt"
	KindMemory   StoreKind = "memory"
	KindRedis    StoreKind = "redis"
	KindPostgres StoreKind = "postgres"
)

// OpenOptions tune OpenBackend.
type OpenOptions struct {
	// AutoMigrate applies pending PostgreSQL migrations instead of
	// refusing to start on an unmigrated database.
	AutoMigrate bool
}

// OpenBackend opens the store named by url:
//
//	bolt:///abs/path, bolt://relative/path   embedded bbolt (the default)
//	memory://                                in memory, gone at exit
//	redis://[user:pass@]host:port/db         Redis (rediss:// for TLS)
//	redis-cluster://h1:p1,h2:p2,...          Redis Cluster
//	postgres://user@host:port/db?...         PostgreSQL (postgresql:// too)
//
// For bolt it also returns the data directory (where the master key file
// lives when SESSIOND_MASTER_KEY is not set).
func OpenBackend(ctx context.Context, url string, o OpenOptions) (b Backend, kind StoreKind, dataDir string, err error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, "", "", fmt.Errorf("store %q: want scheme://..., e.g. %s", RedactStoreURL(url), DefaultStore)
	}
	switch scheme {
	case "bolt":
		if rest == "" {
			return nil, "", "", fmt.Errorf("store %q: bolt needs a directory, e.g. bolt:///var/lib/sessiond", RedactStoreURL(url))
		}
		st, err := boltstore.Open(rest)
		if err != nil {
			return nil, "", "", err
		}
		return st, KindBolt, rest, nil
	case "memory":
		if rest != "" {
			return nil, "", "", fmt.Errorf("store %q: memory:// takes nothing after the scheme", RedactStoreURL(url))
		}
		return memstore.New(), KindMemory, "", nil
	case "redis", "rediss", "redis-cluster":
		st, err := redisstore.Open(ctx, url)
		if err != nil {
			return nil, "", "", err
		}
		return st, KindRedis, "", nil
	case "postgres", "postgresql":
		var opts []pgstore.Option
		if o.AutoMigrate {
			opts = append(opts, pgstore.WithAutoMigrate())
		}
		st, err := pgstore.Open(ctx, url, opts...)
		if err != nil {
			return nil, "", "", err
		}
		return st, KindPostgres, "", nil
	}
	return nil, "", "", fmt.Errorf("store %q: unknown scheme %q (bolt, memory, redis, rediss, redis-cluster, postgres)", RedactStoreURL(url), scheme)
}

// SharedLimiter returns a rate limiter whose state lives in the backend
// itself when it can be shared by every node (Redis), or nil.
func SharedLimiter(b Backend) ratelimit.Limiter {
	if rs, ok := b.(*redisstore.Store); ok {
		return redislimit.New(rs.Client(), rs.Prefix())
	}
	return nil
}
