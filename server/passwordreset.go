package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/mail"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
)

// Password reset by mail:
//
//   - POST /v1/password/forgot {"email"} answers 202 {} whether or not an
//     account has the email, after the same work (the lookup, a token and
//     its hash: account.Service.PrepareReset). For an account, the token is
//     stored and the mail sent later, by the node's mail Outbox, so the
//     answer waits on neither the store write nor SMTP; a full queue or a
//     failed delivery is logged, never told. Throttled per client address
//     and per email. Without a Mailer it answers 403: reset by mail is off,
//     and an operator issues links (sessiond users reset-link).
//   - POST /v1/password/reset {"token","new_password"} sets the password
//     (account.Service.ResetPassword: once, and not after the password
//     changed), then ends every session of the user, at once on every node
//     (session.Manager.RevokeUser): 200 {"revoked": N}.
//
// The link is <public URL>/ui/reset#token=...: the token travels in the
// URL's fragment, which a browser never sends to a server, so it reaches
// no access log, no proxy and no Referer; the page reads it from there and
// posts it in a JSON body.

// Default limits of the password-reset routes.
var (
	// DefaultResetRequestsPerIP: 10 requests for reset links at once from
	// one client address, then one every 3 minutes.
	DefaultResetRequestsPerIP = ratelimit.Limit{Rate: 20, Period: time.Hour, Burst: 9}
	// DefaultResetRequestsPerEmail: 3 reset links for one email at once,
	// then one every 20 minutes (each is a mail in someone's inbox).
	DefaultResetRequestsPerEmail = ratelimit.Limit{Rate: 3, Period: time.Hour, Burst: 2}
	// DefaultResetUsesPerIP: 10 uses of reset links at once from one
	// client address (a refused new password counts), then one every 2
	// minutes.
	DefaultResetUsesPerIP = ratelimit.Limit{Rate: 30, Period: time.Hour, Burst: 9}
)

// ResetPagePath is the page a reset link opens.
const ResetPagePath = "/ui/reset"

// PublicBase returns the base URL of links to this server: publicURL, or
// else issuer when it is an http(s) URL, without a trailing slash; "" when
// neither is one. publicURL must be an absolute http(s) URL without query
// or fragment, https unless its host is a loopback one (node.ErrConfig
// otherwise).
func PublicBase(publicURL, issuer string) (string, error) {
	if publicURL == "" {
		u, err := url.Parse(issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "", nil
		}
		publicURL = issuer
	}
	u, err := url.Parse(publicURL)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: public URL %q does not parse", node.ErrConfig, publicURL)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return "", fmt.Errorf("%w: public URL %q: want an absolute https URL (https://auth.example.com)", node.ErrConfig, publicURL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("%w: public URL %q: no query, fragment or user info", node.ErrConfig, publicURL)
	case u.Scheme == "http" && !loopbackName(u.Hostname()):
		return "", fmt.Errorf("%w: public URL %q: links to a host other than loopback must be https", node.ErrConfig, publicURL)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func loopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ResetLink is the link that opens the reset page for token, under base
// (see PublicBase): the token in the fragment.
func ResetLink(base, token string) string {
	return base + ResetPagePath + "#token=" + token
}

// resetLimits are the limits in force (Config's or the defaults).
type resetLimits struct{ perIP, perEmail, usesPerIP ratelimit.Limit }

func newResetLimits(cfg Config) resetLimits {
	pick := func(l, def ratelimit.Limit) ratelimit.Limit {
		if l.Rate == 0 {
			return def
		}
		return l
	}
	return resetLimits{
		perIP:     pick(cfg.ResetRequestsPerIP, DefaultResetRequestsPerIP),
		perEmail:  pick(cfg.ResetRequestsPerEmail, DefaultResetRequestsPerEmail),
		usesPerIP: pick(cfg.ResetUsesPerIP, DefaultResetUsesPerIP),
	}
}

// validateReset judges the reset settings of cfg.
func (cfg Config) validateReset() error {
	for name, l := range map[string]ratelimit.Limit{"reset requests per IP": cfg.ResetRequestsPerIP,
		"reset requests per email": cfg.ResetRequestsPerEmail, "reset uses per IP": cfg.ResetUsesPerIP} {
		if l.Rate != 0 {
			if err := l.Validate(); err != nil {
				return fmt.Errorf("%w: %s limit: %w", node.ErrConfig, name, err)
			}
		}
	}
	if cfg.MailFrom != "" {
		if err := mail.ValidFrom(cfg.MailFrom); err != nil {
			return fmt.Errorf("%w: mail from: %w", node.ErrConfig, err)
		}
	}
	if _, err := PublicBase(cfg.PublicURL, ""); err != nil {
		return err
	}
	return nil
}

// initReset sets up the reset routes of s: the link base and the sender
// when the node has an Outbox (both required then), else a log line that
// reset mails are off.
func (s *Server) initReset(cfg Config) error {
	s.reset = newResetLimits(cfg)
	if s.node.Outbox() == nil {
		s.log.Info("password reset by mail is off (no mailer, see --smtp-url): POST /v1/password/forgot answers 403; `sessiond users reset-link` issues links")
		return nil
	}
	base, err := PublicBase(cfg.PublicURL, s.node.Config().Issuer)
	if err != nil {
		return err
	}
	if base == "" {
		return fmt.Errorf("%w: reset mails need the server's public URL for their links (--public-url, or an https --issuer)", node.ErrConfig)
	}
	if cfg.MailFrom == "" {
		return fmt.Errorf("%w: reset mails need a sender (--mail-from)", node.ErrConfig)
	}
	s.resetBase = base
	return nil
}

// limited applies lim to key and writes the refusal if any: 429 with an
// audit event, or 503 when the limiter fails (fail closed).
func (s *Server) limited(w http.ResponseWriter, r *http.Request, key string, lim ratelimit.Limit, ip string) bool {
	d, err := s.node.Limiter().Allow(r.Context(), key, lim)
	if err != nil {
		s.log.ErrorContext(r.Context(), "rate limiter failed", "route", r.Pattern, "err", err)
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "rate limiter unavailable")
		return true
	}
	if !d.Allowed {
		s.audit.Log(r.Context(), audit.Event{Kind: audit.Throttled, IP: ip, Reason: r.URL.Path})
		httpauth.WriteRetryAfter(w, max(d.RetryAfter, time.Second), "too many attempts; slow down")
		return true
	}
	return false
}

type forgotRequest struct {
	Email string `json:"email"`
}

func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) {
	outbox := s.node.Outbox()
	if outbox == nil {
		httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeForbidden,
			"password reset by mail is not set up on this server; ask its operator for a reset link")
		return
	}
	var req forgotRequest
	if decode(w, r, &req) != nil {
		return
	}
	ip := s.clientIP.Of(r)
	email, err := account.NormalizeEmail(req.Email)
	if err != nil {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, strings.TrimPrefix(err.Error(), "account: "))
		return
	}
	if s.limited(w, r, "reset-ip:"+httpauth.IPKey(ip), s.reset.perIP, ip) ||
		s.limited(w, r, "reset-email:"+email, s.reset.perEmail, ip) {
		return
	}
	ri, err := s.accounts.PrepareReset(r.Context(), email)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev := audit.Event{Kind: audit.PasswordResetRequested, Account: email, IP: ip, UserAgent: r.UserAgent(), Reason: "no_account"}
	var msg *mail.Message
	if a := ri.Account; a != nil {
		ev.UserID, ev.Reason = a.ID, ""
		msg = s.resetMail(ri)
	}
	// The answer goes out first, the same either way; only then is the
	// mail queued, so that its work (the token's store write, SMTP), which
	// starts at once, never overlaps the answer.
	// (A Content-Length, so that the client has the whole answer at the
	// flush, not only when the handler returns.)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", "3")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "{}\n")
	_ = http.NewResponseController(w).Flush()
	if msg != nil {
		if !outbox.Post(msg, func(ctx context.Context) error { return s.accounts.SaveReset(ctx, ri) }, "password reset of user "+ri.Account.ID) {
			s.log.WarnContext(r.Context(), "mail queue full: a password-reset mail was dropped", "user", ri.Account.ID)
			ev.Reason = "queue_full"
		}
	}
	s.audit.Log(r.Context(), ev)
}

