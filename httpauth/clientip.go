package httpauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address of the client. X-Forwarded-For is believed
// only when the direct peer is one of Trusted proxies, and then the
// right-most address that is not itself a trusted proxy is the client (the
// left part of the header is whatever the client chose to send). The zero
// value trusts no proxy and uses the peer address. Safe for concurrent use.
type ClientIP struct {
	Trusted []netip.Prefix
}

// ParseTrusted parses a comma-separated list of CIDRs or addresses.
func ParseTrusted(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (c ClientIP) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Of returns the client's address for r, as a string ("" if unknown).
func (c ClientIP) Of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	peer = peer.Unmap()
	if len(c.Trusted) == 0 || !c.trusted(peer) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		for p := range strings.SplitSeq(h, ",") {
			all = append(all, strings.TrimSpace(p))
		}
	}
	for i := len(all) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(all[i])
		if err != nil {
			break // garbage: stop believing the header here
		}
		a = a.Unmap()
		if !c.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}
