package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/httpauth"
)

// CORS for single-page apps on other origins (Config.CORSOrigins).
//
// The rule is an allowlist and nothing else: a request whose Origin is, after
// canonical comparison, one of the listed origins gets that origin back in
// Access-Control-Allow-Origin with credentials allowed; any other origin
// gets no CORS header at all, on every route, so it can read no answer of
// sessiond. There is no wildcard and no reflection.
//
// What a listed origin may call: the routes registered as browser routes
// (login, signup, refresh, logout, the caller's sessions, the CSRF token)
// and the JWKS. The JWKS is public and read by resource servers outside any
// browser, where CORS does not apply; in a browser it follows the same
// allowlist, so that an origin not on the list reads nothing at all. Service
// client routes (introspection, revocation, minting, a user's sessions and
// claims), the admin API, the pages and /metrics are never open to another
// origin: a browser must not hold a client secret or the admin token.

const (
	// corsMaxAge is how long, in seconds, a browser may cache a preflight.
	corsMaxAge = "600"
	// corsExposed are the answer headers beyond the CORS-safelisted ones a
	// page of a listed origin may read: when to retry a 429 or a 503, and
	// why a token was refused.
	corsExposed = "Retry-After, WWW-Authenticate"
	// jwksPath is where the JWKS is served.
	jwksPath = "/.well-known/jwks.json"
)

// corsRequestHeaders are the request headers a page of a listed origin may
// send beyond the CORS-safelisted ones: the bearer token, the JSON body's
// type, the CSRF token and the cookie-mode switch.
var corsRequestHeaders = []string{"Authorization", "Content-Type", httpauth.CSRFHeader, SessionModeHeader}

// corsProbeMethods are the methods a preflight's Access-Control-Allow-Methods
// is worked out from: each is tried against the mux, so the answer names
// exactly the methods the path serves to browsers.
var corsProbeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// corsPolicy is the CORS configuration of a Server.
type corsPolicy struct {
	// origins are the listed origins, in canonical form.
	origins map[string]bool
	// routes are the mux patterns a listed origin may call.
	routes map[string]bool
	// mux routes the requests; it tells which pattern a request reaches.
	mux *http.ServeMux
}

// newCORSPolicy checks and canonicalises the listed origins.
func newCORSPolicy(origins []string) (*corsPolicy, error) {
	p := &corsPolicy{origins: map[string]bool{}, routes: map[string]bool{}}
	for _, o := range origins {
		c, err := canonicalOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("CORS origin %q: %w", o, err)
		}
		p.origins[c] = true
	}
	return p, nil
}

// match reports whether origin (an Origin header) is listed, and its
// canonical form.
func (p *corsPolicy) match(origin string) (string, bool) {
	if origin == "" || len(p.origins) == 0 {
		return "", false
	}
	c, err := canonicalOrigin(origin)
	if err != nil || !p.origins[c] {
		return "", false
	}
	return c, true
}

// corsPath reports whether answers on p may be CORS answers: the API under
// /v1/ and the JWKS. Every answer on such a path varies with Origin.
func corsPath(p string) bool {
	c := path.Clean(p)
	return strings.HasPrefix(c, "/v1/") || c == jwksPath
}

// open reports whether a listed origin may read the answer to r: r reaches
// a browser route, or no route at all (a 404 or 405 a page may read like
// any other error), but never a route of service clients.
func (p *corsPolicy) open(r *http.Request) bool {
	_, pattern := p.mux.Handler(r)
	return pattern == "" || p.routes[pattern]
}

// methods are the methods r's path serves to a listed origin, found by
// asking the mux with each of corsProbeMethods.
func (p *corsPolicy) methods(r *http.Request) []string {
	var out []string
	for _, m := range corsProbeMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := p.mux.Handler(probe); pattern != "" && p.routes[pattern] {
			out = append(out, m)
		}
	}
	return out
}

// cors is the CORS layer: Vary: Origin on every answer of a CORS path, the
// CORS headers for a listed origin, and the preflights of those paths.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !corsPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		origin, listed := s.corsPolicy.match(r.Header.Get("Origin"))
		if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			s.preflight(w, r, origin, listed)
			return
		}
		if listed && s.corsPolicy.open(r) {
			allowOrigin(h, origin)
			h.Set("Access-Control-Expose-Headers", corsExposed)
		}
		next.ServeHTTP(w, r)
	})
}

