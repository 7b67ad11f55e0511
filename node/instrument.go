package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
)

// instrumented wraps a Backend so every store call has a deadline, is
// timed and its failures counted. It forwards the optional interfaces:
// the revocation feed (if the backend has none, subscribing succeeds and
// delivers nothing; the Manager's periodic reload still runs),
// SessionCounter and Prober.
//
// The deadline is Config.StoreTimeout (a caller's shorter deadline is
// kept), applied to the context the backend sees, so a backend that
// honours its context (go-redis, pgx) gives up by itself and may carry
// the deadline into the store. The call also runs apart from its caller,
// which gets ErrStore wrapping context.DeadlineExceeded at the deadline
// even if the backend does not return: bbolt cannot be interrupted in a
// stalled fsync, so its write transaction finishes or fails in the
// background, and because bbolt commits atomically nothing half-written
// remains either way. (A bbolt write still queued for the lock when its
// deadline passes changes nothing: boltstore checks the context once the
// lock is held.) A caller answered at the deadline cannot tell whether
// such a write later committed; refresh rotation is built so a retry of
// a committed rotation is recovered, not taken for theft.
type instrumented struct {
	Backend
	m            *metrics
	timeout      time.Duration // every call
	sweepTimeout time.Duration // DeleteExpired, which runs batches
	inline       bool          // the Backend is a DeadlineBound one: calls run on the caller's goroutine
}

// DeadlineBound is implemented by a Backend whose every call returns by
// its context's deadline by itself: its driver carries the deadline to
// the socket and to the wait for a pooled connection (the Redis store:
// go-redis with ContextTimeoutEnabled; the PostgreSQL store: pgx, which
// sets the socket's deadline when the context ends). A Node runs the
// calls of such a Backend on the caller's goroutine, under the same
// deadline, rather than on one of their own: a refresh then pays for no
// goroutine start, no stack grown afresh for the driver's call path, no
// channel. Other backends (bbolt, whose fsync cannot be interrupted) keep
// the goroutine, so a stalled call is answered at its deadline all the
// same.
type DeadlineBound interface {
	// ReturnsByDeadline reports whether every call returns by the
	// deadline of its context.
	ReturnsByDeadline() bool
}

// newInstrumented wraps b with the store deadlines and the metrics.
func newInstrumented(b Backend, m *metrics, timeout, sweepTimeout time.Duration) instrumented {
	db, ok := b.(DeadlineBound)
	return instrumented{Backend: b, m: m, timeout: timeout, sweepTimeout: sweepTimeout, inline: ok && db.ReturnsByDeadline()}
}

// call runs fn under the store deadline d, observes it as op, and returns
// at the deadline (or when ctx ends) whether or not fn has. With inline
// (a DeadlineBound backend) fn runs on the caller's goroutine, trusted to
// return by the deadline itself.
func call[T any](ctx context.Context, m *metrics, inline bool, op string, d time.Duration, fn func(context.Context) (T, error)) (v T, err error) {
	start := time.Now()
	defer func() { m.observeStore(op, start, err) }()
	if d <= 0 {
		d = DefaultStoreTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if inline {
		v, err = fn(ctx)
		switch {
		case gaveUpAtDeadline(ctx, err):
			return v, storeTimeout(op, d, err)
		case err != nil && ctx.Err() == context.DeadlineExceeded:
			var zero T
			return zero, storeTimeout(op, d, ctx.Err())
		case err != nil && ctx.Err() != nil:
			var zero T
			return zero, fmt.Errorf("store %s: %w", op, ctx.Err())
		}
		return v, err
	}
	type result struct {
		v     T
		err   error
		panic any
	}
	done := make(chan result, 1) // the backend never blocks on a caller that left
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic = p
			}
			done <- r
		}()
		r.v, r.err = fn(ctx)
	}()
	select {
	case r := <-done:
		if r.panic != nil {
			panic(r.panic)
		}
		if gaveUpAtDeadline(ctx, r.err) {
			// The backend gave up at the deadline itself: its socket
			// deadline (go-redis, pgx set it from the context's) fired
			// a moment before the context did.
			return r.v, storeTimeout(op, d, r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		if err := ctx.Err(); err == context.DeadlineExceeded {
			return zero, storeTimeout(op, d, err)
		}
		return zero, fmt.Errorf("store %s: %w", op, ctx.Err())
	}
}

// gaveUpAtDeadline reports whether err is a failure of a call that timed
// out (its deadline has passed, or its socket's did), and does not say so
// already.
func gaveUpAtDeadline(ctx context.Context, err error) bool {
	if err == nil || (errors.Is(err, session.ErrStore) && errors.Is(err, context.DeadlineExceeded)) {
		return false
	}
	if !errors.Is(err, session.ErrStore) && !errors.Is(err, context.DeadlineExceeded) {
		return false // an answer (not found, conflict), even a late one
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return true // a socket deadline, which may fire just before ctx's
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// storeTimeout is the error of a call that did not answer in time: a store
// failure (fail closed, 503) that is also context.DeadlineExceeded.
func storeTimeout(op string, d time.Duration, err error) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err) // a socket's i/o timeout
	}
	return fmt.Errorf("%w: %s: no answer within the store timeout %v: %w", session.ErrStore, op, d, err)
}

