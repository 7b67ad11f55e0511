package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestServePlainHTTPOffLoopback: plain HTTP on an address other than
// loopback is refused (exit 2, saying what to give instead) unless
// --insecure-http or --trusted-proxies (a proxy terminating TLS) is given;
// either then starts and says so in the log. Loopback needs neither, and
// --insecure-http with TLS is refused.
func TestServePlainHTTPOffLoopback(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int    // exit code of a serve that does not start; 0: it starts
		err  string // what stderr must say
	}{
		{"every interface, plain", []string{"--addr", "0.0.0.0:0"}, 2, "not a loopback address and serves plain HTTP"},
		{"empty host, plain", []string{"--addr", ":0"}, 2, "--insecure-http"},
		{"--insecure-http with --dev-tls", []string{"--addr", "127.0.0.1:0", "--dev-tls", "--insecure-http"}, 2, "--insecure-http is for plain HTTP"},
		{"--insecure-http", []string{"--addr", "0.0.0.0:0", "--insecure-http"}, 0, "(--insecure-http): passwords, tokens and client secrets cross the network in clear"},
		{"behind a TLS-terminating proxy", []string{"--addr", "0.0.0.0:0", "--trusted-proxies", "10.0.0.0/8"}, 0, "the proxies of --trusted-proxies must terminate TLS"},
		{"loopback, plain", []string{"--addr", "127.0.0.1:0"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errs syncBuffer
			done := make(chan int, 1)
			args := append([]string{"serve", "--store", "memory://"}, tc.args...)
			go func() { done <- run(ctx, args, strings.NewReader(""), &out, &errs, func(string) string { return "" }) }()
			var code int
			if tc.code != 0 {
				code = <-done
			} else {
				for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "listening on http://"); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						cancel()
						<-done
						t.Fatalf("serve %q did not start; stderr %q", tc.args, errs.String())
					}
				}
				cancel()
				code = <-done
			}
			if code != tc.code {
				t.Fatalf("serve %q: exit %d, want %d; stderr %q", tc.args, code, tc.code, errs.String())
			}
			if tc.err != "" && !strings.Contains(errs.String(), tc.err) {
				t.Fatalf("stderr %q lacks %q", errs.String(), tc.err)
			}
			if tc.err == "" && strings.Contains(errs.String(), "plain HTTP") {
				t.Fatalf("loopback warned: %q", errs.String())
			}
		})
	}
}
