package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
)

// LoginFailures are the back-offs of failed logins (httpauth.LoginThrottle
// has the rules). A zero field means its httpauth default.
type LoginFailures struct {
	// PerClient: the failures of one account from one client address.
	// Default httpauth.DefaultLoginPerClient.
	PerClient ratelimit.Backoff
	// PerAccount: the failures of one account from every address, of
	// attempts without a valid device cookie. Default
	// httpauth.DefaultLoginPerAccount.
	PerAccount ratelimit.Backoff
	// PerDevice: the failures of one device cookie. Default
	// httpauth.DefaultLoginPerClient.
	PerDevice ratelimit.Backoff
}

// validate refuses a back-off that is set but invalid.
func (f LoginFailures) validate() error {
	for _, b := range []struct {
		name string
		b    ratelimit.Backoff
	}{{"per client", f.PerClient}, {"per account", f.PerAccount}, {"per device", f.PerDevice}} {
		if b.b == (ratelimit.Backoff{}) {
			continue
		}
		if err := b.b.Validate(); err != nil {
			return fmt.Errorf("login failures %s: %w", b.name, err)
		}
	}
	return nil
}

// writeThrottled answers an attempt the login throttle refused: 429 with
// Retry-After, and one ratelimit.throttled line (Reason: the path and the
// rule; Count: the seconds to wait).
func (s *Server) writeThrottled(w http.ResponseWriter, r *http.Request, a httpauth.Attempt, v httpauth.Verdict) {
	s.audit.Log(r.Context(), audit.Event{Kind: audit.Throttled, IP: a.IP, Account: a.Account, Reason: r.URL.Path + ": " + v.Rule,
		Count: int((v.RetryAfter + time.Second - 1) / time.Second)})
	httpauth.WriteRetryAfter(w, v.RetryAfter, "too many attempts; slow down")
}

// passwordCheck returns the ctx to check the password of attempt under:
// its hashing slot is shared fairly by client address (and known browsers
// apart, account.WithClient); once it has one the throttle judges the
// attempt again (admission), and a wrong password is recorded with the
// throttle before the slot is given back (account.WithRejection). A
// failure that could not be recorded comes back as errThrottleDown beside
// account.ErrBadCredentials: the handler audits the wrong password, and
// refusedAfterWait, checked before any 401, answers it 503.
func (s *Server) passwordCheck(ctx context.Context, a httpauth.Attempt) context.Context {
	hc := account.HashClient{Key: httpauth.IPKey(a.IP), Known: a.Device != ""}
	ctx = account.WithRejection(ctx, func(ctx context.Context) error {
		if _, err := s.throttle.Failed(ctx, a); err != nil {
			return fmt.Errorf("%w: %w", errThrottleDown, err)
		}
		return nil
	})
	return s.admission(account.WithClient(ctx, hc), a)
}

// forgetFailures tells the throttle the password of attempt was right. A
// failure to is only logged: the check stands, and the client's earlier
// failures stay counted until they decay.
func (s *Server) forgetFailures(r *http.Request, a httpauth.Attempt) {
	if err := s.throttle.Succeeded(r.Context(), a); err != nil {
		s.log.WarnContext(r.Context(), "login throttle: could not forget the failures before a right password", "err", err)
	}
}

// errThrottleDown: the login throttle could not judge an attempt again
// once it got its turn to hash, or could not record its wrong password.
var errThrottleDown = errors.New("login throttle unavailable")

// refusedAgain is an attempt the login throttle refused once it got its
// turn to hash.
type refusedAgain struct{ v httpauth.Verdict }

func (e *refusedAgain) Error() string { return "login throttled after waiting: " + e.v.Rule }

// admission makes the hashing of a's password wait for the throttle's
// word once the attempt has its hashing slot (account.WithAdmission):
// attempts that waited behind others of the same account and address are
// refused without hashing once those failed.
func (s *Server) admission(ctx context.Context, a httpauth.Attempt) context.Context {
	return account.WithAdmission(ctx, func(ctx context.Context) error {
		v, err := s.throttle.Recheck(ctx, a)
		if err != nil {
			return fmt.Errorf("%w: %w", errThrottleDown, err)
		}
		if !v.OK {
			return &refusedAgain{v}
		}
		return nil
	})
}

// refusedAfterWait answers the errors of admission and rejection, if err
// is one: the throttle's refusal (429) or its failure (503).
func (s *Server) refusedAfterWait(w http.ResponseWriter, r *http.Request, a httpauth.Attempt, err error) bool {
	var again *refusedAgain
	switch {
	case errors.As(err, &again):
		s.writeThrottled(w, r, a, again.v)
		return true
	case errors.Is(err, errThrottleDown):
		s.log.ErrorContext(r.Context(), "login throttle failed", "err", err)
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "rate limiter unavailable")
		return true
	}
	return false
}
