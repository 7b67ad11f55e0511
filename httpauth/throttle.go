package httpauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"time"

	"github.com/sessiond/sessiond/ratelimit"
)

// LoginThrottle limits login attempts per client IP and per account, so
// neither one address spraying many accounts nor many addresses hammering
// one account get far. Safe for concurrent use once configured.
type LoginThrottle struct {
	Limiter ratelimit.Limiter
	// PerIP defaults to 20 attempts a minute with a burst of 10.
	PerIP ratelimit.Limit
	// PerAccount defaults to 10 attempts a minute with a burst of 5.
	PerAccount ratelimit.Limit
}

// Default login limits.
var (
	DefaultLoginPerIP      = ratelimit.Limit{Rate: 20, Period: time.Minute, Burst: 10}
	DefaultLoginPerAccount = ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 5}
)

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

// Allow counts one attempt for ip (IPv6 by its /64) and account (a
// normalised email, hashed so the limiter's keys hold no address) and reports whether it may go on,
// and if not, when to retry. A failing limiter fails closed.
func (t *LoginThrottle) Allow(ctx context.Context, ip, account string) (ok bool, retry time.Duration, err error) {
	if t == nil || t.Limiter == nil {
		return true, 0, nil
	}
	perIP, perAcct := t.PerIP, t.PerAccount
	if perIP.Rate == 0 {
		perIP = DefaultLoginPerIP
	}
	if perAcct.Rate == 0 {
		perAcct = DefaultLoginPerAccount
	}
	d, err := t.Limiter.Allow(ctx, "login-ip:"+IPKey(ip), perIP)
	if err != nil {
		return false, 0, fmt.Errorf("login throttle: %w", err)
	}
	if !d.Allowed {
		return false, d.RetryAfter, nil
	}
	if account == "" {
		return true, 0, nil
	}
	h := sha256.Sum256([]byte(account))
	d, err = t.Limiter.Allow(ctx, "login-acct:"+base64.RawURLEncoding.EncodeToString(h[:16]), perAcct)
	if err != nil {
		return false, 0, fmt.Errorf("login throttle: %w", err)
	}
	if !d.Allowed {
		return false, d.RetryAfter, nil
	}
	return true, 0, nil
}
