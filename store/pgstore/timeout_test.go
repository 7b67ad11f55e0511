package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/pgstore"
)

// TestStatementTimeoutBoundsAStall: with WithStatementTimeout, a call
// stuck behind a lock that is never released fails on the server's own
// limit (lock_timeout), even for a caller without a deadline, and is a
// store failure; and the limits are lifted for migrations.
func TestStatementTimeoutBoundsAStall(t *testing.T) {
	const timeout = 300 * time.Millisecond
	schema := freshSchema(t)
	s := open(t, schema, pgstore.WithStatementTimeout(timeout))
	ctx := context.Background()

	conn, err := pgx.Connect(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{schema, "sessions"}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err = s.Get(ctx, "AAAAAAAAAAAAAAAAAAAAAA")
	took := time.Since(start)
	t.Logf("a read behind a held lock failed after %v: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, session.ErrStore) || took > 3*timeout {
		t.Fatalf("read behind a held lock: %v after %v; want ErrStore within 3x the timeout %v", err, took, 3*timeout)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// A migration may wait longer for its lock than a request may.
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sessiond migrate ' || $1))`, schema); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pgstore.Migrate(ctx, testenv.PostgresURL(t)+"&statement_timeout=300&lock_timeout=300", pgstore.WithSchema(schema), pgstore.WithStatementTimeout(timeout))
		done <- err
	}()
	time.Sleep(5 * timeout) // longer than a request may wait for a lock
	lock.Rollback(ctx)
	if err := <-done; err != nil {
		t.Fatalf("Migrate once the lock is free: %v", err)
	}
}
