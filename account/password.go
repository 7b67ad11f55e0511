package account

import (
	"fmt"
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

// ValidatePassword checks a new password against the rules: valid UTF-8,
// MinPasswordLen to MaxPasswordLen characters. Nothing else: no
// composition rules (NIST SP 800-63B). Errors wrap ErrInvalidPassword and
// say which rule failed.
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

// ValidateNewPassword checks a password chosen for the account with email
// (at signup, change or reset): the rules of ValidatePassword. Errors wrap
// ErrInvalidPassword and say which rule failed.
func ValidateNewPassword(pw, email string) error {
	return ValidatePassword(pw)
}
