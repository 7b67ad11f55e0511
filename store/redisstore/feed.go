package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/internal/feedwatch"
)

var _ session.FeedHealth = (*Store)(nil)

// Reconnect back-off of a feed whose connection was lost or found dead.
const (
	feedBackoffMin = 50 * time.Millisecond
	feedBackoffMax = 2 * time.Second
)

// feed is a Store's revocation feed: its settings and the health of its
// subscriptions.
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

// WithFeedLiveness sets how the revocation feed checks its pub/sub
// connection: after interval without a message it sends PING on that
// connection, and if the reply has not arrived within deadline it takes
// the connection for dead, closes it and subscribes on a new one (each
// attempt bounded by deadline too). Defaults 5 s and 5 s; a value <= 0
// keeps its default.
func WithFeedLiveness(interval, deadline time.Duration) Option {
	return func(c *config) { c.feed.live = feedwatch.Liveness{Interval: interval, Deadline: deadline} }
}

// SubscribeRevocations subscribes to the revocation channel, waits for the
// server's confirmation, and then calls fn from a goroutine of its own for
// every revocation any node publishes, until ctx is done.
//
// A subscription that hears nothing for a while pings the server on its
// connection and must hear the reply in time (see WithFeedLiveness): a
// connection that broke, or went silent without closing, is replaced. The
// loss is logged and reported by FeedStatus until the feed hears again.
//
// Pub/sub is fire-and-forget: a message published while the connection is
// down is lost. So after every reconnection the goroutine, once subscribed
// again, reloads the log (Revocations at the wall clock) and calls fn for
// each entry: a node that was cut off catches up on what it missed (and
// sees some revocations twice, which is harmless). On a Redis Cluster the
// subscription is made, each time, on the master of the channel's slot.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	const op = "subscribe revocations"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	ps, err := s.subscribe(ctx, max(10*time.Second, s.feed.live.Deadline))
	if err != nil {
		return fail(op, err)
	}
	sub := s.feed.watch.Add(time.Now())
	go func() {
		defer sub.Remove()
		s.feedLoop(ctx, ps, fn, sub)
	}()
	return nil
}

// FeedStatus reports the health of the revocation feed's subscriptions
// (see session.FeedHealth).
func (s *Store) FeedStatus() session.FeedStatus { return s.feed.watch.Status() }

// subscribe subscribes a new PubSub to the revocation channel and waits up
// to wait for the server's confirmation.
func (s *Store) subscribe(ctx context.Context, wait time.Duration) (*redis.PubSub, error) {
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ps := s.c.Subscribe(sctx, s.revChannel())
	if _, err := ps.ReceiveTimeout(sctx, wait); err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

// feedLoop hears ps until it fails, then subscribes again and catches up,
// and so on until ctx is done.
func (s *Store) feedLoop(ctx context.Context, ps *redis.PubSub, fn func(session.Revocation), sub *feedwatch.Sub) {
	for {
		err := s.hear(ctx, ps, fn, sub)
		ps.Close()
		if ctx.Err() != nil {
			return
		}
		lost := time.Now()
		sub.Deaf(fmt.Errorf("redisstore: revocation feed: %w", wrap(err)))
		s.feed.log.Warn("revocation feed lost; reconnecting (revocations by other nodes are not heard meanwhile)", "store", "redis", "err", err)
		if ps = s.resubscribe(ctx); ps == nil {
			return
		}
		n, ok := s.catchUp(ctx, fn)
		if !ok {
			ps.Close()
			return
		}
		sub.Reconnected(time.Now())
		s.feed.log.Info("revocation feed reconnected and caught up", "store", "redis", "down", time.Since(lost), "revocations_reloaded", n)
	}
}

// hear calls fn for every revocation ps receives, and checks that ps is
// alive: after Interval without a message it pings, and the reply (or any
// message) must come within Deadline. It returns nil when ctx is done, or
// why the connection is taken for dead.
func (s *Store) hear(ctx context.Context, ps *redis.PubSub, fn func(session.Revocation), sub *feedwatch.Sub) error {
	// Receive does not watch ctx while it blocks; closing the PubSub
	// wakes it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	pinged := false
	for {
		wait := s.feed.live.Interval
		if pinged {
			wait = s.feed.live.Deadline
		}
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if pinged {
				return fmt.Errorf("no reply to PING within %v", s.feed.live.Deadline)
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		sub.Heard(time.Now())
		if m, ok := msg.(*redis.Message); ok {
			if r, ok := parseRevocation(m.Payload); ok {
				fn(r)
			}
		}
	}
}

// resubscribe subscribes again with back-off until it succeeds (the new
// PubSub) or ctx is done (nil).
func (s *Store) resubscribe(ctx context.Context) *redis.PubSub {
	backoff := feedBackoffMin
	for {
		if !sleep(ctx, backoff) {
			return nil
		}
		ps, err := s.subscribe(ctx, s.feed.live.Deadline)
		if err == nil {
			return ps
		}
		if ctx.Err() != nil {
			return nil
		}
		s.feed.log.Debug("revocation feed: subscribing again failed", "store", "redis", "err", err)
		backoff = min(2*backoff, feedBackoffMax)
	}
}

// catchUp calls fn for every revocation in the log and says how many. If
// the log cannot be read now, it retries until it can (true) or ctx ends
// (false): a node that missed revocations must not carry on as if it had
// not.
func (s *Store) catchUp(ctx context.Context, fn func(session.Revocation)) (int, bool) {
	backoff := feedBackoffMin
	for {
		rctx, cancel := context.WithTimeout(ctx, s.feed.live.Deadline)
		revs, err := s.Revocations(rctx, time.Now())
		cancel()
		if ctx.Err() != nil {
			return 0, false
		}
		if err == nil {
			for _, r := range revs {
				if ctx.Err() != nil {
					return 0, false
				}
				fn(r)
			}
			return len(revs), true
		}
		s.feed.log.Debug("revocation feed: reloading the revocation log failed", "store", "redis", "err", err)
		if !sleep(ctx, backoff) {
			return 0, false
		}
		backoff = min(2*backoff, feedBackoffMax)
	}
}

// sleep waits d, or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// parseRevocation parses a payload "<sid> <until unix µs>".
func parseRevocation(p string) (session.Revocation, bool) {
	id, until, ok := strings.Cut(p, " ")
	if !ok || id == "" {
		return session.Revocation{}, false
	}
	// The score comes back from ZSCORE as a decimal that may be written
	// as a float; it is an integer below 2^53, so float64 is exact.
	f, err := strconv.ParseFloat(until, 64)
	if err != nil {
		return session.Revocation{}, false
	}
	return session.Revocation{SessionID: id, Until: time.UnixMicro(int64(f)).UTC()}, true
}
