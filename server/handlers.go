package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// tokenResponse is the answer to login and refresh (RFC 6749 §5.1 plus
// the session id).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// sessionView is a session as the API shows it.
type sessionView struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	AuthMethod string    `json:"auth_method,omitempty"`
	ClientID   string    `json:"client_id,omitempty"`
	Current    bool      `json:"current"`
}

func view(s *session.Session, current string) sessionView {
	return sessionView{
		ID: s.ID, UserID: s.UserID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
		IP: s.IP, UserAgent: s.UserAgent, AuthMethod: s.AuthMethod, ClientID: s.ClientID, Current: s.ID == current,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps an error from the layers below to an answer. Store failures
// are 503 (fail closed), never 200 and never 500 with details. The log
// names the route pattern, never the path: /v1/sessions/{id} holds a
// session id, which must not reach a log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, session.ErrStore), errors.Is(err, context.DeadlineExceeded):
		s.log.ErrorContext(r.Context(), "store unavailable", "route", r.Pattern, "err", err)
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "the session store is unavailable; try again")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "request cancelled")
	default:
		s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "err", err)
		httpauth.WriteError(w, http.StatusInternalServerError, httpauth.CodeServerError, "internal error")
	}
}

func (s *Server) meta(r *http.Request, method string) session.Meta {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return session.Meta{IP: s.clientIP.Of(r), UserAgent: ua, AuthMethod: method}
}

// throttled applies the login throttle to an attempt before its password
// is checked, and writes the refusal if any: 429 with Retry-After, one
// ratelimit.throttled line (Reason: the path and the rule; Count: the
// seconds to wait), or 503 when the limiter fails.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, a httpauth.Attempt) bool {
	v, err := s.throttle.Check(r.Context(), a)
	if err != nil {
		s.log.ErrorContext(r.Context(), "login throttle failed", "err", err)
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "rate limiter unavailable")
		return true
	}
	if !v.OK {
		s.writeThrottled(w, r, a, v)
		return true
	}
	return false
}

func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if !s.signup {
		httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeForbidden, "signup is disabled on this server")
		return
	}
	var req credentials
	if decode(w, r, &req) != nil {
		return
	}
	ip := s.clientIP.Of(r)
	if s.throttled(w, r, httpauth.Attempt{IP: ip}) {
		return
	}
	acct, err := s.accounts.Signup(account.WithClient(r.Context(), account.HashClient{Key: httpauth.IPKey(ip)}), req.Email, req.Password)
	switch {
	case errors.Is(err, account.ErrInvalidEmail), errors.Is(err, account.ErrInvalidPassword):
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, strings.TrimPrefix(err.Error(), "account: "))
		return
	case errors.Is(err, account.ErrEmailTaken):
		httpauth.WriteError(w, http.StatusConflict, httpauth.CodeConflict, "an account with this email exists")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.audit.Log(r.Context(), audit.Event{Kind: audit.Signup, UserID: acct.ID, IP: ip})
	writeJSON(w, http.StatusCreated, map[string]string{"user_id": acct.ID, "email": acct.Email})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if decode(w, r, &req) != nil {
		return
	}
	ip := s.clientIP.Of(r)
	key, err := account.NormalizeEmail(req.Email)
	if err != nil {
		key = strings.ToLower(strings.TrimSpace(req.Email))
	}
	attempt := s.throttle.AttemptOf(r, ip, key)
	if s.throttled(w, r, attempt) {
		return
	}
	acct, err := s.accounts.Authenticate(s.passwordCheck(r.Context(), attempt), req.Email, req.Password)
	if errors.Is(err, account.ErrBadCredentials) {
		// Audited even when the throttle could not count it (503 below).
		s.audit.Log(r.Context(), audit.Event{Kind: audit.LoginFailed, Account: key, IP: ip, UserAgent: r.UserAgent()})
	}
	if s.refusedAfterWait(w, r, attempt, err) {
		return
	}
	if errors.Is(err, account.ErrBadCredentials) {
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidGrant, "invalid email or password")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	meta := s.meta(r, "password")
	// AMR "pwd": a password login (RFC 8176). The account's claims, as
	// Authenticate read them, are the session's; settleLoginClaims catches
	// a change of them made meanwhile.
	t, err := s.mgr.Start(r.Context(), session.Grant{UserID: acct.ID, Meta: meta, AMR: []string{"pwd"}, Claims: acct.Claims})
	if errors.Is(err, session.ErrInvalidClaims) {
		// Stored by an earlier configuration (a name dropped from --claims,
		// a lower --claims-max-bytes): fail closed, and say what to do.
		err = fmt.Errorf("account %s holds claims this server does not issue; set them again (PUT /admin/v1/users/{id}/claims): %w", acct.ID, err)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err = s.settleLoginClaims(r.Context(), acct, t, meta)
	if errors.Is(err, account.ErrNotFound) {
		// The account was deleted during the login.
		s.audit.Log(r.Context(), audit.Event{Kind: audit.LoginFailed, Account: key, IP: ip, UserAgent: r.UserAgent()})
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidGrant, "invalid email or password")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.forgetFailures(r, attempt)
	if cookieMode(r) {
		s.endReplacedSession(r)
		// The browser's device cookie: its next attempts on this account
		// are judged by its own failures only (httpauth.DeviceCookies).
		if err := s.throttle.Devices.Set(w, key); err != nil {
			s.log.ErrorContext(r.Context(), "device cookie not set", "err", err)
		}
	}
	s.writeTokens(w, r, t)
}

