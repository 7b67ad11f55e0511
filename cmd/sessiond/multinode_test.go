package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/testenv"
)

// eventually polls cond until it holds or a generous bound passes. It waits
// for an event; it asserts nothing about how long the event took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cleanRedisDB returns a URL of a Redis database reserved for this test
// binary, emptied first.
func cleanRedisDB(t *testing.T, db string) string {
	t.Helper()
	base := testenv.RedisURL(t)
	i := strings.LastIndex(base, "/")
	url := base[:i+1] + db
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush %s: %v", url, err)
	}
	return url
}

// TestThreeNodesOnRedis: three sessiond processes share one Redis. Log in
// on node 1, refresh on node 2, verify on node 3; revoke on node 3 and
// node 1 refuses the access token at once; a key rotation reaches them all.
func TestThreeNodesOnRedis(t *testing.T) {
	url := cleanRedisDB(t, "12")
	env := []string{"SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
	var nodes []*proc
	for range 3 {
		nodes = append(nodes, startStore(t, url, env, "--allow-signup=true", "--key-reload=1s", "--jwks-max-age=5s"))
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	cred := map[string]string{"email": "nina@example.com", "password": "correct horse battery"}
	if code, v := n1.call("POST", "/v1/signup", "", cred); code != 201 {
		t.Fatalf("signup on node 1: %d %v", code, v)
	}
	code, a := n1.call("POST", "/v1/login", "", cred)
	if code != 200 {
		t.Fatalf("login on node 1: %d", code)
	}
	code, a1 := n2.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(a, "refresh_token")})
	if code != 200 {
		t.Fatalf("refresh on node 2: %d %v", code, a1)
	}
	for i, n := range nodes {
		if code, _ := n.call("GET", "/v1/session", s(a1, "access_token"), nil); code != 200 {
			t.Fatalf("verify on node %d: %d", i+1, code)
		}
	}
	// Theft detection spans nodes: the parent replayed on node 3 after the
	// grace window would be reuse; within it, node 3 returns the same child.
	if code, again := n3.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(a, "refresh_token")}); code != 200 || s(again, "refresh_token") != s(a1, "refresh_token") {
		t.Fatalf("grace replay on another node: %d", code)
	}

	if code, _ := n3.call("POST", "/v1/logout", s(a1, "access_token"), nil); code != 200 {
		t.Fatalf("logout on node 3: %d", code)
	}
	eventually(t, "node 1 refuses the revoked session's access token", func() bool {
		code, _ := n1.call("GET", "/v1/session", s(a1, "access_token"), nil)
		return code == http.StatusUnauthorized
	})
	if code, _ := n2.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(a1, "refresh_token")}); code != 401 {
		t.Fatalf("refresh of a revoked session on node 2: %d", code)
	}

	// Rotate the shared ring from the command line while the nodes run:
	// with --key-reload 1s every node serves the new key in its JWKS about
	// a second later (measured; 10 s, the default, would mean the flag was
	// dropped), and it signs once the JWKS caches have had it.
	oldKid := kidOf(t, s(a1, "access_token"))
	rot := exec.Command(binary, "keys", "rotate", "--store", url, "--jwks-max-age", "5s")
	rot.Env = append(os.Environ(), env...)
	out, err := rot.CombinedOutput()
	if err != nil {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	rotated := time.Now()
	var newKid string
	for i, n := range nodes {
		eventually(t, "node sees the rotated ring", func() bool {
			kids := jwksKids(n.base)
			for _, k := range kids {
				if k != oldKid && len(kids) == 2 {
					newKid = k
					return true
				}
			}
			return false
		})
		took := time.Since(rotated)
		t.Logf("node %d publishes the new key %v after the rotation", i+1, took.Round(time.Millisecond))
		// Generous: a node reloading every 1 s; the default 10 s is far over.
		if took > 3*time.Second {
			t.Fatalf("node %d took %v to see a rotation with --key-reload 1s", i+1, took)
		}
	}
	// keys rotate printed when the new key starts signing; wait for then.
	m := regexp.MustCompile(newKid + `\s+\S+\s+\S+\s+false\s+(\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("keys rotate did not list the new key as pending:\n%s", out)
	}
	activates, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(activates) + 100*time.Millisecond)
	code, b := n2.call("POST", "/v1/login", "", cred)
	if code != 200 || kidOf(t, s(b, "access_token")) != newKid {
		t.Fatalf("login after the new key's activation: %d, kid %q, want %q", code, kidOf(t, s(b, "access_token")), newKid)
	}
	for i, n := range nodes {
		if code, _ := n.call("GET", "/v1/session", s(b, "access_token"), nil); code != 200 {
			t.Fatalf("a token signed with the new key is refused on node %d: %d", i+1, code)
		}
	}
}

// kidOf is the kid in an access token's header (read, not verified).
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var v struct{ Kid string }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v.Kid
}

// jwksKids are the key ids a node's JWKS lists.
func jwksKids(base string) []string {
	res, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var v struct{ Keys []struct{ Kid string } }
	_ = jsonDecode(res, &v)
	var out []string
	for _, k := range v.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// TestAllowSignupBareTurnsSignupOn: on Redis signup is off by default; a
// bare --allow-signup followed by another flag turns it on and leaves that
// flag its own (--addr is not swallowed as the boolean's value).
func TestAllowSignupBareTurnsSignupOn(t *testing.T) {
	url := cleanRedisDB(t, "13")
	env := []string{"SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
	cred := map[string]string{"email": "sam@example.com", "password": "correct horse battery"}
	off := startStore(t, url, env)
	if code, v := off.call("POST", "/v1/signup", "", cred); code != http.StatusForbidden {
		t.Fatalf("signup on Redis by default: %d %v", code, v)
	}
	on := startStore(t, url, env, "--allow-signup", "--addr", "127.0.0.1:0")
	if code, v := on.call("POST", "/v1/signup", "", cred); code != http.StatusCreated {
		t.Fatalf("signup with a bare --allow-signup: %d %v", code, v)
	}
}
