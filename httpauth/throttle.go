package httpauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

// LoginThrottle slows down password guessing without letting anyone lock
// the owner of an account out. It follows OWASP's "Slow Down Online
// Guessing Attacks with Device Cookies" and counts failed password checks,
// never successes, with an exponential back-off instead of a lockout:
//
//   - Every attempt from an address counts against PerIP (GCRA), so one
//     address cannot spray many accounts. Attempts that carry a valid
//     device cookie for the account they try count in a limit of their
//     own, the same PerIP, that the attempts without one cannot drain: a
//     flood from the owner's network does not keep the owner's browser
//     out.
//   - An attempt with a valid device cookie for its account (see
//     DeviceCookies: a browser that logged in to that account before) is
//     judged by the failures of that device only (PerDevice). Guessing
//     elsewhere, from however many addresses, does not slow it down.
//   - Any other attempt is judged by the failures of its (account, client
//     address) pair (PerClient; IPKey, so an IPv6 /64 is one address) and
//     by those of the account as a whole (PerAccount). A pair adds to the
//     account's count only the failures within its own free allowance, so
//     one address alone cannot put the account into back-off: after 20
//     failures from one address the owner logs in at once from another.
//     Guessing spread over many addresses still slows every attempt on the
//     account that has no device cookie.
//
// A wait is a 429 with Retry-After: the attempt is refused before any
// password is checked (so it costs no hashing), whatever its password. A
// failing limiter fails closed (an error; servers answer 503).
//
// Check judges an attempt before the password is checked; Failed and
// Succeeded record its outcome. Other password checks (re-authentication,
// a password change) use the same three calls with the account's email,
// so that guessing through them is slowed alike.
//
// The zero value limits nothing (no Limiter). Fields are read on every
// call: set them before first use. Safe for concurrent use.
type LoginThrottle struct {
	// Limiter counts attempts per address (PerIP). Nil: no throttling.
	Limiter ratelimit.Limiter
	// Failures counts failed password checks. Nil: Limiter itself when it
	// is a ratelimit.FailureLimiter (ratelimit.Memory and the Redis limiter
	// are), else a ratelimit.Memory of this process.
	Failures ratelimit.FailureLimiter
	// PerIP limits the attempts from one address (IPv6 by its /64): those
	// without a device, and apart those with one. Default
	// DefaultLoginPerIP.
	PerIP ratelimit.Limit
	// PerClient is the back-off of the failures of one account from one
	// address. Default DefaultLoginPerClient.
	PerClient ratelimit.Backoff
	// PerAccount is the back-off of the failures of one account from
	// every address, of attempts without a valid device cookie, counting
	// from each address at most PerClient.Free of them. Default
	// DefaultLoginPerAccount.
	PerAccount ratelimit.Backoff
	// PerDevice is the back-off of the failures of one device cookie.
	// Default DefaultLoginPerClient.
	PerDevice ratelimit.Backoff
	// Devices checks the device cookies of attempts (AttemptOf). Nil: no
	// attempt has a device.
	Devices *DeviceCookies

	once     sync.Once
	fallback *ratelimit.Memory
}

// Default login limits. The back-offs are those of AWS Cognito that OWASP's
// testing guide cites (WSTG-ATHN-03): five failures free, then one second,
// doubling with each failure up to 15 minutes; a failure is forgotten 15
// minutes after the last, one at a time.
var (
	DefaultLoginPerIP      = ratelimit.Limit{Rate: 20, Period: time.Minute, Burst: 10}
	DefaultLoginPerClient  = ratelimit.Backoff{Free: 5, Base: time.Second, Max: 15 * time.Minute, Decay: 15 * time.Minute}
	DefaultLoginPerAccount = ratelimit.Backoff{Free: 20, Base: time.Second, Max: 15 * time.Minute, Decay: 15 * time.Minute}
)

