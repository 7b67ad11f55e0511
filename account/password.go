package account

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Password length rules, in characters (Unicode code points). NIST SP
// 800-63B section 5.1.1.2 asks for at least 8 characters, at least 64
// allowed, and no composition rules; the upper bound keeps hashing cheap to
// feed.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// ValidatePassword checks a password against the length rules: valid
// UTF-8, MinPasswordLen to MaxPasswordLen characters. No composition
// rules (NIST SP 800-63B). A password being chosen must pass
// ValidateNewPassword, which adds the common-password list and the email
// rules. Errors wrap ErrInvalidPassword and say which rule failed.
//
// Passwords are compared byte for byte; no Unicode normalisation is done,
// so a user should type the password the same way they chose it.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidPassword)
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return fmt.Errorf("%w: must be at least %d characters", ErrInvalidPassword, MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return fmt.Errorf("%w: must be at most %d characters", ErrInvalidPassword, MaxPasswordLen)
	}
	return nil
}

// MinLocalPartLen is the shortest email local part (the part before the
// @, in characters) that ValidateNewPassword refuses in a password. A
// shorter one, such as "al" or "bob", turns up by chance inside many good
// passphrases ("kebab bobsleigh ...") while adding next to nothing to an
// attacker's guess, so refusing it would annoy without protecting.
const MinLocalPartLen = 4

// ValidateNewPassword checks a password chosen for the account with email,
// at signup, password change or reset. On top of the rules of
// ValidatePassword it follows NIST SP 800-63B section 5.1.1.2, which asks
// to refuse passwords that are commonly used or context-specific:
//
//   - the password must not contain the email address, nor its local
//     part (the part before the @, and before any "+tag") when that has
//     at least MinLocalPartLen characters;
//   - it must not be on the embedded list of common passwords (the
//     100,000 most common of SecLists' "10 million passwords" list; see
//     passwordlist/README.md), compared case-insensitively.
//
// Comparisons are case-insensitive (strings.ToLower on both sides). Errors
// wrap ErrInvalidPassword and say which rule failed, never echoing the
// password or the email. If the embedded list cannot be read (a broken
// build), the error does not wrap ErrInvalidPassword, so callers fail
// closed rather than blaming the user.
//
// The list is decompressed and indexed on the first call (about 470 KB
// kept in memory); later calls cost a binary search.
func ValidateNewPassword(pw, email string) error {
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	lower := strings.ToLower(pw)
	if reason := emailInPassword(lower, strings.ToLower(strings.TrimSpace(email))); reason != "" {
		return fmt.Errorf("%w: %s", ErrInvalidPassword, reason)
	}
	common, err := loadCommonPasswords()
	if err != nil {
		return err
	}
	if common.contains(lower) {
		return fmt.Errorf("%w: is on a list of commonly used passwords", ErrInvalidPassword)
	}
	return nil
}

// emailInPassword returns why the lowercased password pw is refused for
// containing the lowercased email, or "" if it is not.
func emailInPassword(pw, email string) string {
	if email == "" {
		return ""
	}
	if strings.Contains(pw, email) {
		return "contains your email address"
	}
	local, _, ok := strings.Cut(email, "@")
	if !ok {
		return ""
	}
	base, _, _ := strings.Cut(local, "+")
	for _, part := range []string{local, base} {
		if utf8.RuneCountInString(part) >= MinLocalPartLen && strings.Contains(pw, part) {
			return "contains the part of your email address before the @"
		}
	}
	return ""
}