// settleLoginClaims makes the new session of t, started for acct with the
// claims acct held when the login read it, carry the account's claims as
// they are once the session exists, and returns the tokens to answer.
//
// A change of an account's claims (node.Node.SetUserClaims) writes the
// account first and then lists the user's sessions to update them. A login
// that read the account before that write, but created its session only
// after that listing, is seen by neither step: its session would keep the
// old claims for good. So the account is read again here, after the
// session was created. The change's listing came after its account write;
// if the listing missed the session, the session was created after the
// listing, and so this read, later still, sees the new claims, and the
// session is given them here. If the listing did not miss it, the change
// updates (or revokes) the session itself. A further change racing with
// that update is caught the same way, so this repeats until a read finds
// the claims the session was last given: a change whose account write
// comes after that last read lists the sessions later still, finds this
// one and updates it after us.
//
// When the session was given newer claims here, the tokens Start signed
// carry the old ones; they are replaced by a refresh of the session, so
// that no access token with the old claims leaves (a change with
// revoke_sessions promises that). A session already gone (revoked by such
// a change) is answered as it is: its tokens are refused, as those of a
// login that finished just before the change would be. An account deleted
// meanwhile is account.ErrNotFound, its session ended here for the same
// reason (a deletion revokes the sessions after deleting the account;
// node.Node.DeleteAccount says why that order leaves no session of a
// racing login on any store).
func (s *Server) settleLoginClaims(ctx context.Context, acct *account.Account, t *session.Tokens, meta session.Meta) (*session.Tokens, error) {
	abandon := func(err error) (*session.Tokens, error) {
		if rerr := s.mgr.RevokeFor(context.WithoutCancel(ctx), t.Session.ID, "login abandoned"); rerr != nil {
			s.log.WarnContext(ctx, "could not end the session of an abandoned login", "err", rerr)
		}
		return nil, err
	}
	const attempts = 4
	given, changed := acct.Claims, false
	for range attempts {
		cur, err := s.accounts.Get(ctx, acct.ID)
		if err != nil {
			return abandon(err)
		}
		if sameClaims(cur.Claims, given) {
			if !changed {
				return t, nil
			}
			nt, err := s.mgr.Refresh(ctx, t.RefreshToken, meta)
			if err != nil {
				return abandon(err)
			}
			return nt, nil
		}
		ok, err := s.mgr.SetSessionClaims(ctx, t.Session.ID, cur.Claims)
		if err != nil {
			return abandon(err)
		}
		if !ok {
			return t, nil
		}
		given, changed = cur.Claims, true
	}
	return abandon(fmt.Errorf("the claims of account %s changed %d times during one login", acct.ID, attempts))
}

