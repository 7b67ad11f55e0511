package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Fields of a session HASH. Names are one letter to keep a session small
// (see the memory figure in the package tests); times are integer unix
// microseconds, hashes raw bytes. Optional fields are absent when empty.
const (
	fUser       = "u"
	fCreated    = "c"
	fLastSeen   = "l"
	fIdleExp    = "i"
	fAbsExp     = "a"
	fIP         = "p"
	fUserAgent  = "g" // or fUserAgentPacked
	fAuthMethod = "m"
	fHash       = "h"
	fPrevHash   = "q" // optional
	fRotatedAt  = "r" // optional
	fData       = "d" // optional: the app data as one JSON object
	fVersion    = "v"
	fCompromise = "x" // set by Rotate on reuse: the session is dead
	fReissued   = "e" // optional, "1": RefreshReissued
	fPrevReiss  = "o" // optional, "1": PrevRefreshReissued
	fNextHash   = "n" // optional: NextRefreshHash
	fClientID   = "k" // optional
	fAuthTime   = "t" // optional
	fAMR        = "w" // optional: JSON array
	fClaims     = "j" // optional: the application claims as one JSON object
)

// micros formats t as unix microseconds.
func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// expireMillis is the PEXPIREAT argument for t: unix milliseconds, rounded
// up so that Redis never drops a key while it is still alive.
func expireMillis(t time.Time) int64 {
	us := t.UnixMicro()
	ms := us / 1000
	if us%1000 > 0 {
		ms++
	}
	return ms
}

// encode returns r's fields as HSET arguments (name, value, ...), with
// version as the stored Version.
func encode(r *session.Record, version uint64) ([]any, error) {
	f := []any{
		fUser, r.UserID,
		fCreated, micros(r.CreatedAt),
		fLastSeen, micros(r.LastSeenAt),
		fIdleExp, micros(r.IdleExpiresAt),
		fAbsExp, micros(r.AbsExpiresAt),
		fIP, r.IP,
		fAuthMethod, r.AuthMethod,
		fHash, string(r.RefreshHash),
		fVersion, strconv.FormatUint(version, 10),
	}
	if p, ok := packUserAgent(r.UserAgent); ok {
		f = appendChunked(f, fUserAgentPacked, p)
	} else {
		f = appendChunked(f, fUserAgent, r.UserAgent)
	}
	if len(r.PrevRefreshHash) > 0 {
		f = append(f, fPrevHash, string(r.PrevRefreshHash))
	}
	if len(r.NextRefreshHash) > 0 {
		f = append(f, fNextHash, string(r.NextRefreshHash))
	}
	if !r.RotatedAt.IsZero() {
		f = append(f, fRotatedAt, micros(r.RotatedAt))
	}
	if r.RefreshReissued {
		f = append(f, fReissued, "1")
	}
	if r.PrevRefreshReissued {
		f = append(f, fPrevReiss, "1")
	}
	if r.ClientID != "" {
		f = append(f, fClientID, r.ClientID)
	}
	if !r.AuthTime.IsZero() {
		f = append(f, fAuthTime, micros(r.AuthTime))
	}
	if len(r.AMR) > 0 {
		a, err := json.Marshal(r.AMR)
		if err != nil {
			return nil, fmt.Errorf("amr: %w", err)
		}
		f = append(f, fAMR, string(a))
	}
	if len(r.Claims) > 0 {
		c, err := json.Marshal(r.Claims)
		if err != nil {
			return nil, fmt.Errorf("claims: %w", err)
		}
		f = appendChunked(f, fClaims, string(c))
	}
	if len(r.Data) > 0 {
		d, err := json.Marshal(r.Data)
		if err != nil {
			return nil, fmt.Errorf("app data: %w", err)
		}
		f = appendChunked(f, fData, string(d))
	}
	return f, nil
}

// chunkSize is the longest value stored in one HASH field. Redis keeps a
// small hash compactly (listpack encoding) only while every value is at
// most hash-max-listpack-value bytes (64 by default); one longer value, a
// browser's user agent typically, triples the session's memory. So the
// user agent and the app data are split across fields name, name+"1",
// name+"2", ... of at most chunkSize bytes each.
const chunkSize = 64

