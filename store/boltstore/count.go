package boltstore

import (
	"bytes"
	"context"
	"time"

	"go.etcd.io/bbolt"
)

// CountSessions returns how many sessions are alive at now, counting the
// expiry index from now on (no record is decoded).
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketByExpiry)
		if err != nil {
			return err
		}
		from := timeKey(now)
		c := b.Cursor()
		for k, _ := c.Seek(from); k != nil; k, _ = c.Next() {
			// A key equal to now in its time part is dead at now.
			if bytes.Equal(k[:8], from[:8]) {
				continue
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fail("count", err)
	}
	return n, nil
}
