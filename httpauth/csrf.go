package httpauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// CSRF errors. Check wraps ErrCSRF in each, so callers branch on ErrCSRF for
// "refuse with 403" and on the others for the reason.
var (
	// ErrCSRF is wrapped by every CSRF refusal.
	ErrCSRF = errors.New("httpauth: csrf check failed")
	// ErrCSRFMissing: the request carries no X-CSRF-Token header.
	ErrCSRFMissing = errors.New("httpauth: csrf token missing")
	// ErrCSRFInvalid: the token is not the one of this session.
	ErrCSRFInvalid = errors.New("httpauth: csrf token invalid")
	// ErrCSRFKey: the CSRF key is shorter than MinCSRFKeyLen (fail closed).
	ErrCSRFKey = errors.New("httpauth: csrf key too short")
)

// CSRFHeader is the request header that carries the CSRF token.
const CSRFHeader = "X-CSRF-Token"

// CodeCSRFFailed is the error code of a 403 answer to a request that
// failed a CSRF check (cross-origin, or a missing or wrong token).
const CodeCSRFFailed = "csrf_failed"

// MinCSRFKeyLen is the shortest key CSRF accepts.
const MinCSRFKeyLen = 32

// csrfLabel separates CSRF tokens from any other MAC under the same key.
const csrfLabel = "csrf/v1\x00"

// CSRF is the session-bound CSRF token rule of cookie mode (the second layer;
// the first is net/http's CrossOriginProtection on every unsafe method).
//
// The token of a session is base64url(HMAC-SHA256(Key, "csrf/v1\x00" ||
// sessionID)): the synchronizer token pattern without server state (OWASP
// CSRF Prevention Cheat Sheet, "signed double-submit cookie" bound to the
// session). A page reads it from GET /v1/csrf, which a cross-site attacker
// cannot read, and sends it back in the X-CSRF-Token header, which a
// cross-site form cannot set. It is the same for the session's whole life,
// so tabs need not coordinate; a new login is a new session and a new token.
//
// Key must hold at least MinCSRFKeyLen secret bytes, the same on every node;
// with a shorter key Token returns "" and Check refuses every request. A CSRF
// must not be changed while in use; its methods are safe for concurrent use.
type CSRF struct {
	// Key is the MAC key (>= 32 bytes).
	Key []byte
	// FormField, if set, names a form field (of an
	// application/x-www-form-urlencoded or multipart/form-data body) that
	// Check reads the token from when the request has no X-CSRF-Token
	// header: a plain HTML form can send it, as CSRFField writes it.
	// Empty: the header only. Web sets DefaultCSRFField.
	FormField string
}

// DefaultCSRFField is the form field Web reads the CSRF token from.
const DefaultCSRFField = "csrf_token"

// Token returns the CSRF token of the session, or "" if Key is too short.
func (c *CSRF) Token(sessionID string) string {
	if len(c.Key) < MinCSRFKeyLen {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(c.mac(sessionID))
}

func (c *CSRF) mac(sessionID string) []byte {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(csrfLabel))
	m.Write([]byte(sessionID))
	return m.Sum(nil)
}

// Check reports whether r carries the CSRF token of sessionID in its
// X-CSRF-Token header or, when it has none and FormField is set, in that
// form field (which parses the body: see http.Request.ParseMultipartForm).
// It checks whatever the method; the caller decides which requests need
// it (Auth: unsafe methods authenticated by cookie). The comparison is
// constant-time. Errors wrap ErrCSRF and one of ErrCSRFMissing,
// ErrCSRFInvalid or ErrCSRFKey.
func (c *CSRF) Check(r *http.Request, sessionID string) error {
	if len(c.Key) < MinCSRFKeyLen {
		return fmt.Errorf("%w: %w", ErrCSRF, ErrCSRFKey)
	}
	vals := r.Header.Values(CSRFHeader)
	if len(vals) == 0 && c.FormField != "" {
		vals = formValues(r, c.FormField)
	}
	if len(vals) == 0 || vals[0] == "" {
		return fmt.Errorf("%w: %w", ErrCSRF, ErrCSRFMissing)
	}
	if len(vals) > 1 {
		return fmt.Errorf("%w: %w", ErrCSRF, ErrCSRFInvalid)
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(vals[0])
	if err != nil || !hmac.Equal(got, c.mac(sessionID)) {
		return fmt.Errorf("%w: %w", ErrCSRF, ErrCSRFInvalid)
	}
	return nil
}

// formValues returns the values of the body's form field name (none if the
// body is not a form or cannot be parsed).
func formValues(r *http.Request, name string) []string {
	if r.PostForm == nil {
		if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/form-data") {
			_ = r.ParseMultipartForm(32 << 20) // net/http's default, as PostFormValue does
		} else {
			_ = r.ParseForm()
		}
	}
	return r.PostForm[name]
}

// description is what a refusal by c tells the client: which header, and
// which form field if any, must carry the token.
func (c *CSRF) description() string {
	if c != nil && c.FormField != "" {
		return "a valid X-CSRF-Token header or " + c.FormField + " form field is required"
	}
	return "a valid X-CSRF-Token header is required (GET /v1/csrf)"
}

// SafeMethod reports whether m is one of the methods that must not change
// anything (GET, HEAD, OPTIONS) and therefore need no CSRF check; the same
// set net/http's CrossOriginProtection lets through.
func SafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// csrfReason is the audit reason of a CSRF refusal.
func csrfReason(err error) string {
	switch {
	case errors.Is(err, ErrCSRFMissing):
		return "csrf_token_missing"
	case errors.Is(err, ErrCSRFKey):
		return "csrf_not_configured"
	}
	return "csrf_token_invalid"
}