func appendChunked(f []any, name, v string) []any {
	if v == "" {
		return f
	}
	for i := 0; len(v) > 0; i++ {
		n := min(len(v), chunkSize)
		field := name
		if i > 0 {
			field += strconv.Itoa(i)
		}
		f = append(f, field, v[:n])
		v = v[n:]
	}
	return f
}

func joinChunks(m map[string]string, name string) string {
	v, ok := m[name]
	if !ok {
		return ""
	}
	for i := 1; ; i++ {
		c, ok := m[name+strconv.Itoa(i)]
		if !ok {
			return v
		}
		v += c
	}
}

// decode builds a record from the fields of a session HASH. It reports
// (nil, nil) for a missing or compromised session.
func decode(id string, m map[string]string) (*session.Record, error) {
	if len(m) == 0 || m[fCompromise] != "" {
		return nil, nil
	}
	var err error
	tm := func(name string) time.Time {
		s, ok := m[name]
		if !ok || err != nil {
			return time.Time{}
		}
		us, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil {
			err = fmt.Errorf("field %s: %w", name, perr)
			return time.Time{}
		}
		return time.UnixMicro(us).UTC()
	}
	r := &session.Record{
		ID:            id,
		UserID:        m[fUser],
		CreatedAt:     tm(fCreated),
		LastSeenAt:    tm(fLastSeen),
		IdleExpiresAt: tm(fIdleExp),
		AbsExpiresAt:  tm(fAbsExp),
		IP:            m[fIP],
		UserAgent:     joinChunks(m, fUserAgent),
		AuthMethod:    m[fAuthMethod],
		RefreshHash:   []byte(m[fHash]),
		RotatedAt:     tm(fRotatedAt),
		ClientID:      m[fClientID],
		AuthTime:      tm(fAuthTime),

		RefreshReissued:     m[fReissued] != "",
		PrevRefreshReissued: m[fPrevReiss] != "",
	}
	if p := joinChunks(m, fUserAgentPacked); p != "" {
		r.UserAgent = unpackUserAgent(p)
	}
	if p := m[fPrevHash]; p != "" {
		r.PrevRefreshHash = []byte(p)
	}
	if n := m[fNextHash]; n != "" {
		r.NextRefreshHash = []byte(n)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt session record: %w", session.ErrStore, err)
	}
	if _, ok := m[fUser]; !ok {
		return nil, fmt.Errorf("%w: corrupt session record: no user", session.ErrStore)
	}
	if r.Version, err = strconv.ParseUint(m[fVersion], 10, 64); err != nil {
		return nil, fmt.Errorf("%w: corrupt session record: version: %w", session.ErrStore, err)
	}
	if a := m[fAMR]; a != "" {
		if err := json.Unmarshal([]byte(a), &r.AMR); err != nil {
			return nil, fmt.Errorf("%w: corrupt session record: amr: %w", session.ErrStore, err)
		}
	}
	if c := joinChunks(m, fClaims); c != "" {
		if err := json.Unmarshal([]byte(c), &r.Claims); err != nil {
			return nil, fmt.Errorf("%w: corrupt session record: claims: %w", session.ErrStore, err)
		}
	}
	if d := joinChunks(m, fData); d != "" {
		if err := json.Unmarshal([]byte(d), &r.Data); err != nil {
			return nil, fmt.Errorf("%w: corrupt session record: app data: %w", session.ErrStore, err)
		}
	}
	return r, nil
}

// pairs turns the flat reply of HGETALL inside a script into a map.
func pairs(v any) (map[string]string, error) {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return nil, fmt.Errorf("%w: unexpected script reply %T", session.ErrStore, v)
	}
	m := make(map[string]string, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		k, ok1 := a[i].(string)
		val, ok2 := a[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: unexpected script reply element", session.ErrStore)
		}
		m[k] = val
	}
	return m, nil
}
