package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// LoadKeyRing returns the sealed key ring and its version, or (nil, 0,
// nil) if none was saved yet.
func (s *Store) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	const op = "load key ring"
	if err := ctx.Err(); err != nil {
		return nil, 0, fail(op, err)
	}
	v, err := s.c.HMGet(ctx, s.ringKey(), "b", "v").Result()
	if err != nil {
		return nil, 0, fail(op, err)
	}
	blob, ok1 := v[0].(string)
	ver, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		if v[0] == nil && v[1] == nil {
			return nil, 0, nil
		}
		return nil, 0, fail(op, errors.New("corrupt key ring record"))
	}
	n, err := strconv.ParseUint(ver, 10, 64)
	if err != nil {
		return nil, 0, fail(op, fmt.Errorf("%w: corrupt key ring version: %w", session.ErrStore, err))
	}
	return []byte(blob), n, nil
}

// SaveKeyRing stores blob as version prev+1 if the stored version is prev
// (0: none yet), in one compare-and-set script; token.ErrRingConflict
// otherwise.
func (s *Store) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	const op = "save key ring"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	ok, err := scriptSaveRing.Run(ctx, s.c, []string{s.ringKey()},
		strconv.FormatUint(prev, 10), string(blob), strconv.FormatUint(prev+1, 10)).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fail(op, err)
	}
	if ok != 1 {
		return fmt.Errorf("redisstore: %s: %w", op, token.ErrRingConflict)
	}
	return nil
}
