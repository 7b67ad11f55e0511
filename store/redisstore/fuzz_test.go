package redisstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/redisstore"
)

// FuzzRecordRoundTrip: whatever a record holds, what Encode writes Decode
// reads back the same (long values split across fields included).
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("user-1", "192.0.2.1", "Mozilla/5.0 "+strings.Repeat("x", 200), "password", []byte{1, 2}, int64(0), `{"k":"v"}`)
	f.Add("", "", "", "", []byte(nil), int64(1), ``)
	f.Add("ü}{:", "::1", "\x00\xff", "passkey", []byte("\x00"), int64(-5), `{"a":`+strings.Repeat(`"`+strings.Repeat("y", 70)+`"`, 1)+`}`)
	f.Fuzz(func(t *testing.T, user, ip, ua, method string, prev []byte, rotated int64, data string) {
		r := sessiontest.NewRecord(user, 0)
		r.IP, r.UserAgent, r.AuthMethod, r.PrevRefreshHash = ip, ua, method, prev
		if rotated != 0 {
			r.RotatedAt = sessiontest.Base.Add(time.Duration(rotated) * time.Microsecond)
		}
		if data != "" {
			if err := json.Unmarshal([]byte(data), &r.Data); err != nil {
				r.Data = nil
			}
		}
		fields, err := redisstore.Encode(r, 7)
		if err != nil {
			return // app data that does not encode is refused, not stored
		}
		m := map[string]string{}
		for i := 0; i < len(fields); i += 2 {
			m[fields[i].(string)] = fmt.Sprint(fields[i+1])
		}
		got, err := redisstore.Decode(r.ID, m)
		if err != nil || got == nil {
			t.Fatalf("Decode = %v, %v", got, err)
		}
		if got.Version != 7 || got.UserID != r.UserID || got.IP != r.IP || got.UserAgent != r.UserAgent ||
			got.AuthMethod != r.AuthMethod || string(got.PrevRefreshHash) != string(r.PrevRefreshHash) ||
			!got.RotatedAt.Equal(r.RotatedAt) || len(got.Data) != len(r.Data) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	})
}

// FuzzDecode: a corrupt HASH is an error wrapping ErrStore, never a panic.
func FuzzDecode(f *testing.F) {
	f.Add("u", "123", "1", "x", "")
	f.Add("u", "", "", "", "1")
	f.Add("u", "99999999999999999999", "18446744073709551616", `{"a":1}`, "")
	f.Fuzz(func(t *testing.T, user, created, version, data, compromised string) {
		m := map[string]string{"u": user, "c": created, "l": created, "i": created, "a": created, "v": version, "d": data, "d1": data}
		if compromised != "" {
			m["x"] = compromised
		}
		r, err := redisstore.Decode("id", m)
		if err != nil && r != nil {
			t.Fatal("both a record and an error")
		}
		if compromised != "" && r != nil {
			t.Fatal("a compromised session decoded as live")
		}
		if err != nil && !strings.Contains(err.Error(), session.ErrStore.Error()) {
			t.Fatalf("error %v does not say the store failed", err)
		}
	})
}

// FuzzParseRevocation: pub/sub payloads come from the network.
func FuzzParseRevocation(f *testing.F) {
	f.Add("abc 4077003366535897")
	f.Add("abc 4.077003366535897e+15")
	f.Add(" 1")
	f.Add("abc")
	f.Fuzz(func(t *testing.T, p string) {
		r, ok := redisstore.ParseRevocation(p)
		if ok && (r.SessionID == "" || strings.Contains(r.SessionID, " ")) {
			t.Fatalf("accepted %q as %+v", p, r)
		}
	})
}

// FuzzParseClusterURL: the --store flag is outside input; no panic, and
// every node accepted is host:port.
func FuzzParseClusterURL(f *testing.F) {
	f.Add("127.0.0.1:7101,127.0.0.1:7102")
	f.Add("user:p%40ss@h1:1,h2:2/")
	f.Add("@,")
	f.Fuzz(func(t *testing.T, rest string) {
		o, err := redisstore.ParseClusterURL(rest)
		if err != nil {
			return
		}
		for _, a := range o.Addrs {
			if !strings.Contains(a, ":") || strings.ContainsAny(a, "/@,") {
				t.Fatalf("accepted node %q from %q", a, rest)
			}
		}
		if red := redisstore.RedactURL("redis-cluster://" + rest); o.Password != "" && strings.Contains(red, ":"+o.Password+"@") {
			t.Fatalf("RedactURL(%q) = %q shows the password", rest, red)
		}
	})
}
