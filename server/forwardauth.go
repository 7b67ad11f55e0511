package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// The identity headers GET /v1/forward-auth answers a valid session with,
// for the proxy to copy onto the request it sends upstream. The proxy MUST
// replace (or remove) each of them on every request it forwards, so that a
// client can never send its own: see the README, "Behind a reverse proxy".
const (
	// HeaderUserID carries the session's user id.
	HeaderUserID = "X-Sessiond-User-Id"
	// HeaderSessionID carries the session id.
	HeaderSessionID = "X-Sessiond-Session-Id"
	// HeaderClientID carries the client the session was issued to.
	HeaderClientID = "X-Sessiond-Client-Id"
	// HeaderClaimPrefix begins the header of each configured application
	// claim: X-Sessiond-Claim-Role for "role" (see ClaimHeader).
	HeaderClaimPrefix = "X-Sessiond-Claim-"
)

// RefreshRedirectPath is where a navigation without a valid access cookie
// goes from forward-auth. The refresh cookie (Path=/) goes along, and so
// does the refresh cookie of earlier versions, whose Path was
// httpauth.LegacyRefreshPath.
const RefreshRedirectPath = httpauth.LegacyRefreshPath + "/redirect"

// ClaimHeader is the header that carries the application claim name from
// forward-auth: HeaderClaimPrefix and the name with every character other
// than a letter, a digit or '-' turned into '-' (a header name cannot hold
// the ':' and '/' of a URI claim name, and nginx drops names with '_' or '.'),
// in the canonical form of net/http ("X-Sessiond-Claim-Tenant-Id" for
// "tenant_id").
func ClaimHeader(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return http.CanonicalHeaderKey(HeaderClaimPrefix + string(b))
}

// claimHeader is a configured claim and the header that carries it.
type claimHeader struct{ claim, header string }

// claimHeaders maps the configured claims to their headers. Two claims
// whose names map to the same header ("tenant_id" and "tenant.id") would be
// ambiguous to the upstream: neither is sent, and the log says so once.
func claimHeaders(claims []string, log *slog.Logger) []claimHeader {
	byHeader := map[string][]string{}
	for _, c := range claims {
		h := ClaimHeader(c)
		byHeader[h] = append(byHeader[h], c)
	}
	var out []claimHeader
	for _, c := range claims {
		h := ClaimHeader(c)
		if len(byHeader[h]) > 1 {
			continue
		}
		out = append(out, claimHeader{claim: c, header: h})
	}
	for h, cs := range byHeader {
		if len(cs) > 1 {
			log.Warn("forward-auth sends none of these claims: their names map to the same header", "claims", cs, "header", h)
		}
	}
	return out
}

// headerSafe reports whether v can travel as a header value exactly as it
// is: printable ASCII, spaces only between other characters, not empty.
// Anything else (CR, LF and other control characters, which would let a
// value inject headers; non-ASCII, which proxies treat differently; leading
// or trailing blanks, which parsers strip) is never sent.
func headerSafe(v string) bool {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// claimValue is how a claim's JSON value travels in its header: a string's
// content as it is, any other value as compact JSON with non-ASCII escaped
// (\u00e9: the same JSON value, in ASCII). ok is false when the value cannot
// be sent (a string with a control character or non-ASCII, an empty string).
func claimValue(raw json.RawMessage) (v string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, headerSafe(s)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "", false
	}
	var out strings.Builder
	for _, r := range b.String() {
		switch {
		case r < utf8.RuneSelf:
			out.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.String(), headerSafe(out.String())
}

// handleForwardAuth is GET /v1/forward-auth, for nginx auth_request, Caddy
// forward_auth and Traefik ForwardAuth: the proxy asks it about every
// request it is to pass upstream, with the request's headers.
//
// A valid access token, from the Authorization: Bearer header or else the
// access cookie, is 200 with the identity headers (HeaderUserID,
// HeaderSessionID, HeaderClientID and one per configured claim, see
// ClaimHeader) and no body. It reads no store: Manager.Verify checks the
// signature (or its verify cache) and the in-memory set of revoked
// sessions, so a revocation is refused on the next request. It is not
// counted by the per-session rate limit: a page and its assets are a burst
// of requests, each of which the proxy asks about, and a 429 here is a 500
// at nginx. There is nothing to protect by counting them (no store read),
// and limiting clients is the proxy's job, which sees their address.
//
// Anything else is refused, and so is a page load (GET) whose access
// cookie is about to expire (see refreshAhead). A browser navigation (see
// navigation) without a bearer token is sent to RefreshRedirectPath with
// the original URI as return_to (checked like every return_to; one that
// fails is left out): there a refresh cookie gets a new access cookie and
// the browser comes back, and without one it goes on to the login page. By default that is a 302 (307 for a POST, which
// the browser then repeats with its body), which Caddy and Traefik hand to
// the browser; with ?deny=401 every refusal is a 401 and the way on is in
// its Location header, for nginx, whose auth_request takes any status but
// 2xx, 401 and 403 for an error. Every other request is a 401 in JSON.
//
// The original method and URI are read from X-Forwarded-Method and
// X-Forwarded-Uri (Caddy, Traefik) or X-Original-Method and X-Original-URI
// (the usual nginx configuration). They are believed from any peer, not
// only --trusted-proxies: the only thing they decide is where a browser is
// sent, and that is checked like any return_to, so a client that forges
// them can only send itself to an allowed page.
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	deny := r.URL.Query()["deny"]
	if len(deny) > 1 || (len(deny) == 1 && deny[0] != "401") {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "deny must be 401 or absent")
		return
	}
	deny401 := len(deny) == 1
	tok, ok := httpauth.BearerToken(r)
	if !ok {
		// Basic or another scheme: no refresh would mend it, so a
		// navigation is not sent round (and round) either.
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidToken, "malformed Authorization header")
		return
	}
	bearer := tok != ""
	if !bearer {
		tok = httpauth.AccessTokenCookie(r)
	}
	if tok == "" {
		s.refuseForwardAuth(w, r, deny401, httpauth.CodeUnauthorized, "an access token is required")
		return
	}
	id, err := s.mgr.Verify(r.Context(), tok)
	if err != nil {
		if bearer {
			// A client that sends its own token refreshes it itself.
			httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidToken, httpauth.Describe(err))
			return
		}
		s.refuseForwardAuth(w, r, deny401, httpauth.CodeInvalidToken, httpauth.Describe(err))
		return
	}
	if !headerSafe(id.UserID) || !headerSafe(id.SessionID) {
		// Not a token problem: a new one would say the same, so this is no
		// 401 (a navigation would go round through the refresh for ever).
		s.log.WarnContext(r.Context(), "forward-auth: the user id cannot travel in a header", "session", id.SessionID)
		httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeForbidden, "this user id cannot be passed on in a header")
		return
	}
	if !bearer && s.refreshAhead(r, id) {
		s.refuseForwardAuth(w, r, deny401, httpauth.CodeInvalidToken, "the access token is about to expire")
		return
	}
	s.writeIdentity(w.Header(), id)
	w.WriteHeader(http.StatusOK)
}

