package token

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// MinSecretLen is the shortest secret key CheckSecret accepts: a master
// key, a refresh key, a CSRF key.
const MinSecretLen = 32

// minSecretDistinct is the fewest distinct byte values CheckSecret accepts
// in a key. 32 random bytes hold about 30 (the chance of fewer than 8 is
// below 2^-90); a key made by hand (all zero, one byte repeated, a short
// pattern over and over) holds a handful.
const minSecretDistinct = 8

// makeSecretHint says how to make a key that CheckSecret accepts.
const makeSecretHint = "use 32 random bytes: crypto/rand.Read in Go, or head -c32 /dev/urandom | base64"

// CheckSecret reports whether key can be a secret key of sessiond: at
// least MinSecretLen bytes, and not obviously made by hand. It refuses a
// key whose bytes are all equal (all zero included) and one with fewer than
// 8 distinct byte values, which no random key has. It cannot tell a random
// key from any other; it only catches the keys that are certainly not
// secret. The error wraps ErrWeakKey, says how to make a good key, and
// never quotes the key.
func CheckSecret(key []byte) error {
	if len(key) < MinSecretLen {
		return fmt.Errorf("%w: %d bytes, need at least %d; %s", ErrWeakKey, len(key), MinSecretLen, makeSecretHint)
	}
	var seen [256]bool
	distinct := 0
	for _, b := range key {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	switch {
	case distinct == 1 && key[0] == 0:
		return fmt.Errorf("%w: all %d bytes are zero, so it is no secret; %s", ErrWeakKey, len(key), makeSecretHint)
	case distinct == 1:
		return fmt.Errorf("%w: one byte repeated %d times, so it is no secret; %s", ErrWeakKey, len(key), makeSecretHint)
	case distinct < minSecretDistinct:
		return fmt.Errorf("%w: only %d distinct byte values in %d bytes (a random key has about 30), so it is not random; %s",
			ErrWeakKey, distinct, len(key), makeSecretHint)
	}
	return nil
}

// Purposes of the keys DeriveKey derives from a master key, as sessiond
// serve uses them: one key per purpose, so no two uses share a key.
const (
	// PurposeKeyRing seals the key ring kept in the store.
	PurposeKeyRing = "keyring"
	// PurposeRefresh is session.Config.RefreshKey.
	PurposeRefresh = "refresh"
	// PurposeCSRF is the key of CSRF tokens (httpauth.CSRF.Key).
	PurposeCSRF = "csrf"
	// PurposeAuditHash keys the session hashes of audit events (audit.New).
	PurposeAuditHash = "audit-hash"
)

// DeriveKey derives a 32-byte key for purpose from master (HKDF-SHA256,
// RFC 5869, no salt, info "sessiond/v1/"+purpose): the derivation sessiond
// serve applies to SESSIOND_MASTER_KEY, so a Go program given the same
// master key derives the same keys. It checks nothing; check the master key
// with CheckSecret first.
func DeriveKey(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, "sessiond/v1/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce; 32 is fine
	}
	return k
}
