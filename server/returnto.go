package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sessiond/sessiond/node"
)

// errReturnTo is why a return_to is refused; its text is said to the
// client, so it names the rule and never echoes the refused value.
var errReturnTo = errors.New("return_to refused")

// maxReturnTo bounds a return_to, in bytes: a URL longer than this is no
// page of a site, and would only bloat the login URL that carries it.
const maxReturnTo = 2048

// returnOrigins is the set of origins ("https://app.example.com", as
// originOf spells them) an absolute return_to may name: Config.ReturnToOrigins.
//
// The login page (/ui/login, /ui/continue) and the in-band refresh
// (/v1/refresh/redirect) send the browser to a return_to after they are
// done. Unchecked, that is an open redirect: a link to sessiond's login page
// that ends on an attacker's look-alike. So a return_to is one of two things
// and nothing else:
//
//   - a path on the origin the browser is on: it starts with exactly one
//     '/' ("//evil.com" is another host to a browser, and so is "/\evil.com",
//     because browsers read '\' as '/');
//   - an absolute http or https URL whose scheme, host and port are exactly
//     one of the configured origins, with no userinfo.
//
// Either way it is printable ASCII with no space and no backslash: browsers
// drop tabs and newlines inside URLs and read '\' as '/', so a character this
// check would not see could change where the browser goes. A real page's
// URL percent-encodes all of them.
type returnOrigins map[string]bool

// parseReturnOrigins checks the configured origins: each an http or https
// origin with nothing after the host and port but an optional '/'.
func parseReturnOrigins(list []string) (returnOrigins, error) {
	out := returnOrigins{}
	for _, o := range list {
		u, err := url.Parse(o)
		if err != nil {
			return nil, fmt.Errorf("%w: return-to origin %q: %w", node.ErrConfig, o, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
			return nil, fmt.Errorf("%w: return-to origin %q: want scheme://host[:port], http or https, and nothing else", node.ErrConfig, o)
		}
		if err := checkAuthority(u.Host); err != nil {
			return nil, fmt.Errorf("%w: return-to origin %q: %w", node.ErrConfig, o, err)
		}
		out[originOf(u)] = true
	}
	return out, nil
}

// originOf is the origin of an absolute URL as the allowlist compares it:
// the scheme, the host in lower case, and the port unless it is the
// scheme's default.
func originOf(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host
}

// checkAuthority refuses a host[:port] with anything but letters, digits,
// '.', '-', ':' and the brackets of an IPv6 address: no '%' escape, no '@'
// of userinfo, no character a browser would read differently.
func checkAuthority(a string) error {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return errors.New("the host may hold only letters, digits, '.', '-', and a port")
		}
	}
	return nil
}

// check returns raw if it is a return_to the browser may be sent to (see
// returnOrigins), else an error wrapping errReturnTo that says which rule
// it broke.
func (o returnOrigins) check(raw string) (string, error) {
	refuse := func(why string) (string, error) { return "", fmt.Errorf("%w: %s", errReturnTo, why) }
	switch {
	case raw == "":
		return refuse("empty")
	case len(raw) > maxReturnTo:
		return refuse(fmt.Sprintf("longer than %d bytes", maxReturnTo))
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return refuse("it may hold only printable ASCII, with no space and no backslash (percent-encode them)")
		}
	}
	if raw[0] == '/' {
		if len(raw) > 1 && raw[1] == '/' {
			return refuse("a path must start with a single '/' (\"//\" names another host)")
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return refuse("not a valid path")
		}
		return raw, nil
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return refuse("want a path starting with '/' or an http(s) URL of an allowed origin")
	}
	if s := strings.ToLower(scheme); s != "http" && s != "https" {
		return refuse("only http and https URLs")
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if strings.Contains(authority, "@") {
		return refuse("a URL with userinfo")
	}
	if checkAuthority(authority) != nil {
		return refuse("the host may hold only letters, digits, '.', '-', and a port")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil {
		return refuse("not a valid URL")
	}
	if !o[originOf(u)] {
		return refuse("its origin is not one of --return-to-origins")
	}
	return raw, nil
}
