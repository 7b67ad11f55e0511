package e2e_test

// The front doors of the forward-auth tests: real nginx (auth_request) and
// real Caddy (forward_auth), from Debian's packages, each in front of an
// upstream that echoes what it received, with sessiond's pages and API on
// the same origin. The configurations are the README's ("Behind a reverse
// proxy"), with the addresses filled in.

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// nginxSite is the README's nginx server block: {{PORT}}, {{SESSIOND}} and
// {{UPSTREAM}} are filled in.
const nginxSite = `
server {
	listen 127.0.0.1:{{PORT}};
	# Relative redirects: the browser resolves them against the URL it asked for.
	absolute_redirect off;

	# sessiond's pages and API on the application's origin, so the
	# host-only __Host- cookies it sets reach every page of the site.
	location /v1/ {
		proxy_pass http://{{SESSIOND}};
		proxy_set_header Host $http_host;
		proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
	}
	location /ui/ {
		proxy_pass http://{{SESSIOND}};
		proxy_set_header Host $http_host;
		proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
	}
	# Forward-auth is for nginx itself, not for browsers.
	location = /v1/forward-auth {
		return 404;
	}

	location = /_sessiond_auth {
		internal;
		# deny=401: nginx takes any status but 2xx, 401 and 403 for an error.
		proxy_pass http://{{SESSIOND}}/v1/forward-auth?deny=401;
		proxy_method GET;
		proxy_pass_request_body off;
		proxy_set_header Content-Length "";
		proxy_set_header X-Original-Method $request_method;
		proxy_set_header X-Original-URI $request_uri;
		proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
	}

	# A refusal: a navigation goes where sessiond said (307 keeps a form's
	# POST), anything else gets the 401.
	location @sessiond_refused {
		if ($sessiond_location = "") {
			return 401;
		}
		return 307 $sessiond_location;
	}

	location / {
		auth_request /_sessiond_auth;
		auth_request_set $sessiond_location $upstream_http_location;
		auth_request_set $sessiond_user $upstream_http_x_sessiond_user_id;
		auth_request_set $sessiond_session $upstream_http_x_sessiond_session_id;
		auth_request_set $sessiond_client $upstream_http_x_sessiond_client_id;
		auth_request_set $sessiond_role $upstream_http_x_sessiond_claim_role;
		error_page 401 = @sessiond_refused;

		proxy_pass http://{{UPSTREAM}};
		proxy_set_header Host $http_host;
		# Each identity header is set here, which replaces whatever the
		# client sent under that name (an empty value removes it).
		proxy_set_header X-Sessiond-User-Id $sessiond_user;
		proxy_set_header X-Sessiond-Session-Id $sessiond_session;
		proxy_set_header X-Sessiond-Client-Id $sessiond_client;
		proxy_set_header X-Sessiond-Claim-Role $sessiond_role;
	}
}
`

// caddySite is the README's Caddyfile site block.
const caddySite = `
http://127.0.0.1:{{PORT}} {
	@sessiond path /v1/* /ui/*
	handle @sessiond {
		reverse_proxy {{SESSIOND}}
	}
	handle {
		route {
			# No client may send its own identity headers: every one is
			# removed before forward_auth copies sessiond's.
			request_header -X-Sessiond-User-Id
			request_header -X-Sessiond-Session-Id
			request_header -X-Sessiond-Client-Id
			request_header -X-Sessiond-Claim-Role
			forward_auth {{SESSIOND}} {
				uri /v1/forward-auth
				copy_headers X-Sessiond-User-Id X-Sessiond-Session-Id X-Sessiond-Client-Id X-Sessiond-Claim-Role
			}
			reverse_proxy {{UPSTREAM}}
		}
	}
}
`

// frontDoor is one reverse proxy in front of the echo upstream.
type frontDoor struct {
	name  string
	start func(t *testing.T, sessiondAddr, upstreamAddr string) *testenv.WebProxy
}

var frontDoors = []frontDoor{
	{"nginx", func(t *testing.T, sd, up string) *testenv.WebProxy {
		port := testenv.FreePort(t)
		return testenv.StartNginx(t, port, fill(nginxSite, port, sd, up))
	}},
	{"caddy", func(t *testing.T, sd, up string) *testenv.WebProxy {
		port := testenv.FreePort(t)
		return testenv.StartCaddy(t, port, fill(caddySite, port, sd, up))
	}},
}

func fill(conf string, port int, sd, up string) string {
	return strings.NewReplacer("{{PORT}}", strconv.Itoa(port), "{{SESSIOND}}", sd, "{{UPSTREAM}}", up).Replace(conf)
}

// hostOf is the host:port of an http:// URL.
func hostOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// seen is one request the echo upstream received.
type seen struct {
	Method, URI string
	Header      http.Header
	Body        string
}

// echo is the plain upstream behind the proxies. It records every request
// it receives and answers with pages a browser test can read:
//
//	/app/assets?n=N  a page of N images (/app/img/I.svg); window.assets
//	                 counts those loaded and those that failed
//	/app/img/...     an SVG
//	POST /app/form   the form's note field, the method and the user
//	anything else    the user id, the role and a form that posts to /app/form
type echo struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func startEcho(t *testing.T) *echo {
	t.Helper()
	e := &echo{}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *echo) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	e.mu.Lock()
	e.reqs = append(e.reqs, seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	e.mu.Unlock()
	user := html.EscapeString(r.Header.Get("X-Sessiond-User-Id"))
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case strings.HasPrefix(r.URL.Path, "/app/img/"):
		w.Header().Set("Content-Type", "image/svg+xml")
		fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4" fill="teal"/></svg>`)
	case r.URL.Path == "/app/assets":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		var b strings.Builder
		b.WriteString(`<!doctype html><title>assets</title><script>window.assets = {loaded: 0, failed: 0};</script>`)
		for i := range n {
			fmt.Fprintf(&b, `<img src="/app/img/%d.svg" onload="assets.loaded++" onerror="assets.failed++">`, i)
		}
		fmt.Fprintf(&b, `<p id="user">%s</p>`, user)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, b.String())
	case r.Method == http.MethodPost && r.URL.Path == "/app/form":
		form, _ := url.ParseQuery(string(body))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>posted</title><p id="method">%s</p><p id="note">%s</p><p id="user">%s</p>`,
			r.Method, html.EscapeString(form.Get("note")), user)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>page</title><p id="user">%s</p><p id="role">%s</p>
<form id="f" method="post" action="/app/form"><input name="note" value="written before the access cookie expired"><button>send</button></form>`,
			user, html.EscapeString(r.Header.Get("X-Sessiond-Claim-Role")))
	}
}

// requests returns what the upstream has received so far.
func (e *echo) requests() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seen(nil), e.reqs...)
}