// Rules of the throttle, as Verdict.Rule names them.
const (
	RuleAddress = "address" // PerIP: too many attempts from the address (with a device, or without)
	RuleClient  = "client"  // PerClient: too many failures of the account from the address
	RuleAccount = "account" // PerAccount: too many failures of the account, without a device cookie
	RuleDevice  = "device"  // PerDevice: too many failures of the device
)

// Attempt is one password check as the throttle sees it.
type Attempt struct {
	// IP is the client's address (ClientIP.Of); the limits count IPKey of it.
	IP string
	// Account is the account tried: its normalised email, as a login names
	// it (for an email with no account too, so that the answers do not
	// tell). Empty: an attempt on no account (a signup), only PerIP applies.
	Account string
	// Device is the device of a valid device cookie for Account
	// (DeviceCookies.Device); empty if the attempt has none.
	Device string
}

// Verdict is the throttle's answer to an attempt.
type Verdict struct {
	// OK says whether the password may be checked now.
	OK bool
	// RetryAfter is, when not OK, how long until the attempt would be.
	RetryAfter time.Duration
	// Rule names the rule that refused (RuleAddress, ...); "" when OK.
	Rule string
}

// IPKey is what a per-address limit counts: an IPv4 address, or the /64 of an
// IPv6 one (a single host is commonly handed a whole /64, and would
// otherwise get a fresh limit for every address it picks from it). Anything
// that is not an address is counted as given.
func IPKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// AttemptOf returns the Attempt of a request from ip on account, with the
// device of its device cookie if it carries a valid one for account.
func (t *LoginThrottle) AttemptOf(r *http.Request, ip, account string) Attempt {
	a := Attempt{IP: ip, Account: account}
	if t != nil && account != "" {
		a.Device = t.Devices.Device(r, account)
	}
	return a
}

// Allow is Check of an attempt without a device cookie: it counts one
// attempt for ip and reports whether account (a normalised email; ""
// for none) may have its password checked, and if not, when to retry.
func (t *LoginThrottle) Allow(ctx context.Context, ip, account string) (ok bool, retry time.Duration, err error) {
	v, err := t.Check(ctx, Attempt{IP: ip, Account: account})
	return v.OK, v.RetryAfter, err
}

// Check judges an attempt before its password is checked: it counts the
// attempt against PerIP (that of attempts with a device, if it has one),
// and reports whether the back-offs that apply to it let it go now. A
// refused attempt must not have its password checked. A failing limiter
// is an error (fail closed).
func (t *LoginThrottle) Check(ctx context.Context, a Attempt) (Verdict, error) {
	if t == nil || t.Limiter == nil {
		return Verdict{OK: true}, nil
	}
	if a.Device != "" && a.Account != "" {
		// Attempts with a device count per address too, apart from the
		// others, which cannot drain this limit.
		d, err := t.Limiter.Allow(ctx, "login-ip-dev:"+IPKey(a.IP), orDefault(t.PerIP, DefaultLoginPerIP))
		if err != nil {
			return Verdict{}, fmt.Errorf("login throttle: %w", err)
		}
		if !d.Allowed {
			return Verdict{RetryAfter: d.RetryAfter, Rule: RuleAddress}, nil
		}
		return t.Recheck(ctx, a)
	}
	d, err := t.Limiter.Allow(ctx, "login-ip:"+IPKey(a.IP), orDefault(t.PerIP, DefaultLoginPerIP))
	if err != nil {
		return Verdict{}, fmt.Errorf("login throttle: %w", err)
	}
	if !d.Allowed {
		return Verdict{RetryAfter: d.RetryAfter, Rule: RuleAddress}, nil
	}
	return t.Recheck(ctx, a)
}