type rotated struct {
	o session.RotateOutcome
	r *session.Record
}

func (b instrumented) Create(ctx context.Context, r *session.Record) error {
	// The backend sets r.Version; it writes a copy so that a caller
	// answered at the deadline never sees r change under it.
	c := *r
	_, err := call(ctx, b.m, b.inline, "create", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.Create(ctx, &c)
	})
	if err == nil {
		*r = c
	}
	return err
}

func (b instrumented) Get(ctx context.Context, id string) (*session.Record, error) {
	return call(ctx, b.m, b.inline, "get", b.timeout, func(ctx context.Context) (*session.Record, error) {
		return b.Backend.Get(ctx, id)
	})
}

func (b instrumented) Update(ctx context.Context, r *session.Record) error {
	c := *r // as in Create
	_, err := call(ctx, b.m, b.inline, "update", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.Update(ctx, &c)
	})
	if err == nil {
		*r = c
	}
	return err
}

func (b instrumented) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	v, err := call(ctx, b.m, b.inline, "rotate", b.timeout, func(ctx context.Context) (rotated, error) {
		// The store checks the deadline itself, on its own clock, when it
		// applies the rotation, so it must be this call's: a command
		// left queued on a stalled store then does nothing once the
		// caller has been answered 503.
		if dl, ok := ctx.Deadline(); ok && (req.Deadline.IsZero() || dl.Before(req.Deadline)) {
			req.Deadline = dl
		}
		o, r, err := b.Backend.Rotate(ctx, id, req)
		return rotated{o, r}, err
	})
	return v.o, v.r, err
}

func (b instrumented) Delete(ctx context.Context, id string, until time.Time) (bool, error) {
	return call(ctx, b.m, b.inline, "delete", b.timeout, func(ctx context.Context) (bool, error) {
		return b.Backend.Delete(ctx, id, until)
	})
}

func (b instrumented) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	return call(ctx, b.m, b.inline, "delete_user", b.timeout, func(ctx context.Context) ([]string, error) {
		return b.Backend.DeleteUser(ctx, userID, except, until)
	})
}

func (b instrumented) ListUser(ctx context.Context, userID string) ([]*session.Record, error) {
	return call(ctx, b.m, b.inline, "list_user", b.timeout, func(ctx context.Context) ([]*session.Record, error) {
		return b.Backend.ListUser(ctx, userID)
	})
}

func (b instrumented) ListUserPage(ctx context.Context, userID string, after session.PageCursor, limit int) ([]*session.Record, error) {
	return call(ctx, b.m, b.inline, "list_user_page", b.timeout, func(ctx context.Context) ([]*session.Record, error) {
		return b.Backend.ListUserPage(ctx, userID, after, limit)
	})
}

func (b instrumented) Revocations(ctx context.Context, now time.Time) ([]session.Revocation, error) {
	return call(ctx, b.m, b.inline, "revocations", b.timeout, func(ctx context.Context) ([]session.Revocation, error) {
		return b.Backend.Revocations(ctx, now)
	})
}

func (b instrumented) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return call(ctx, b.m, b.inline, "delete_expired", b.sweepTimeout, func(ctx context.Context) (int, error) {
		return b.Backend.DeleteExpired(ctx, now)
	})
}

func (b instrumented) CreateAccount(ctx context.Context, a *account.Account) error {
	_, err := call(ctx, b.m, b.inline, "create_account", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.CreateAccount(ctx, a)
	})
	return err
}

func (b instrumented) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	return call(ctx, b.m, b.inline, "account_by_email", b.timeout, func(ctx context.Context) (*account.Account, error) {
		return b.Backend.AccountByEmail(ctx, email)
	})
}

func (b instrumented) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	return call(ctx, b.m, b.inline, "account_by_id", b.timeout, func(ctx context.Context) (*account.Account, error) {
		return b.Backend.AccountByID(ctx, id)
	})
}

func (b instrumented) ListAccountsPage(ctx context.Context, after string, limit int) ([]*account.Account, error) {
	return call(ctx, b.m, b.inline, "list_accounts_page", b.timeout, func(ctx context.Context) ([]*account.Account, error) {
		return b.Backend.ListAccountsPage(ctx, after, limit)
	})
}

