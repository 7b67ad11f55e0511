package audit_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond/audit"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// A realistic session id (128 bits, base64url) and refresh token.
const (
	sessionID    = "q3Xv9Lr0bWc2TzK8mN1pYg"
	refreshToken = "sdrt_q3Xv9Lr0bWc2TzK8mN1pYg.Zk2mJ8sT0uV4wX6yA1bC3dE5fG7hI9jK0lM2nO4pQ6r_x7Yk"
)

// newLogger returns an audit.Logger writing JSON lines at level and above
// into the returned buffer.
func newLogger(t *testing.T, level slog.Level) (*audit.Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})
	return audit.New(slog.New(h), testKey), &buf
}

// lines decodes every JSON line in buf, dropping the time attribute.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		if _, ok := m["time"]; !ok {
			t.Errorf("line %q has no time", line)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

// TestHashAccount: the account's hash is keyed (another key gives
// another hash), distinct per address, never the address itself, and
// never equal to HashID of the same string (a label of its own).
func TestHashAccount(t *testing.T) {
	l, _ := newLogger(t, slog.LevelDebug)
	other := audit.New(nil, []byte("another key, sixteen bytes at least"))
	a := l.HashAccount("alice@example.com")
	for _, tc := range []struct {
		name, got string
	}{
		{"another address", l.HashAccount("bob@example.com")},
		{"another key", other.HashAccount("alice@example.com")},
		{"HashID of the same string", l.HashID("alice@example.com")},
		{"the address itself", "alice@example.com"},
	} {
		if tc.got == a {
			t.Errorf("%s gives the same hash %q", tc.name, a)
		}
	}
	if len(a) != 16 || l.HashAccount("alice@example.com") != a {
		t.Errorf("HashAccount = %q, want a stable 16-character hash", a)
	}
	if l.HashAccount("") != "" || (*audit.Logger)(nil).HashAccount("x@example.com") != "" {
		t.Error("HashAccount of nothing, or on a nil Logger, is not empty")
	}
}

func TestLogFields(t *testing.T) {
	l, _ := newLogger(t, slog.LevelDebug)
	hash := l.HashID(sessionID)
	tests := []struct {
		name string
		ev   audit.Event
		want map[string]any
	}{
		{
			name: "all fields",
			ev: audit.Event{Kind: audit.LoginOK, SessionID: sessionID, UserID: "u-42",
				IP: "192.0.2.7", UserAgent: "Mozilla/5.0", Reason: "password", Count: 3},
			want: map[string]any{"level": "INFO", "msg": "audit", "event": "login.ok",
				"session": hash, "user": "u-42", "ip": "192.0.2.7", "ua": "Mozilla/5.0",
				"reason": "password", "count": 3.0},
		},
		{
			name: "only kind",
			ev:   audit.Event{Kind: audit.KeyRotated},
			want: map[string]any{"level": "INFO", "msg": "audit", "event": "keys.rotated"},
		},
		{
			name: "warn kind with some fields",
			ev:   audit.Event{Kind: audit.LoginFailed, UserID: "alice@example.com", IP: "2001:db8::1", Reason: "bad_password"},
			want: map[string]any{"level": "WARN", "msg": "audit", "event": "login.failed",
				"user": "alice@example.com", "ip": "2001:db8::1", "reason": "bad_password"},
		},
		{
			name: "failed login names the account by its keyed hash",
			ev:   audit.Event{Kind: audit.LoginFailed, Account: "alice@example.com", IP: "192.0.2.7"},
			want: map[string]any{"level": "WARN", "msg": "audit", "event": "login.failed",
				"account": l.HashAccount("alice@example.com"), "ip": "192.0.2.7"},
		},
		{
			name: "revoke user with count",
			ev:   audit.Event{Kind: audit.RevokeUser, UserID: "u-42", Count: 5},
			want: map[string]any{"level": "INFO", "msg": "audit", "event": "revoke.user", "user": "u-42", "count": 5.0},
		},
		{
			name: "negative count is kept",
			ev:   audit.Event{Kind: audit.Revoke, Count: -1},
			want: map[string]any{"level": "INFO", "msg": "audit", "event": "revoke", "count": -1.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := newLogger(t, slog.LevelDebug)
			l.Log(t.Context(), tt.ev)
			got := lines(t, buf)
			if len(got) != 1 {
				t.Fatalf("got %d lines, want 1:\n%s", len(got), buf)
			}
			if !maps.Equal(got[0], tt.want) {
				t.Errorf("line = %v\nwant   %v", got[0], tt.want)
			}
		})
	}
}

