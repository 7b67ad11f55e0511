package session

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// Page sizes of listings.
const (
	// DefaultPageSize is the page size of Manager.ListPage when the caller
	// asks for none (limit 0).
	DefaultPageSize = 50
	// MaxPageSize is the largest page Manager.ListPage hands out.
	MaxPageSize = 100
	// MaxStorePage is the largest limit Store.ListUserPage accepts.
	MaxStorePage = 1000
)

// maxCursorIDLen bounds the session id inside a cursor (ids are 22
// characters; anything much longer was not made by a listing).
const maxCursorIDLen = 128

// PageCursor is a position in a user's sessions ordered by CreatedAt, then
// ID. The zero value lies before the first session.
type PageCursor struct {
	CreatedAt time.Time
	ID        string
}

// IsZero reports whether c is the start of a listing.
func (c PageCursor) IsZero() bool { return c.ID == "" && c.CreatedAt.IsZero() }

// After reports whether a record created at createdAt with id lies strictly
// after c in the listing order. Stores written in Go use it to page.
func (c PageCursor) After(createdAt time.Time, id string) bool {
	if c.IsZero() {
		return true
	}
	if d := createdAt.Compare(c.CreatedAt); d != 0 {
		return d > 0
	}
	return id > c.ID
}

// CursorOf returns the position of r in the listing order.
func CursorOf(r *Record) PageCursor { return PageCursor{CreatedAt: r.CreatedAt, ID: r.ID} }

// CheckPageLimit is the limit check of Store.ListUserPage: an error
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

// String encodes c as the opaque cursor handed to clients: base64url
// (unpadded) of a version byte, the creation time (seconds, then
// nanoseconds, big-endian) and the session id. The zero cursor is "".
// A cursor is not a secret and needs no MAC: it only says where to
// resume inside the caller's own listing, which the caller may read from
// the start anyway.
func (c PageCursor) String() string {
	if c.IsZero() {
		return ""
	}
	b := make([]byte, 0, 13+len(c.ID))
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.CreatedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(c.CreatedAt.Nanosecond()))
	b = append(b, c.ID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a cursor made by PageCursor.String; "" is the zero
// cursor. Anything else is an error wrapping ErrInvalidPage.
func ParseCursor(s string) (PageCursor, error) {
	if s == "" {
		return PageCursor{}, nil
	}
	bad := func(why string) (PageCursor, error) {
		return PageCursor{}, fmt.Errorf("%w: malformed cursor: %s", ErrInvalidPage, why)
	}
	if len(s) > base64.RawURLEncoding.EncodedLen(13+maxCursorIDLen) {
		return bad("too long")
	}
	// Strict still skips CR and LF; one spelling per cursor is the one
	// String writes.
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return bad("not base64url")
	}
	if len(b) < 14 || b[0] != cursorVersion {
		return bad("unknown format")
	}
	sec := int64(binary.BigEndian.Uint64(b[1:9]))
	nsec := binary.BigEndian.Uint32(b[9:13])
	id := string(b[13:])
	if nsec >= 1e9 {
		return bad("nanoseconds out of range")
	}
	if !utf8.ValidString(id) {
		return bad("session id is not UTF-8")
	}
	return PageCursor{CreatedAt: time.Unix(sec, int64(nsec)).UTC(), ID: id}, nil
}

// ListPage returns one page of the user's live sessions, oldest first
// (by creation, then id), and the cursor of the next page: "" when this is
// the last one. cursor is "" for the first page, else a next cursor that
// an earlier call returned; limit is the page size, 0 for
// DefaultPageSize, at most MaxPageSize. A malformed cursor or a limit out
// of range is an error wrapping ErrInvalidPage; a user id no store can keep
// (see Start) is ErrInvalidUserID, before any store read.
//
// Expired and revoked sessions are left out, as by List, so a page may
// hold fewer than limit sessions and still have a next cursor (when many
// dead sessions lie in a row: ListPage reads at most a few pages' worth
// from the store per call). Sessions created or revoked between calls
// never make a listing repeat or skip one that lives throughout. Memory
// and store work per call are bounded by limit, whatever the number of
// the user's sessions.
func (m *Manager) ListPage(ctx context.Context, userID, cursor string, limit int) ([]*Session, string, error) {
	if err := checkUserID(userID); err != nil {
		return nil, "", err
	}
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, "", fmt.Errorf("list: %w: page limit %d is not between 1 and %d", ErrInvalidPage, limit, MaxPageSize)
	}
	pos, err := ParseCursor(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	// Reading one record more than is missing says whether anything
	// follows; scanning stops after maxScan records so that a long run of
	// dead sessions costs a bounded amount per call.
	maxScan := 4 * (limit + 1)
	now := m.now()
	out := make([]*Session, 0, limit)
	for scanned := 0; ; {
		want := limit - len(out) + 1
		recs, err := m.store.ListUserPage(ctx, userID, pos, want)
		if err != nil {
			return nil, "", fmt.Errorf("list: %w", err)
		}
		for _, r := range recs {
			if len(out) == limit {
				return out, pos.String(), nil // r follows a full page
			}
			pos = CursorOf(r)
			scanned++
			if !r.Expired(now) && !m.revoked.has(r.ID, now) {
				out = append(out, newSession(r))
			}
		}
		if len(recs) < want {
			return out, "", nil
		}
		if scanned >= maxScan {
			return out, pos.String(), nil
		}
	}
}
