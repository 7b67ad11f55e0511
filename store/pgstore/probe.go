package pgstore

import (
	"context"
	"fmt"
)

// Probe checks that the database takes writes (for /readyz) without a
// table of its own: a transaction that is given a transaction id
// (pg_current_xact_id) writes a commit record to the WAL and, with
// synchronous_commit on, waits for it to be flushed; a read-only server
// (a standby, default_transaction_read_only) refuses it.
func (s *Store) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: probe: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrapErr(ctx, "probe", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		return wrapErr(ctx, "probe: write", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrapErr(ctx, "probe: commit", err)
	}
	return nil
}
