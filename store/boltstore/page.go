package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
)

// userPrefix is the sessions_by_user_created prefix of userID: its length
// as a uvarint, then the id. The length makes the prefix unambiguous
// (no user's keys start with another user's prefix), whatever bytes a
// user id holds.
func userPrefix(userID string) []byte {
	k := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(userID)+8+22), uint64(len(userID)))
	return append(k, userID...)
}

// userTimeKey is the sessions_by_user_created key of a session: its
// user's prefix, its creation time (8 bytes, so byte order is time order)
// and its id. Keys of one user sort in the listing order of
// session.Store.ListUserPage.
func userTimeKey(userID string, created time.Time, id string) []byte {
	k := append(userPrefix(userID), timeKey(created)...)
	return append(k, id...)
}

// ListUserPage returns at most limit of the user's sessions after the
// position after, in the order (CreatedAt, ID): one seek in the
// sessions_by_user_created index, then limit steps, in one read
// transaction.
func (s *Store) ListUserPage(ctx context.Context, userID string, after session.PageCursor, limit int) ([]*session.Record, error) {
	if err := session.CheckPageLimit(limit); err != nil {
		return nil, fail("list user page", err)
	}
	var out []*session.Record
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		t, err := open(tx)
		if err != nil {
			return err
		}
		out = out[:0]
		prefix := userPrefix(userID)
		seek := prefix
		if !after.IsZero() {
			seek = userTimeKey(userID, after.CreatedAt, after.ID)
		}
		c := t.byUserTime.Cursor()
		k, _ := c.Seek(seek)
		if k != nil && !after.IsZero() && bytes.Equal(k, seek) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			if len(k) < len(prefix)+8 {
				return fmt.Errorf("%w: malformed user index key", session.ErrStore)
			}
			id := string(k[len(prefix)+8:])
			r, err := t.get(id)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("%w: user index names missing session", session.ErrStore)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fail("list user page", err)
	}
	return out, nil
}

// backfillUserTime fills sessions_by_user_created from the sessions of a
// data directory written before that index existed (it is empty while
// sessions exist). A record that cannot be decoded is left out: it cannot
// be listed anyway, and Get reports it.
func backfillUserTime(tx *bbolt.Tx) error {
	idx := tx.Bucket(bucketByUserTime)
	sessions := tx.Bucket(bucketSessions)
	if k, _ := idx.Cursor().First(); k != nil {
		return nil
	}
	return sessions.ForEach(func(k, v []byte) error {
		r, err := decodeRecord(string(k), v)
		if err != nil || r == nil {
			return nil
		}
		return idx.Put(userTimeKey(r.UserID, r.CreatedAt, r.ID), nil)
	})
}
