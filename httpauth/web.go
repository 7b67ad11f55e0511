package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// DefaultBrowserSessionLifetime is the absolute lifetime of a login the
// user did not ask to be remembered (WebConfig.BrowserSessionLifetime).
const DefaultBrowserSessionLifetime = 12 * time.Hour

// Keys of the session's application data that Web keeps for itself.
const (
	// FlashKey holds the flash messages not yet shown (AddFlash, PopFlash).
	FlashKey = "httpauth.flash"
	// browserSessionKey marks a session whose cookies are browser-session
	// cookies (a login not remembered), so its refreshes keep them so.
	browserSessionKey = "httpauth.browser_session"
)

// WebConfig configures a Web. It needs either a MasterKey and a Store (Web
// makes the Manager: one secret for everything), or a Manager and a
// CSRFKey (or a MasterKey to derive it from).
type WebConfig struct {
	// MasterKey is the one secret: 32 random bytes or more, the same on
	// every node, from which every key is derived as sessiond serve
	// derives its own (DeriveSecrets): the CSRF key and, when Manager is
	// nil, the Manager's refresh key, audit key and the key sealing its
	// key ring in the store. Given the same master key and store as a
	// sessiond server, a Web shares its sessions.
	MasterKey []byte
	// Store keeps the sessions of the Manager Web makes (memstore.New(),
	// or a shared store); if it is also a token.RingStore (every store of
	// this module is), the key ring is kept in it, sealed, so every node
	// and restart signs with the same keys (it is not rotated; run a
	// sessiond node for that). Only with MasterKey and no Manager.
	Store session.Store
	// Issuer and Audience of the access tokens of the Manager Web makes.
	// Default "sessiond" each, as sessiond serve's.
	Issuer, Audience string
	// Policy and Now (the clock; nil is time.Now) of the Manager Web makes.
	Policy session.Policy
	Now    func() time.Time

	// Manager keeps the sessions, when the application has its own (a
	// node's, say); then Store, Issuer, Audience, Policy and Now are not
	// used.
	Manager *session.Manager
	// CSRFKey keys the CSRF tokens: at least 32 random bytes, the same on
	// every node. With a MasterKey, leave it empty: it is derived.
	CSRFKey []byte
	// CookieName names the cookies: "__Host-"+CookieName+"_at" and
	// "__Host-"+CookieName+"_rt" (see SessionCookies.Name). Default
	// DefaultCookieName.
	CookieName string
	// CSRFField is the form field the CSRF token is read from when the
	// request has no X-CSRF-Token header. Default DefaultCSRFField.
	CSRFField string
	// BrowserSessionLifetime is the absolute lifetime of a login the user
	// did not ask to be remembered, whose cookies the browser forgets when
	// it closes. Default DefaultBrowserSessionLifetime; at most the
	// Manager's Policy.AbsoluteTimeout (a remembered login's).
	BrowserSessionLifetime time.Duration
	// LoginURL, if set, is where Require sends a request without a
	// session: 303 See Other (for a GET or HEAD, with the page asked for in
	// the query parameter "next", a path on this site only), instead of
	// calling OnError with 401.
	LoginURL string
	// OnError answers a request Web refuses: 401 CodeUnauthorized (Require
	// without a session, when LoginURL is not set), 403 CodeCSRFFailed (an
	// unsafe request without the session's CSRF token), 503
	// CodeUnavailable (the store failed). An application renders its own
	// page or redirects. Nil writes the JSON error of WriteError.
	OnError func(w http.ResponseWriter, r *http.Request, status int, code string)
	// ClientIP finds the client's address for the sessions' metadata; the
	// zero value trusts no proxy.
	ClientIP ClientIP
	// Logger receives operational errors (a failing store) and the audit
	// events of the Manager NewWeb makes; nil uses slog.Default.
	Logger *slog.Logger
}

