package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// ResetTokenPrefix starts every password-reset token, so secret scanners
// can match a leaked one (the prefix plus a valid checksum), as the
// refresh token's "sdrt_" does.
const ResetTokenPrefix = "sdpr_"

// A reset token is "sdpr_" + base64url (no padding) of
//
//	secret (32 random bytes) || bind (16 bytes) || CRC32-C (4 bytes)
//
// where bind is HMAC-SHA256 keyed with the account's password hash (its
// PHC string, salt included) over a label and the secret, cut to 16 bytes,
// and the CRC covers the prefix and the 48 bytes before it. The checksum
// lets garbage be refused before any store read. The bind ties the token
// to the password the account had when it was issued: once the password
// changes by any means (a reset, a change, an operator), every token
// issued before is refused, without a store having to find them. Only
// SHA-256 of the whole token string is stored.
const (
	resetSecretLen = 32
	resetBindLen   = 16
	resetSumLen    = 4
	resetBodyLen   = resetSecretLen + resetBindLen               // 48
	resetRawLen    = resetBodyLen + resetSumLen                  // 52
	resetTokenLen  = len(ResetTokenPrefix) + (resetRawLen*8+5)/6 // 5 + 70
)

var (
	resetB64        = base64.RawURLEncoding.Strict()
	resetCastagnoli = crc32.MakeTable(crc32.Castagnoli)
	resetBindLabel  = []byte("sessiond/reset-bind/v1\x00")
)

// resetBind is the 16-byte bind of secret to the password hash phc.
func resetBind(phc string, secret []byte) []byte {
	m := hmac.New(sha256.New, []byte(phc))
	m.Write(resetBindLabel)
	m.Write(secret)
	return m.Sum(nil)[:resetBindLen]
}

func resetSum(body []byte) uint32 {
	c := crc32.Update(0, resetCastagnoli, []byte(ResetTokenPrefix))
	return crc32.Update(c, resetCastagnoli, body)
}

// newResetToken returns a new token bound to the password hash phc.
func newResetToken(phc string) (string, error) {
	var raw [resetRawLen]byte
	if _, err := rand.Read(raw[:resetSecretLen]); err != nil {
		return "", fmt.Errorf("account: reading random reset token: %w", err)
	}
	copy(raw[resetSecretLen:], resetBind(phc, raw[:resetSecretLen]))
	binary.BigEndian.PutUint32(raw[resetBodyLen:], resetSum(raw[:resetBodyLen]))
	return ResetTokenPrefix + resetB64.EncodeToString(raw[:]), nil
}

// parseResetToken checks the shape and checksum of s, consulting no store,
// and returns its raw bytes. Errors wrap ErrInvalidResetToken.
func parseResetToken(s string) ([resetRawLen]byte, error) {
	var raw [resetRawLen]byte
	if len(s) != resetTokenLen || s[:len(ResetTokenPrefix)] != ResetTokenPrefix {
		return raw, fmt.Errorf("%w: not a reset token", ErrInvalidResetToken)
	}
	n, err := resetB64.Decode(raw[:], []byte(s[len(ResetTokenPrefix):]))
	if err != nil || n != resetRawLen {
		return raw, fmt.Errorf("%w: not a reset token", ErrInvalidResetToken)
	}
	if resetSum(raw[:resetBodyLen]) != binary.BigEndian.Uint32(raw[resetBodyLen:]) {
		return raw, fmt.Errorf("%w: reset token checksum", ErrInvalidResetToken)
	}
	return raw, nil
}

// resetBoundTo reports whether raw was issued under the password hash phc.
func resetBoundTo(raw *[resetRawLen]byte, phc string) bool {
	return hmac.Equal(resetBind(phc, raw[:resetSecretLen]), raw[resetSecretLen:resetBodyLen])
}

// HashResetToken returns SHA-256 of the whole token string: the only form
// in which a reset token is stored.
func HashResetToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
