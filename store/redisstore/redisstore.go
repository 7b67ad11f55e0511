// Package redisstore is the shared production backend of sessiond on Redis
// (a single server, or a Redis Cluster), through go-redis v9. One Store
// implements session.Store, session.RevocationFeed, account.Store and
// token.RingStore, so one --store URL keeps everything.
//
// # Key layout
//
// Every key starts with a prefix (default "sd", see WithPrefix) and carries
// a hash tag, so that every Lua script touches the keys of one hash slot
// only and the same code runs on a single server and on a cluster:
//
//	<p>:s:{<sid>}      HASH, one session (fields in record.go); its TTL is
//	                   PEXPIREAT at the record's ExpiresAt, reset on every
//	                   write: Redis itself is the garbage collector.
//	<p>:u:{<userID>}   ZSET, the user's index: member sid, score the
//	                   session's creation time (unix µs), so ListUserPage
//	                   pages it by score and member; the key's TTL is
//	                   pushed out to its latest member's absolute expiry.
//	<p>:{rev}          ZSET, the revocation log: member sid, score Until
//	                   (unix µs); DeleteExpired trims it, and its TTL is
//	                   pushed out to its latest Until.
//	<p>:revocations    pub/sub channel; payload "<sid> <until unix µs>".
//	<p>:{keyring}      HASH {b: sealed ring, v: version}.
//	<p>:a:{<id>}       HASH, one account.
//	<p>:e:{<email>}    STRING, email -> account id (the uniqueness claim).
//	<p>:{accounts}     ZSET, score 0, member "email\x00id": the listing,
//	                   in byte order of the email.
//	<p>:r:{<hash>}     STRING, one password-reset token by the hex of its
//	                   hash (resettokens.go), PEXPIREAT at its expiry.
//
// Logical expiry inside scripts is judged with the time the caller passes
// (RotateRequest.Now, DeleteExpired's now), never with Redis's clock, so
// the Manager's clock rules; TTLs only collect garbage. Redis's clock
// (TIME) decides one thing: whether a rotation has reached Redis after
// its caller's deadline (RotateRequest.Deadline), in which case the
// script changes nothing.
//
// # Ordering across slots
//
// A cluster has no atomicity across hash slots, so the steps that touch
// several keys happen in an order chosen so that a crash in between fails
// closed:
//
//   - Create adds the session to its user's index FIRST, then creates the
//     session. A crash in between leaves an index entry without a session
//     (pruned later), never a session its user's "log out everywhere"
//     cannot find.
//   - Delete, DeleteUser and a detected reuse mark the session dead
//     FIRST (in its own slot: no rotation, update or read succeeds after
//     that), then record the revocation and publish it, then delete the
//     session(s), then drop the index entries. A crash in between leaves a
//     dead session (gone by TTL or the sweeper), never one that only the
//     revocation log, forgotten after an hour, keeps out.
//   - Update that moves a session to another user (or changes its absolute
//     expiry) indexes it under the new user first, writes it, then drops
//     the old entry.
//   - An index entry is pruned (by ListUser, when its session is missing or
//     belongs to someone else) with ZREM followed by a second look at the
//     session, re-adding the entry if the session turned up meanwhile; and
//     Create looks at the index again after writing the session. Between
//     the two, a pruner racing a Create can never leave a live session
//     unindexed.
//   - Reuse: the Rotate script marks the session compromised (no rotation,
//     update or read succeeds any more) in the same atomic step that
//     detects it; the revocation and deletion follow as in Delete.
//
// Accounts: see accounts.go.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// Compile-time checks of the interfaces Store implements.
var (
	_ session.Store          = (*Store)(nil)
	_ session.RevocationFeed = (*Store)(nil)
	_ account.Store          = (*Store)(nil)
	_ token.RingStore        = (*Store)(nil)
)

// DefaultPrefix is the key prefix used unless WithPrefix says otherwise.
const DefaultPrefix = "sd"

// Store keeps sessions, revocations, accounts and the key ring in Redis.
// All methods are safe for concurrent use.
type Store struct {
	c      redis.UniversalClient
	prefix string
	feed   *feed
	// byDeadline: the client was built with ContextTimeoutEnabled
	// (WithTimeout), so every command gives up at its context's deadline.
	byDeadline bool
}

// Option configures Open.
type Option func(*config)

type config struct {
	prefix  string
	feed    feedConfig
	timeout time.Duration
}

