package boltstore

// An internal test: the record codec is unexported, and the bytes it
// parses come from a file that may be damaged or tampered with.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

func FuzzDecodeRecord(f *testing.F) {
	at := time.Date(2099, 1, 2, 3, 4, 5, 6000, time.UTC)
	good, err := encodeRecord(&session.Record{
		ID: "id", UserID: "u", CreatedAt: at, LastSeenAt: at,
		IdleExpiresAt: at.Add(time.Hour), AbsExpiresAt: at.Add(2 * time.Hour),
		IP: "192.0.2.1", RefreshHash: []byte{1, 2, 3}, PrevRefreshHash: []byte{4},
		RotatedAt: at, Data: map[string]json.RawMessage{"k": json.RawMessage(`[1,{"a":null}]`)},
		Version: 7,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	many, err := encodeRecord(&session.Record{
		ID: "id", UserID: "u", CreatedAt: at, LastSeenAt: at, IdleExpiresAt: at, AbsExpiresAt: at,
		RefreshHash: []byte{1}, RefreshReissued: true, PrevRefreshReissued: true, AMR: []string{"pwd", "otp"},
		Claims:  map[string]json.RawMessage{"z": json.RawMessage(`1`), "a": json.RawMessage(`"x"`), "m": json.RawMessage(`[]`)},
		Data:    map[string]json.RawMessage{"q": json.RawMessage(`{}`), "b": json.RawMessage(`null`), "k": json.RawMessage(`true`)},
		Version: 3,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(many)
	f.Add([]byte(`{"v":1,"u":"u","c":"2099-01-02T03:04:05.000006Z","rh":"AQID","amr":["pwd"],"cl":{"r":"a"},"d":{"k":[1]},"n":7}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"c":"0000-01-01T00:00:00Z","d":{"x":1e999}}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRecord("id", v)
		if err != nil {
			if !errors.Is(err, session.ErrStore) {
				t.Fatalf("decode error %v does not wrap ErrStore", err)
			}
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := encodeRecord(r)
		if err != nil {
			return // e.g. a time outside years 1 to 9999
		}
		r2, err := decodeRecord("id", again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if v[0] == recordBinary && !reflect.DeepEqual(r, r2) {
			t.Fatalf("a binary record changes through a re-encoding:\n%+v\n%+v", r, r2)
		}
		third, err := encodeRecord(r2)
		if err != nil || !bytes.Equal(again, third) {
			t.Fatalf("encoding not stable:\n%s\n%s (%v)", again, third, err)
		}
	})
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		a, b := timeKey(times[i-1]), timeKey(times[i])
		if bytes.Compare(a, b) > 0 {
			t.Errorf("timeKey(%v) > timeKey(%v)", times[i-1], times[i])
		}
	}
	now := time.Date(2099, 3, 14, 15, 9, 26, 535897932, time.UTC)
	if got := decodeTime(encodeTime(now)); !got.Equal(now) {
		t.Errorf("decodeTime(encodeTime(%v)) = %v", now, got)
	}
}

// TestDecodeBinaryRefusesDamage: damage that a length check alone does
// not catch is refused as a corrupt record, and never allocates by a
// count the record cannot hold.
func TestDecodeBinaryRefusesDamage(t *testing.T) {
	at := time.Date(2099, 1, 2, 3, 4, 5, 6000, time.UTC)
	good, err := encodeRecord(&session.Record{ID: "id", UserID: "u", CreatedAt: at, LastSeenAt: at,
		IdleExpiresAt: at, AbsExpiresAt: at, RefreshHash: []byte{1}, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	// good ends with: flags, AMR count, claims count, data count, Version.
	tail := len(good) - 5
	end := func(b ...byte) []byte { return append(bytes.Clone(good[:tail]), b...) }
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	// good starts with: the form byte, the user id ("u"), CreatedAt.
	head := []byte{recordBinary, 1, 'u'}
	afterCreated := good[len(head)+len(binary.AppendVarint(nil, at.Unix()))+len(binary.AppendUvarint(nil, uint64(at.Nanosecond()))):]
	created := func(sec int64, ns uint64) []byte {
		b := binary.AppendUvarint(binary.AppendVarint(bytes.Clone(head), sec), ns)
		return append(b, afterCreated...)
	}
	if _, err := decodeRecord("id", created(at.Unix(), uint64(at.Nanosecond()))); err != nil {
		t.Fatalf("the record rebuilt from its parts does not decode: %v", err)
	}
	claims := func(names ...string) []byte {
		b := []byte{0, 0, byte(len(names))}
		for _, n := range names {
			b = append(b, byte(len(n)))
			b = append(b, n...)
			b = append(b, 1, '1')
		}
		return end(append(b, 0, 1)...)
	}
	if _, err := decodeRecord("id", claims("a", "b")); err != nil {
		t.Fatalf("a record with claims in order does not decode: %v", err)
	}
	for _, tc := range []struct {
		name, why string
		v         []byte
	}{
		{"unknown flags", "unknown flags", end(4, 0, 0, 0, 1)},
		{"AMR count past the end", "count runs past", end(append(append([]byte{0}, huge...), 0, 0, 1)...)},
		{"claims count past the end", "count runs past", end(append(append([]byte{0, 0}, huge...), 0, 1)...)},
		{"claim not JSON", "not valid JSON", end(0, 0, 1, 1, 'k', 2, '{', '"', 0, 1)},
		{"no version", "bad length or number", end(0, 0, 0, 0)},
		{"nanoseconds of a second or more", "bad time", created(at.Unix(), 1e9)},
		{"time after year 9999", "bad time", created(maxUnix+1, 0)},
		{"time before year 1", "bad time", created(minUnix-1, 0)},
		{"length past the end", "runs past the end", append([]byte{recordBinary, 0xff, 0xff, 0x03}, good[2:]...)},
		{"claim names out of order", "out of order or repeated", claims("b", "a")},
		{"claim name repeated", "out of order or repeated", claims("a", "a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeRecord("id", good); err != nil {
				t.Fatalf("the undamaged record does not decode: %v", err)
			}
			r, err := decodeRecord("id", tc.v)
			if !errors.Is(err, session.ErrStore) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("decode = %+v, %v; want ErrStore saying %q", r, err, tc.why)
			}
		})
	}
}

// BenchmarkRecordCodec encodes and decodes the record of a browser
// session as a refresh leaves it, which a refresh does once each inside
// its commit.
func BenchmarkRecordCodec(b *testing.B) {
	at := time.Date(2026, 11, 30, 8, 15, 42, 123456000, time.UTC)
	r := &session.Record{ID: "PY1Js83Xa0_GKZwVqf5vcA", UserID: "Hq3kF9vJxW2mN8pL4rT6yB", CreatedAt: at, LastSeenAt: at,
		IdleExpiresAt: at.Add(time.Hour), AbsExpiresAt: at.Add(2 * time.Hour), IP: "192.0.2.1",
		UserAgent:  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.0 Safari/537.36",
		AuthMethod: "password", RefreshHash: make([]byte, 32), PrevRefreshHash: make([]byte, 32), NextRefreshHash: make([]byte, 32),
		RotatedAt: at, ClientID: "web", AuthTime: at, AMR: []string{"pwd"}, Version: 9}
	b.ReportAllocs()
	for b.Loop() {
		v, err := encodeRecord(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeRecord(r.ID, v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecordCodecKeepsNothingOfTheStoredBytes: a decoded record owns its
// memory (bbolt's is valid only inside the transaction and is reused
// after it), and Claims and Data are stored compacted, in name order, a
// nil value as null, as the JSON form stored them.
func TestRecordCodecKeepsNothingOfTheStoredBytes(t *testing.T) {
	at := time.Date(2099, 1, 2, 3, 4, 5, 6000, time.UTC)
	r := &session.Record{ID: "id", UserID: "user", CreatedAt: at, LastSeenAt: at, IdleExpiresAt: at, AbsExpiresAt: at,
		IP: "192.0.2.1", UserAgent: "ua", AuthMethod: "password", ClientID: "web",
		RefreshHash: []byte{1, 2}, PrevRefreshHash: []byte{3}, NextRefreshHash: []byte{4}, AMR: []string{"pwd"},
		Claims:  map[string]json.RawMessage{"role": json.RawMessage(` "admin" `), "org": json.RawMessage("{ \"id\" : 9 }")},
		Data:    map[string]json.RawMessage{"cart": json.RawMessage("[1, 2]"), "none": nil},
		Version: 2}
	v, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := encodeRecord(r)
	if err != nil || !bytes.Equal(v, again) {
		t.Fatalf("one record encodes two ways (%v)", err)
	}
	got, err := decodeRecord("id", v)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeRecord("id", bytes.Clone(v))
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		v[i] = 0xAA // as bbolt reuses the page
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the decoded record changed with the bytes it was decoded from:\n%+v\n%+v", got, want)
	}
	for k, w := range map[string]string{"role": `"admin"`, "org": `{"id":9}`} {
		if string(got.Claims[k]) != w {
			t.Errorf("claim %s = %s, want %s", k, got.Claims[k], w)
		}
	}
	for k, w := range map[string]string{"cart": `[1,2]`, "none": `null`} {
		if string(got.Data[k]) != w {
			t.Errorf("data %s = %s, want %s", k, got.Data[k], w)
		}
	}
	if got.UserID != "user" || got.UserAgent != "ua" || !bytes.Equal(got.RefreshHash, []byte{1, 2}) || got.AMR[0] != "pwd" {
		t.Errorf("fields lost: %+v", got)
	}
}
