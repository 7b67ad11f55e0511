package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/session"
)

// ListUserPage returns at most limit of the user's sessions after the
// position after, in the order (CreatedAt, ID), ids compared byte by byte:
// keyset pagination over the index sessions_user_created_id (migration
// 3), so a page costs one index descent and limit rows.
func (s *Store) ListUserPage(ctx context.Context, userID string, after session.PageCursor, limit int) ([]*session.Record, error) {
	const op = "list user page"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if err := session.CheckPageLimit(limit); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	var (
		rows pgx.Rows
		err  error
	)
	if after.IsZero() {
		rows, err = s.pool.Query(ctx, `SELECT `+recordCols+` FROM sessions
			WHERE user_id = $1
			ORDER BY created_at, id COLLATE "C" LIMIT $2`, userID, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+recordCols+` FROM sessions
			WHERE user_id = $1 AND (created_at, id COLLATE "C") > ($2, $3)
			ORDER BY created_at, id COLLATE "C" LIMIT $4`, userID, after.CreatedAt, after.ID, limit)
	}
	if err != nil {
		return nil, wrapErr(ctx, op, err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*session.Record, error) { return scanRecord(row) })
	if err != nil {
		return nil, wrapErr(ctx, op, err)
	}
	return rs, nil
}