// sameClaims reports whether a and b hold the same claims as JSON values
// (a store may respell a value it read back). Numbers compare by their
// text, so two spellings of one number count as different: that only
// costs a needless update, where calling two different values the same
// would keep old claims.
func sameClaims(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		if bytes.Equal(va, vb) {
			continue
		}
		x, errx := decodeJSONValue(va)
		y, erry := decodeJSONValue(vb)
		if errx != nil || erry != nil || !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func decodeJSONValue(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// endReplacedSession ends the session whose cookies a cookie-mode login is
// about to overwrite: the browser can no longer use it, so it must not
// live on in the store (and in "your devices") until it times out.
func (s *Server) endReplacedSession(r *http.Request) {
	old := httpauth.AccessTokenCookie(r)
	if old == "" {
		return
	}
	if id, err := s.mgr.Verify(r.Context(), old); err == nil {
		if err := s.mgr.Logout(r.Context(), id.SessionID); err != nil {
			s.log.WarnContext(r.Context(), "could not end the session a login replaced", "err", err)
		}
	}
}

func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, t *session.Tokens) {
	if cookieMode(r) {
		s.writeCookieTokens(w, t)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, s.tokenBody(t))
}

// tokenBody is the bearer-mode answer carrying t.
func (s *Server) tokenBody(t *session.Tokens) tokenResponse {
	return tokenResponse{
		AccessToken:  t.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int64(t.AccessExpiresAt.Sub(s.now()).Round(time.Second) / time.Second),
		RefreshToken: t.RefreshToken,
		SessionID:    t.Session.ID,
	}
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	cookies := cookieMode(r)
	// In cookie mode the body may be absent: the refresh cookie is the token.
	if !cookies || r.ContentLength != 0 {
		if decode(w, r, &req) != nil {
			return
		}
	}
	var pick httpauth.RefreshPick
	fromCookie, pinned := false, false
	if req.RefreshToken == "" && cookies {
		pick, pinned = s.pickRefresh(r)
		if s.refusedAmbiguousRefresh(w, r, pick) {
			return
		}
		req.RefreshToken = pick.Token
		fromCookie = true
	}
	// A legacy refresh cookie goes, used or not: the new cookies replace
	// it, and one that was not used never will be.
	clearLegacy := func() {
		if pick.HasLegacy {
			httpauth.SessionCookies{}.ClearLegacy(w)
		}
	}
	if req.RefreshToken == "" {
		clearLegacy()
		desc := "refresh_token is required"
		switch {
		case pinned:
			desc = "no refresh_token and no refresh cookie of the access cookie's session"
		case cookies:
			desc = "no refresh_token and no refresh cookie"
		}
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, desc)
		return
	}
	t, err := s.mgr.Refresh(r.Context(), req.RefreshToken, s.meta(r, ""))
	if errors.Is(err, session.ErrInvalidToken) {
		desc := "the refresh token is invalid, expired or revoked"
		if errors.Is(err, session.ErrReused) {
			desc = httpauth.Describe(err)
		}
		if fromCookie {
			s.clearCookies(w, r)
		}
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidGrant, desc)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	clearLegacy()
	s.writeTokens(w, r, t)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	var (
		n     int
		err   error
		ended bool // the current session ended: a cookie client's cookies go
	)
	if len(r.URL.Query()["scope"]) > 1 {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "scope given more than once")
		return
	}
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", "local":
		err = s.mgr.Logout(r.Context(), id.SessionID)
		n, ended = 1, true
	case "others":
		if !s.requireFresh(w, r) {
			return
		}
		var ids []string
		ids, err = s.mgr.RevokeUser(r.Context(), id.UserID, id.SessionID)
		n = len(ids)
	case "global":
		if !s.requireFresh(w, r) {
			return
		}
		var ids []string
		ids, err = s.mgr.RevokeUser(r.Context(), id.UserID, "")
		n, ended = len(ids), true
	default:
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "scope must be local, others or global")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ended && httpauth.ViaCookie(r.Context()) {
		s.clearCookies(w, r)
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	sess, err := s.mgr.Get(r.Context(), id.SessionID)
	if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrExpired) || errors.Is(err, session.ErrRevoked) {
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidToken, httpauth.Describe(err))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := currentView{sessionView: view(sess, id.SessionID)}
	// A built-in account's user id is its account id: the page can say
	// who is signed in. Other users (minted by a service) have no email here.
	acct, err := s.accounts.Get(r.Context(), sess.UserID)
	switch {
	case err == nil:
		out.Email = acct.Email
	case !errors.Is(err, account.ErrNotFound):
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// currentView is GET /v1/session's answer: the session, and the email of
// its account when the user is a built-in account.
type currentView struct {
	sessionView
	Email string `json:"email,omitempty"`
}

// handleSessions lists the caller's sessions a page at a time
// (?limit=N&cursor=C; see writeSessionPage), the current one flagged.
func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	s.writeSessionPage(w, r, id.UserID, id.SessionID)
}

