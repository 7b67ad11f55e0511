// Package httpauth is the net/http side of sessiond for applications: it
// authenticates access tokens, requires a session, puts the caller's identity
// in the request context, limits requests per session, throttles logins, and
// writes OAuth 2.0 style JSON errors (RFC 6749 §5.2, RFC 6750 §3).
//
// An Auth takes the access token from the Authorization: Bearer header or,
// when there is none, from the access cookie (AccessCookie). Browser
// applications set and clear the two session cookies with SetSessionCookies
// and ClearSessionCookies (or a SessionCookies of their own layout); ViaCookie
// tells a handler how the caller authenticated. An unsafe request (see
// SafeMethod) authenticated by the cookie must carry a valid X-CSRF-Token
// (CSRF, an HMAC of the session id); without a CSRF key such requests are
// refused. Sensitive handlers can also ask for a recent authentication
// (RequireRecentAuth, RecentAuth: RFC 9470 step-up on the token's
// auth_time). Bearer requests carry no ambient credential and need no token.
// Wrap the application's mux in http.CrossOriginProtection as well: it refuses
// cross-origin unsafe requests from browsers, including login CSRF.
//
// Server-rendered applications use Web (NewWeb) instead: it loads the
// session from its cookies and refreshes it in-band when the access cookie
// has expired, takes the CSRF token from a form field as well (CSRFField
// writes it), logs in with or without "remember me", renews the session id,
// keeps flash messages, and lets the application answer refusals with its
// own pages (WebConfig.OnError). DeriveSecrets derives every key it needs
// from one master key, as sessiond serve does.
package httpauth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of the JSON error body.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeInvalidToken     = "invalid_token"
	CodeInvalidGrant     = "invalid_grant"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeRateLimited      = "rate_limited"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeTooLarge         = "request_too_large"
	CodeUnavailable      = "temporarily_unavailable"
	CodeServerError      = "server_error"
	CodeConflict         = "conflict"
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeInvalidClient: service-client authentication failed (RFC 6749 §5.2).
	CodeInvalidClient = "invalid_client"
	// CodeUnauthorizedClient: the client may not do this (RFC 6749 §5.2).
	CodeUnauthorizedClient = "unauthorized_client"
	// CodeInsufficientUserAuthentication: the access token is good, but
	// its user last authenticated too long ago for this request (RFC 9470
	// §3); authenticate again and retry (see RecentAuth).
	CodeInsufficientUserAuthentication = "insufficient_user_authentication"
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// UnavailableRetryAfter is the Retry-After of every 503: a store that
// stalled or failed is asked again after this long.
const UnavailableRetryAfter = 2 * time.Second

// WriteError writes an OAuth-style JSON error. On 401 it adds
// WWW-Authenticate: Bearer with the error code (RFC 6750 §3), unless the
// caller already set a challenge of its own (Basic for client
// authentication, RFC 6749 §5.2). A 503 carries Retry-After
// (UnavailableRetryAfter) unless the caller set one.
func WriteError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(int(UnavailableRetryAfter/time.Second)))
	}
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		v := `Bearer realm="sessiond"`
		if code == CodeInvalidToken {
			v += `, error="invalid_token", error_description="` + quoteSafe(description) + `"`
		}
		h.Set("WWW-Authenticate", v)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: code, Description: description})
}

// WriteRetryAfter writes 429 with Retry-After in whole seconds (at least 1).
func WriteRetryAfter(w http.ResponseWriter, after time.Duration, description string) {
	secs := int((after + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteError(w, http.StatusTooManyRequests, CodeRateLimited, description)
}

// quoteSafe keeps a description usable inside a quoted header parameter.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, s)
}
