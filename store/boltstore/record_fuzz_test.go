package boltstore

// An internal test: the record codec is unexported, and the bytes it
// parses come from a file that may be damaged or tampered with.

import (
	"bytes"
	"encoding/json"
	"errors"
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
	for _, tc := range []struct {
		name, why string
		v         []byte
	}{
		{"unknown flags", "unknown flags", end(4, 0, 0, 0, 1)},
		{"AMR count past the end", "count runs past", end(append(append([]byte{0}, huge...), 0, 0, 1)...)},
		{"claims count past the end", "count runs past", end(append(append([]byte{0, 0}, huge...), 0, 1)...)},
		{"claim not JSON", "not valid JSON", end(0, 0, 1, 1, 'k', 2, '{', '"', 0, 1)},
		{"no version", "bad length or number", end(0, 0, 0, 0)},
		{"nanoseconds of a second or more", "bad time", append([]byte{recordBinary, 1, 'u', 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, good[12:]...)},
		{"time after year 9999", "bad time", append([]byte{recordBinary, 1, 'u', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}, good[3:]...)},
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
