package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/session"
)

// Reconnect backoff of a feed listener whose connection was lost.
const (
	feedBackoffMin = 50 * time.Millisecond
	feedBackoffMax = 5 * time.Second
)

// SubscribeRevocations listens for the revocations every node records in
// this schema. It opens a dedicated connection (LISTEN holds its
// connection, so it does not come from the pool), LISTENs on the schema's
// channel and returns once the LISTEN is in place. A goroutine then calls
// fn for each notification until ctx is done or the Store is closed. If
// the connection is lost, it reconnects with backoff, LISTENs again and
// calls fn for every revocation still in force, so that nothing recorded
// while it was away is missed (fn may see a revocation twice).
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
	conn, err := s.listen(ctx)
	if err != nil {
		s.feeds.Done()
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closed, cancel)
	go func() {
		defer s.feeds.Done()
		defer stop()
		defer cancel()
		s.runFeed(lctx, conn, fn)
	}()
	return nil
}

// listen opens a connection with the pool's settings (search_path
// included) and LISTENs on the schema's revocation channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, wrapErr(ctx, "subscribe: connect", err)
	}
	var channel string
	if err := conn.QueryRow(ctx, `SELECT sessiond_channel()`).Scan(&channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, wrapErr(ctx, "subscribe: channel", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, wrapErr(ctx, "subscribe: listen", err)
	}
	return conn, nil
}

func (s *Store) runFeed(ctx context.Context, conn *pgx.Conn, fn func(session.Revocation)) {
	defer func() {
		if conn != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
		}
	}()
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if rev, perr := parseNotification(n.Payload); perr == nil {
				fn(rev)
			}
			// A payload we cannot read is not ours to act on; the
			// Manager's periodic reload still sees the table.
			continue
		}
		// The connection is gone (or broken): start over.
		conn.Close(context.WithoutCancel(ctx))
		conn = nil
		if conn = s.reconnect(ctx); conn == nil {
			return // ctx done
		}
		// Catch up on what was recorded while no one listened. The
		// LISTEN is already in place, so nothing falls in between.
		revs, err := s.Revocations(ctx, time.Now())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
			if conn = s.reconnect(ctx); conn == nil {
				return
			}
			continue
		}
		for _, r := range revs {
			if ctx.Err() != nil {
				return
			}
			fn(r)
		}
	}
}

// reconnect retries listen with exponential backoff until it succeeds
// (the new connection) or ctx is done (nil).
func (s *Store) reconnect(ctx context.Context) *pgx.Conn {
	wait := feedBackoffMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := s.listen(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		wait = min(2*wait, feedBackoffMax)
	}
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