func (s *Server) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	target := r.PathValue("id")
	// Ending another session is sensitive (a stolen token could end the
	// owner's); ending this one never is.
	if target != id.SessionID && !s.requireFresh(w, r) {
		return
	}
	sess, err := s.mgr.Get(r.Context(), target)
	if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrExpired) || errors.Is(err, session.ErrRevoked) ||
		(err == nil && sess.UserID != id.UserID) {
		// Someone else's session answers exactly like a missing one.
		httpauth.WriteError(w, http.StatusNotFound, httpauth.CodeNotFound, "no such session")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.mgr.Revoke(r.Context(), target); err != nil {
		s.fail(w, r, err)
		return
	}
	if target == id.SessionID && httpauth.ViaCookie(r.Context()) {
		s.clearCookies(w, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	b, err := s.node.Keys().JWKS()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// The same setting decides how long before it signs a new key is
	// published here (node.Config.PublishAhead), so a cached copy is
	// never missing a key that signs.
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.node.Config().JWKSMaxAge/time.Second)))
	_, _ = w.Write(b)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyTimeout bounds /readyz, under the default store timeout, so that a
// probe of a stalled store is answered in time.
const readyTimeout = time.Second

// readyReasons names why a node is not ready, for /readyz's body: a fixed
// text per kind, never the store's own error (it may name hosts).
var readyReasons = []error{node.ErrFeedDeaf, node.ErrDiskFull, node.ErrStoreStalled, node.ErrStoreWrite, node.ErrStoreDown}

// handleReadyz reports whether the node can serve (node.Ready: the feed
// hears revocations, the store answers a read and, where it can, a write
// probe) within readyTimeout: 200 {"status":"ready"}; 507 when the
// store's disk is full; 503 with Retry-After otherwise. The body's reason
// says why. A change of state is logged once, not every probe.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	err := s.node.Ready(ctx)
	if err == nil {
		s.noteReadiness(r.Context(), "", nil)
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	reason := "not ready"
	for _, k := range readyReasons {
		if errors.Is(err, k) {
			reason = k.Error()
			break
		}
	}
	s.noteReadiness(r.Context(), reason, err)
	if errors.Is(err, node.ErrDiskFull) {
		writeJSON(w, http.StatusInsufficientStorage, map[string]string{"status": "unavailable", "error": "insufficient_storage", "reason": reason})
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(httpauth.UnavailableRetryAfter/time.Second)))
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
}

// noteReadiness logs a change of readiness ("" is ready), once.
func (s *Server) noteReadiness(ctx context.Context, reason string, err error) {
	s.readiness.Lock()
	changed := s.readiness.reason != reason
	s.readiness.reason = reason
	s.readiness.Unlock()
	switch {
	case !changed:
	case reason == "":
		s.log.InfoContext(ctx, "ready again")
	default:
		s.log.WarnContext(ctx, "not ready", "reason", reason, "err", err)
	}
}

// refusedAmbiguousRefresh refuses, with 400 and an audit event, a request
// whose refresh cookies name more than one session with no valid access
// cookie to say which is this browser's (pick.Ambiguous), and reports
// whether it did. Using either could put this browser in the planter's
// session. Nothing is cleared. A browser never sends two cookies of the
// "__Host-" name (see httpauth.SessionCookies.PickRefresh), so a sibling
// subdomain cannot cause this; a planted cookie of any other name is
// ignored, not refused.
func (s *Server) refusedAmbiguousRefresh(w http.ResponseWriter, r *http.Request, pick httpauth.RefreshPick) bool {
	if !pick.Ambiguous {
		return false
	}
	s.audit.Log(r.Context(), audit.Event{Kind: audit.CSRFRejected, IP: s.clientIP.Of(r), UserAgent: r.UserAgent(),
		Reason: "more than one refresh cookie"})
	httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest,
		"more than one refresh cookie, of different sessions: remove them and log in again")
	return true
}
