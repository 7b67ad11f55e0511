package redisstore

import (
	"strings"
	"testing"
)

// TestUserAgentPacking: every user agent reads back as it was stored,
// packed or not; browsers' pack to a fraction, and what holds a control
// byte (which codes are made of) is stored as it came.
func TestUserAgentPacking(t *testing.T) {
	cases := []struct {
		name   string
		ua     string
		packed bool
		maxLen int // of the packed form
	}{
		{"chrome on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.0 Safari/537.36", true, 24},
		{"chrome on Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", true, 16},
		{"edge on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", true, 20},
		{"firefox on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", true, 20},
		{"safari on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", true, 24},
		{"chrome on Android", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", true, 16},
		{"a token only", "Mobile", true, 1},
		{"nothing to pack", "curl/8.5.0", false, 0},
		{"empty", "", false, 0},
		{"a code byte in it", "Mozilla/5.0 (\x01X11; Linux x86_64)", false, 0},
		{"a tab", "Mozilla/5.0 (X11;\tLinux x86_64)", false, 0},
		{"DEL", "Mozilla/5.0 (X11; Linux x86_64)\x7f", false, 0},
		{"UTF-8 and bidi controls", "Mozilla/5.0 (X11; Linux x86_64) \u202eevil\u202c ünïcode", true, 30},
		{"long, several chunks", strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) Chrome/ plus text that no token has ", 10), true, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := packUserAgent(tc.ua)
			if ok != tc.packed {
				t.Fatalf("packed = %v (%q), want %v", ok, p, tc.packed)
			}
			if ok && len(p) > tc.maxLen {
				t.Errorf("packed to %d bytes, want at most %d: %q", len(p), tc.maxLen, p)
			}
			// Through the stored form, as a store writes and reads it.
			f := appendChunked(nil, fUserAgentPacked, p)
			if !ok {
				f = appendChunked(nil, fUserAgent, tc.ua)
			}
			m := map[string]string{fUser: "u", fVersion: "1"}
			for i := 0; i < len(f); i += 2 {
				m[f[i].(string)] = f[i+1].(string)
			}
			r, err := decode("s", m)
			if err != nil || r.UserAgent != tc.ua {
				t.Fatalf("read back %q, %v; want %q", r.UserAgent, err, tc.ua)
			}
		})
	}
}

// FuzzUserAgentPacking: any string reads back unchanged.
func FuzzUserAgentPacking(f *testing.F) {
	for _, s := range []string{"Mozilla/5.0 (X11; Linux x86_64)", "\x01", "Mobile.0.0.0; K", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		if p, ok := packUserAgent(ua); ok && unpackUserAgent(p) != ua {
			t.Fatalf("%q packed to %q reads back %q", ua, p, unpackUserAgent(p))
		}
	})
}
