package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// siblingParent is the registrable domain both test hosts share. Chromium
// resolves every name under .localhost to loopback and counts it as a
// secure context over plain HTTP, as it does localhost, so Secure and
// prefixed cookies work there without TLS. The parent is one label below
// localhost because a Domain attribute naming a public suffix, which an
// unknown top-level name like localhost counts as, is refused.
const siblingParent = "sessiond.localhost"

// plantPage is the attacker's page on the sibling subdomain: it plants the
// attacker's own refresh token for the parent domain in every way a page
// can (the legacy name at each of paths), and says how many it tried.
const plantPage = `<!doctype html><html><head><title>evil</title></head><body><script>
window.plant = (rt, at, paths) => {
  const d = '; Domain=` + siblingParent + `; Secure; Max-Age=34560000';
  const tries = [
    // The legacy name: a __Secure- cookie may carry a Domain, so this works.
    ...paths.map((p) => '__Secure-sessiond_rt=' + rt + d + '; Path=' + p + '; SameSite=Lax'),
    // The __Host- names with a Domain: the browser must refuse them.
    '__Host-sessiond_rt=' + rt + d + '; Path=/',
    '__Host-sessiond_at=' + at + d + '; Path=/',
    // The prefix in other letters, and a nameless cookie whose value
    // spells the name (sent as "__Host-sessiond_rt=..." if accepted).
    '__HOST-sessiond_rt=' + rt + d + '; Path=/',
    '=__Host-sessiond_rt=' + rt + d + '; Path=/',
  ];
  for (const c of tries) document.cookie = c;
  return tries.length;
};
</script></body></html>`

// hostURL is base (http://127.0.0.1:PORT) with its host replaced by a name
// under siblingParent.
func hostURL(t *testing.T, base, label string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + label + "." + siblingParent + ":" + u.Port()
}

