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

// RotateShared rotates the shared ring and returns the key that will sign
// next, as of now: it loads the latest stored ring, rotates it as
// KeyRing.Rotate does (a new alg key, or one of the newest stored key's
// algorithm for an empty alg, published at once and signing from
// now+ahead; ahead <= 0 signs at once; the previous signer retires retain
// after that), drops keys already retired at now, saves with
// compare-and-set (retrying a few times on ErrRingConflict) and finally
// swaps the result into r. If the stored ring already has a pending key
// and ahead > 0, nothing is saved: r takes the stored ring and the pending
// key is returned, so nodes whose schedules fire together publish one key.
// If the store holds no ring yet, r's keys are the starting point.
//
// Nothing is written when the key activates: every node holding the ring
// (see ReloadShared) switches to it at its activation time.
func RotateShared(ctx context.Context, s RingStore, r *KeyRing, master []byte, alg Algorithm, now time.Time, ahead, retain time.Duration) (KeyInfo, error) {
	for range maxRingAttempts {
		blob, ver, err := s.LoadKeyRing(ctx)
		if err != nil {
			return KeyInfo{}, fmt.Errorf("token: loading key ring: %w", err)
		}
		latest := newRing(r.load().keys...)
		if blob != nil {
			if latest, err = OpenKeyRing(blob, master); err != nil {
				return KeyInfo{}, err
			}
		}
		next, changed, err := latest.load().rotate(alg, now, ahead, retain)
		if err != nil {
			return KeyInfo{}, err
		}
		if !changed && blob != nil {
			r.replaceShared(latest, ver)
			return next.info(0, now), nil
		}
		next, _ = next.pruned(now)
		rotated := newRing(next.keys...)
		sealed, err := rotated.Seal(master)
		if err != nil {
			return KeyInfo{}, err
		}
		err = s.SaveKeyRing(ctx, sealed, ver)
		if err == nil {
			r.replaceShared(rotated, ver+1)
			return next.info(0, now), nil
		}
		if !errors.Is(err, ErrRingConflict) {
			return KeyInfo{}, fmt.Errorf("token: saving rotated key ring: %w", err)
		}
	}
	return KeyInfo{}, fmt.Errorf("token: rotating shared key ring: %w", ErrRingConflict)
}

// ReloadShared replaces r's keys with the ring stored in s, picking up
// rotations made by other nodes. A stored version older than the one r
// already holds (a reload overtaken by a rotation) changes nothing. A node
// must reload more often than the publish-ahead of rotations, so that it
// holds a pending key before the key's activation time.
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