// Recheck judges an attempt by the back-offs alone, counting nothing: for
// an attempt that Check let through and that then waited, for a hashing
// slot say (account.WithAdmission), while the failures of the attempts
// ahead of it were recorded. Without it a flood of attempts that all
// passed Check before the first failed would all be hashed.
func (t *LoginThrottle) Recheck(ctx context.Context, a Attempt) (Verdict, error) {
	if t == nil || t.Limiter == nil || a.Account == "" {
		return Verdict{OK: true}, nil
	}
	f := t.failures()
	if a.Device != "" {
		w, err := f.Blocked(ctx, deviceKey(a.Device))
		if err != nil {
			return Verdict{}, fmt.Errorf("login throttle: %w", err)
		}
		if w > 0 {
			return Verdict{RetryAfter: w, Rule: RuleDevice}, nil
		}
		return Verdict{OK: true}, nil
	}
	acct := accountKey(a.Account)
	wc, err := f.Blocked(ctx, clientKey(acct, a.IP))
	if err != nil {
		return Verdict{}, fmt.Errorf("login throttle: %w", err)
	}
	wa, err := f.Blocked(ctx, "login-fail-acct:"+acct)
	if err != nil {
		return Verdict{}, fmt.Errorf("login throttle: %w", err)
	}
	switch {
	case wc > 0 && wc >= wa:
		return Verdict{RetryAfter: wc, Rule: RuleClient}, nil
	case wa > 0:
		return Verdict{RetryAfter: wa, Rule: RuleAccount}, nil
	}
	return Verdict{OK: true}, nil
}

// Failed records that the password of an attempt Check let through was
// wrong (or its account unknown): one failure of its device, or of its
// (account, address) pair and, while that pair is within its free
// allowance, of its account. It reports the wait the attempt's own rule
// now imposes (0: none), for a caller that wants to say so.
func (t *LoginThrottle) Failed(ctx context.Context, a Attempt) (time.Duration, error) {
	if t == nil || t.Limiter == nil || a.Account == "" {
		return 0, nil
	}
	f := t.failures()
	if a.Device != "" {
		fl, err := f.Fail(ctx, deviceKey(a.Device), orDefault(t.PerDevice, DefaultLoginPerClient))
		if err != nil {
			return 0, fmt.Errorf("login throttle: %w", err)
		}
		return fl.RetryAfter, nil
	}
	acct := accountKey(a.Account)
	pc := orDefault(t.PerClient, DefaultLoginPerClient)
	fl, err := f.Fail(ctx, clientKey(acct, a.IP), pc)
	if err != nil {
		return 0, fmt.Errorf("login throttle: %w", err)
	}
	if fl.Count <= pc.Free {
		if _, err := f.Fail(ctx, "login-fail-acct:"+acct, orDefault(t.PerAccount, DefaultLoginPerAccount)); err != nil {
			return 0, fmt.Errorf("login throttle: %w", err)
		}
	}
	return fl.RetryAfter, nil
}

// Succeeded records that the password of an attempt was right: the
// failures of its device, or of its (account, address) pair, are
// forgotten. The account's own count is not: it only decays, so that an
// owner's logins do not hand guessers elsewhere a fresh allowance.
func (t *LoginThrottle) Succeeded(ctx context.Context, a Attempt) error {
	if t == nil || t.Limiter == nil || a.Account == "" {
		return nil
	}
	key := clientKey(accountKey(a.Account), a.IP)
	if a.Device != "" {
		key = deviceKey(a.Device)
	}
	if err := t.failures().Forget(ctx, key); err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	return nil
}

func (t *LoginThrottle) failures() ratelimit.FailureLimiter {
	if t.Failures != nil {
		return t.Failures
	}
	if f, ok := t.Limiter.(ratelimit.FailureLimiter); ok {
		return f
	}
	t.once.Do(func() { t.fallback = ratelimit.NewMemory(nil) })
	return t.fallback
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// accountKey is the account as the limiter's keys hold it: hashed, so that
// they hold no email address.
func accountKey(account string) string {
	h := sha256.Sum256([]byte(account))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func clientKey(acct, ip string) string { return "login-fail-client:" + acct + ":" + IPKey(ip) }

func deviceKey(device string) string { return "login-fail-dev:" + device }