// allowOrigin lets the page of origin read the answer, credentials included.
func allowOrigin(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
}

// preflight answers a CORS preflight: 204 with what the actual request may
// do, or a 403 without any CORS header (the browser then refuses to send
// the actual request) naming what was refused.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, origin string, listed bool) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	refuse := func(why string) {
		httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeForbidden, "cross-origin request refused: "+why)
	}
	if !listed {
		refuse("this origin is not allowed to call sessiond (--cors-origins)")
		return
	}
	methods := s.corsPolicy.methods(r)
	if len(methods) == 0 {
		refuse("this path is not open to other origins")
		return
	}
	want := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(methods, want) {
		refuse("method " + want + " is not open to other origins on this path")
		return
	}
	headers, bad := corsAllowedHeaders(r.Header.Values("Access-Control-Request-Headers"))
	if bad != "" {
		refuse("request header " + bad + " is not allowed")
		return
	}
	allowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// corsAllowedHeaders parses Access-Control-Request-Headers: the requested
// headers in canonical form when all are allowed, else the first that is not.
func corsAllowedHeaders(values []string) (allowed []string, bad string) {
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			ok := false
			for _, a := range corsRequestHeaders {
				if strings.EqualFold(name, a) {
					if !slices.Contains(allowed, a) {
						allowed = append(allowed, a)
					}
					ok = true
					break
				}
			}
			if !ok {
				return nil, name
			}
		}
	}
	return allowed, ""
}

// errOrigin is wrapped by every refusal of canonicalOrigin.
var errOrigin = errors.New("an origin is scheme://host[:port] with scheme http or https, and nothing else")

// canonicalOrigin checks that s is an origin as browsers send it in the
// Origin header ("https://app.example.com", "http://localhost:5173") and
// returns its canonical form: scheme and host in lower case, the default
// port left out, an IP address in its usual form. Refused: other schemes,
// a path (even "/"), a query, a fragment, user information, a wildcard,
// "null", a host that is not an ASCII DNS name or an IP address.
func canonicalOrigin(s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("%w: empty", errOrigin)
	case strings.EqualFold(s, "null"):
		return "", fmt.Errorf("%w: the null origin (sandboxed frames, file: pages, some redirects) is shared by every such page and cannot be allowed", errOrigin)
	case strings.Contains(s, "*"):
		return "", fmt.Errorf("%w: no wildcard, list each origin", errOrigin)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", fmt.Errorf("%w: the scheme must be http or https", errOrigin)
	}
	if i := strings.IndexAny(rest, "/?#@\\ \t"); i >= 0 {
		return "", fmt.Errorf("%w: no path, query, fragment, user or space (found %q)", errOrigin, rest[i])
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", fmt.Errorf("%w: unclosed [ in the host", errOrigin)
		}
		host, port = rest[:end+1], rest[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return "", fmt.Errorf("%w: text after the IPv6 address", errOrigin)
		}
		port = strings.TrimPrefix(port, ":")
		if port == "" && strings.HasSuffix(rest, ":") {
			return "", fmt.Errorf("%w: empty port", errOrigin)
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
		if port == "" {
			return "", fmt.Errorf("%w: empty port", errOrigin)
		}
	}
	h, err := canonicalHost(host)
	if err != nil {
		return "", err
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return "", fmt.Errorf("%w: the port must be a number from 1 to 65535", errOrigin)
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = ""
		} else {
			port = strconv.Itoa(n)
		}
	}
	out := scheme + "://" + h
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

// canonicalHost is host in lower case if it is an ASCII DNS name, or an IP
// address in its usual form (an IPv6 one in brackets).
func canonicalHost(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("%w: no host", errOrigin)
	}
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("%w: %s is not an IPv6 address", errOrigin, host)
		}
		return "[" + a.String() + "]", nil
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return "", fmt.Errorf("%w: %q is not a host name (ASCII letters, digits and hyphens; write an internationalised name in its xn-- form)", errOrigin, host)
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		// Browsers read a name ending in a number as an IPv4 address.
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("%w: %q is not an IPv4 address in dotted-quad form", errOrigin, host)
		}
		return a.String(), nil
	}
	return host, nil
}
