// Package audit defines the security events sessiond records and writes them
// as structured log/slog lines.
//
// A session id or a token never appears in an audit line: the [Logger]
// replaces Event.SessionID by [Logger.HashID], a short keyed hash that lets an
// operator correlate the lines of one session without being able to recover
// or forge the id. Free-text fields that come from outside (user agent, user
// name typed at a failed login, client address) are capped in length so an
// attacker cannot flood the log through them.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"
)

// Kind names what happened. Its string is the value of the "event" attribute.
type Kind string

// The events sessiond records.
const (
	LoginOK          Kind = "login.ok"               // a login succeeded and a session was created
	LoginFailed      Kind = "login.failed"           // a login was refused (bad credentials, unknown user, ...)
	Signup           Kind = "signup"                 // an account was created
	Refresh          Kind = "refresh"                // a refresh token was rotated
	ReuseDetected    Kind = "refresh.reuse_detected" // a rotated refresh token came back: the session was revoked
	Logout           Kind = "logout"                 // a session ended at its owner's request
	Revoke           Kind = "revoke"                 // one session was revoked
	RevokeUser       Kind = "revoke.user"            // several sessions of a user were revoked (Count says how many)
	Throttled        Kind = "ratelimit.throttled"    // a request was refused by a rate limit
	CSRFRejected     Kind = "csrf.rejected"          // an unsafe request failed the CSRF checks
	KeyRotated       Kind = "keys.rotated"           // the token signing key was rotated
	Minted           Kind = "session.minted"         // a service client started a session for a user it authenticated (Reason: the client)
	ClaimsChanged    Kind = "claims.changed"         // a user's application claims were replaced (Count: sessions changed)
	AdminAuthFailed  Kind = "admin.auth_failed"      // a wrong admin token was presented (Reason: the path)
	ClientAuthFailed Kind = "client.auth_failed"     // a wrong client id or secret was presented (UserID: the client id given; Reason: the path)
	ReauthOK         Kind = "reauth.ok"              // the user of a session proved who they are again: its auth_time is now
	ReauthFailed     Kind = "reauth.failed"          // a wrong password was given to re-authenticate or to change the password (Reason: the path)
	PasswordChanged  Kind = "password.changed"       // a user changed their password (Count: the other sessions ended)
	// PasswordResetRequested: a reset link was asked for by email (Account:
	// the email, hashed; UserID: the account when there is one; Reason:
	// no_account, or queue_full when the mail was dropped).
	PasswordResetRequested Kind = "password.reset_requested"
	// PasswordReset: a reset link set a new password (UserID; Count: the
	// sessions ended).
	PasswordReset  Kind = "password.reset"
	AccountDeleted Kind = "account.deleted" // a built-in account was deleted and its sessions ended (UserID: the account; Count: sessions ended; Reason: who asked, admin, cli or self)
)

// Kinds lists every Kind defined by this package, in declaration order.
func Kinds() []Kind {
	return []Kind{LoginOK, LoginFailed, Signup, Refresh, ReuseDetected, Logout,
		Revoke, RevokeUser, Throttled, CSRFRejected, KeyRotated, Minted, ClaimsChanged,
		AdminAuthFailed, ClientAuthFailed, ReauthOK, ReauthFailed, PasswordChanged,
		PasswordResetRequested, PasswordReset, AccountDeleted}
}