// allCookies lists every cookie the browser would send to base's paths
// (duplicates of one name included, unlike cookies).
func allCookies(t *testing.T, ctx context.Context, base string) []*network.Cookie {
	t.Helper()
	list, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/", base + "/v1/refresh", base + "/v1/refresh/redirect"}})
		return res.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// expireAccess deletes the access cookie, as the browser does when its
// Max-Age runs out, so the next request must refresh (no waiting on the
// clock).
func expireAccess(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	_, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (struct{}, error) {
		_, err := cdp.Call(ctx, tg, network.DeleteCookies, network.DeleteCookiesParams{Name: httpauth.AccessCookie, URL: base + "/"})
		return struct{}{}, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// apiTokens logs a user in over the bearer API and returns the answer.
func (s *sessiond) apiTokens(t *testing.T, email string) (access, refresh, sid string) {
	t.Helper()
	res, err := http.Post(s.base+"/v1/login", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		SessionID    string `json:"session_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("api login: %d %v", res.StatusCode, err)
	}
	return body.AccessToken, body.RefreshToken, body.SessionID
}

// TestBrowserPlantedRefreshCookie: sessiond on a.sessiond.localhost, an
// attacker's page on its sibling b.sessiond.localhost that plants the
// attacker's own valid refresh token with Domain=sessiond.localhost (login
// CSRF, and cookie tossing). (1) A visitor with no session who then opens
// sessiond's pages, calls refresh and follows the in-band refresh is never
// logged in, let alone as the attacker. (2) A logged-in victim whose access
// cookie lapses keeps refreshing and stays logged in as themself, through
// the pages and the in-band refresh. The browser holds the planted
// __Secure- cookie (the attack is real) and refuses the __Host- ones.
func TestBrowserPlantedRefreshCookie(t *testing.T) {
	sd := startSessiond(t, session.Policy{})
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, plantPage)
	}))
	t.Cleanup(evil.Close)
	site, evilSite := hostURL(t, sd.base, "a"), hostURL(t, evil.URL, "b")

	sd.apiSignup(t, "mallory@example.com")
	at, rt, attackerSID := sd.apiTokens(t, "mallory@example.com")
	m := sd.srv.Node().Manager()
	attacker, err := m.Get(context.Background(), attackerSID)
	if err != nil {
		t.Fatal(err)
	}
	// plant runs the attacker's page in another tab of browser; the legacy
	// cookie goes at each of paths.
	plant := func(t *testing.T, browser context.Context, paths ...string) {
		t.Helper()
		tab := newTab(t, browser)
		do(t, tab, chromedp.Navigate(evilSite+"/"))
		ps, _ := json.Marshal(paths)
		if n := eval[int](t, tab, fmt.Sprintf("plant(%q, %q, %s)", rt, at, ps)); n == 0 {
			t.Fatal("nothing planted")
		}
		var planted, refused []string
		for _, c := range allCookies(t, tab, site) {
			switch {
			case c.Name == httpauth.LegacyRefreshCookie && c.Domain == "."+siblingParent:
				planted = append(planted, c.Name+" at "+c.Path)
			case c.Domain == "."+siblingParent:
				refused = append(refused, fmt.Sprintf("%q=%.24q at %s", c.Name, c.Value, c.Path))
			}
		}
		if len(planted) != len(paths) {
			t.Fatalf("the browser did not take the planted __Secure- cookies (%v): the test would prove nothing", planted)
		}
		for _, c := range refused {
			if strings.HasPrefix(c, `"__Host-`) || strings.Contains(c, `"__Host-`) {
				t.Errorf("the browser took a __Host- cookie with a Domain: %s", c)
			}
		}
		t.Logf("planted %v; other parent-domain cookies the browser kept: %v", planted, refused)
	}
	attackerUntouched := func(t *testing.T) {
		t.Helper()
		s, err := m.Get(context.Background(), attackerSID)
		if err != nil || !s.LastSeenAt.Equal(attacker.LastSeenAt) {
			t.Fatalf("the attacker's session was refreshed by the browser (err %v)", err)
		}
	}
	whoAmI := func(t *testing.T, tab context.Context) string {
		t.Helper()
		// A plain fetch: no refresh, and no wait for the page's script.
		return eval[string](t, tab, `fetch('/v1/session').then(r => r.ok ? r.json().then(b => b.email) : 'status ' + r.status)`)
	}

	t.Run("a visitor without a session is not logged in as the attacker", func(t *testing.T) {
		browser := startBrowser(t)
		// One planted cookie, where the refresh cookie used to be: the
		// browser sends it to the refresh alone, as if it were the
		// visitor's own.
		plant(t, browser, "/v1/refresh")
		tab := newTab(t, browser)
		do(t, tab, chromedp.Navigate(site+"/ui/devices"))
		waitFor(t, tab, "the login page", "location.pathname === '/ui/login' && document.querySelector('#email')")
		if who := whoAmI(t, tab); who != "status 401" {
			t.Fatalf("GET /v1/session in the visitor's browser: %s", who)
		}
		refreshed := eval[string](t, tab, `fetch('/v1/refresh', {method: 'POST', headers: {'X-Session-Mode': 'cookie'}}).then(r => r.status + ' ' + r.statusText)`)
		if strings.HasPrefix(refreshed, "200") {
			t.Fatalf("POST /v1/refresh with only the planted cookie: %s", refreshed)
		}
		do(t, tab, chromedp.Navigate(site+"/v1/refresh/redirect?return_to=%2Fui%2Fdevices"))
		waitFor(t, tab, "the login page after the in-band refresh", "location.pathname === '/ui/login'")
		for _, c := range allCookies(t, tab, site) {
			if c.Name == httpauth.AccessCookie || (c.Name == httpauth.RefreshCookie && c.Domain != "."+siblingParent) {
				t.Fatalf("the visitor's browser got a session cookie: %s", c.Name)
			}
		}
		attackerUntouched(t)
	})

	t.Run("a logged-in victim stays logged in", func(t *testing.T) {
		browser := startBrowser(t)
		tab := newTab(t, browser)
		do(t, tab, chromedp.Navigate(site+"/ui/signup"))
		fillAndSubmit(t, tab, "victor@example.com", password)
		waitFor(t, tab, "the devices page", devicesLoaded)
		// Beside the victim's own cookie, at the old path and at every
		// path.
		plant(t, browser, "/v1/refresh", "/")
		for round := range 3 {
			// Through the page: the access cookie lapses, the page
			// refreshes with the refresh cookie.
			expireAccess(t, tab, site)
			do(t, tab, chromedp.Reload())
			waitFor(t, tab, fmt.Sprintf("round %d: the devices page after a refresh", round), devicesLoaded)
			if who := eval[string](t, tab, "document.querySelector('#account-name').textContent"); who != "victor@example.com" {
				t.Fatalf("round %d: the page shows %q", round, who)
			}
			if msg := eval[string](t, tab, "document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent"); msg != "" {
				t.Fatalf("round %d: the page shows an error: %s", round, msg)
			}
			// Through the in-band refresh of a navigation.
			expireAccess(t, tab, site)
			do(t, tab, chromedp.Navigate(site+"/v1/refresh/redirect?return_to=%2Fui%2Fdevices"))
			waitFor(t, tab, fmt.Sprintf("round %d: the devices page after the in-band refresh", round), devicesLoaded)
			if who := whoAmI(t, tab); who != "victor@example.com" {
				t.Fatalf("round %d: signed in as %s", round, who)
			}
		}
		if n := sd.count("refresh.reuse_detected"); n != 0 {
			t.Fatalf("theft detection tripped %d times", n)
		}
		if strings.Contains(sd.logs.String(), "more than one refresh cookie") {
			t.Fatal("a refresh was refused for the planted cookie")
		}
		attackerUntouched(t)
	})
}
