package server

import (
	"fmt"

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