// Level is the slog level an event of this kind is written at: Warn for the
// kinds that may signal an attack (ReuseDetected, CSRFRejected, Throttled,
// LoginFailed, AdminAuthFailed, ClientAuthFailed, ReauthFailed), Info for
// the others.
func (k Kind) Level() slog.Level {
	switch k {
	case ReuseDetected, CSRFRejected, Throttled, LoginFailed, AdminAuthFailed, ClientAuthFailed, ReauthFailed:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

// Event is one audit record. Empty fields are left out of the log line.
type Event struct {
	// Kind says what happened.
	Kind Kind
	// SessionID is the raw session id. It is never written: the line carries
	// its keyed hash (see Logger.HashID) under "session".
	SessionID string
	// UserID identifies the account; at a failed login it may be the name the
	// client typed.
	UserID string
	// Account is the normalised email an attempt was made for (a failed
	// login). Like SessionID it is never written: the line carries its keyed
	// hash (see Logger.HashAccount) under "account", so an operator can see
	// that failures target one account without the log holding addresses.
	Account string
	// IP is the client address.
	IP string
	// UserAgent is the client's User-Agent header.
	UserAgent string
	// Reason is a short machine-readable cause, e.g. "bad_password".
	Reason string
	// Count is a number that goes with the event, e.g. how many sessions a
	// RevokeUser ended. Zero is left out.
	Count int
}

// MaxFieldLen is the longest value, in bytes, written for the user, ip, ua
// and reason attributes; longer values are cut at a UTF-8 boundary.
const MaxFieldLen = 256

// MinKeyLen is the shortest key New accepts.
const MinKeyLen = 16

// hashLen is how many bytes of the HMAC are kept: 96 bits are plenty to
// correlate lines and far too short to be mistaken for (or used as) the id.
const hashLen = 12

// Message is the fixed message of every audit line; filter on it (or on the
// "event" attribute) to separate audit lines from other logs.
const Message = "audit"

// Logger writes audit events to a slog.Logger.
//
// A nil *Logger is valid: Log discards and HashID returns "". A Logger is
// immutable after New and safe for concurrent use.
type Logger struct {
	log      *slog.Logger
	key      []byte
	observer func(Event)
	macs     *sync.Pool // keyed HMAC-SHA256 states for HashID, reused via Reset
}

// New returns a Logger writing to l (slog.Default() if l is nil), hashing
// session ids under key. key must be at least MinKeyLen bytes of secret
// material, ideally random and kept across restarts so hashes stay
// comparable; New panics otherwise, as that is a programming error. The key
// is copied.
func New(l *slog.Logger, key []byte, opts ...Option) *Logger {
	if len(key) < MinKeyLen {
		panic(fmt.Sprintf("audit: key is %d bytes, want at least %d", len(key), MinKeyLen))
	}
	if l == nil {
		l = slog.Default()
	}
	lg := &Logger{log: l, key: append([]byte(nil), key...)}
	lg.macs = &sync.Pool{New: func() any { return hmac.New(sha256.New, lg.key) }}
	for _, o := range opts {
		o(lg)
	}
	return lg
}

// Option configures a Logger.
type Option func(*Logger)

// WithObserver calls fn with every event logged, whatever the log level,
// before it is written (metrics count events this way). fn must be fast
// and safe for concurrent use; it sees the raw event, so it must not log
// SessionID or Account itself.
func WithObserver(fn func(Event)) Option { return func(l *Logger) { l.observer = fn } }

// HashID returns a short keyed hash of id: the first 12 bytes of
// HMAC-SHA256(key, id), base64url without padding (16 characters). It is
// stable for a given key, so it correlates log lines, and useless for
// forging the id. It serves as well for any other token-like secret that
// must be named in a log. HashID of "" is "", and a nil Logger returns "".
func (l *Logger) HashID(id string) string {
	if l == nil || id == "" {
		return ""
	}
	m := l.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(id))
	var sum [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])[:hashLen])
	l.macs.Put(m)
	return out
}

// HashAccount returns the keyed hash written for Event.Account: HashID of
// the email under a label of its own, so an account's hash never equals a
// session id's. HashAccount of "" is "", and a nil Logger returns "".
func (l *Logger) HashAccount(email string) string {
	if email == "" {
		return ""
	}
	return l.HashID("account\x00" + email)
}

// Log writes e as one line with the message "audit", at the level of
// e.Kind (see Kind.Level), with the attributes event, session (the keyed
// hash of e.SessionID), account (the keyed hash of e.Account), user, ip, ua, reason and count, each left out when
// empty. Text fields are capped at MaxFieldLen bytes, and any occurrence of
// the raw session id inside them is replaced by its hash, so a careless
// caller cannot leak it through Reason. Log on a nil Logger does nothing.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	if l.observer != nil {
		l.observer(e)
	}
	level := e.Kind.Level()
	if !l.log.Enabled(ctx, level) {
		return
	}
	hash := l.HashID(e.SessionID)
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", string(e.Kind)))
	if hash != "" {
		attrs = append(attrs, slog.String("session", hash))
	}
	if a := l.HashAccount(e.Account); a != "" {
		attrs = append(attrs, slog.String("account", a))
	}
	for _, f := range [...]struct{ name, val string }{
		{"user", e.UserID}, {"ip", e.IP}, {"ua", e.UserAgent}, {"reason", e.Reason},
	} {
		if v := clean(f.val, e.SessionID, hash); v != "" {
			attrs = append(attrs, slog.String(f.name, v))
		}
	}
	if e.Count != 0 {
		attrs = append(attrs, slog.Int("count", e.Count))
	}
	l.log.LogAttrs(ctx, level, Message, attrs...)
}

// clean hides the raw session id inside s and caps s at MaxFieldLen bytes.
// The replacement is done before the cut, so a cut cannot leave a prefix of
// the id behind that a later search would miss.
func clean(s, id, hash string) string {
	if id != "" && strings.Contains(s, id) {
		s = strings.ReplaceAll(s, id, "[session:"+hash+"]")
	}
	return truncate(s, MaxFieldLen)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence: it
// backs up over at most UTFMax-1 continuation bytes (more would mean the
// input is not UTF-8 anyway; the handler escapes what is left).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n]
}
