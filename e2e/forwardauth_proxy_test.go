package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

// client is a browser's HTTP side, by hand: it keeps cookies by name and
// path (a Go cookie jar would not send Secure cookies over plain HTTP),
// sends the Fetch Metadata a browser sends, and follows redirects as a
// browser does (307 repeats the method and body, 302 and 303 turn a POST
// into a GET).
type client struct {
	t       *testing.T
	base    string
	cookies map[string]*http.Cookie
}

func newClient(t *testing.T, base string) *client {
	return &client{t: t, base: base, cookies: map[string]*http.Cookie{}}
}

// proxyAnswer is a response, its body read.
type proxyAnswer struct {
	status int
	header http.Header
	body   string
}

// send sends one request, never following a redirect, and keeps the
// cookies it sets.
func (c *client) send(method, path, body string, header http.Header) proxyAnswer {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	for _, ck := range c.cookies {
		if pathMatch(ck.Path, req.URL.Path) {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
	}
	hc := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range res.Header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			c.t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return proxyAnswer{status: res.StatusCode, header: res.Header, body: string(b)}
}

// pathMatch is RFC 6265's path-match of a cookie path and a request path.
func pathMatch(cookiePath, p string) bool {
	if cookiePath == "" || cookiePath == p {
		return true
	}
	return strings.HasPrefix(p, cookiePath) && (strings.HasSuffix(cookiePath, "/") || p[len(cookiePath)] == '/')
}

// navigate loads a page as a browser's navigation and follows redirects on
// the same origin; it returns the last answer and every URL visited.
func (c *client) navigate(method, path, body string) (proxyAnswer, []string) {
	c.t.Helper()
	visited := []string{path}
	for range 10 {
		h := http.Header{"Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Site": {"same-origin"},
			"Accept": {"text/html,*/*"}}
		if body != "" {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		a := c.send(method, path, body, h)
		switch a.status {
		case http.StatusFound, http.StatusSeeOther:
			method, body = http.MethodGet, ""
		case http.StatusTemporaryRedirect:
		default:
			return a, visited
		}
		path = a.header.Get("Location")
		if !strings.HasPrefix(path, "/") {
			c.t.Fatalf("redirected off the origin to %q (visited %v)", path, visited)
		}
		visited = append(visited, path)
	}
	c.t.Fatalf("a redirect loop: %v", visited)
	return proxyAnswer{}, nil
}

// forwardAuthSessiond is a sessiond for the proxy tests: the claim role,
// the proxies on loopback trusted for X-Forwarded-For, and a per-session
// API limit (21 requests) far below the bursts forward-auth must let
// through.
func forwardAuthSessiond(t *testing.T, policy session.Policy) *sessiond {
	t.Helper()
	on := true
	return startSessiondNode(t, node.Config{Policy: policy, Claims: []string{"role"}}, server.Config{
		AllowSignup:    &on,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		SessionLimit:   ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 20},
	})
}

// TestForwardAuthProxies: nginx and Caddy in front of an echoing upstream.
// A valid session reaches it with X-Sessiond-User-Id (bearer or cookie); a
// missing, forged or revoked one gets nothing through, and headers a
// client forges never arrive; 200 requests at once with one cookie all
// pass; a navigation without a session goes to the login page with its
// return_to, and one whose access cookie has expired is refreshed in-band
// and comes back, a form's POST included.
func TestForwardAuthProxies(t *testing.T) {
	for _, fd := range frontDoors {
		t.Run(fd.name, func(t *testing.T) {
			sd := forwardAuthSessiond(t, session.Policy{})
			up := startEcho(t)
			px := fd.start(t, hostOf(t, sd.base), hostOf(t, up.URL))
			defer func() {
				if t.Failed() {
					t.Logf("%s log:\n%s", fd.name, px.Log())
				}
			}()
			mgr := sd.srv.Node().Manager()
			ctx := context.Background()
			grant := func(user, role string) *session.Tokens {
				g := session.Grant{UserID: user, Meta: session.Meta{AuthMethod: "sso"}}
				if role != "" {
					g.Claims = map[string]json.RawMessage{"role": json.RawMessage(`"` + role + `"`)}
				}
				tk, err := mgr.Start(ctx, g)
				if err != nil {
					t.Fatal(err)
				}
				return tk
			}
			c := newClient(t, px.URL)
			// get is one request to the protected app; it reports what
			// the upstream received for it (nil: nothing).
			get := func(path string, h http.Header) (proxyAnswer, *seen) {
				t.Helper()
				before := len(up.requests())
				a := c.send("GET", path, "", h)
				reqs := up.requests()
				if len(reqs) > before+1 {
					t.Fatalf("one request reached the upstream %d times", len(reqs)-before)
				}
				if len(reqs) == before {
					return a, nil
				}
				return a, &reqs[before]
			}
			bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
			cookie := func(tok string) http.Header {
				return http.Header{"Cookie": {(&http.Cookie{Name: httpauth.AccessCookie, Value: tok}).String()}}
			}

			ann := grant("ann", "admin")
			bob := grant("bob", "")
			t.Run("a valid session reaches the upstream with its identity", func(t *testing.T) {
				for name, h := range map[string]http.Header{"bearer": bearer(ann.AccessToken), "cookie": cookie(ann.AccessToken)} {
					a, s := get("/app/orders?page=2", h)
					if a.status != 200 || s == nil {
						t.Fatalf("%s: %d, upstream reached: %v: %s", name, a.status, s != nil, a.body)
					}
					want := map[string]string{"X-Sessiond-User-Id": "ann", "X-Sessiond-Session-Id": ann.Session.ID,
						"X-Sessiond-Client-Id": session.DefaultClientID, "X-Sessiond-Claim-Role": "admin"}
					for k, v := range want {
						if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
							t.Errorf("%s: the upstream got %s %q, want %q", name, k, got, v)
						}
					}
					if s.URI != "/app/orders?page=2" || s.Method != "GET" {
						t.Errorf("%s: the upstream got %s %s", name, s.Method, s.URI)
					}
				}
			})
			t.Run("nothing passes without a session", func(t *testing.T) {
				for name, h := range map[string]http.Header{
					"no credentials":   nil,
					"a forged user id": {"X-Sessiond-User-Id": {"ann"}, "X-Sessiond-Session-Id": {ann.Session.ID}},
					"a garbage token":  bearer("garbage"),
					"a garbage cookie": cookie("garbage"),
					"a script's fetch": {"Sec-Fetch-Mode": {"cors"}, "X-Sessiond-User-Id": {"ann"}},
				} {
					a, s := get("/app/orders", h)
					if a.status != 401 || s != nil {
						t.Errorf("%s: %d, upstream reached: %v", name, a.status, s != nil)
					}
				}
			})
			t.Run("headers a client forges never arrive", func(t *testing.T) {
				h := bearer(bob.AccessToken)
				h.Set("X-Sessiond-User-Id", "ann")
				h.Set("X-Sessiond-Session-Id", ann.Session.ID)
				h.Set("X-Sessiond-Client-Id", "admin-console")
				h.Set("X-Sessiond-Claim-Role", "admin")
				a, s := get("/app/orders", h)
				if a.status != 200 || s == nil {
					t.Fatalf("%d, upstream reached: %v", a.status, s != nil)
				}
				if got := s.Header.Values("X-Sessiond-User-Id"); len(got) != 1 || got[0] != "bob" {
					t.Errorf("user id %q, want bob", got)
				}
				if got := s.Header.Values("X-Sessiond-Session-Id"); len(got) != 1 || got[0] != bob.Session.ID {
					t.Errorf("session id %q", got)
				}
				if got := s.Header.Values("X-Sessiond-Client-Id"); len(got) != 1 || got[0] != session.DefaultClientID {
					t.Errorf("client id %q", got)
				}
				// bob has no role: the forged one must be gone, not passed on.
				for k, v := range s.Header {
					if strings.EqualFold(k, "X-Sessiond-Claim-Role") && len(v) > 0 && v[0] != "" {
						t.Errorf("the upstream got a forged role %q (%s)", v, k)
					}
				}
			})
			t.Run("a revoked session is refused on the next request", func(t *testing.T) {
				tk := grant("rob", "")
				if a, s := get("/app/x", cookie(tk.AccessToken)); a.status != 200 || s == nil {
					t.Fatalf("before: %d", a.status)
				}
				if err := mgr.Revoke(ctx, tk.Session.ID); err != nil {
					t.Fatal(err)
				}
				for name, h := range map[string]http.Header{"cookie": cookie(tk.AccessToken), "bearer": bearer(tk.AccessToken)} {
					if a, s := get("/app/x", h); a.status != 401 || s != nil {
						t.Errorf("%s after revoking: %d, upstream reached: %v", name, a.status, s != nil)
					}
				}
			})
			t.Run("a burst of 200 asset requests with one cookie all pass", func(t *testing.T) {
				before := len(up.requests())
				statuses := make([]int, 200)
				var wg sync.WaitGroup
				hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 16, MaxIdleConnsPerHost: 16}}
				for i := range statuses {
					wg.Go(func() {
						req, _ := http.NewRequest("GET", px.URL+"/app/img/"+strconv.Itoa(i)+".svg", nil)
						req.Header.Set("Sec-Fetch-Mode", "no-cors")
						req.Header.Set("Sec-Fetch-Dest", "image")
						req.AddCookie(&http.Cookie{Name: httpauth.AccessCookie, Value: ann.AccessToken})
						res, err := hc.Do(req)
						if err != nil {
							statuses[i] = -1
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						statuses[i] = res.StatusCode
					})
				}
				wg.Wait()
				bad := map[int]int{}
				for _, st := range statuses {
					if st != 200 {
						bad[st]++
					}
				}
				if len(bad) != 0 {
					t.Fatalf("of 200 asset requests, these failed (status: count): %v", bad)
				}
				// Every asset reached the upstream as ann, and nothing else
				// did. A proxy may send an idempotent GET to the upstream
				// twice (Go's transport in Caddy retries one whose reused
				// connection broke; seen once in CI: 201 for 200), so a
				// repeat of the same asset is logged, not failed.
				reqs := up.requests()[before:]
				got := map[string]int{}
				for _, s := range reqs {
					if s.Header.Get("X-Sessiond-User-Id") != "ann" {
						t.Fatalf("an asset request reached the upstream as %q", s.Header.Get("X-Sessiond-User-Id"))
					}
					got[s.URI]++
				}
				for i := range statuses {
					uri := "/app/img/" + strconv.Itoa(i) + ".svg"
					if got[uri] == 0 {
						t.Errorf("%s never reached the upstream", uri)
					}
					delete(got, uri)
				}
				if len(got) != 0 {
					t.Errorf("the upstream got requests that were not sent: %v", got)
				}
				if len(reqs) != len(statuses) {
					t.Logf("the upstream got %d requests for %d assets (the proxy repeated some)", len(reqs), len(statuses))
				}
			})
			t.Run("a navigation without a session goes to the login page and back", func(t *testing.T) {
				c := newClient(t, px.URL)
				a, visited := c.navigate("GET", "/app/orders?page=2", "")
				want := []string{"/app/orders?page=2", server.RefreshRedirectPath + "?return_to=%2Fapp%2Forders%3Fpage%3D2",
					"/ui/login?return_to=%2Fapp%2Forders%3Fpage%3D2"}
				if a.status != 200 || strings.Join(visited, " ") != strings.Join(want, " ") || !strings.Contains(a.body, `data-page="login"`) {
					t.Fatalf("%d after %v, want the login page after %v", a.status, visited, want)
				}
				// The login page's form, as pages.js sends it, then where
				// it goes: /ui/continue?return_to=...
				sd.apiSignup(t, "cat@example.com")
				l := c.send("POST", "/v1/login", `{"email":"cat@example.com","password":"`+password+`"}`,
					http.Header{"Content-Type": {"application/json"}, "X-Session-Mode": {"cookie"}, "Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}})
				if l.status != 200 {
					t.Fatalf("login through the proxy: %d %s", l.status, l.body)
				}
				rt, _ := url.ParseQuery(strings.SplitN(visited[2], "?", 2)[1])
				a, visited = c.navigate("GET", "/ui/continue?return_to="+url.QueryEscape(rt.Get("return_to")), "")
				if a.status != 200 || visited[len(visited)-1] != "/app/orders?page=2" || !strings.Contains(a.body, `<p id="user">`) {
					t.Fatalf("after login: %d at %v", a.status, visited)
				}
				// The access cookie expires (the browser drops it): the next
				// navigation is refreshed in-band and lands on its page.
				delete(c.cookies, httpauth.AccessCookie)
				refreshes := sd.count("refresh")
				a, visited = c.navigate("GET", "/app/orders?page=3", "")
				want = []string{"/app/orders?page=3", server.RefreshRedirectPath + "?return_to=%2Fapp%2Forders%3Fpage%3D3", "/app/orders?page=3"}
				if a.status != 200 || strings.Join(visited, " ") != strings.Join(want, " ") || c.cookies[httpauth.AccessCookie] == nil {
					t.Fatalf("expired access cookie: %d after %v, want %v", a.status, visited, want)
				}
				if sd.count("refresh") != refreshes+1 {
					t.Fatalf("%d refreshes", sd.count("refresh")-refreshes)
				}
				// A form posted after the access cookie expired: 307 there and
				// back, the body kept.
				delete(c.cookies, httpauth.AccessCookie)
				before := len(up.requests())
				a, visited = c.navigate("POST", "/app/form", "note=kept+across+the+refresh")
				reqs := up.requests()[before:]
				if a.status != 200 || len(visited) != 3 || len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Body != "note=kept+across+the+refresh" ||
					reqs[0].Header.Get("X-Sessiond-User-Id") == "" {
					t.Fatalf("a form posted after expiry: %d after %v; upstream got %+v", a.status, visited, reqs)
				}
				// Logged out everywhere: the next navigation goes to the login page.
				if _, err := mgr.RevokeUser(ctx, reqs[0].Header.Get("X-Sessiond-User-Id"), ""); err != nil {
					t.Fatal(err)
				}
				a, visited = c.navigate("GET", "/app/orders", "")
				if a.status != 200 || !strings.HasPrefix(visited[len(visited)-1], "/ui/login?return_to=") {
					t.Fatalf("after revocation: %d at %v", a.status, visited)
				}
			})
			if fd.name == "nginx" {
				// The nginx configuration keeps /v1/forward-auth from
				// browsers (harmless either way: see the README).
				if a := c.send("GET", "/v1/forward-auth", "", bearer(ann.AccessToken)); a.status != 404 {
					t.Fatalf("GET /v1/forward-auth through nginx: %d", a.status)
				}
			}
		})
	}
}
