package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// DefaultReauthMaxAge is how old the last authentication of a session may
// be for the sensitive routes (Config.ReauthMaxAge).
const DefaultReauthMaxAge = 15 * time.Minute

// reauthHow ends the description of a refusal for an old authentication.
const reauthHow = "prove the password again with POST /v1/reauth and retry"

// requireFresh lets a sensitive action go on only when the caller's
// access token says its user authenticated at most Config.ReauthMaxAge
// ago, on the node's clock; otherwise it answers 403
// insufficient_user_authentication with the RFC 9470 challenge and
// reports false. Ending other sessions, logging out everywhere and
// changing the password call it; ending the current session never does.
func (s *Server) requireFresh(w http.ResponseWriter, r *http.Request) bool {
	return httpauth.RecentAuth{MaxAge: s.cfg.ReauthMaxAge, Now: s.now, How: reauthHow}.Allow(w, r)
}

type reauthRequest struct {
	Password string `json:"password"`
}

type passwordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// reauthResponse is the bearer answer to POST /v1/reauth: a new access
// token, and no refresh token (the client's stays good).
type reauthResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	SessionID   string `json:"session_id"`
}

// cookieReauthResponse is the cookie-mode answer: the access cookie is set.
type cookieReauthResponse struct {
	ExpiresIn int64  `json:"expires_in"`
	SessionID string `json:"session_id"`
}

// handleReauth is POST /v1/reauth {"password"}: the caller's session proves
// its user's password again; its auth_time becomes now (same session, same
// refresh token) and the answer carries an access token saying so.
func (s *Server) handleReauth(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	var req reauthRequest
	if decode(w, r, &req) != nil {
		return
	}
	if req.Password == "" {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "password is required")
		return
	}
	acct, ok := s.accountOf(w, r, id)
	if !ok {
		return
	}
	ip := s.clientIP.Of(r)
	attempt := s.throttle.AttemptOf(r, ip, acct.Email)
	if s.throttled(w, r, attempt) {
		return
	}
	_, err := s.accounts.VerifyPassword(s.passwordCheck(r.Context(), attempt), acct.ID, req.Password)
	s.wrongButUncounted(r, id, acct, err)
	if s.refusedAfterWait(w, r, attempt, err) {
		return
	}
	switch {
	case errors.Is(err, account.ErrBadCredentials):
		s.passwordRefused(w, r, id, acct, "invalid password")
		return
	case errors.Is(err, account.ErrNotFound):
		writeNoAccount(w)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.forgetFailures(r, attempt)
	t, err := s.mgr.Reauthenticate(r.Context(), id.SessionID, s.meta(r, "password"))
	if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrRevoked) || errors.Is(err, session.ErrExpired) {
		if httpauth.ViaCookie(r.Context()) {
			s.clearCookies(w, r)
		}
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidToken, httpauth.Describe(err))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	expiresIn := int64(t.AccessExpiresAt.Sub(now).Round(time.Second) / time.Second)
	w.Header().Set("Pragma", "no-cache")
	// A session authenticated by its cookie gets the token in the cookie
	// only, never in a body a page's script could read.
	if httpauth.ViaCookie(r.Context()) || cookieMode(r) {
		httpauth.SetAccessCookie(w, t.AccessToken, t.AccessExpiresAt, now)
		writeJSON(w, http.StatusOK, cookieReauthResponse{ExpiresIn: expiresIn, SessionID: t.Session.ID})
		return
	}
	writeJSON(w, http.StatusOK, reauthResponse{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: expiresIn, SessionID: t.Session.ID})
}

