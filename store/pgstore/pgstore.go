// Package pgstore is the PostgreSQL backend of sessiond (pgx v5). It
// implements session.Store, session.RevocationFeed, token.RingStore and
// (in accounts.go) account.Store, so one postgres:// URL keeps everything
// and any number of sessiond nodes can share it.
//
// The schema is versioned: Migrate applies the embedded migrations
// (migrations/*.sql), and Open refuses a database that is behind them
// (ErrNotMigrated) unless WithAutoMigrate is given. WithSchema keeps every
// table in a schema of its own.
//
// Every atomic step of the contract is one statement or one server-side
// function, so it costs one round trip: Rotate of the current token is one
// UPDATE ... RETURNING (the caller's deadline checked on the database's
// clock in its WHERE clause); any other token, which that UPDATE leaves
// alone, takes a second, the PL/pgSQL function sessiond_rotate (lock,
// check the deadline, decide at the caller's clock, write, or on reuse
// delete and record the revocation). Update is a compare-and-set UPDATE,
// Delete and DeleteUser delete and record their revocations in one
// statement. Revocations reach every node through LISTEN/NOTIFY: a trigger
// on the revocations table notifies a channel named after the schema.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// ErrNotMigrated is returned (wrapped) by Open when the database schema is
// behind the migrations this build embeds.
var ErrNotMigrated = errors.New("pgstore: database schema is not migrated")

var (
	_ session.Store          = (*Store)(nil)
	_ session.RevocationFeed = (*Store)(nil)
	_ token.RingStore        = (*Store)(nil)
)

// Store is a session store in PostgreSQL. All methods are safe for
// concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	batch int
	feed  *feed

	// closed is cancelled by Close; feed listeners stop with it. mu
	// orders a new subscription against Close.
	mu        sync.Mutex
	closed    context.Context
	stopFeeds context.CancelFunc
	feeds     sync.WaitGroup
	closeOnce sync.Once

	slowRotations atomic.Int64 // Rotate calls decided by sessiond_rotate (for the tests)
}

// Option configures Open and Migrate.
type Option func(*config)

type config struct {
	schema      string
	autoMigrate bool
	batch       int
	feed        feedConfig
	timeout     time.Duration
}

// WithStatementTimeout makes d the statement_timeout and lock_timeout of
// every connection (runtime parameters sent at connect), unless the URL
// sets them itself (statement_timeout=..., lock_timeout=... or -c in
// options=...), so PostgreSQL abandons a statement, and its locks, once
// nobody waits for it any more. Migrations run without either limit.
// Besides, every call honours its context: pgx closes the connection of a
// query whose context ends, at once. d <= 0 sets nothing.
func WithStatementTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithSchema keeps every table, function and trigger in the named schema
// (set as the search_path of each connection). Migrate creates the schema
// if it does not exist. The default is the server's search_path (usually
// public).
func WithSchema(name string) Option {
	return func(c *config) { c.schema = name }
}

// WithAutoMigrate makes Open apply pending migrations itself instead of
// failing with ErrNotMigrated (what `sessiond serve --migrate` does).
func WithAutoMigrate() Option {
	return func(c *config) { c.autoMigrate = true }
}

// WithDeleteBatch sets how many rows DeleteExpired removes per statement,
// so a large sweep never holds many row locks for long. The default is
// 1000; n <= 0 keeps it.
func WithDeleteBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.batch = n
		}
	}
}

