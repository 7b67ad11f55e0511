package session

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Session is the application's view of a server-side session. A Session
// returned by Manager.Get is a snapshot; change its data inside
// Manager.Update, which writes it back with compare-and-set.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is when the session dies unless refreshed (the earlier of
	// the idle and the absolute expiry).
	ExpiresAt time.Time
	// AbsExpiresAt is when the session dies however active it is.
	AbsExpiresAt time.Time
	IP           string
	UserAgent    string
	AuthMethod   string
	// ClientID is the client the session was issued to (client_id).
	ClientID string
	// AuthTime is when the user last authenticated for it (auth_time).
	AuthTime time.Time
	// AMR lists how (RFC 8176).
	AMR []string
	// Claims are the application claims its access tokens carry.
	Claims map[string]json.RawMessage

	data    map[string]json.RawMessage
	version uint64
}

func newSession(r *Record) *Session {
	return &Session{
		ID:           r.ID,
		UserID:       r.UserID,
		CreatedAt:    r.CreatedAt,
		LastSeenAt:   r.LastSeenAt,
		ExpiresAt:    r.ExpiresAt(),
		AbsExpiresAt: r.AbsExpiresAt,
		IP:           r.IP,
		UserAgent:    r.UserAgent,
		AuthMethod:   r.AuthMethod,
		ClientID:     r.ClientID,
		AuthTime:     r.AuthTime,
		AMR:          append([]string(nil), r.AMR...),
		Claims:       cloneJSONMap(r.Claims),
		data:         cloneJSONMap(r.Data),
		version:      r.Version,
	}
}

// Get decodes the application value stored under key into a T. It reports
// false if there is none; an error if the stored JSON does not fit T.
func Get[T any](s *Session, key string) (T, bool, error) {
	var v T
	raw, ok := s.data[key]
	if !ok {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, true, fmt.Errorf("app data %q: %w", key, err)
	}
	return v, true, nil
}

// Set stores v, encoded as JSON, under key. It changes the snapshot only:
// call it inside Manager.Update to persist. The size cap is checked when the
// session is written. A key with a NUL or that is not UTF-8, or a value
// holding a NUL or an unpaired surrogate, is ErrInvalidData.
func (s *Session) Set(key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("app data %q: %w", key, err)
	}
	// PostgreSQL's jsonb cannot hold U+0000 or an unpaired surrogate;
	// refuse them here so every backend behaves the same rather than one
	// failing at write time (as a store failure). A key that is not UTF-8
	// would be stored as it is by one backend and with U+FFFD in place of
	// its bad bytes by another (where two such keys then collide).
	if !jsonbSafe(raw) || strings.ContainsRune(key, 0) || !utf8.ValidString(key) {
		return fmt.Errorf("app data %q: %w", key, ErrInvalidData)
	}
	if s.data == nil {
		s.data = make(map[string]json.RawMessage)
	}
	s.data[key] = raw
	return nil
}

// Delete removes key from the application data.
func (s *Session) Delete(key string) { delete(s.data, key) }

// Keys returns the keys of the application data, in no particular order.
func (s *Session) Keys() []string {
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	return keys
}

// dataSize is the size of the application data as one JSON object.
func dataSize(d map[string]json.RawMessage) (int, error) {
	if len(d) == 0 {
		return 0, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return 0, fmt.Errorf("app data: %w", err)
	}
	return len(b), nil
}

// jsonbSafe reports whether the JSON text raw (as json.Marshal emits it:
// valid, compact) holds no \u0000 escape and no \u escape of a UTF-16
// surrogate that is not a high one followed at once by a low one: the
// escapes PostgreSQL's jsonb refuses. (Raw NUL or surrogate bytes cannot
// occur: json.Marshal escapes control characters and coerces invalid
// UTF-8.) Hand-written because encoding/json accepts both.
func jsonbSafe(raw []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range raw[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // another escape: skip its second byte (it may be a backslash)
			continue
		}
		switch {
		case r == 0, r >= 0xDC00 && r < 0xE000:
			return false
		case r >= 0xD800 && r < 0xDC00:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xDC00 || lo >= 0xE000 {
				return false
			}
			i += 6
		}
		i += 5
	}
	return true
}