// resetMail is the mail that carries ri's link.
func (s *Server) resetMail(ri *account.ResetIssue) *mail.Message {
	now := s.now()
	link := ResetLink(s.resetBase, ri.Token)
	text := fmt.Sprintf(`Hello,

someone asked to reset the password of the account %s at %s.

To choose a new password, open this link within %s:

%s

The link works once. Setting a new password logs the account out on
every device.

If you did not ask for this, ignore this mail: the password stays as it
is.
`, ri.Account.Email, s.resetBase, humanDuration(ri.ExpiresAt.Sub(now)), link)
	return &mail.Message{From: s.cfg.MailFrom, To: ri.Account.Email, Subject: "Reset your password", Text: text, Date: now}
}

// humanDuration says d in minutes or hours, rounded to the minute.
func humanDuration(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m <= 1:
		return "a minute"
	case m < 120 || m%60 != 0:
		return fmt.Sprintf("%d minutes", m)
	}
	return fmt.Sprintf("%d hours", m/60)
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if decode(w, r, &req) != nil {
		return
	}
	switch {
	case req.Token == "":
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "token is required")
		return
	case req.NewPassword == "":
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "new_password is required")
		return
	}
	ip := s.clientIP.Of(r)
	if s.limited(w, r, "reset-use-ip:"+httpauth.IPKey(ip), s.reset.usesPerIP, ip) {
		return
	}
	acct, err := s.accounts.ResetPassword(r.Context(), req.Token, req.NewPassword)
	switch {
	case errors.Is(err, account.ErrInvalidResetToken):
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidGrant,
			"the reset link is invalid, expired or already used; ask for a new one")
		return
	case errors.Is(err, account.ErrInvalidPassword):
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, strings.TrimPrefix(err.Error(), "account: "))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	// The password is set: end every session even if the client has gone.
	ids, err := s.mgr.RevokeUser(context.WithoutCancel(r.Context()), acct.ID, "")
	if err != nil {
		s.log.ErrorContext(r.Context(), "password reset: the new password is set, but the sessions were not all ended", "user", acct.ID, "err", err)
		s.audit.Log(r.Context(), audit.Event{Kind: audit.PasswordReset, UserID: acct.ID, IP: ip, UserAgent: r.UserAgent(), Reason: "sessions_not_ended"})
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable,
			"the new password is set, but the session store failed before every session was ended; log in and log out everywhere")
		return
	}
	s.audit.Log(r.Context(), audit.Event{Kind: audit.PasswordReset, UserID: acct.ID, IP: ip, UserAgent: r.UserAgent(), Count: len(ids)})
	writeJSON(w, http.StatusOK, map[string]int{"revoked": len(ids)})
}
