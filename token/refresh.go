package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// RefreshPrefix starts every refresh token, so secret scanners can match a
// leaked one (prefix plus a valid checksum).
const RefreshPrefix = "sdrt_"

const (
	refreshIDLen     = 16
	refreshSecretLen = 32
	refreshSumLen    = 4
	refreshRawLen    = refreshIDLen + refreshSecretLen + refreshSumLen // 52
	refreshLen       = len(RefreshPrefix) + (refreshRawLen*8+5)/6      // 5 + 70
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var refreshLabel = []byte("sessiond/refresh/v1\x00")

// refreshSum is CRC32-C over the prefix and the 48 bytes of id||secret.
func refreshSum(body []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(RefreshPrefix))
	return crc32.Update(c, castagnoli, body)
}

func encodeRefresh(id, secret []byte) string {
	var raw [refreshRawLen]byte
	copy(raw[:], id)
	copy(raw[refreshIDLen:], secret)
	binary.BigEndian.PutUint32(raw[refreshIDLen+refreshSecretLen:], refreshSum(raw[:refreshIDLen+refreshSecretLen]))
	buf := make([]byte, 0, refreshLen)
	buf = append(buf, RefreshPrefix...)
	buf = b64.AppendEncode(buf, raw[:])
	return string(buf)
}

// NewRefreshToken returns a new refresh token for the session whose raw
// 16-byte id is sessionID: "sdrt_" + base64url(id || 32 random bytes ||
// CRC32-C of the prefix and those 48 bytes).
func NewRefreshToken(sessionID []byte) (string, error) {
	if len(sessionID) != refreshIDLen {
		return "", fmt.Errorf("%w: session id must be %d bytes, got %d", ErrMalformed, refreshIDLen, len(sessionID))
	}
	var secret [refreshSecretLen]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("token: refresh secret: %w", err)
	}
	return encodeRefresh(sessionID, secret[:]), nil
}

// decodeRefresh checks the shape and checksum of s and returns its 52 raw
// bytes. No store is consulted: garbage stops here.
func decodeRefresh(s string) ([refreshRawLen]byte, error) {
	var raw [refreshRawLen]byte
	if len(s) != refreshLen {
		return raw, fmt.Errorf("%w: refresh token length %d, want %d", ErrMalformed, len(s), refreshLen)
	}
	if s[:len(RefreshPrefix)] != RefreshPrefix {
		return raw, fmt.Errorf("%w: refresh token prefix", ErrMalformed)
	}
	body := s[len(RefreshPrefix):]
	for i := 0; i < len(body); i++ {
		if !b64url[body[i]] {
			return raw, fmt.Errorf("%w: refresh token is not base64url", ErrMalformed)
		}
	}
	n, err := b64.Decode(raw[:], []byte(body))
	if err != nil || n != refreshRawLen {
		return raw, fmt.Errorf("%w: refresh token encoding", ErrMalformed)
	}
	want := binary.BigEndian.Uint32(raw[refreshIDLen+refreshSecretLen:])
	if refreshSum(raw[:refreshIDLen+refreshSecretLen]) != want {
		return raw, fmt.Errorf("%w: refresh token checksum", ErrMalformed)
	}
	return raw, nil
}

// ParseRefreshToken checks the shape and checksum of a refresh token and
// returns the raw 16-byte session id it names. Errors wrap ErrMalformed.
// A token that parses is not yet authentic: compare HashRefreshToken(s)
// with the stored hash.
func ParseRefreshToken(s string) (sessionID []byte, err error) {
	raw, err := decodeRefresh(s)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), raw[:refreshIDLen]...), nil
}

// HashRefreshToken returns SHA-256 of the whole token string: the only form
// in which a refresh token is stored.
func HashRefreshToken(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// DeriveRefreshToken returns the child of parent: the same session id and
// the secret HMAC-SHA256(key, "sessiond/refresh/v1\x00" || parent secret).
// It is deterministic, so a client that replays parent within the grace
// window gets the same child without the child ever being stored in clear.
// key must be at least 32 bytes (ErrWeakKey); parent must parse
// (ErrMalformed).
func DeriveRefreshToken(key []byte, parent string) (string, error) {
	if len(key) < minHMACKey {
		return "", fmt.Errorf("%w: refresh derivation key is %d bytes, need at least %d", ErrWeakKey, len(key), minHMACKey)
	}
	raw, err := decodeRefresh(parent)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(refreshLabel)
	m.Write(raw[refreshIDLen : refreshIDLen+refreshSecretLen])
	return encodeRefresh(raw[:refreshIDLen], m.Sum(nil)), nil
}