// WithTimeout bounds every command: d becomes the client's read and write
// timeouts (unless a redis:// URL sets read_timeout or write_timeout), and
// the client honours its context's deadline as well, whichever is
// shorter. A connection whose command timed out is closed, never handed
// to the next caller with the late reply still to come (go-redis removes
// a connection from its pool on a network timeout). Commands are sent
// once (max_retries off unless the URL sets it): go-redis would otherwise
// send a command whose reply timed out again on another connection, so a
// stalled Redis would run a write twice, once for a caller that has
// given up; sessiond's callers retry after a 503 themselves. The pub/sub
// connection of the revocation feed waits for messages without a read
// deadline. d <= 0 keeps go-redis's defaults (3 s timeouts that contexts'
// deadlines do not shorten, 3 retries).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithPrefix sets the prefix of every key and of the pub/sub channel
// (default "sd"). Stores with different prefixes share nothing, so one
// Redis can serve several deployments (or tests). The prefix must not
// contain '{' or '}' (they would break the hash tags).
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// Open connects to the Redis named by rawURL and pings it:
//
//	redis://[user:pass@]host:port/db     a single server
//	rediss://[user:pass@]host:port/db    the same over TLS
//	redis-cluster://[user:pass@]h1:p1,h2:p2,...   a Redis Cluster (seed nodes)
//
// Query parameters of go-redis (dial_timeout, pool_size, ...) are accepted
// for redis:// and rediss://, and pool_size for redis-cluster:// too (per
// node); go-redis's default pool is 10 connections per GOMAXPROCS on a
// single server, 5 per GOMAXPROCS and node on a cluster.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	cfg := config{prefix: DefaultPrefix}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.prefix == "" || strings.ContainsAny(cfg.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q must be non-empty and free of '{' and '}'", cfg.prefix)
	}
	c, err := newClient(rawURL, cfg.timeout)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redisstore: cannot reach %s: %w", redactURL(rawURL), wrap(err))
	}
	st := &Store{c: c, prefix: cfg.prefix, feed: newFeed(cfg.feed), byDeadline: cfg.timeout > 0}
	if err := st.checkNoEviction(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return st, nil
}

// checkNoEviction refuses a Redis whose maxmemory-policy may evict keys.
// Under memory pressure it could drop a user's index (then "log out
// everywhere" would miss sessions that live on), the revocation log or
// the key ring: revocation would fail open, without a trace. Every TTL
// sessiond sets is a garbage collector, never a licence to drop data
// early, so only noeviction is safe. A server that hides its INFO (some
// managed services restrict commands) is given the benefit of the doubt.
func (s *Store) checkNoEviction(ctx context.Context) error {
	return s.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		info, err := node.Info(ctx, "memory").Result()
		if err != nil {
			return nil
		}
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok && v != "noeviction" {
				return fmt.Errorf("redisstore: %s has maxmemory-policy %s; sessiond needs noeviction, or Redis could evict a user's session index or the revocation log and silently undo revocations (set maxmemory-policy noeviction)",
					node.Options().Addr, v)
			}
		}
		return nil
	})
}

// DefaultPoolSize is the most connections the store keeps to a Redis
// server (to each master of a cluster) unless the URL sets pool_size: 64,
// or 10 per GOMAXPROCS where that is more. go-redis's own default, 10 per
// GOMAXPROCS (5 per node on a cluster), is 10 on one core: 64 clients
// refreshing at once then waited their turn for a connection while Redis
// had CPU to spare (issue 12: 0.70x of the composite floor with 10, 0.73x
// with 64, in one sitting). go-redis opens connections only as requests
// need them, so a quiet node still holds few; Redis's default maxclients
// of 10,000 leaves room for a hundred nodes at 64.
func DefaultPoolSize() int { return max(64, 10*runtime.GOMAXPROCS(0)) }

// newClient builds a client for rawURL without connecting; timeout, if
// positive, bounds each command (see WithTimeout).
func newClient(rawURL string, timeout time.Duration) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redisstore: %q is not a URL (want redis://, rediss:// or redis-cluster://)", redactURL(rawURL))
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: bad URL %s: %w", redactURL(rawURL), err)
		}
		q := queryOf(rawURL)
		if !q.Has("pool_size") {
			o.PoolSize = DefaultPoolSize()
		}
		if timeout > 0 {
			if !q.Has("read_timeout") {
				o.ReadTimeout = timeout
			}
			if !q.Has("write_timeout") {
				o.WriteTimeout = timeout
			}
			if !q.Has("max_retries") {
				o.MaxRetries = -1
			}
			o.ContextTimeoutEnabled = true
		}
		return redis.NewClient(o), nil
	case "redis-cluster":
		o, err := parseClusterURL(rest)
		if err != nil {
			return nil, fmt.Errorf("redisstore: bad URL %s: %w", redactURL(rawURL), err)
		}
		if o.PoolSize == 0 {
			o.PoolSize = DefaultPoolSize()
		}
		if timeout > 0 {
			o.ReadTimeout, o.WriteTimeout, o.ContextTimeoutEnabled = timeout, timeout, true
			o.MaxRetries = -1
		}
		return redis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("redisstore: unknown URL scheme %q (want redis, rediss or redis-cluster)", scheme)
}