// handlePassword is POST /v1/password {"current_password","new_password"}:
// behind the freshness gate, the current password checked as a login
// checks it, the new one held to the rules; then every other session of
// the user ends (on every node at once, as any revocation) and this one
// goes on. The answer says how many ended.
func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request) {
	if !s.requireFresh(w, r) {
		return
	}
	id, _ := httpauth.FromContext(r.Context())
	var req passwordChange
	if decode(w, r, &req) != nil {
		return
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "current_password and new_password are required")
		return
	}
	acct, ok := s.accountOf(w, r, id)
	if !ok {
		return
	}
	ip := s.clientIP.Of(r)
	attempt := s.throttle.AttemptOf(r, ip, acct.Email)
	if s.throttled(w, r, attempt) {
		return
	}
	err := s.accounts.ChangePassword(s.passwordCheck(r.Context(), attempt), acct.ID, req.CurrentPassword, req.NewPassword)
	s.wrongButUncounted(r, id, acct, err)
	if s.refusedAfterWait(w, r, attempt, err) {
		return
	}
	switch {
	case errors.Is(err, account.ErrInvalidPassword):
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, newPasswordRefusal(err))
		return
	case errors.Is(err, account.ErrBadCredentials):
		s.passwordRefused(w, r, id, acct, "invalid current password")
		return
	case errors.Is(err, account.ErrNotFound):
		writeNoAccount(w)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.forgetFailures(r, attempt)
	ended, err := s.mgr.RevokeUserFor(r.Context(), id.UserID, id.SessionID, "password changed")
	if err != nil {
		// The password is changed; the other sessions may live on. Fail
		// closed and say what to do: a retry would now be refused.
		s.log.ErrorContext(r.Context(), "password changed, other sessions not ended", "err", err)
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable,
			"the password was changed, but the other sessions could not all be ended; end them with POST /v1/logout?scope=others")
		return
	}
	s.audit.Log(r.Context(), audit.Event{Kind: audit.PasswordChanged, SessionID: id.SessionID, UserID: id.UserID, IP: ip,
		UserAgent: r.UserAgent(), Count: len(ended)})
	writeJSON(w, http.StatusOK, map[string]int{"revoked": len(ended)})
}

// accountOf returns the built-in account of the caller's user, or writes
// 403 (a user a service client started a session for has no password
// here) or the store failure and reports false.
func (s *Server) accountOf(w http.ResponseWriter, r *http.Request, id *session.Identity) (*account.Account, bool) {
	acct, err := s.accounts.Get(r.Context(), id.UserID)
	if errors.Is(err, account.ErrNotFound) {
		writeNoAccount(w)
		return nil, false
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return acct, true
}

func writeNoAccount(w http.ResponseWriter) {
	httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeForbidden,
		"the user of this session has no password on this server (its session was started by a service)")
}

// passwordRefused answers a wrong password given by a session's user: the
// audit line (reauth.failed, with the account as a keyed hash and the
// path) and 401 invalid_grant.
func (s *Server) passwordRefused(w http.ResponseWriter, r *http.Request, id *session.Identity, acct *account.Account, desc string) {
	s.auditReauthFailed(r, id, acct)
	httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidGrant, desc)
}

// auditReauthFailed writes the reauth.failed line of a wrong password.
func (s *Server) auditReauthFailed(r *http.Request, id *session.Identity, acct *account.Account) {
	s.audit.Log(r.Context(), audit.Event{Kind: audit.ReauthFailed, SessionID: id.SessionID, UserID: id.UserID, Account: acct.Email,
		IP: s.clientIP.Of(r), UserAgent: r.UserAgent(), Reason: r.URL.Path})
}

// wrongButUncounted audits a wrong password that the login throttle could
// not count: refusedAfterWait answers it 503, and the attempt is on record.
func (s *Server) wrongButUncounted(r *http.Request, id *session.Identity, acct *account.Account, err error) {
	if errors.Is(err, account.ErrBadCredentials) && errors.Is(err, errThrottleDown) {
		s.auditReauthFailed(r, id, acct)
	}
}

// newPasswordRefusal says why the new password was refused: "new_password
// must be at least 8 characters".
func newPasswordRefusal(err error) string {
	desc := strings.TrimPrefix(err.Error(), "account: ")
	if why, ok := strings.CutPrefix(desc, "invalid password: "); ok {
		return "new_password " + why
	}
	return "new_password: " + desc
}
