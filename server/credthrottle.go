package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
)

// DefaultCredentialFailures is how many wrong admin tokens or client
// credentials one client address may present: 10 a minute, all of them at
// once (burst 9), then one every 6 s.
var DefaultCredentialFailures = ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 9}

// maxBlocked caps the addresses a node remembers as blocked. Past it (an
// attack from that many addresses at once) a new address is not blocked
// outright, but each of its failures still counts and is refused.
const maxBlocked = 100_000

// credThrottle throttles wrong admin tokens and client credentials per
// client address (IPv6 by its /64). The shared limiter counts failures
// only, so a busy client that authenticates right is never slowed. Once the
// limiter refuses a failure, the address is refused outright, right
// credentials included, until the limiter would allow a failure again:
// otherwise guessing would go on behind the 429s, the right guess still
// answered 200. That block is kept by the node that saw the refusal; the
// count behind it is the limiter's, shared by all nodes.
type credThrottle struct {
	limiter ratelimit.Limiter
	limit   ratelimit.Limit
	now     func() time.Time

	mu      sync.Mutex
	blocked map[string]time.Time // address key → blocked until
}

// retryAfter is how long ip stays blocked; 0 when it is not.
func (t *credThrottle) retryAfter(ip string) time.Duration {
	k := httpauth.IPKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.blocked[k]
	if !ok {
		return 0
	}
	if d := until.Sub(t.now()); d > 0 {
		return d
	}
	delete(t.blocked, k)
	return 0
}

// failed counts one failure of ip and returns how long ip is now blocked
// (0: it may go on failing). A limiter error is returned as is.
func (t *credThrottle) failed(ctx context.Context, ip string) (time.Duration, error) {
	k := httpauth.IPKey(ip)
	d, err := t.limiter.Allow(ctx, "cred-fail:"+k, t.limit)
	if err != nil || d.Allowed {
		return 0, err
	}
	retry := max(d.RetryAfter, time.Second)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.blocked) >= maxBlocked {
		for key, until := range t.blocked {
			if !until.After(now) {
				delete(t.blocked, key)
			}
		}
	}
	if len(t.blocked) < maxBlocked {
		t.blocked[k] = now.Add(retry)
	}
	return retry, nil
}

// credentialsBlocked answers 429 with Retry-After and reports true when
// ip is blocked for failed authentications. Nothing is logged: the block
// began with one ratelimit.throttled line.
func (s *Server) credentialsBlocked(w http.ResponseWriter, ip string) bool {
	retry := s.creds.retryAfter(ip)
	if retry <= 0 {
		return false
	}
	httpauth.WriteRetryAfter(w, retry, "too many failed authentications from this address; retry later")
	return true
}

// credentialsFailed records a wrong admin token or client credential from
// ip: an audit line of kind (client: the client id given) and refuse, the
// normal answer, while under the limit; once over it, one
// ratelimit.throttled line (Reason: the path, Count: the seconds blocked)
// and 429. A limiter that fails answers 503 (fail closed).
func (s *Server) credentialsFailed(w http.ResponseWriter, r *http.Request, ip string, kind audit.Kind, client string, refuse func()) {
	retry, err := s.creds.failed(r.Context(), ip)
	switch {
	case err != nil:
		s.log.ErrorContext(r.Context(), "credential throttle failed", "err", err)
		httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable, "rate limiter unavailable")
	case retry > 0:
		s.audit.Log(r.Context(), audit.Event{Kind: audit.Throttled, IP: ip, UserID: client, Reason: r.URL.Path, Count: int((retry + time.Second - 1) / time.Second)})
		httpauth.WriteRetryAfter(w, retry, "too many failed authentications from this address; retry later")
	default:
		s.audit.Log(r.Context(), audit.Event{Kind: kind, IP: ip, UserID: client, UserAgent: r.UserAgent(), Reason: r.URL.Path})
		refuse()
	}
}
