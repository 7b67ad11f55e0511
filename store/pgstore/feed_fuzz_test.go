package pgstore_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/store/pgstore"
)

// FuzzParseNotification feeds the NOTIFY payload parser arbitrary text
// (anyone allowed to NOTIFY the channel controls it): it must never panic,
// and whatever it accepts must be what a well-formed payload says.
func FuzzParseNotification(f *testing.F) {
	for _, s := range []string{
		"abcdefghijklmnopqrstuv 4076490566535897",
		"id -1", "id", " 12", "", "a b c 3", "id 9223372036854775807", "id 1e6", "id +5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		r, err := pgstore.ParseNotification(payload)
		if err != nil {
			return
		}
		i := strings.LastIndexByte(payload, ' ')
		us, perr := strconv.ParseInt(payload[i+1:], 10, 64)
		if i <= 0 || perr != nil {
			t.Fatalf("accepted malformed %q", payload)
		}
		if r.SessionID != payload[:i] || !r.Until.Equal(time.UnixMicro(us)) {
			t.Fatalf("%q parsed as %+v", payload, r)
		}
	})
}

func TestParseNotification(t *testing.T) {
	tests := []struct {
		payload string
		id      string
		until   time.Time
		ok      bool
	}{
		{"abc 1000001", "abc", time.Unix(1, 1000), true},
		{"abc -1", "abc", time.UnixMicro(-1), true},
		{"abc", "", time.Time{}, false},
		{" 5", "", time.Time{}, false},
		{"abc x", "", time.Time{}, false},
		{"abc ", "", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			r, err := pgstore.ParseNotification(tt.payload)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (r.SessionID != tt.id || !r.Until.Equal(tt.until)) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}
