package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

var (
	keyRingBlob    = []byte("blob")
	keyRingVersion = []byte("version")
)

// LoadKeyRing returns the sealed key ring and its version, or (nil, 0,
// nil) if none was saved.
func (s *Store) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	var (
		blob []byte
		ver  uint64
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketKeyRing)
		if err != nil {
			return err
		}
		v := b.Get(keyRingVersion)
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: corrupt key ring version", session.ErrStore)
		}
		ver = binary.BigEndian.Uint64(v)
		blob = bytes.Clone(b.Get(keyRingBlob))
		return nil
	})
	if err != nil {
		return nil, 0, fail("load key ring", err)
	}
	return blob, ver, nil
}

// SaveKeyRing stores blob as version prev+1 if the stored version is prev
// (0: none), in one write transaction; token.ErrRingConflict otherwise.
func (s *Store) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketKeyRing)
		if err != nil {
			return err
		}
		var cur uint64
		if v := b.Get(keyRingVersion); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: corrupt key ring version", session.ErrStore)
			}
			cur = binary.BigEndian.Uint64(v)
		}
		if cur != prev {
			return fmt.Errorf("version %d stored, %d expected: %w", cur, prev, token.ErrRingConflict)
		}
		if err := b.Put(keyRingBlob, bytes.Clone(blob)); err != nil {
			return err
		}
		return b.Put(keyRingVersion, binary.BigEndian.AppendUint64(nil, prev+1))
	})
	if err != nil {
		return fail("save key ring", err)
	}
	return nil
}
