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
	refreshTagLen    = 16
	refreshSumLen    = 4
	refreshBodyLen   = refreshIDLen + refreshSecretLen + refreshTagLen // 64
	refreshRawLen    = refreshBodyLen + refreshSumLen                  // 68
	refreshLen       = len(RefreshPrefix) + (refreshRawLen*8+5)/6      // 5 + 91
	refreshTagOff    = refreshIDLen + refreshSecretLen                 // 48
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// HMAC labels, NUL-terminated so that neither is a prefix of the other:
// one key (the Manager's RefreshKey) serves both uses, kept apart.
var (
	refreshLabel    = []byte("sessiond/refresh/v1\x00")
	refreshTagLabel = []byte("sessiond/refresh-tag/v1\x00")
)

// refreshSum is CRC32-C over the prefix and the 64 bytes of
// id||secret||tag.
func refreshSum(body []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(RefreshPrefix))
	return crc32.Update(c, castagnoli, body)
}

// refreshTag is the first 16 bytes of HMAC-SHA256(key, label || id ||
// secret): it proves the token was made by a holder of key. Without it
// anyone who knows a session id (the sid claim of every access token)
// could make a well-formed token for that session, whose mismatch the
// store would take for the reuse of a stolen token and revoke the session.
func refreshTag(key, idSecret []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(refreshTagLabel)
	m.Write(idSecret)
	return m.Sum(nil)[:refreshTagLen]
}

func encodeRefresh(key, id, secret []byte) string {
	var raw [refreshRawLen]byte
	copy(raw[:], id)
	copy(raw[refreshIDLen:], secret)
	copy(raw[refreshTagOff:], refreshTag(key, raw[:refreshTagOff]))
	binary.BigEndian.PutUint32(raw[refreshBodyLen:], refreshSum(raw[:refreshBodyLen]))
	buf := make([]byte, 0, refreshLen)
	buf = append(buf, RefreshPrefix...)
	buf = b64.AppendEncode(buf, raw[:])
	return string(buf)
}

func checkRefreshKey(key []byte) error {
	if len(key) < minHMACKey {
		return fmt.Errorf("%w: refresh key is %d bytes, need at least %d", ErrWeakKey, len(key), minHMACKey)
	}
	return nil
}

// NewRefreshToken returns a new refresh token for the session whose raw
// 16-byte id is sessionID: "sdrt_" + base64url(id || 32 random bytes ||
// tag || CRC32-C of the prefix and the 64 bytes before it), where tag is a
// 16-byte HMAC-SHA256 of id and secret under key (at least 32 bytes,
// ErrWeakKey). Only a holder of key can make a token that
// VerifyRefreshToken accepts.
func NewRefreshToken(key, sessionID []byte) (string, error) {
	if err := checkRefreshKey(key); err != nil {
		return "", err
	}
	if len(sessionID) != refreshIDLen {
		return "", fmt.Errorf("%w: session id must be %d bytes, got %d", ErrMalformed, refreshIDLen, len(sessionID))
	}
	var secret [refreshSecretLen]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("token: refresh secret: %w", err)
	}
	return encodeRefresh(key, sessionID, secret[:]), nil
}

// decodeRefresh checks the shape and checksum of s and returns its raw
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
	want := binary.BigEndian.Uint32(raw[refreshBodyLen:])
	if refreshSum(raw[:refreshBodyLen]) != want {
		return raw, fmt.Errorf("%w: refresh token checksum", ErrMalformed)
	}
	return raw, nil
}

// verifyRefresh is decodeRefresh plus the tag check under key.
func verifyRefresh(key []byte, s string) ([refreshRawLen]byte, error) {
	if err := checkRefreshKey(key); err != nil {
		return [refreshRawLen]byte{}, err
	}
	raw, err := decodeRefresh(s)
	if err != nil {
		return raw, err
	}
	if !hmac.Equal(refreshTag(key, raw[:refreshTagOff]), raw[refreshTagOff:refreshBodyLen]) {
		return raw, fmt.Errorf("%w: refresh token was not issued under this key", ErrSignature)
	}
	return raw, nil
}