// queryOf returns the query parameters of a URL that redis.ParseURL
// accepted.
func queryOf(rawURL string) url.Values {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	return u.Query()
}

// parseClusterURL parses what follows "redis-cluster://". It is
// hand-written because net/url accepts only one host, and go-redis's own
// ParseClusterURL wants the extra nodes as query parameters. The one query
// parameter it takes is pool_size, the connections kept per node (go-redis's
// default: DefaultPoolSize), as for redis://.
func parseClusterURL(rest string) (*redis.ClusterOptions, error) {
	rest, query, _ := strings.Cut(rest, "?")
	o := &redis.ClusterOptions{}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("bad query: %w", err)
		}
		for k, v := range q {
			if k != "pool_size" {
				return nil, fmt.Errorf("query parameter %q is not supported for redis-cluster:// (only pool_size is)", k)
			}
			n, err := strconv.Atoi(v[len(v)-1])
			if len(v) != 1 || err != nil || n < 1 {
				return nil, fmt.Errorf("pool_size=%s: want one positive number of connections", strings.Join(v, ","))
			}
			o.PoolSize = n
		}
	}
	rest = strings.TrimSuffix(rest, "/")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		ui := rest[:at]
		rest = rest[at+1:]
		if strings.ContainsAny(ui, "/?#") {
			return nil, errors.New("bad user info (escape '/', '?' and '#' as %2F, %3F, %23)")
		}
		user, pass, hasPass := strings.Cut(ui, ":")
		var err error
		if o.Username, err = url.PathUnescape(user); err != nil {
			return nil, fmt.Errorf("user name: %w", err)
		}
		if hasPass {
			if o.Password, err = url.PathUnescape(pass); err != nil {
				return nil, fmt.Errorf("password: %w", err)
			}
		}
	}
	for _, h := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" || strings.ContainsAny(h, "/@") {
			return nil, fmt.Errorf("bad node address %q (want host:port)", h)
		}
		o.Addrs = append(o.Addrs, h)
	}
	return o, nil
}

// redactURL hides a password in rawURL for error messages.
func redactURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "(unparsable URL)"
	}
	host := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndex(host, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(host[:at], ":")
		if hasPass {
			return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
		}
	}
	return rawURL
}

// Client returns the underlying go-redis client, e.g. to share it with
// ratelimit/redislimit. It is closed by Close.
func (s *Store) Client() redis.UniversalClient { return s.c }

// ReturnsByDeadline reports whether every call of s returns by its
// context's deadline (node.DeadlineBound): true when s was opened
// WithTimeout, whose client carries the deadline of each call's context
// to its socket reads and writes and to the wait for a pooled connection.
func (s *Store) ReturnsByDeadline() bool { return s.byDeadline }

// Close closes the client and its connections. Feed subscriptions end.
func (s *Store) Close() error {
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", wrap(err))
	}
	return nil
}

// wrap classifies an error from go-redis: context errors stay what they
// are (callers see context.Canceled / DeadlineExceeded); anything else is
// a store failure and wraps session.ErrStore so callers fail closed.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, session.ErrStore):
		return err
	}
	return fmt.Errorf("%w: %w", session.ErrStore, err)
}

// fail wraps err for the operation op.
func fail(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, wrap(err))
}

// Key names (see the package comment).
func (s *Store) sessKey(id string) string   { return s.prefix + ":s:{" + id + "}" }
func (s *Store) userKey(user string) string { return s.prefix + ":u:{" + user + "}" }
func (s *Store) revKey() string             { return s.prefix + ":{rev}" }
func (s *Store) revChannel() string         { return s.prefix + ":revocations" }
func (s *Store) ringKey() string            { return s.prefix + ":{keyring}" }
func (s *Store) acctKey(id string) string   { return s.prefix + ":a:{" + id + "}" }
func (s *Store) emailKey(e string) string   { return s.prefix + ":e:{" + e + "}" }
func (s *Store) acctListKey() string        { return s.prefix + ":{accounts}" }

// forEachMaster runs fn on every master: each shard of a cluster, or the
// one server.
func (s *Store) forEachMaster(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error {
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("redisstore: unsupported client type %T", s.c)
}

// globEscape escapes the glob metacharacters of SCAN MATCH in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
