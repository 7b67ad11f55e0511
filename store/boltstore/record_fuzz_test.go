package boltstore

// An internal test: the record codec is unexported, and the bytes it
// parses come from a file that may be damaged or tampered with.

import (
	"bytes"
	"encoding/json"
	"errors"
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
			return // e.g. a time outside what JSON can carry
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
