package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
)

// Password-reset tokens live in two buckets of their own, created by the
// first write: reset_tokens maps a token's hash to its expiry (8 bytes,
// big-endian unix nanoseconds) followed by the account id, and
// reset_tokens_by_expiry holds the key expiry||hash (empty value), in
// byte order, so a sweep walks the expired ones from the start and stops
// at the first that is not.
var (
	bucketResetTokens   = []byte("reset_tokens")
	bucketResetByExpiry = []byte("reset_tokens_by_expiry")
)

// resetSweepBatch bounds the tokens one sweep transaction removes, so a
// sweep never holds the write lock for long.
const resetSweepBatch = 1000

func resetExpiry(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	return b[:]
}

// CreateResetToken stores the token with hash for accountID until expires.
func (s *Store) CreateResetToken(ctx context.Context, hash []byte, accountID string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: create reset token: %w", err)
	}
	exp := resetExpiry(expires)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		byHash, err := tx.CreateBucketIfNotExists(bucketResetTokens)
		if err != nil {
			return err
		}
		byExp, err := tx.CreateBucketIfNotExists(bucketResetByExpiry)
		if err != nil {
			return err
		}
		if old := byHash.Get(hash); len(old) >= 8 {
			if err := byExp.Delete(append(old[:8:8], hash...)); err != nil {
				return err
			}
		}
		if err := byHash.Put(hash, append(bytes.Clone(exp), accountID...)); err != nil {
			return err
		}
		return byExp.Put(append(bytes.Clone(exp), hash...), nil)
	})
	if err != nil {
		return storeErr("create reset token", err)
	}
	return nil
}

// decodeReset splits a stored value into its expiry and account id.
func decodeReset(v []byte) (time.Time, string, error) {
	if len(v) < 8 {
		return time.Time{}, "", fmt.Errorf("%w: corrupt reset token record", session.ErrStore)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))), string(v[8:]), nil
}

// ResetTokenAccount returns the account of the unexpired token with hash,
// or account.ErrNotFound.
func (s *Store) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("boltstore: reset token account: %w", err)
	}
	var id string
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketResetTokens)
		if b == nil {
			return account.ErrNotFound
		}
		v := b.Get(hash)
		if v == nil {
			return account.ErrNotFound
		}
		exp, acct, err := decodeReset(v)
		if err != nil {
			return err
		}
		if !exp.After(now) {
			return account.ErrNotFound
		}
		id = acct
		return nil
	})
	if err != nil {
		return "", storeErr("reset token account", err)
	}
	return id, nil
}

// ConsumeResetToken removes the unexpired token with hash and returns its
// account, or account.ErrNotFound: one write transaction, so once.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("boltstore: consume reset token: %w", err)
	}
	var id string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := tx.Bucket(bucketResetTokens)
		if b == nil {
			return account.ErrNotFound
		}
		v := b.Get(hash)
		if v == nil {
			return account.ErrNotFound
		}
		exp, acct, err := decodeReset(v)
		if err != nil {
			return err
		}
		if !exp.After(now) {
			return account.ErrNotFound // left for the sweep
		}
		if byExp := tx.Bucket(bucketResetByExpiry); byExp != nil {
			if err := byExp.Delete(append(bytes.Clone(v[:8]), hash...)); err != nil {
				return err
			}
		}
		if err := b.Delete(hash); err != nil {
			return err
		}
		id = acct
		return nil
	})
	if err != nil {
		return "", storeErr("consume reset token", err)
	}
	return id, nil
}

// DeleteExpiredResetTokens removes the tokens that expire at or before
// now, resetSweepBatch to a transaction.
func (s *Store) DeleteExpiredResetTokens(ctx context.Context, now time.Time) (int, error) {
	total := 0
	limit := resetExpiry(now)
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("boltstore: delete expired reset tokens: %w", err)
		}
		n := 0
		err := s.db.Update(func(tx *bbolt.Tx) error {
			byExp, byHash := tx.Bucket(bucketResetByExpiry), tx.Bucket(bucketResetTokens)
			if byExp == nil || byHash == nil {
				return nil
			}
			var keys [][]byte
			c := byExp.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < resetSweepBatch; k, _ = c.Next() {
				if len(k) < 8 || bytes.Compare(k[:8], limit) > 0 {
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := byExp.Delete(k); err != nil {
					return err
				}
				if err := byHash.Delete(k[8:]); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, storeErr("delete expired reset tokens", err)
		}
		total += n
		if n < resetSweepBatch {
			return total, nil
		}
	}
}