func TestKindLevel(t *testing.T) {
	warn := []audit.Kind{audit.ReuseDetected, audit.CSRFRejected, audit.Throttled, audit.LoginFailed, audit.AdminAuthFailed, audit.ClientAuthFailed, audit.ReauthFailed}
	for _, k := range audit.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			want := slog.LevelInfo
			if slices.Contains(warn, k) {
				want = slog.LevelWarn
			}
			if got := k.Level(); got != want {
				t.Errorf("Level() = %v, want %v", got, want)
			}
			// The written line agrees with Level.
			l, buf := newLogger(t, slog.LevelDebug)
			l.Log(t.Context(), audit.Event{Kind: k})
			if got := lines(t, buf)[0]["level"]; got != want.String() {
				t.Errorf("line level = %v, want %v", got, want)
			}
		})
	}
}

func TestKindsComplete(t *testing.T) {
	want := []string{"login.ok", "login.failed", "signup", "refresh", "refresh.reuse_detected",
		"logout", "revoke", "revoke.user", "ratelimit.throttled", "csrf.rejected", "keys.rotated",
		"session.minted", "claims.changed", "admin.auth_failed", "client.auth_failed",
		"reauth.ok", "reauth.failed", "password.changed",
		"password.reset_requested", "password.reset", "account.deleted"}
	var got []string
	for _, k := range audit.Kinds() {
		got = append(got, string(k))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Kinds() = %v, want %v", got, want)
	}
}

// TestNoSecretInOutput logs every kind with a session id, and with the id
// and a refresh token carelessly put in other fields, and checks that no
// 8-byte window of the id appears in the output.
func TestNoSecretInOutput(t *testing.T) {
	for _, k := range audit.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			l, buf := newLogger(t, slog.LevelDebug)
			l.Log(t.Context(), audit.Event{Kind: k, SessionID: sessionID, UserID: "u-1",
				IP: "192.0.2.1", UserAgent: "curl/8", Reason: "r", Count: 1})
			l.Log(t.Context(), audit.Event{Kind: k, SessionID: sessionID,
				UserID: sessionID, IP: sessionID, UserAgent: "ua " + sessionID + " ua",
				Reason: "token=" + refreshToken})
			out := buf.String()
			if n := strings.Count(out, "\n"); n != 2 {
				t.Fatalf("got %d lines, want 2:\n%s", n, out)
			}
			for i := 0; i+8 <= len(sessionID); i++ {
				if w := sessionID[i : i+8]; strings.Contains(out, w) {
					t.Fatalf("output contains %q, a piece of the session id:\n%s", w, out)
				}
			}
			if !strings.Contains(out, l.HashID(sessionID)) {
				t.Errorf("output lacks the session hash:\n%s", out)
			}
		})
	}
}

func TestHashID(t *testing.T) {
	l := audit.New(nil, testKey)
	other := audit.New(nil, []byte("another key, 16+ bytes long"))

	// Known answer: first 12 bytes of HMAC-SHA256(key, id), base64url.
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte(sessionID))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])

	tests := []struct {
		name string
		got  string
		want string
	}{
		{"known answer", l.HashID(sessionID), want},
		{"stable", l.HashID(sessionID), l.HashID(sessionID)},
		{"same key, new logger", audit.New(nil, testKey).HashID(sessionID), want},
		{"empty id", l.HashID(""), ""},
		{"nil logger", (*audit.Logger)(nil).HashID(sessionID), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	t.Run("shape", func(t *testing.T) {
		h := l.HashID(sessionID)
		if len(h) != 16 || strings.Trim(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("HashID = %q, want 16 base64url characters", h)
		}
	})
	t.Run("key dependent", func(t *testing.T) {
		if l.HashID(sessionID) == other.HashID(sessionID) {
			t.Error("two keys give the same hash")
		}
	})
	t.Run("id dependent", func(t *testing.T) {
		if l.HashID(sessionID) == l.HashID(sessionID+"x") {
			t.Error("two ids give the same hash")
		}
	})
	t.Run("key copied", func(t *testing.T) {
		k := slices.Clone(testKey)
		c := audit.New(nil, k)
		before := c.HashID(sessionID)
		k[0] ^= 1
		if c.HashID(sessionID) != before {
			t.Error("changing the caller's key slice changed the hash")
		}
	})
}

func TestNilLogger(t *testing.T) {
	var l *audit.Logger
	l.Log(context.Background(), audit.Event{Kind: audit.ReuseDetected, SessionID: sessionID}) // must not panic
}

func TestNewShortKeyPanics(t *testing.T) {
	for _, n := range []int{0, 1, 15} {
		t.Run("", func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New with a %d-byte key did not panic", n)
				}
			}()
			audit.New(nil, make([]byte, n))
		})
	}
}

