package token

import (
	"context"
	"errors"
)

// ErrRingConflict is returned by RingStore.SaveKeyRing when the stored
// version is not the one the caller read: another node rotated first.
var ErrRingConflict = errors.New("token: key ring changed concurrently")

// RingStore keeps the key ring, sealed under the master key, so every node
// that shares a store shares the keys. Each backend in store/* implements
// it; the blob is opaque to the store.
type RingStore interface {
	// LoadKeyRing returns the sealed ring and its version, or (nil, 0, nil)
	// if no ring has been saved yet.
	LoadKeyRing(ctx context.Context) (blob []byte, version uint64, err error)
	// SaveKeyRing stores blob if the stored version equals prev (0: none
	// stored yet); the new version is prev+1. ErrRingConflict otherwise.
	SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error
}
