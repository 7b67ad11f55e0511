package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/token"
)

// LoadKeyRing returns the sealed key ring and its version, or (nil, 0,
// nil) if none has been saved.
func (s *Store) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("pgstore: load key ring: %w", err)
	}
	var (
		blob []byte
		v    int64
	)
	err := s.pool.QueryRow(ctx, `SELECT blob, version FROM keyring WHERE id = 1`).Scan(&blob, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, wrapErr(ctx, "load key ring", err)
	}
	return blob, uint64(v), nil
}

// SaveKeyRing stores blob as version prev+1 if the stored version is prev
// (0: none stored yet), in one statement; token.ErrRingConflict otherwise.
func (s *Store) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: save key ring: %w", err)
	}
	if blob == nil {
		blob = []byte{}
	}
	var q string
	if prev == 0 {
		q = `INSERT INTO keyring (id, blob, version) VALUES (1, $1, 1) ON CONFLICT (id) DO NOTHING`
	} else {
		q = `UPDATE keyring SET blob = $1, version = version + 1 WHERE id = 1 AND version = $2`
	}
	args := []any{blob}
	if prev != 0 {
		args = append(args, int64(prev))
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return wrapErr(ctx, "save key ring", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: save key ring: %w", token.ErrRingConflict)
	}
	return nil
}
