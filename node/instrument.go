package node

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
)

// instrumented wraps a Backend so every store call is timed and its
// failures counted. It forwards the optional interfaces: the revocation
// feed (if the backend has none, subscribing succeeds and delivers
// nothing; the Manager's periodic reload still runs) and SessionCounter.
type instrumented struct {
	Backend
	m *metrics
}

func (b instrumented) Create(ctx context.Context, r *session.Record) (err error) {
	defer func(t time.Time) { b.m.observeStore("create", t, err) }(time.Now())
	return b.Backend.Create(ctx, r)
}

func (b instrumented) Get(ctx context.Context, id string) (r *session.Record, err error) {
	defer func(t time.Time) { b.m.observeStore("get", t, err) }(time.Now())
	return b.Backend.Get(ctx, id)
}

func (b instrumented) Update(ctx context.Context, r *session.Record) (err error) {
	defer func(t time.Time) { b.m.observeStore("update", t, err) }(time.Now())
	return b.Backend.Update(ctx, r)
}

func (b instrumented) Rotate(ctx context.Context, id string, req session.RotateRequest) (o session.RotateOutcome, r *session.Record, err error) {
	defer func(t time.Time) { b.m.observeStore("rotate", t, err) }(time.Now())
	return b.Backend.Rotate(ctx, id, req)
}

func (b instrumented) Delete(ctx context.Context, id string, until time.Time) (ok bool, err error) {
	defer func(t time.Time) { b.m.observeStore("delete", t, err) }(time.Now())
	return b.Backend.Delete(ctx, id, until)
}

func (b instrumented) DeleteUser(ctx context.Context, userID, except string, until time.Time) (ids []string, err error) {
	defer func(t time.Time) { b.m.observeStore("delete_user", t, err) }(time.Now())
	return b.Backend.DeleteUser(ctx, userID, except, until)
}

func (b instrumented) ListUser(ctx context.Context, userID string) (rs []*session.Record, err error) {
	defer func(t time.Time) { b.m.observeStore("list_user", t, err) }(time.Now())
	return b.Backend.ListUser(ctx, userID)
}

func (b instrumented) Revocations(ctx context.Context, now time.Time) (rs []session.Revocation, err error) {
	defer func(t time.Time) { b.m.observeStore("revocations", t, err) }(time.Now())
	return b.Backend.Revocations(ctx, now)
}

func (b instrumented) DeleteExpired(ctx context.Context, now time.Time) (n int, err error) {
	defer func(t time.Time) { b.m.observeStore("delete_expired", t, err) }(time.Now())
	return b.Backend.DeleteExpired(ctx, now)
}

func (b instrumented) CreateAccount(ctx context.Context, a *account.Account) (err error) {
	defer func(t time.Time) { b.m.observeStore("create_account", t, err) }(time.Now())
	return b.Backend.CreateAccount(ctx, a)
}

func (b instrumented) AccountByEmail(ctx context.Context, email string) (a *account.Account, err error) {
	defer func(t time.Time) { b.m.observeStore("account_by_email", t, err) }(time.Now())
	return b.Backend.AccountByEmail(ctx, email)
}

func (b instrumented) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if f, ok := b.Backend.(session.RevocationFeed); ok {
		return f.SubscribeRevocations(ctx, fn)
	}
	return nil
}

func (b instrumented) CountSessions(ctx context.Context, now time.Time) (int64, error) {
	if c, ok := b.Backend.(SessionCounter); ok {
		return c.CountSessions(ctx, now)
	}
	return -1, nil
}
