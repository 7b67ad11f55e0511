package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/token"
)

// Meta describes the client at login or refresh. Its fields come from
// outside (request headers), so Login stores them cleaned: invalid UTF-8
// becomes U+FFFD, control characters (NUL included) are dropped, and each
// is cut, at a character boundary, to MaxUserAgentLen or MaxMetaLen bytes.
// That keeps every backend able to store them (PostgreSQL text refuses NUL
// and invalid UTF-8) and bounds what one login can make the store keep.
type Meta struct {
	IP         string
	UserAgent  string
	AuthMethod string // e.g. "password"; set at login
}

// Lengths, in bytes, that Login keeps of Meta's fields.
const (
	MaxUserAgentLen = 512
	MaxMetaLen      = 64 // IP and AuthMethod
)

func (m Meta) clean() Meta {
	return Meta{
		IP:         cleanText(m.IP, MaxMetaLen),
		UserAgent:  cleanText(m.UserAgent, MaxUserAgentLen),
		AuthMethod: cleanText(m.AuthMethod, MaxMetaLen),
	}
}

// cleanText returns s as valid UTF-8 without control characters, at most
// max bytes long, cut at a character boundary.
func cleanText(s string, max int) string {
	clean := utf8.ValidString(s) && len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= 0x20 && s[i] != 0x7f
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Tokens is what a login or refresh hands to the client.
type Tokens struct {
	AccessToken     string
	AccessExpiresAt time.Time
	RefreshToken    string
	Session         *Session
}

// newID returns a new 128-bit session id, base64url.
func newID() (string, []byte) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:]), b[:]
}

// decodeID returns the raw bytes of a session id, or false if it is not one.
func decodeID(id string) ([]byte, bool) {
	if len(id) != 22 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return b, err == nil && len(b) == 16
}

// MaxUserIDLen is the longest user id Login accepts, in bytes. It keeps the
// access token, whose sub is the user id (JSON escaping may make it six
// times longer), well under the verifier's 4 KiB limit and a cookie's.
const MaxUserIDLen = 256

// checkUserID refuses a user id that would not come back unchanged from
// every store and from the access token: JSON (the token's sub, bolt's
// records) turns each invalid UTF-8 byte into U+FFFD, so two different
// ids would share one identity; PostgreSQL cannot store NUL; and a long id
// would make an access token its own verifier refuses.
func checkUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidUserID)
	case len(id) > MaxUserIDLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidUserID, len(id), MaxUserIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUserID)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrInvalidUserID)
	}
	return nil
}

// Login starts a new session for userID (already authenticated by the
// caller) and returns its first tokens. Every login gets a new session id.
// It is Start with a Grant of only a user and Meta.
func (m *Manager) Login(ctx context.Context, userID string, meta Meta) (*Tokens, error) {
	return m.Start(ctx, Grant{UserID: userID, Meta: meta})
}

// Start starts a new session for the user of g, whom the caller has just
// authenticated, and returns its first tokens. Every session gets a new
// id. A user id that cannot be kept is ErrInvalidUserID; claims, AMR or a
// client id Grant refuses are ErrInvalidClaims; an absolute timeout that is
// negative or longer than the policy's is ErrPolicy; nothing is stored then.
func (m *Manager) Start(ctx context.Context, g Grant) (*Tokens, error) {
	userID := g.UserID
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	meta := g.Meta.clean()
	now := m.now()
	clientID := g.ClientID
	if clientID == "" {
		clientID = m.clientID
	}
	if err := checkClientID(clientID); err != nil {
		return nil, err
	}
	amr, err := checkAMR(g.AMR)
	if err != nil {
		return nil, err
	}
	claims, err := m.checkClaims(g.Claims)
	if err != nil {
		return nil, err
	}
	lifetime := m.policy.AbsoluteTimeout
	switch {
	case g.AbsoluteTimeout < 0 || g.AbsoluteTimeout > lifetime:
		return nil, fmt.Errorf("%w: grant absolute timeout %v must be between 0 and the policy's %v", ErrPolicy, g.AbsoluteTimeout, lifetime)
	case g.AbsoluteTimeout > 0:
		lifetime = g.AbsoluteTimeout
	}
	authTime := g.AuthTime.Truncate(time.Microsecond)
	switch {
	case authTime.IsZero():
		authTime = now
	case authTime.After(now.Add(m.leeway)):
		return nil, fmt.Errorf("%w: auth time %v is in the future", ErrInvalidClaims, authTime)
	case authTime.Before(now.Add(-m.policy.AbsoluteTimeout)):
		return nil, fmt.Errorf("%w: auth time %v is older than the absolute timeout", ErrInvalidClaims, authTime)
	}
	id, raw := newID()
	rt, err := token.NewRefreshToken(m.refKey, raw)
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	child, err := token.DeriveRefreshToken(m.refKey, rt)
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	abs := now.Add(lifetime)
	rec := &Record{
		ID:            id,
		UserID:        userID,
		CreatedAt:     now,
		LastSeenAt:    now,
		IdleExpiresAt: minTime(now.Add(m.policy.IdleTimeout), abs),
		AbsExpiresAt:  abs,
		IP:            meta.IP,
		UserAgent:     meta.UserAgent,
		AuthMethod:    meta.AuthMethod,
		ClientID:      clientID,
		AuthTime:      minTime(authTime, now),
		AMR:           amr,
		Claims:        claims,
		RefreshHash:   token.HashRefreshToken(rt),
		// Known now so that a store that loses the first rotation can
		// resume it (see Record.NextRefreshHash).
		NextRefreshHash: token.HashRefreshToken(child),
	}
	if err := m.store.Create(ctx, rec); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if m.policy.MaxSessionsPerUser > 0 {
		if err := m.enforceCap(ctx, userID, id); err != nil {
			return nil, err
		}
	}
	at, exp, err := m.sign(rec, now)
	if err != nil {
		return nil, err
	}
	ev := audit.Event{Kind: audit.LoginOK, SessionID: id, UserID: userID, IP: meta.IP, UserAgent: meta.UserAgent, Reason: meta.AuthMethod}
	if g.ClientID != "" {
		ev.Kind, ev.Reason = audit.Minted, g.ClientID
	}
	m.audit.Log(ctx, ev)
	rec.Version = 1
	return &Tokens{AccessToken: at, AccessExpiresAt: exp, RefreshToken: rt, Session: newSession(rec)}, nil
}

// enforceCap revokes the user's oldest live sessions beyond the cap,
// never the one just created.
func (m *Manager) enforceCap(ctx context.Context, userID, keep string) error {
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("list for cap: %w", err)
	}
	now := m.now()
	live := recs[:0]
	for _, r := range recs {
		if !r.Expired(now) {
			live = append(live, r)
		}
	}
	excess := len(live) - m.policy.MaxSessionsPerUser
	for _, r := range live {
		if excess <= 0 {
			break
		}
		if r.ID == keep {
			continue
		}
		if err := m.revoke(ctx, r.ID, audit.Event{Kind: audit.Revoke, SessionID: r.ID, UserID: userID, Reason: "session cap"}); err != nil {
			return err
		}
		excess--
	}
	return nil
}