func TestNewNilSlogUsesDefault(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	var buf bytes.Buffer
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	audit.New(nil, testKey).Log(t.Context(), audit.Event{Kind: audit.Logout})
	if !strings.Contains(buf.String(), `"event":"logout"`) {
		t.Errorf("default logger got %q", buf.String())
	}
}

func TestLevelFilter(t *testing.T) {
	l, buf := newLogger(t, slog.LevelWarn)
	l.Log(t.Context(), audit.Event{Kind: audit.LoginOK})
	l.Log(t.Context(), audit.Event{Kind: audit.ReuseDetected})
	got := lines(t, buf)
	if len(got) != 1 || got[0]["event"] != "refresh.reuse_detected" {
		t.Errorf("at Warn, got %v, want only the reuse line", got)
	}
}

func TestFieldCap(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int // bytes kept
	}{
		{"short", "curl/8.5", 8},
		{"exactly max", strings.Repeat("a", 256), 256},
		{"ascii", strings.Repeat("a", 300), 256},
		{"2-byte runes", strings.Repeat("é", 200), 256},
		{"3-byte runes", strings.Repeat("€", 100), 255},
		{"3-byte runes, offset 1", "a" + strings.Repeat("€", 100), 256},
		{"3-byte runes, offset 2", "ab" + strings.Repeat("€", 100), 254},
		{"4-byte runes", strings.Repeat("🔑", 100), 256},
		{"4-byte runes, offset 1", "a" + strings.Repeat("🔑", 100), 253},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := newLogger(t, slog.LevelDebug)
			l.Log(t.Context(), audit.Event{Kind: audit.LoginFailed, UserAgent: tt.in, UserID: tt.in, IP: tt.in, Reason: tt.in})
			line := lines(t, buf)[0]
			for _, f := range []string{"ua", "user", "ip", "reason"} {
				got, _ := line[f].(string)
				if len(got) != tt.want || !strings.HasPrefix(tt.in, got) || !utf8.ValidString(got) {
					t.Errorf("%s = %d bytes (valid UTF-8: %v), want a %d-byte prefix of the input",
						f, len(got), utf8.ValidString(got), tt.want)
				}
			}
		})
	}
}

// FuzzLog checks, for any outside input in the free-text fields, that the
// output is one JSON line, fields are capped, and a session id of the real
// shape does not appear.
func FuzzLog(f *testing.F) {
	f.Add(sessionID, "Mozilla/5.0", "alice", "192.0.2.1", "bad_password")
	f.Add(sessionID, "x"+sessionID+"y", sessionID+sessionID, "\n\"}", strings.Repeat("€", 90))
	f.Add("AAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("A", 300), "\xff\xfe", "", "")
	f.Fuzz(func(t *testing.T, sid, ua, user, ip, reason string) {
		var buf bytes.Buffer
		l := audit.New(slog.New(slog.NewJSONHandler(&buf, nil)), testKey)
		l.Log(context.Background(), audit.Event{Kind: audit.LoginFailed, SessionID: sid,
			UserAgent: ua, UserID: user, IP: ip, Reason: reason})
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Fatalf("not one line: %q", out)
		}
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v: %q", err, out)
		}
		realShape := len(sid) >= 16 && strings.Trim(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
		for _, k := range []string{"ua", "user", "ip", "reason"} {
			v, _ := m[k].(string)
			if utf8.RuneCountInString(v) > audit.MaxFieldLen {
				t.Errorf("%s has %d runes, want <= %d", k, utf8.RuneCountInString(v), audit.MaxFieldLen)
			}
			if realShape && strings.Contains(v, sid) {
				t.Errorf("%s = %q contains the session id", k, v)
			}
		}
	})
}

func TestObserverSeesEveryEvent(t *testing.T) {
	var got []audit.Kind
	// Level Error: nothing is written, yet the observer still counts.
	l := audit.New(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})),
		make([]byte, 16), audit.WithObserver(func(e audit.Event) { got = append(got, e.Kind) }))
	for _, k := range audit.Kinds() {
		l.Log(context.Background(), audit.Event{Kind: k})
	}
	if len(got) != len(audit.Kinds()) {
		t.Fatalf("observer saw %d of %d events", len(got), len(audit.Kinds()))
	}
}
