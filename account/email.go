package account

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on an email address, from RFC 5321 section 4.5.3.1 (a path is at
// most 256 octets including the angle brackets, so an address is at most
// 254) and RFC 1035 (labels of at most 63 octets).
const (
	MaxEmailLen       = 254
	maxLocalPartLen   = 64
	maxDomainLabelLen = 63
)

// NormalizeEmail returns the canonical form of an email address, the form
// a Store keys accounts by, or an error wrapping ErrInvalidEmail.
//
// Surrounding white space is trimmed. The address must then be valid UTF-8
// without control characters or white space, contain exactly one '@' with
// a non-empty local part (at most 64 bytes) and a domain of dot-separated
// ASCII labels (letters, digits and inner hyphens; at most 63 bytes each).
// Internationalised domains must be given in their ASCII (punycode) form;
// address literals such as "[192.0.2.1]" are refused.
//
// The whole address is lowercased, local part included. RFC 5321 lets a
// mail server treat "Alice" and "alice" as different mailboxes, but almost
// none do, and for a login identifier treating them as two accounts invites
// confusion and impersonation ("Alice@x" signing up next to "alice@x").
// Lowercasing is simple case mapping (strings.ToLower), not Unicode case
// folding, and no other normalisation (no dot or "+tag" stripping) is done.
//
// The result is at most MaxEmailLen bytes, and NormalizeEmail of a result
// returns it unchanged.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidEmail)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidEmail)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("%w: contains white space or a control character", ErrInvalidEmail)
		}
	}
	s = strings.ToLower(s)
	if len(s) > MaxEmailLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidEmail, MaxEmailLen)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return "", fmt.Errorf("%w: no @", ErrInvalidEmail)
	}
	if strings.Contains(domain, "@") {
		return "", fmt.Errorf("%w: more than one @", ErrInvalidEmail)
	}
	if local == "" {
		return "", fmt.Errorf("%w: empty local part", ErrInvalidEmail)
	}
	if len(local) > maxLocalPartLen {
		return "", fmt.Errorf("%w: local part longer than %d bytes", ErrInvalidEmail, maxLocalPartLen)
	}
	if err := checkDomain(domain); err != nil {
		return "", err
	}
	// ToLower can map a rune to one that ToLower maps again only in
	// theory; check the fixed point so stored keys are canonical.
	if strings.ToLower(s) != s {
		return "", fmt.Errorf("%w: no stable lowercase form", ErrInvalidEmail)
	}
	return s, nil
}

// checkDomain accepts a lowercased domain of LDH labels (RFC 1123 host
// names). Hand-written because the standard library has no exported host
// name validator and golang.org/x/net/idna would bring IDNA, which we
// deliberately do not do.
func checkDomain(domain string) error {
	if domain == "" {
		return fmt.Errorf("%w: empty domain", ErrInvalidEmail)
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return fmt.Errorf("%w: empty label in domain %q", ErrInvalidEmail, domain)
		}
		if len(label) > maxDomainLabelLen {
			return fmt.Errorf("%w: domain label longer than %d bytes", ErrInvalidEmail, maxDomainLabelLen)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: domain label %q starts or ends with '-'", ErrInvalidEmail, label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c >= utf8.RuneSelf:
				return fmt.Errorf("%w: non-ASCII domain (give it in punycode, xn--...)", ErrInvalidEmail)
			default:
				return fmt.Errorf("%w: character %q not allowed in domain", ErrInvalidEmail, c)
			}
		}
	}
	return nil
}