// ParseRefreshToken checks the shape and checksum of a refresh token and
// returns the raw 16-byte session id it names. Errors wrap ErrMalformed.
// Anyone can make a token that parses: before acting on one (above all,
// before treating a mismatch as theft) use VerifyRefreshToken.
func ParseRefreshToken(s string) (sessionID []byte, err error) {
	raw, err := decodeRefresh(s)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), raw[:refreshIDLen]...), nil
}

// VerifyRefreshToken is ParseRefreshToken plus a check that the token was
// made under key (by NewRefreshToken or DeriveRefreshToken): ErrSignature
// if not. A token that verifies was issued by this server for the session
// it names, though it may since have been rotated or revoked: compare
// HashRefreshToken(s) with the stored hash.
func VerifyRefreshToken(key []byte, s string) (sessionID []byte, err error) {
	raw, err := verifyRefresh(key, s)
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

// DeriveRefreshToken returns the child of parent: the same session id, the
// secret HMAC-SHA256(key, "sessiond/refresh/v1\x00" || parent secret) and
// its tag under key. It is deterministic, so a client that replays parent
// within the grace window gets the same child without the child ever being
// stored in clear. key must be at least 32 bytes (ErrWeakKey); parent must
// parse (ErrMalformed) and have been made under key (ErrSignature).
func DeriveRefreshToken(key []byte, parent string) (string, error) {
	raw, err := verifyRefresh(key, parent)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(refreshLabel)
	m.Write(raw[refreshIDLen:refreshTagOff])
	return encodeRefresh(key, raw[:refreshIDLen], m.Sum(nil)), nil
}

// RefreshLineage verifies parent as VerifyRefreshToken does and returns
// the session id it names, its child (DeriveRefreshToken of parent) and
// its grandchild (DeriveRefreshToken of the child): what a rotation
// needs. It checks parent's tag once and reuses one keyed HMAC for the
// five MACs, where VerifyRefreshToken and two DeriveRefreshToken calls
// check three tags and key seven HMACs. Its results are those calls'.
func RefreshLineage(key []byte, parent string) (sessionID []byte, child, grandchild string, err error) {
	if err := checkRefreshKey(key); err != nil {
		return nil, "", "", err
	}
	raw, err := decodeRefresh(parent)
	if err != nil {
		return nil, "", "", err
	}
	m := hmac.New(sha256.New, key)
	var sum [sha256.Size]byte
	mac := func(label, a, b []byte) []byte {
		m.Reset()
		m.Write(label)
		m.Write(a)
		m.Write(b)
		return m.Sum(sum[:0])
	}
	if !hmac.Equal(mac(refreshTagLabel, raw[:refreshTagOff], nil)[:refreshTagLen], raw[refreshTagOff:refreshBodyLen]) {
		return nil, "", "", fmt.Errorf("%w: refresh token was not issued under this key", ErrSignature)
	}
	id := raw[:refreshIDLen]
	// next is the token after one whose secret is secret, and its secret.
	next := func(secret []byte) (string, [refreshSecretLen]byte) {
		var body [refreshRawLen]byte
		copy(body[:], id)
		copy(body[refreshIDLen:], mac(refreshLabel, secret, nil))
		copy(body[refreshTagOff:], mac(refreshTagLabel, body[:refreshTagOff], nil)[:refreshTagLen])
		binary.BigEndian.PutUint32(body[refreshBodyLen:], refreshSum(body[:refreshBodyLen]))
		buf := make([]byte, 0, refreshLen)
		buf = append(buf, RefreshPrefix...)
		buf = b64.AppendEncode(buf, body[:])
		return string(buf), [refreshSecretLen]byte(body[refreshIDLen:refreshTagOff])
	}
	child, secret := next(raw[refreshIDLen:refreshTagOff])
	grandchild, _ = next(secret[:])
	return append([]byte(nil), id...), child, grandchild, nil
}
