package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/session"
)

// effective is what a serve run is configured with, leaving out the
// intermediate text the flags are parsed into: a flag that is parsed but
// never converted into it changes nothing here.
type effective struct {
	Node            any
	Server          any
	Addr            string
	TLSCert, TLSKey string
	DevTLS          bool
	InsecureHTTP    bool
	LogFormat       string
	LogLevel        string
}

func effectiveOf(t *testing.T, args []string, env map[string]string) effective {
	t.Helper()
	o, err := parseServe(args, io.Discard, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("parseServe(%q, %v): %v", args, env, err)
	}
	return effective{o.node, o.server, o.addr, o.tlsCert, o.tlsKey, o.devTLS, o.insecureHTTP, o.logFormat, o.logLevel}
}

// TestEveryServeFlagReachesItsSetting sets each serve flag in turn to a
// value other than its default, on the command line and through its
// environment twin, and requires the configuration that serve runs with
// to change: a flag that is parsed and dropped (as --key-reload once was)
// fails here. A new flag without a row here fails too.
func TestEveryServeFlagReachesItsSetting(t *testing.T) {
	clients := t.TempDir() + "/clients.json"
	if err := os.WriteFile(clients, []byte(`[{"id":"api","secret":"0123456789abcdef0123456789abcdef","permissions":["sessions"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	changes := map[string]struct{ base, set []string }{
		"clients":               {nil, []string{"--clients", clients}},
		"claims":                {nil, []string{"--claims", "role,tenant"}},
		"claims-max-bytes":      {nil, []string{"--claims-max-bytes", "512"}},
		"login-client-id":       {nil, []string{"--login-client-id", "web"}},
		"store":                 {nil, []string{"--store", "memory://"}},
		"addr":                  {nil, []string{"--addr", "127.0.0.1:9"}},
		"migrate":               {nil, []string{"--migrate"}},
		"store-timeout":         {nil, []string{"--store-timeout", "500ms"}},
		"issuer":                {nil, []string{"--issuer", "https://auth.example"}},
		"audience":              {nil, []string{"--audience", "api"}},
		"access-ttl":            {nil, []string{"--access-ttl", "5m"}},
		"idle-timeout":          {nil, []string{"--idle-timeout", "2h"}},
		"absolute-timeout":      {nil, []string{"--absolute-timeout", "48h"}},
		"refresh-grace":         {nil, []string{"--refresh-grace", "5s"}},
		"max-sessions-per-user": {nil, []string{"--max-sessions-per-user", "3"}},
		"signing-alg":           {nil, []string{"--signing-alg", "ES256"}},
		"key-rotation":          {nil, []string{"--key-rotation", "48h"}},
		"key-reload":            {nil, []string{"--key-reload", "1s"}},
		"jwks-max-age":          {nil, []string{"--jwks-max-age", "1m"}},
		"allow-signup":          {nil, []string{"--allow-signup=false"}},
		"trusted-proxies":       {nil, []string{"--trusted-proxies", "10.0.0.0/8"}},
		"trusted-origins":       {nil, []string{"--trusted-origins", "https://app.example.com"}},
		"cors-origins":          {nil, []string{"--cors-origins", "https://app.example.com,http://localhost:5173"}},
		"return-to-origins":     {nil, []string{"--return-to-origins", "https://app.example.com"}},
		"tls-cert":              {[]string{"--tls-cert", "a.pem", "--tls-key", "k.pem"}, []string{"--tls-cert", "b.pem", "--tls-key", "k.pem"}},
		"tls-key":               {[]string{"--tls-cert", "a.pem", "--tls-key", "k.pem"}, []string{"--tls-cert", "a.pem", "--tls-key", "l.pem"}},
		"dev-tls":               {nil, []string{"--dev-tls"}},
		"insecure-http":         {[]string{"--addr", "192.0.2.1:8080", "--trusted-proxies", "10.0.0.0/8"}, []string{"--addr", "192.0.2.1:8080", "--trusted-proxies", "10.0.0.0/8", "--insecure-http"}},
		"login-rate-ip":         {nil, []string{"--login-rate-ip", "30"}},
		"login-failures":        {nil, []string{"--login-failures", "3"}},
		"login-backoff-max":     {nil, []string{"--login-backoff-max", "1h"}},
		"session-rate":          {nil, []string{"--session-rate", "60"}},
		"reauth-max-age":        {nil, []string{"--reauth-max-age", "5m"}},
		"smtp-url":              {nil, []string{"--smtp-url", "smtp://mail.example.com", "--mail-from", "a@example.com", "--public-url", "https://auth.example"}},
		"mail-from":             {nil, []string{"--mail-from", "a@example.com"}},
		"public-url":            {nil, []string{"--public-url", "https://auth.example"}},
		"reset-ttl":             {nil, []string{"--reset-ttl", "10m"}},
		"log-format":            {nil, []string{"--log-format", "text"}},
		"log-level":             {nil, []string{"--log-level", "debug"}},
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fs, &serveOptions{})
	seen := 0
	fs.VisitAll(func(f *flag.Flag) {
		seen++
		c, ok := changes[f.Name]
		if !ok {
			t.Errorf("--%s has no row in this test: add one", f.Name)
			return
		}
		t.Run(f.Name, func(t *testing.T) {
			base := effectiveOf(t, c.base, nil)
			set := effectiveOf(t, c.set, nil)
			if reflect.DeepEqual(base, set) {
				t.Fatalf("%q changes nothing serve runs with", c.set)
			}
			// The environment twin sets the same as the flag.
			env := map[string]string{}
			for i := 0; i < len(c.set); i++ {
				name, val, hasVal := strings.Cut(strings.TrimPrefix(c.set[i], "--"), "=")
				if !hasVal {
					if i+1 < len(c.set) && !strings.HasPrefix(c.set[i+1], "--") {
						val = c.set[i+1]
						i++
					} else {
						val = "true"
					}
				}
				env[envName(name)] = val
			}
			if got := effectiveOf(t, nil, env); !reflect.DeepEqual(got, set) {
				t.Fatalf("environment %v does not configure what %q does", env, c.set)
			}
		})
	})
	if seen != len(changes) {
		t.Errorf("serve has %d flags, this test knows %d", seen, len(changes))
	}
}

// TestAllowSignupIsABoolean: bare, =true/=false and the usual spellings;
// a bare --allow-signup does not swallow the flag after it.
func TestAllowSignupIsABoolean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *bool
		addr string
	}{
		{nil, nil, "127.0.0.1:8080"},
		{[]string{"--allow-signup", "--addr", "127.0.0.1:0"}, ptr(true), "127.0.0.1:0"},
		{[]string{"--allow-signup=true"}, ptr(true), "127.0.0.1:8080"},
		{[]string{"--allow-signup=TRUE"}, ptr(true), "127.0.0.1:8080"},
		{[]string{"--allow-signup=on"}, ptr(true), "127.0.0.1:8080"},
		{[]string{"--allow-signup=false"}, ptr(false), "127.0.0.1:8080"},
		{[]string{"--allow-signup=0"}, ptr(false), "127.0.0.1:8080"},
		{[]string{"--allow-signup=off"}, ptr(false), "127.0.0.1:8080"},
	} {
		o, err := parseServe(tc.args, io.Discard, io.Discard, func(string) string { return "" })
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !reflect.DeepEqual(o.server.AllowSignup, tc.want) || o.addr != tc.addr {
			t.Fatalf("%q: signup %v addr %q, want %v %q", tc.args, o.server.AllowSignup, o.addr, tc.want, tc.addr)
		}
	}
	for _, bad := range []string{"maybe", "2", ""} {
		if _, err := parseServe([]string{"--allow-signup=" + bad}, io.Discard, io.Discard, func(string) string { return "" }); err == nil || exitCode(err) != 2 {
			t.Fatalf("--allow-signup=%q: %v", bad, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestMaxSessionsPerUser: --max-sessions-per-user (and its environment
// twin) is the cap, 100 when not given, and 0 is no cap at all
// (session.NoSessionCap), not the library's zero value, which means the
// default; a negative or non-numeric value is bad usage (exit 2).
func TestMaxSessionsPerUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"not given", nil, nil, session.DefaultMaxSessionsPerUser},
		{"a cap", []string{"--max-sessions-per-user", "3"}, nil, 3},
		{"zero is no cap", []string{"--max-sessions-per-user", "0"}, nil, session.NoSessionCap},
		{"zero in the environment", nil, map[string]string{"SESSIOND_MAX_SESSIONS_PER_USER": "0"}, session.NoSessionCap},
		{"the flag wins", []string{"--max-sessions-per-user=7"}, map[string]string{"SESSIOND_MAX_SESSIONS_PER_USER": "0"}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(tc.args, io.Discard, io.Discard, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatalf("parseServe(%q): %v", tc.args, err)
			}
			if got := o.node.Policy.MaxSessionsPerUser; got != tc.want {
				t.Fatalf("Policy.MaxSessionsPerUser = %d, want %d", got, tc.want)
			}
			if err := o.node.Policy.Validate(); err != nil {
				t.Fatalf("the policy serve runs with is refused: %v", err)
			}
		})
	}
	for _, bad := range []string{"-1", "-100", "many", "1.5", ""} {
		_, err := parseServe([]string{"--max-sessions-per-user=" + bad}, io.Discard, io.Discard, func(string) string { return "" })
		if err == nil || exitCode(err) != 2 {
			t.Errorf("--max-sessions-per-user=%q: %v, want bad usage", bad, err)
		}
	}
}

// TestHelpListsOnlyItsOwnFlags: every subcommand's -h exits 0 on stdout
// and names none of serve's own flags.
func TestHelpListsOnlyItsOwnFlags(t *testing.T) {
	serveOnly := []string{"--addr", "--access-ttl", "--key-rotation", "--key-reload", "--dev-tls", "--tls-cert", "--allow-signup", "--issuer", "--session-rate", "--migrate"}
	for _, args := range [][]string{
		{"users", "-h"}, {"users", "add", "-h"}, {"users", "list", "--help"}, {"users", "delete", "-h"},
		{"sessions", "-h"}, {"sessions", "list", "-h"}, {"sessions", "revoke", "-h"},
		{"keys", "-h"}, {"keys", "list", "-h"}, {"keys", "rotate", "-h"},
		{"gc", "-h"}, {"migrate", "-h"}, {"load", "-h"}, {"version", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			dir := t.TempDir()
			wd, _ := os.Getwd()
			if err := os.Chdir(dir); err != nil {
				t.Fatal(err)
			}
			code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
			_ = os.Chdir(wd)
			if code != 0 || errb.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			if !strings.Contains(out.String(), "usage: sessiond") {
				t.Fatalf("no usage on stdout: %q", out.String())
			}
			for _, f := range serveOnly {
				if strings.Contains(out.String(), f+" ") || strings.Contains(out.String(), f+"\n") {
					t.Fatalf("lists serve's %s:\n%s", f, out.String())
				}
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("help left %s behind", left[0].Name())
			}
		})
	}
}

// TestAdminCommandsStartNoBackgroundWork: with the environment asking for
// a rotation at every instant (SESSIOND_KEY_ROTATION=1ns, which once made
// any admin command rotate a fleet's key), users add, gc and sessions list
// leave the key ring as it was: one key, no successor published.
func TestAdminCommandsStartNoBackgroundWork(t *testing.T) {
	dir := t.TempDir()
	store := "bolt://" + dir
	sh := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "SESSIOND_KEY_ROTATION=1ns", "SESSIOND_JWKS_MAX_AGE=1s")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return string(out)
	}
	before := sh("", "keys", "list", "--store", store)
	sh("correct horse battery\n", "users", "add", "--store", store, "ann@example.com")
	sh("", "gc", "--store", store)
	sh("", "sessions", "list", "--store", store, "--user", "nobody")
	after := sh("", "keys", "list", "--store", store)
	if before != after || strings.Count(after, "\n") != 2 {
		t.Fatalf("admin commands changed the key ring:\nbefore\n%s\nafter\n%s", before, after)
	}
}