// Web is sessiond for server-rendered applications, with the conveniences
// of a session library such as scs: Load reads the session from its
// cookies and refreshes it in-band when the access cookie has expired, so
// a page left open keeps working without JavaScript; forms carry the CSRF
// token in a hidden field (CSRFField); Login (remembered or not), Logout
// and Renew set the cookies; flash messages are shown once. Create one with
// NewWeb; it is safe for concurrent use.
//
// The session's data lives in the store, written at once with
// compare-and-set (Update), not at the end of the request. Handlers that
// call Login, Logout or Renew must do so before they write the response,
// as the cookies go in its header.
type Web struct {
	m        *session.Manager
	own      bool // m was made by NewWeb; Close closes it
	loginURL string
	csrf     *CSRF
	cookies  SessionCookies
	lifetime time.Duration
	onError  func(w http.ResponseWriter, r *http.Request, status int, code string)
	clientIP ClientIP
	log      *slog.Logger
}

// NewWeb checks cfg and returns a Web, making its Manager if cfg has
// none (ctx bounds that: loading the key ring and the revocations). Errors
// are clear and change nothing: no Manager and no MasterKey and Store, a
// master or CSRF key that token.CheckSecret refuses, a cookie name
// SessionCookies.Validate refuses, a bad form field name or login URL, a
// browser-session lifetime out of range. Close it when done.
func NewWeb(ctx context.Context, cfg WebConfig) (*Web, error) {
	csrfKey := cfg.CSRFKey
	if cfg.MasterKey != nil {
		if csrfKey != nil {
			return nil, errors.New("httpauth: web: give a MasterKey or a CSRFKey, not both (the CSRF key is derived from the master key)")
		}
		if err := token.CheckSecret(cfg.MasterKey); err != nil {
			return nil, fmt.Errorf("httpauth: web: master key: %w", err)
		}
		csrfKey = token.DeriveKey(cfg.MasterKey, token.PurposeCSRF)
	}
	if err := token.CheckSecret(csrfKey); err != nil {
		return nil, fmt.Errorf("httpauth: web: CSRF key: %w", err)
	}
	cookies := SessionCookies{RefreshPath: "/", Name: cfg.CookieName, RefreshSameSite: http.SameSiteLaxMode}
	if err := cookies.Validate(); err != nil {
		return nil, fmt.Errorf("httpauth: web: %w", err)
	}
	field := cfg.CSRFField
	if field == "" {
		field = DefaultCSRFField
	}
	if !validFieldName(field) {
		return nil, fmt.Errorf("httpauth: web: CSRF field %q: want 1 to 64 letters, digits, '-' and '_'", field)
	}
	if cfg.LoginURL != "" && !localPath(cfg.LoginURL) {
		return nil, fmt.Errorf("httpauth: web: login URL %q: want a path on this site, such as /login", cfg.LoginURL)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	m, own := cfg.Manager, false
	if m == nil {
		var err error
		if m, err = newWebManager(ctx, cfg, log); err != nil {
			return nil, err
		}
		own = true
	}
	abs := m.Policy().AbsoluteTimeout
	lifetime := cfg.BrowserSessionLifetime
	if lifetime == 0 {
		lifetime = min(DefaultBrowserSessionLifetime, abs)
	}
	if lifetime < time.Minute || lifetime > abs {
		if own {
			m.Close()
		}
		return nil, fmt.Errorf("httpauth: web: browser-session lifetime %v must be between 1m and the policy's absolute timeout %v", lifetime, abs)
	}
	return &Web{
		m:        m,
		own:      own,
		loginURL: cfg.LoginURL,
		csrf:     &CSRF{Key: append([]byte(nil), csrfKey...), FormField: field},
		cookies:  cookies,
		lifetime: lifetime,
		onError:  cfg.OnError,
		clientIP: cfg.ClientIP,
		log:      log,
	}, nil
}

// newWebManager makes the Manager of a Web configured with a master key
// and a store.
func newWebManager(ctx context.Context, cfg WebConfig, log *slog.Logger) (*session.Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("httpauth: web: a Manager, or a MasterKey and a Store, is required")
	}
	secrets, err := DeriveSecrets(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("httpauth: web: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	var keys *token.KeyRing
	if rs, ok := cfg.Store.(token.RingStore); ok {
		keys, err = token.LoadOrCreateKeyRing(ctx, rs, secrets.KeyRingKey, token.ES256, now())
	} else {
		keys, err = token.NewKeyRing(token.ES256, now())
	}
	if err != nil {
		return nil, fmt.Errorf("httpauth: web: key ring: %w", err)
	}
	m, err := session.New(ctx, session.Config{
		Store:      cfg.Store,
		Keys:       keys,
		Issuer:     cmpOr(cfg.Issuer, "sessiond"),
		Audience:   cmpOr(cfg.Audience, "sessiond"),
		RefreshKey: secrets.RefreshKey,
		Policy:     cfg.Policy,
		Audit:      audit.New(log, secrets.AuditKey),
		Now:        cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("httpauth: web: %w", err)
	}
	return m, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// localPath reports whether u is a path on this site ("/login"), not a
// URL of another ("//evil.example", "https://...", "/\\evil").
func localPath(u string) bool {
	return strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasPrefix(u, "/\\") &&
		!strings.ContainsFunc(u, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// Manager is the Manager of w's sessions.
func (w *Web) Manager() *session.Manager { return w.m }

// Close stops the Manager NewWeb made (it does not close the Store); it
// does nothing to a Manager given in WebConfig.
func (w *Web) Close() error {
	if w.own {
		return w.m.Close()
	}
	return nil
}

func validFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// Cookies is the cookie layout of w (refresh cookie at Path=/, SameSite=Lax).
func (w *Web) Cookies() SessionCookies { return w.cookies }

// CSRF is the CSRF rule of w (its key and form field).
func (w *Web) CSRF() *CSRF { return w.csrf }

// webState is what Load leaves in the request context.
type webState struct {
	web *Web
	id  *session.Identity // nil: no session

	mu   sync.Mutex
	sess *session.Session // the session as last read or written in this request
}

type webKey struct{}

func stateOf(r *http.Request) *webState {
	st, _ := r.Context().Value(webKey{}).(*webState)
	return st
}

// Load is the middleware that loads the session from the cookies. A valid
// access cookie identifies the request (FromContext) without a store read.
// When the access cookie is missing, expired or otherwise not good and the
// refresh cookie is valid, Load refreshes the session in-band: it rotates
// the refresh token and sets the new cookies in the response header before
// the handler runs, so a page left open past the access token's lifetime
// keeps working on the next navigation or form post, with no JavaScript.
// Several requests of one page that refresh the same token at once all get
// the same new tokens (the refresh grace window).
//
// A request without a usable session goes on anonymous, its stale cookies
// cleared (use Require to refuse it). An unsafe request (not GET, HEAD or
// OPTIONS) of a session must carry its CSRF token, in the X-CSRF-Token
// header or the form field (CSRFField); without it OnError answers 403. A
// store that fails during a refresh is 503, and the cookies are kept.
//
// Load reads cookies only: an Authorization header is not looked at (an
// API beside the pages uses Auth). Serve static assets outside it: they
// need no session, and each would otherwise refresh on its own after
// expiry.
//
// The handler gets the ResponseWriter Load was given, unwrapped, so
// http.ResponseController (Flush, deadlines, full duplex) works as it does
// without Load. Wrap the application in http.CrossOriginProtection as well.
func (w *Web) Load(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if stateOf(r) != nil { // loaded already (Require inside Load)
			next.ServeHTTP(rw, r)
			return
		}
		st := &webState{web: w}
		id, err := w.load(rw, r, st)
		if err != nil {
			w.log.ErrorContext(r.Context(), "httpauth: web: refresh failed", "err", err)
			w.fail(rw, r, http.StatusServiceUnavailable, CodeUnavailable)
			return
		}
		ctx := context.WithValue(r.Context(), webKey{}, st)
		if id != nil {
			st.id = id
			ctx = withViaCookie(WithIdentity(ctx, id))
			if !SafeMethod(r.Method) {
				if err := w.csrf.Check(r, id.SessionID); err != nil {
					w.auditLog().Log(r.Context(), audit.Event{Kind: audit.CSRFRejected, SessionID: id.SessionID, UserID: id.UserID,
						UserAgent: r.UserAgent(), Reason: csrfReason(err)})
					w.fail(rw, r, http.StatusForbidden, CodeCSRFFailed)
					return
				}
			}
		}
		next.ServeHTTP(rw, r.WithContext(ctx))
	})
}

// load finds the request's identity: from the access cookie, or else by
// an in-band refresh with the refresh cookie. A nil identity with a nil
// error is an anonymous request; an error is a store failure.
func (w *Web) load(rw http.ResponseWriter, r *http.Request, st *webState) (*session.Identity, error) {
	if at := w.cookies.AccessToken(r); at != "" {
		id, err := w.m.Verify(r.Context(), at)
		if err == nil {
			return id, nil
		}
		if errors.Is(err, session.ErrRevoked) {
			w.cookies.Clear(rw)
			return nil, nil
		}
	}
	rt := w.cookies.RefreshToken(r)
	if rt == "" {
		if w.cookies.AccessToken(r) != "" {
			w.cookies.ClearAccess(rw)
		}
		return nil, nil
	}
	t, err := w.m.Refresh(r.Context(), rt, w.meta(r))
	if err != nil {
		if errors.Is(err, session.ErrInvalidToken) {
			w.cookies.Clear(rw) // expired, revoked, reused or forged: log in again
			return nil, nil
		}
		return nil, err
	}
	w.setCookies(rw, t)
	id, err := w.m.Verify(r.Context(), t.AccessToken)
	if err != nil {
		// Revoked between the refresh and now: anonymous.
		w.cookies.Clear(rw)
		return nil, nil
	}
	st.sess = t.Session
	return id, nil
}

// setCookies writes t's cookies, as browser-session cookies if the session
// was started so.
func (w *Web) setCookies(rw http.ResponseWriter, t *session.Tokens) {
	if browser, _, _ := session.Get[bool](t.Session, browserSessionKey); browser {
		w.cookies.SetBrowserSession(rw, t)
		return
	}
	w.cookies.Set(rw, t, w.m.Now())
}

func (w *Web) meta(r *http.Request) session.Meta {
	return session.Meta{IP: w.clientIP.Of(r), UserAgent: r.UserAgent()}
}

// Require is Load that refuses a request without a session: it is sent to
// WebConfig.LoginURL, or else OnError answers 401 CodeUnauthorized.
func (w *Web) Require(next http.Handler) http.Handler {
	return w.Load(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if st := stateOf(r); st == nil || st.id == nil {
			if w.loginURL != "" {
				to := w.loginURL
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					sep := "?"
					if strings.Contains(to, "?") {
						sep = "&"
					}
					to += sep + "next=" + url.QueryEscape(r.URL.RequestURI())
				}
				http.Redirect(rw, r, to, http.StatusSeeOther)
				return
			}
			w.fail(rw, r, http.StatusUnauthorized, CodeUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	}))
}

func (w *Web) fail(rw http.ResponseWriter, r *http.Request, status int, code string) {
	if w.onError != nil {
		w.onError(rw, r, status, code)
		return
	}
	desc := ""
	switch code {
	case CodeUnauthorized:
		desc = "a session is required"
	case CodeCSRFFailed:
		desc = w.csrf.description()
	case CodeUnavailable:
		desc = "the session store is unavailable"
	}
	WriteError(rw, status, code, desc)
}

func (w *Web) auditLog() *audit.Logger { return w.m.Audit() }

// ErrNoSession: a Web method that needs the request's session was called
// for a request without one (not under Load, or anonymous), or the session
// has ended since its access token was issued (then the error also wraps
// session.ErrNotFound, ErrRevoked or ErrExpired): treat the visitor as
// logged out. Any other error is the store's (session.ErrStore).
var ErrNoSession = errors.New("httpauth: the request has no session")

// noSession marks an error that says the session is gone as ErrNoSession.
func noSession(err error) error {
	if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrRevoked) || errors.Is(err, session.ErrExpired) {
		return fmt.Errorf("%w: %w", ErrNoSession, err)
	}
	return err
}

// Login starts a session for userID, whom the caller has just
// authenticated, and sets its cookies in rw's header: persistent ones if
// remember, else browser-session cookies (no Max-Age) and a session that
// ends after WebConfig.BrowserSessionLifetime. A session the request
// already had is ended first. It is Start with a Grant of only the user.
func (w *Web) Login(rw http.ResponseWriter, r *http.Request, userID string, remember bool) (*session.Session, error) {
	return w.Start(rw, r, session.Grant{UserID: userID}, remember)
}

// Start is Login with a full Grant (AMR, claims, auth time). Meta left
// empty is filled from the request (client IP and User-Agent). A grant
// that is not remembered gets the browser-session lifetime unless it asks
// for a shorter one. Errors are Manager.Start's; nothing is set then.
func (w *Web) Start(rw http.ResponseWriter, r *http.Request, g session.Grant, remember bool) (*session.Session, error) {
	if g.Meta == (session.Meta{}) {
		g.Meta = w.meta(r)
	}
	if !remember && (g.AbsoluteTimeout == 0 || g.AbsoluteTimeout > w.lifetime) {
		g.AbsoluteTimeout = w.lifetime
	}
	t, err := w.m.Start(r.Context(), g)
	if err != nil {
		return nil, err
	}
	if !remember {
		s, err := w.m.Update(r.Context(), t.Session.ID, func(s *session.Session) error { return s.Set(browserSessionKey, true) })
		if err != nil {
			_ = w.m.RevokeFor(r.Context(), t.Session.ID, "login not completed")
			return nil, err
		}
		t.Session = s
	}
	if st := stateOf(r); st != nil && st.id != nil {
		if err := w.m.RevokeFor(r.Context(), st.id.SessionID, "replaced by a new login"); err != nil {
			w.log.WarnContext(r.Context(), "httpauth: web: could not end the session a login replaced", "err", err)
		}
	}
	w.setCookies(rw, t)
	return t.Session, nil
}

// Logout ends the request's session and deletes its cookies. A request
// without a session only gets its cookies deleted.
func (w *Web) Logout(rw http.ResponseWriter, r *http.Request) error {
	w.cookies.Clear(rw)
	st := stateOf(r)
	if st == nil || st.id == nil {
		return nil
	}
	return w.m.Logout(r.Context(), st.id.SessionID)
}

// Renew gives the request's session a new id, as after a change of
// privilege (the user proved a second factor, became an administrator):
// a new session with the same user, authentication (method, AMR, auth
// time), claims, application data and absolute expiry, and the request's
// client IP and User-Agent, whose cookies are set in rw's
// header, while the old session is ended (its tokens are refused at once).
// change, if not nil, may amend the new session's grant first (new AMR or
// claims, a new AuthTime). The request's own context still names the old
// session: redirect after it.
func (w *Web) Renew(rw http.ResponseWriter, r *http.Request, change func(*session.Grant)) (*session.Session, error) {
	st := stateOf(r)
	if st == nil || st.id == nil {
		return nil, ErrNoSession
	}
	old, err := w.m.Get(r.Context(), st.id.SessionID)
	if err != nil {
		return nil, noSession(err)
	}
	left := old.AbsExpiresAt.Sub(w.m.Now())
	if left <= 0 {
		return nil, session.ErrExpired
	}
	g := session.Grant{
		UserID:          old.UserID,
		Meta:            session.Meta{IP: w.clientIP.Of(r), UserAgent: r.UserAgent(), AuthMethod: old.AuthMethod},
		AMR:             old.AMR,
		AuthTime:        old.AuthTime,
		Claims:          old.Claims,
		AbsoluteTimeout: left,
	}
	if change != nil {
		change(&g)
	}
	t, err := w.m.Start(r.Context(), g)
	if err != nil {
		return nil, err
	}
	s, err := w.m.Update(r.Context(), t.Session.ID, func(s *session.Session) error {
		for _, k := range old.Keys() {
			v, _, err := session.Get[json.RawMessage](old, k)
			if err != nil {
				return err
			}
			if err := s.Set(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = w.m.RevokeFor(r.Context(), t.Session.ID, "renewal not completed")
		return nil, err
	}
	if err := w.m.RevokeFor(r.Context(), old.ID, "renewed"); err != nil {
		_ = w.m.RevokeFor(r.Context(), t.Session.ID, "renewal not completed")
		return nil, err
	}
	t.Session = s
	w.setCookies(rw, t)
	return s, nil
}

// Session returns the request's session with its application data (a
// store read the first time in a request; later calls, and Update, keep
// it current). ErrNoSession if the request has none or it has ended.
func (w *Web) Session(r *http.Request) (*session.Session, error) {
	st := stateOf(r)
	if st == nil || st.id == nil {
		return nil, ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sess != nil {
		return st.sess, nil
	}
	s, err := w.m.Get(r.Context(), st.id.SessionID)
	if err != nil {
		return nil, noSession(err)
	}
	st.sess = s
	return s, nil
}

// Update changes the request's session data with Manager.Update
// (compare-and-set on a fresh copy, fn run again if another request wrote
// in between) and returns the session as written.
func (w *Web) Update(r *http.Request, fn func(*session.Session) error) (*session.Session, error) {
	st := stateOf(r)
	if st == nil || st.id == nil {
		return nil, ErrNoSession
	}
	s, err := w.m.Update(r.Context(), st.id.SessionID, fn)
	if err != nil {
		return nil, noSession(err)
	}
	st.mu.Lock()
	st.sess = s
	st.mu.Unlock()
	return s, nil
}

// AddFlash adds a message to show once on the session's next page
// (PopFlash), e.g. after the redirect that follows a form post. Inside an
// Update of its own, use AppendFlash.
func (w *Web) AddFlash(r *http.Request, msg string) error {
	_, err := w.Update(r, func(s *session.Session) error { return AppendFlash(s, msg) })
	return err
}

// AppendFlash adds msg to the flash messages of s, for a caller already
// inside Manager.Update or Web.Update.
func AppendFlash(s *session.Session, msg string) error {
	msgs, _, err := session.Get[[]string](s, FlashKey)
	if err != nil {
		return err
	}
	return s.Set(FlashKey, append(msgs, msg))
}

// errNoFlash stops an Update that has nothing to write.
var errNoFlash = errors.New("no flash")

// PopFlash returns the session's flash messages and removes them, so each
// is shown once, even to two requests that pop at the same moment (the
// removal is a compare-and-set). With none it writes nothing. A request
// without a session has none.
func (w *Web) PopFlash(r *http.Request) ([]string, error) {
	s, err := w.Session(r)
	if errors.Is(err, ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, ok, _ := session.Get[[]string](s, FlashKey); !ok {
		return nil, nil
	}
	var msgs []string
	_, err = w.Update(r, func(s *session.Session) error {
		var ok bool
		var err error
		if msgs, ok, err = session.Get[[]string](s, FlashKey); !ok {
			return errNoFlash // popped by another request meanwhile
		} else if err != nil {
			return err
		}
		s.Delete(FlashKey)
		return nil
	})
	if errors.Is(err, errNoFlash) || errors.Is(err, ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return msgs, nil
}

// CSRFToken returns the CSRF token of the request's session, for a page
// to send in the X-CSRF-Token header or a form field; "" without a session
// (or outside Web.Load).
func CSRFToken(r *http.Request) string {
	st := stateOf(r)
	if st == nil || st.id == nil {
		return ""
	}
	return st.web.csrf.Token(st.id.SessionID)
}

// CSRFField returns the hidden form field that carries the CSRF token of
// the request's session, for a template to put in every form that posts:
// <input type="hidden" name="csrf_token" value="...">. It is empty without
// a session (or outside Web.Load).
func CSRFField(r *http.Request) template.HTML {
	st := stateOf(r)
	if st == nil || st.id == nil {
		return ""
	}
	return template.HTML(`<input type="hidden" name="` + template.HTMLEscapeString(st.web.csrf.FormField) +
		`" value="` + template.HTMLEscapeString(st.web.csrf.Token(st.id.SessionID)) + `">`)
}
