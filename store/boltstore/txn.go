package boltstore

import (
	"bytes"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
)

// txn gives the session buckets of one transaction.
type txn struct {
	sessions, byUser, byUserTime, byExpiry, revocations *bbolt.Bucket
	revoked                                             []session.Revocation // to publish after commit
}

func open(tx *bbolt.Tx) (*txn, error) {
	var t txn
	var err error
	for _, p := range []struct {
		b    **bbolt.Bucket
		name []byte
	}{{&t.sessions, bucketSessions}, {&t.byUser, bucketByUser}, {&t.byUserTime, bucketByUserTime}, {&t.byExpiry, bucketByExpiry}, {&t.revocations, bucketRevocations}} {
		if *p.b, err = bucket(tx, p.name); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// get loads and decodes a session; (nil, nil) if there is none.
func (t *txn) get(id string) (*session.Record, error) {
	v := t.sessions.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeRecord(id, v)
}

// put writes r and its index entries, replacing those of old (nil for a
// new session).
func (t *txn) put(r, old *session.Record) error {
	v, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return t.putEncoded(r, old, v)
}

// putEncoded is put with r already encoded as v (encodeRecord), so that a
// caller can encode before its transaction, outside the writer lock, and
// refuse a record that cannot be encoded without touching the store.
func (t *txn) putEncoded(r, old *session.Record, v []byte) error {
	if err := t.sessions.Put([]byte(r.ID), v); err != nil {
		return err
	}
	if old == nil || old.UserID != r.UserID {
		if old != nil {
			if err := t.byUser.Delete(userKey(old.UserID, old.ID)); err != nil {
				return err
			}
		}
		if err := t.byUser.Put(userKey(r.UserID, r.ID), nil); err != nil {
			return err
		}
	}
	if newKey := userTimeKey(r.UserID, r.CreatedAt, r.ID); old == nil || !bytes.Equal(userTimeKey(old.UserID, old.CreatedAt, old.ID), newKey) {
		if old != nil {
			if err := t.byUserTime.Delete(userTimeKey(old.UserID, old.CreatedAt, old.ID)); err != nil {
				return err
			}
		}
		if err := t.byUserTime.Put(newKey, nil); err != nil {
			return err
		}
	}
	newKey := expiryKey(r)
	if old != nil {
		if oldKey := expiryKey(old); !bytes.Equal(oldKey, newKey) {
			if err := t.byExpiry.Delete(oldKey); err != nil {
				return err
			}
		} else {
			return nil
		}
	}
	return t.byExpiry.Put(newKey, nil)
}

// remove deletes r and its index entries.
func (t *txn) remove(r *session.Record) error {
	if err := t.sessions.Delete([]byte(r.ID)); err != nil {
		return err
	}
	if err := t.byUser.Delete(userKey(r.UserID, r.ID)); err != nil {
		return err
	}
	if err := t.byUserTime.Delete(userTimeKey(r.UserID, r.CreatedAt, r.ID)); err != nil {
		return err
	}
	return t.byExpiry.Delete(expiryKey(r))
}

// revoke records a revocation, keeping the later Until if one exists, and
// remembers it for the feed.
func (t *txn) revoke(id string, until time.Time) error {
	if old := t.revocations.Get([]byte(id)); len(old) == 8 && decodeTime(old).After(until) {
		until = decodeTime(old)
	}
	if err := t.revocations.Put([]byte(id), encodeTime(until)); err != nil {
		return err
	}
	t.revoked = append(t.revoked, session.Revocation{SessionID: id, Until: until})
	return nil
}

// userIDs returns the ids indexed under userID. A key of another user
// whose id starts with userID+"\x00" is told apart by the NUL it still
// contains after the prefix (session ids have none).
func userIDs(b *bbolt.Bucket, userID string) []string {
	prefix := append([]byte(userID), 0)
	var ids []string
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rest := k[len(prefix):]
		if bytes.IndexByte(rest, 0) >= 0 {
			continue
		}
		ids = append(ids, string(rest))
	}
	return ids
}
