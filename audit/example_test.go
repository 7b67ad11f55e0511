package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/sessiond/sessiond/audit"
)

func ExampleLogger_Log() {
	// Drop the time so the output is stable; a real server keeps it.
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	// The key comes from configuration in a real server.
	al := audit.New(slog.New(h), []byte("0123456789abcdef0123456789abcdef"))

	al.Log(context.Background(), audit.Event{
		Kind:      audit.ReuseDetected,
		SessionID: "q3Xv9Lr0bWc2TzK8mN1pYg", // written only as its keyed hash
		UserID:    "u-42",
		IP:        "192.0.2.7",
		Reason:    "refresh_token_reused",
	})
	// Output:
	// {"level":"WARN","msg":"audit","event":"refresh.reuse_detected","session":"hSjVM3vPWAKfDB28","user":"u-42","ip":"192.0.2.7","reason":"refresh_token_reused"}
}

func ExampleLogger_HashID() {
	al := audit.New(nil, []byte("0123456789abcdef0123456789abcdef"))
	// The same id always gives the same label under the same key.
	fmt.Println(al.HashID("q3Xv9Lr0bWc2TzK8mN1pYg"))
	// Output:
	// hSjVM3vPWAKfDB28
}