func newConfig(opts []Option) config {
	c := config{batch: 1000}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// DefaultMaxConns is the size of the connection pool unless the URL sets
// pool_max_conns: 4 connections per GOMAXPROCS, at least 16. pgx's own
// default, max(4, NumCPU), is 4 on a small machine: a refresh holds a
// connection for its whole round trip (most of it waiting on the network
// and the database's commit, not on this process's CPU), so 64 clients
// refreshing at once queued for those 4 and a node did a third of what
// the database could (issue 12 measured 3,311 refreshes a second with the
// default pool against 4,935 with 64 connections). 16 connections keep a
// small node's requests off that queue, and six such nodes fit in
// PostgreSQL's default max_connections of 100; size the pool with
// pool_max_conns in the URL for other loads.
func DefaultMaxConns() int32 { return int32(max(16, 4*runtime.GOMAXPROCS(0))) }

// poolConfig parses url and sets the search_path for c.schema, and the
// pool size (DefaultMaxConns) unless the URL sets pool_max_conns.
func poolConfig(url string, c config) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("pgstore: invalid PostgreSQL URL")
	}
	if !setsParam(url, "pool_max_conns") {
		pc.MaxConns = DefaultMaxConns()
	}
	// A call whose context ends sets its socket's deadline to now, so it
	// returns at once even from a server that answers nothing (stopped,
	// or its host gone), and the connection is closed. This is pgx's
	// default, set here because ReturnsByDeadline promises it: the
	// cancel-request handler pgx also offers would first open a new
	// connection to the same unresponsive server.
	pc.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	if c.schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{c.schema}.Sanitize()
	}
	if ms := c.timeout.Milliseconds(); ms > 0 {
		rp := pc.ConnConfig.RuntimeParams
		for _, p := range []string{"statement_timeout", "lock_timeout"} {
			if _, set := rp[p]; !set && !strings.Contains(rp["options"], p) {
				rp[p] = strconv.FormatInt(ms, 10)
			}
		}
	}
	return pc, nil
}

// setsParam reports whether the PostgreSQL URL (postgres://...?key=value)
// or key=value DSN conn sets the parameter key (one that pgxpool.ParseConfig
// has already accepted, so conn is well formed).
func setsParam(conn, key string) bool {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := neturl.Parse(conn)
		return err == nil && u.Query().Has(key)
	}
	return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(key) + `\s*=`).MatchString(conn)
}

// Open connects to the PostgreSQL database at url (a postgres:// URL or
// key=value DSN), pings it and checks that its schema is up to date: if
// migrations are pending, it fails with an error wrapping ErrNotMigrated,
// unless WithAutoMigrate was given, in which case it applies them.
// A database ahead of this build is accepted, so that during a rolling
// upgrade old nodes keep running after a new one migrated. The pool holds
// DefaultMaxConns connections unless the URL's pool_max_conns (or pgx's
// other pool_* parameters) says otherwise.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	c := newConfig(opts)
	pc, err := poolConfig(url, c)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, wrapErr(ctx, "open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, wrapErr(ctx, "ping", err)
	}
	if c.autoMigrate {
		if _, err := migrate(ctx, pool, c.schema); err != nil {
			pool.Close()
			return nil, err
		}
	} else {
		have, err := schemaVersion(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, err
		}
		if want := latestVersion(); have < want {
			pool.Close()
			return nil, fmt.Errorf("%w: schema version %d, this build needs %d; run `sessiond migrate` (or serve --migrate)", ErrNotMigrated, have, want)
		}
	}
	closed, stop := context.WithCancel(context.Background())
	return &Store{pool: pool, batch: c.batch, feed: newFeed(c.feed), closed: closed, stopFeeds: stop}, nil
}

// ReturnsByDeadline reports that every call of s returns by its
// context's deadline (node.DeadlineBound): pgx waits for a pooled
// connection, dials and runs every statement under the call's context,
// and when the context ends it sets the socket's deadline to now (see
// poolConfig), so a server that stops answering holds no call past its
// deadline. A node then runs s's calls on the caller's goroutine.
func (s *Store) ReturnsByDeadline() bool { return true }

// Close stops the revocation feed listeners and closes the pool. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.stopFeeds()
		s.mu.Unlock()
		s.feeds.Wait()
		s.pool.Close()
	})
	return nil
}

// Ping checks that the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return wrapErr(ctx, "ping", err)
	}
	return nil
}

// CountSessions returns how many sessions are alive at now (for a metric).
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("pgstore: count sessions: %w", err)
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE expires_at > $1`, now).Scan(&n); err != nil {
		return 0, wrapErr(ctx, "count sessions", err)
	}
	return n, nil
}

// wrapErr classifies a failure: context errors stay context errors (the
// caller gave up; the store is not to blame), everything else from
// PostgreSQL or the pool wraps session.ErrStore so callers fail closed.
func wrapErr(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("pgstore: %s: %w", op, err)
	case ctx.Err() != nil:
		return fmt.Errorf("pgstore: %s: %w: %w", op, ctx.Err(), err)
	}
	return fmt.Errorf("pgstore: %s: %w: %w", op, session.ErrStore, err)
}

// pgCode returns the SQLSTATE of a PostgreSQL error and the constraint it
// names, or "" if err is not one.
func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

const codeUniqueViolation = "23505"
