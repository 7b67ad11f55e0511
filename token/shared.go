package token

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errNoRing is returned by ReloadShared when the store holds no ring.
var errNoRing = errors.New("token: no shared key ring stored yet")

// maxRingAttempts bounds the compare-and-set retries of the shared-ring
// functions; each conflict means another node made progress.
const maxRingAttempts = 5

// LoadOrCreateKeyRing returns the ring kept in s, opened with master. If the
// store holds none, it creates one for alg and saves it; when another node
// saves first (ErrRingConflict) it loads that node's ring instead, so every
// node converges on one ring.
func LoadOrCreateKeyRing(ctx context.Context, s RingStore, master []byte, alg Algorithm, now time.Time) (*KeyRing, error) {
	for range maxRingAttempts {
		blob, ver, err := s.LoadKeyRing(ctx)
		if err != nil {
			return nil, fmt.Errorf("token: loading key ring: %w", err)
		}
		if blob != nil {
			r, err := OpenKeyRing(blob, master)
			if err != nil {
				return nil, err
			}
			r.snap.Store(&snapshot{keys: r.load().keys, ver: ver})
			return r, nil
		}
		r, err := NewKeyRing(alg, now)
		if err != nil {
			return nil, err
		}
		sealed, err := r.Seal(master)
		if err != nil {
			return nil, err
		}
		err = s.SaveKeyRing(ctx, sealed, 0)
		if err == nil {
			r.snap.Store(&snapshot{keys: r.load().keys, ver: 1})
			return r, nil
		}
		if !errors.Is(err, ErrRingConflict) {
			return nil, fmt.Errorf("token: saving new key ring: %w", err)
		}
	}
	return nil, fmt.Errorf("token: creating shared key ring: %w", ErrRingConflict)
}

// RotateShared rotates the shared ring: it loads the latest stored ring,
// makes a new alg key active (the previous one retires at now+retain),
// drops keys already retired at now, saves with compare-and-set (retrying a
// few times on ErrRingConflict) and finally swaps the result into r.
// If the store holds no ring yet, r's keys are the starting point.
func RotateShared(ctx context.Context, s RingStore, r *KeyRing, master []byte, alg Algorithm, now time.Time, retain time.Duration) error {
	for range maxRingAttempts {
		blob, ver, err := s.LoadKeyRing(ctx)
		if err != nil {
			return fmt.Errorf("token: loading key ring: %w", err)
		}
		latest := newRing(r.load().keys...)
		if blob != nil {
			if latest, err = OpenKeyRing(blob, master); err != nil {
				return err
			}
		}
		if err := latest.Rotate(alg, now, retain); err != nil {
			return err
		}
		latest.Prune(now)
		sealed, err := latest.Seal(master)
		if err != nil {
			return err
		}
		err = s.SaveKeyRing(ctx, sealed, ver)
		if err == nil {
			r.replaceShared(latest, ver+1)
			return nil
		}
		if !errors.Is(err, ErrRingConflict) {
			return fmt.Errorf("token: saving rotated key ring: %w", err)
		}
	}
	return fmt.Errorf("token: rotating shared key ring: %w", ErrRingConflict)
}

// ReloadShared replaces r's keys with the ring stored in s, picking up
// rotations made by other nodes. A stored version older than the one r
// already holds (a reload overtaken by a rotation) changes nothing.
func ReloadShared(ctx context.Context, s RingStore, r *KeyRing, master []byte) error {
	blob, ver, err := s.LoadKeyRing(ctx)
	if err != nil {
		return fmt.Errorf("token: loading key ring: %w", err)
	}
	if blob == nil {
		return errNoRing
	}
	latest, err := OpenKeyRing(blob, master)
	if err != nil {
		return err
	}
	// A reload that read the ring before a rotation on this node finished
	// must not put the older ring back.
	r.replaceShared(latest, ver)
	return nil
}
