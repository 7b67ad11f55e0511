package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/session"
)

// Feed timing. A subscription that hears nothing for feedIdle pings the
// server, so a connection that died silently is noticed and replaced.
const (
	feedIdle       = 30 * time.Second
	feedBackoffMin = 50 * time.Millisecond
	feedBackoffMax = 2 * time.Second
)

// SubscribeRevocations subscribes to the revocation channel, waits for the
// server's confirmation, and then calls fn from a goroutine of its own for
// every revocation any node publishes, until ctx is done.
//
// Pub/sub is fire-and-forget: a message published while the connection is
// down is lost. So after every reconnection the goroutine, once subscribed
// again, reloads the log (Revocations at the wall clock) and calls fn for
// each entry: a node that was cut off catches up on what it missed (and
// sees some revocations twice, which is harmless).
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	const op = "subscribe revocations"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	ps := s.c.Subscribe(ctx, s.revChannel())
	if _, err := ps.ReceiveTimeout(ctx, 10*time.Second); err != nil {
		ps.Close()
		return fail(op, err)
	}
	// Receive does not watch ctx while it blocks; closing the PubSub
	// wakes it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	go func() {
		defer stop()
		defer ps.Close()
		s.feedLoop(ctx, ps, fn)
	}()
	return nil
}

func (s *Store) feedLoop(ctx context.Context, ps *redis.PubSub, fn func(session.Revocation)) {
	backoff := feedBackoffMin
	resync := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, feedIdle)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet, or dead? A ping tells; its failure makes the
				// next receive reconnect.
				if perr := ps.Ping(ctx); perr != nil {
					resync = true
				}
				continue
			}
			// The connection broke; go-redis reconnects and subscribes
			// again on the next receive.
			resync = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, feedBackoffMax)
			continue
		}
		backoff = feedBackoffMin
		switch m := msg.(type) {
		case *redis.Subscription:
			if resync && m.Kind == "subscribe" {
				resync = false
				s.catchUp(ctx, fn)
			}
		case *redis.Message:
			if r, ok := parseRevocation(m.Payload); ok && ctx.Err() == nil {
				fn(r)
			}
		}
	}
}

// catchUp calls fn for every revocation in the log. If the log cannot be
// read now, it retries until it can or ctx ends: a node that missed
// revocations must not carry on as if it had not.
func (s *Store) catchUp(ctx context.Context, fn func(session.Revocation)) {
	backoff := feedBackoffMin
	for {
		revs, err := s.Revocations(ctx, time.Now())
		if err == nil {
			for _, r := range revs {
				if ctx.Err() != nil {
					return
				}
				fn(r)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, feedBackoffMax)
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
