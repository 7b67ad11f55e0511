package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/internal/feedwatch"
)

var _ session.FeedHealth = (*Store)(nil)

// Reconnect backoff of a feed listener whose connection was lost.
const (
	feedBackoffMin = 50 * time.Millisecond
	feedBackoffMax = 5 * time.Second
)

// feed is a Store's revocation feed: its settings and the health of its
// listeners.
type feed struct {
	live  feedwatch.Liveness
	log   *slog.Logger
	watch feedwatch.Watch
}

func newFeed(c feedConfig) *feed {
	f := &feed{live: c.live.WithDefaults(), log: c.log}
	if f.log == nil {
		f.log = slog.Default()
	}
	return f
}

// feedConfig is what Options set of the feed.
type feedConfig struct {
	live feedwatch.Liveness
	log  *slog.Logger
}

// WithFeedLiveness sets how a revocation feed listener checks its LISTEN
// connection: after interval without a notification it runs SELECT 1 on
// that connection, and if the answer has not come within deadline it
// takes the connection for dead, closes it and listens on a new one (each
// attempt, with its catch-up, bounded by deadline too). Defaults 5 s and
// 5 s; a value <= 0 keeps its default.
func WithFeedLiveness(interval, deadline time.Duration) Option {
	return func(c *config) { c.feed.live = feedwatch.Liveness{Interval: interval, Deadline: deadline} }
}

// WithLogger sets the log the Store writes its own operational messages
// to (a revocation feed lost and reconnected). Default slog.Default().
func WithLogger(log *slog.Logger) Option { return func(c *config) { c.feed.log = log } }

// SubscribeRevocations listens for the revocations every node records in
// this schema. It opens a dedicated connection (LISTEN holds its
// connection, so it does not come from the pool), LISTENs on the schema's
// channel and returns once the LISTEN is in place. A goroutine then calls
// fn for each notification until ctx is done or the Store is closed.
//
// A listener that hears nothing for a while checks its connection with
// SELECT 1 under a deadline (see WithFeedLiveness). If the connection is
// lost, or goes silent without closing, it is logged and reported by
// FeedStatus, and the listener reconnects with backoff, LISTENs again and,
// on the new connection, calls fn for every revocation still in force, so
// that nothing recorded while it was away is missed (fn may see a
// revocation twice).
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: subscribe: %w", err)
	}
	// Register under the lock so Close never waits on a WaitGroup that
	// is still growing.
	s.mu.Lock()
	if s.closed.Err() != nil {
		s.mu.Unlock()
		return fmt.Errorf("pgstore: subscribe: %w: store is closed", session.ErrStore)
	}
	s.feeds.Add(1)
	s.mu.Unlock()
	cctx, cancelConnect := context.WithTimeout(ctx, max(10*time.Second, s.feed.live.Deadline))
	conn, err := s.listen(cctx)
	cancelConnect()
	if err != nil {
		s.feeds.Done()
		return err
	}
	sub := s.feed.watch.Add(time.Now())
	lctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closed, cancel)
	go func() {
		defer s.feeds.Done()
		defer sub.Remove()
		defer stop()
		defer cancel()
		s.runFeed(lctx, conn, fn, sub)
	}()
	return nil
}

// FeedStatus reports the health of the revocation feed's listeners (see
// session.FeedHealth).
func (s *Store) FeedStatus() session.FeedStatus { return s.feed.watch.Status() }

// listen opens a connection with the pool's settings (search_path
// included) and LISTENs on the schema's revocation channel. Unless the URL
// names the application, the connection's application_name is the
// channel's name, so that pg_stat_activity tells the listener apart (its
// query column shows its last liveness check or catch-up, not the LISTEN).
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, wrapErr(ctx, "subscribe: connect", err)
	}
	var channel string
	if err := conn.QueryRow(ctx, `SELECT sessiond_channel()`).Scan(&channel); err != nil {
		closeConn(conn)
		return nil, wrapErr(ctx, "subscribe: channel", err)
	}
	if _, named := cfg.RuntimeParams["application_name"]; !named {
		if _, err := conn.Exec(ctx, `SELECT set_config('application_name', $1, false)`, channel); err != nil {
			closeConn(conn)
			return nil, wrapErr(ctx, "subscribe: application_name", err)
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, wrapErr(ctx, "subscribe: listen", err)
	}
	return conn, nil
}

