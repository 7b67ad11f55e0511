package account

import (
	"context"
	"encoding/base64"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Page sizes of account listings.
const (
	// DefaultPageSize is the page size of Service.ListPage when the caller
	// asks for none (limit 0).
	DefaultPageSize = 50
	// MaxPageSize is the largest page Service.ListPage hands out.
	MaxPageSize = 100
	// MaxStorePage is the largest limit Store.ListAccountsPage accepts.
	MaxStorePage = 1000
)

// CheckPageLimit is the limit check of Store.ListAccountsPage: an error
// wrapping ErrInvalidPage unless 1 <= limit <= MaxStorePage.
func CheckPageLimit(limit int) error {
	if limit < 1 || limit > MaxStorePage {
		return fmt.Errorf("%w: page limit %d is not between 1 and %d", ErrInvalidPage, limit, MaxStorePage)
	}
	return nil
}

// cursorVersion is the first byte of an encoded cursor, so that a later
// encoding can be told apart.
const cursorVersion = 1

// encodeCursor returns the opaque cursor of the position after email:
// base64url (unpadded) of a version byte and the email. A cursor is not
// a secret and needs no MAC: it only says where to resume a listing that
// its holder may read from the start anyway, and whatever position a
// forged one names, the next page is a page of the same listing. It does
// carry the email in clear, so it is as sensitive as the page it follows.
func encodeCursor(email string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{cursorVersion}, email...))
}

// parseCursor decodes a cursor made by encodeCursor into the email it
// resumes after; "" is the start. Anything else is an error wrapping
// ErrInvalidPage: not base64url in the one spelling encodeCursor writes,
// another version, or a position no email can have (empty, over
// MaxEmailLen bytes, not UTF-8, a control character or white space).
func parseCursor(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: malformed cursor: %s", ErrInvalidPage, why)
	}
	if len(s) > base64.RawURLEncoding.EncodedLen(1+MaxEmailLen) {
		return bad("too long")
	}
	// Strict still skips CR and LF; one spelling per cursor is the one
	// encodeCursor writes.
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return bad("not base64url")
	}
	if len(b) < 2 || b[0] != cursorVersion {
		return bad("unknown format")
	}
	email := string(b[1:])
	if !utf8.ValidString(email) {
		return bad("email is not UTF-8")
	}
	for _, r := range email {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return bad("email holds a control character or white space")
		}
	}
	return email, nil
}

// ListPage returns one page of the accounts, ordered by email byte by
// byte, and the cursor of the next page: "" when this is the last one.
// cursor is "" for the first page, else a next cursor that an earlier
// call returned; limit is the page size, 0 for DefaultPageSize, at most
// MaxPageSize. A malformed cursor or a limit out of range is an error
// wrapping ErrInvalidPage, and reads nothing.
//
// Accounts created or deleted between calls never make a listing repeat
// or skip one that exists throughout. Memory and store work per call are
// bounded by limit, whatever the number of accounts.
func (s *Service) ListPage(ctx context.Context, cursor string, limit int) ([]*Account, string, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, "", fmt.Errorf("account: list: %w: page limit %d is not between 1 and %d", ErrInvalidPage, limit, MaxPageSize)
	}
	after, err := parseCursor(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("account: list: %w", err)
	}
	// One account more than the page says whether anything follows.
	as, err := s.Store.ListAccountsPage(ctx, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("account: list: %w", err)
	}
	if len(as) <= limit {
		return as, "", nil
	}
	as = as[:limit]
	return as, encodeCursor(as[limit-1].Email), nil
}
