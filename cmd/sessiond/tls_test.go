package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/server"
)

func TestServeDevTLS(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--store", "memory://", "--addr", "127.0.0.1:0", "--dev-tls")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 2)
	go func() {
		r := bufio.NewReader(stdout)
		for range 2 {
			s, _ := r.ReadString('\n')
			lines <- s
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	var listen, cert string
	for _, dst := range []*string{&listen, &cert} {
		select {
		case *dst = <-lines:
		case <-time.After(30 * time.Second):
			t.Fatal("serve --dev-tls did not start")
		}
	}
	m := regexp.MustCompile(`listening on (https://\S+)`).FindStringSubmatch(listen)
	if m == nil || !regexp.MustCompile(`SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}`).MatchString(cert) {
		t.Fatalf("serve --dev-tls printed %q and %q", listen, cert)
	}
	base := m[1]
	// The certificate is self-signed: this client trusts it on purpose.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := client.Get(base + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// --dev-tls: a short HSTS, without includeSubDomains, so localhost is
	// not pinned to HTTPS for years.
	if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") != server.DevHSTS || res.TLS == nil {
		t.Fatalf("GET /ui/login over dev TLS: %d HSTS=%q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
}

func TestServeTLSFlagsUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"cert without key", []string{"serve", "--store", "memory://", "--tls-cert", "c.pem"}, 2},
		{"key without cert", []string{"serve", "--store", "memory://", "--tls-key", "k.pem"}, 2},
		{"dev and files", []string{"serve", "--store", "memory://", "--dev-tls", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, 2},
		{"missing files", []string{"serve", "--store", "memory://", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, 1},
		{"bad trusted origin", []string{"serve", "--store", "memory://", "--addr", "127.0.0.1:0", "--trusted-origins", "not an origin"}, 2},
		{"return-to origin with a path", []string{"serve", "--store", "memory://", "--addr", "127.0.0.1:0", "--return-to-origins", "https://app.example.com/app"}, 2},
		{"return-to origin not http", []string{"serve", "--store", "memory://", "--addr", "127.0.0.1:0", "--return-to-origins", "javascript://x"}, 2},
		// The development certificate is for localhost: serving it to the
		// network teaches users to click through certificate warnings.
		{"dev-tls on every interface", []string{"serve", "--store", "memory://", "--addr", "0.0.0.0:0", "--dev-tls"}, 2},
		{"dev-tls on an empty host", []string{"serve", "--store", "memory://", "--addr", ":0", "--dev-tls"}, 2},
		{"dev-tls on every IPv6 interface", []string{"serve", "--store", "memory://", "--addr", "[::]:0", "--dev-tls"}, 2},
		{"dev-tls on a host name", []string{"serve", "--store", "memory://", "--addr", "example.com:0", "--dev-tls"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A serve that wrongly starts ends with the context (exit 0).
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var out, errs bytes.Buffer
			code := run(ctx, tc.args, strings.NewReader(""), &out, &errs, func(string) string { return "" })
			if code != tc.code || errs.Len() == 0 {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errs.String())
			}
		})
	}
}