// closeConn closes a listener's connection, giving up after a second (the
// server may be unreachable).
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// runFeed hears conn until it fails, then listens on a new connection and
// catches up, and so on until ctx is done.
func (s *Store) runFeed(ctx context.Context, conn *pgx.Conn, fn func(session.Revocation), sub *feedwatch.Sub) {
	for {
		err := s.hear(ctx, conn, fn, sub)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		lost := time.Now()
		sub.Deaf(fmt.Errorf("pgstore: revocation feed: %w: %w", session.ErrStore, err))
		s.feed.log.Warn("revocation feed lost; reconnecting (revocations by other nodes are not heard meanwhile)", "store", "postgres", "err", err)
		var n int
		if conn, n = s.reconnect(ctx, fn); conn == nil {
			return // ctx done
		}
		sub.Reconnected(time.Now())
		s.feed.log.Info("revocation feed reconnected and caught up", "store", "postgres", "down", time.Since(lost), "revocations_reloaded", n)
	}
}

// hear calls fn for every notification on conn, and checks that conn is
// alive: after Interval without one it runs SELECT 1, which must answer
// within Deadline. It returns nil when ctx is done, or why the connection
// is taken for dead.
func (s *Store) hear(ctx context.Context, conn *pgx.Conn, fn func(session.Revocation), sub *feedwatch.Sub) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.feed.live.Interval)
		n, err := conn.WaitForNotification(wctx)
		quiet := wctx.Err() == context.DeadlineExceeded
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			sub.Heard(time.Now())
			if rev, perr := parseNotification(n.Payload); perr == nil {
				fn(rev)
			}
			// A payload we cannot read is not ours to act on; the
			// Manager's periodic reload still sees the table.
			continue
		}
		if !quiet {
			return err // the connection is gone (or broken)
		}
		// Quiet, or dead? The answer to a query tells.
		pctx, cancel := context.WithTimeout(ctx, s.feed.live.Deadline)
		_, err = conn.Exec(pctx, "SELECT 1")
		late := pctx.Err() == context.DeadlineExceeded
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if late {
			return fmt.Errorf("no answer to SELECT 1 within %v", s.feed.live.Deadline)
		}
		if err != nil {
			return err
		}
		sub.Heard(time.Now())
	}
}

// reconnect listens on a new connection and catches up (see relisten),
// with exponential backoff, until it succeeds (the new connection and how
// many revocations it reloaded) or ctx is done (nil).
func (s *Store) reconnect(ctx context.Context, fn func(session.Revocation)) (*pgx.Conn, int) {
	wait := feedBackoffMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0
		case <-t.C:
		}
		conn, n, err := s.relisten(ctx, fn)
		if err == nil {
			return conn, n
		}
		if ctx.Err() != nil {
			return nil, 0
		}
		s.feed.log.Debug("revocation feed: listening again failed", "store", "postgres", "err", err)
		wait = min(2*wait, feedBackoffMax)
	}
}

// relisten opens a new listening connection and, on it, reads every
// revocation still in force and calls fn for each: what was recorded while
// no one listened. The LISTEN is in place before the read, so nothing
// falls in between; the read goes over the new connection, known to work,
// rather than over the pool, whose connections may have died with the
// old one. The whole attempt is bounded by the liveness deadline.
func (s *Store) relisten(ctx context.Context, fn func(session.Revocation)) (*pgx.Conn, int, error) {
	actx, cancel := context.WithTimeout(ctx, s.feed.live.Deadline)
	defer cancel()
	conn, err := s.listen(actx)
	if err != nil {
		return nil, 0, err
	}
	revs, err := loadRevocations(actx, conn, time.Now())
	if err != nil {
		closeConn(conn)
		return nil, 0, err
	}
	for _, r := range revs {
		if ctx.Err() != nil {
			closeConn(conn)
			return nil, 0, ctx.Err()
		}
		fn(r)
	}
	return conn, len(revs), nil
}

// querier is a pool or one connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadRevocations returns the revocations whose Until is after now, read
// through q.
func loadRevocations(ctx context.Context, q querier, now time.Time) ([]session.Revocation, error) {
	rows, err := q.Query(ctx, `SELECT session_id, until FROM revocations WHERE until > $1`, now)
	if err != nil {
		return nil, wrapErr(ctx, "revocations", err)
	}
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (session.Revocation, error) {
		var r session.Revocation
		err := row.Scan(&r.SessionID, &r.Until)
		r.Until = r.Until.UTC()
		return r, err
	})
	if err != nil {
		return nil, wrapErr(ctx, "revocations", err)
	}
	return revs, nil
}

var errBadPayload = errors.New("pgstore: malformed revocation notification")

// parseNotification reads "<session id> <until in Unix microseconds>", as
// written by the trigger sessiond_notify_revocation. Session ids hold no
// space (base64url), so the last space splits the two.
func parseNotification(payload string) (session.Revocation, error) {
	i := strings.LastIndexByte(payload, ' ')
	if i <= 0 {
		return session.Revocation{}, errBadPayload
	}
	us, err := strconv.ParseInt(payload[i+1:], 10, 64)
	if err != nil {
		return session.Revocation{}, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	return session.Revocation{SessionID: payload[:i], Until: time.UnixMicro(us).UTC()}, nil
}