func (b instrumented) SetAccountClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error {
	_, err := call(ctx, b.m, b.inline, "set_account_claims", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.SetAccountClaims(ctx, id, claims)
	})
	return err
}

func (b instrumented) SetAccountPassword(ctx context.Context, id, passwordHash string) error {
	_, err := call(ctx, b.m, b.inline, "set_account_password", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.SetAccountPassword(ctx, id, passwordHash)
	})
	return err
}

func (b instrumented) DeleteAccount(ctx context.Context, id string) error {
	_, err := call(ctx, b.m, b.inline, "delete_account", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.DeleteAccount(ctx, id)
	})
	return err
}

func (b instrumented) CreateResetToken(ctx context.Context, hash []byte, accountID string, expires time.Time) error {
	_, err := call(ctx, b.m, b.inline, "create_reset_token", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.CreateResetToken(ctx, hash, accountID, expires)
	})
	return err
}

func (b instrumented) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return call(ctx, b.m, b.inline, "reset_token_account", b.timeout, func(ctx context.Context) (string, error) {
		return b.Backend.ResetTokenAccount(ctx, hash, now)
	})
}

func (b instrumented) ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return call(ctx, b.m, b.inline, "consume_reset_token", b.timeout, func(ctx context.Context) (string, error) {
		return b.Backend.ConsumeResetToken(ctx, hash, now)
	})
}

func (b instrumented) DeleteExpiredResetTokens(ctx context.Context, now time.Time) (int, error) {
	return call(ctx, b.m, b.inline, "delete_expired_reset_tokens", b.sweepTimeout, func(ctx context.Context) (int, error) {
		return b.Backend.DeleteExpiredResetTokens(ctx, now)
	})
}

type ring struct {
	blob    []byte
	version uint64
}

func (b instrumented) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	v, err := call(ctx, b.m, b.inline, "load_key_ring", b.timeout, func(ctx context.Context) (ring, error) {
		blob, version, err := b.Backend.LoadKeyRing(ctx)
		return ring{blob, version}, err
	})
	return v.blob, v.version, err
}

func (b instrumented) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	_, err := call(ctx, b.m, b.inline, "save_key_ring", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Backend.SaveKeyRing(ctx, blob, prev)
	})
	return err
}

func (b instrumented) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if f, ok := b.Backend.(session.RevocationFeed); ok {
		return f.SubscribeRevocations(ctx, fn)
	}
	return nil
}

func (b instrumented) CountSessions(ctx context.Context, now time.Time) (int64, error) {
	if c, ok := b.Backend.(SessionCounter); ok {
		return call(ctx, b.m, b.inline, "count_sessions", b.timeout, func(ctx context.Context) (int64, error) {
			return c.CountSessions(ctx, now)
		})
	}
	return -1, nil
}

// Probe runs the backend's write probe (see Prober) under the store
// deadline; a backend without one has nothing more to check than a read,
// and Probe returns nil.
func (b instrumented) Probe(ctx context.Context) error {
	p, ok := b.Backend.(Prober)
	if !ok {
		return nil
	}
	_, err := call(ctx, b.m, b.inline, "probe", b.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.Probe(ctx)
	})
	return err
}

// deadlineLimiter gives every call of a limiter kept in the store (Redis)
// the store deadline. It does not run the call apart: go-redis honours its
// context, and a per-request goroutine on the hot path would cost more
// than the call.
type deadlineLimiter struct {
	ratelimit.Limiter
	timeout time.Duration
}

func (l deadlineLimiter) Allow(ctx context.Context, key string, lim ratelimit.Limit) (ratelimit.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	return l.Limiter.Allow(ctx, key, lim)
}

// withDeadline wraps l in a deadlineLimiter, and in a deadlineFailures
// when l also counts failures (ratelimit.FailureLimiter), so that the
// login throttle finds that side too.
func withDeadline(l ratelimit.Limiter, timeout time.Duration) ratelimit.Limiter {
	d := deadlineLimiter{l, timeout}
	if f, ok := l.(ratelimit.FailureLimiter); ok {
		return deadlineFailures{d, f}
	}
	return d
}

// deadlineFailures is a deadlineLimiter whose failure side gets the store
// deadline too.
type deadlineFailures struct {
	deadlineLimiter
	f ratelimit.FailureLimiter
}

func (l deadlineFailures) Blocked(ctx context.Context, key string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	return l.f.Blocked(ctx, key)
}

func (l deadlineFailures) Fail(ctx context.Context, key string, b ratelimit.Backoff) (ratelimit.Failure, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	return l.f.Fail(ctx, key, b)
}

func (l deadlineFailures) Forget(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	return l.f.Forget(ctx, key)
}