// maxRefreshAhead bounds how long before its access cookie expires a page
// load is refreshed in-band (see refreshAhead).
const maxRefreshAhead = time.Minute

// refreshAhead reports whether a page load whose access cookie is still
// valid goes through the in-band refresh all the same, because the cookie
// is in the last fifth of its life (at most maxRefreshAhead): the images,
// scripts and styles the page asks for next are no navigations, and would
// get 401s once it expired halfway through them. A token just minted is
// never in its last fifth, so this never sends a browser round twice.
func (s *Server) refreshAhead(r *http.Request, id *session.Identity) bool {
	if m := originalMethod(r); (m != http.MethodGet && m != http.MethodHead) || !navigation(r) {
		return false
	}
	ahead := min(id.ExpiresAt.Sub(id.IssuedAt)/5, maxRefreshAhead)
	return id.ExpiresAt.Sub(s.now()) < ahead
}

// writeIdentity sets the identity headers of id on h. The client id and
// every configured claim's header are always there, empty when the session
// has no value that can be sent: a proxy that copies a header the answer
// lacks may otherwise pass on the client's own (Caddy 2.9 and 2.10 do), or
// a placeholder's text (Caddy 2.6 to 2.8 do). An empty one is the same to
// the upstream as an absent one: no such claim.
func (s *Server) writeIdentity(h http.Header, id *session.Identity) {
	h.Set(HeaderUserID, id.UserID)
	h.Set(HeaderSessionID, id.SessionID)
	h.Set(HeaderClientID, "")
	if headerSafe(id.ClientID) {
		h.Set(HeaderClientID, id.ClientID)
	}
	for _, c := range s.claimHeaders {
		h.Set(c.header, "")
		if raw, ok := id.Claims[c.claim]; ok {
			if v, ok := claimValue(raw); ok {
				h.Set(c.header, v)
			}
		}
	}
}

// refuseForwardAuth answers a request forward-auth does not let through:
// a navigation is sent on to the in-band refresh, anything else gets 401.
func (s *Server) refuseForwardAuth(w http.ResponseWriter, r *http.Request, deny401 bool, code, why string) {
	method := originalMethod(r)
	if !navigation(r) || (method != http.MethodGet && method != http.MethodHead && method != http.MethodPost) {
		httpauth.WriteError(w, http.StatusUnauthorized, code, why)
		return
	}
	loc := RefreshRedirectPath
	if uri := originalURI(r); uri != "" {
		if rt, err := s.returnTo.check(uri); err == nil {
			loc += "?return_to=" + url.QueryEscape(rt)
		} else {
			s.log.DebugContext(r.Context(), "forward-auth: the original URI is no return_to; left out", "err", err)
		}
	}
	w.Header().Set("Location", loc)
	switch {
	case deny401:
		httpauth.WriteError(w, http.StatusUnauthorized, code, why)
	case method == http.MethodPost:
		// 307: the browser repeats the POST, body and all, at the refresh
		// and again back at the page, so a form sent after the access
		// cookie expired is not lost.
		w.WriteHeader(http.StatusTemporaryRedirect)
	default:
		w.WriteHeader(http.StatusFound)
	}
}

// originalHeader is the single value of the first of names that r
// carries, "" if none (or if one is sent twice: no guessing which).
func originalHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		switch v := r.Header.Values(n); len(v) {
		case 0:
			continue
		case 1:
			return strings.TrimSpace(v[0])
		default:
			return ""
		}
	}
	return ""
}

// originalMethod is the method of the request the proxy asks about.
func originalMethod(r *http.Request) string {
	if m := originalHeader(r, "X-Forwarded-Method", "X-Original-Method"); m != "" {
		return strings.ToUpper(m)
	}
	return r.Method
}

// originalURI is the URI (path and query) of the request the proxy asks
// about, "" if the proxy did not say.
func originalURI(r *http.Request) string {
	return originalHeader(r, "X-Forwarded-Uri", "X-Original-URI")
}

// navigation reports whether the request the proxy asks about is a browser
// loading a page, which can be sent elsewhere and back: Sec-Fetch-Mode
// says so (navigate); a browser too old to send Fetch Metadata is believed
// when it accepts text/html. A script's fetch, an image, a stylesheet are
// no navigation: they get a 401 they can act on, never a redirect to a
// login page they cannot show.
func navigation(r *http.Request) bool {
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
