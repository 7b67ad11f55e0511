package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// Verifier checks access tokens issued by a KeyRing. Every field is pinned:
// there is no option to skip a check. A Verifier is safe for concurrent use
// once configured, and must not be copied after its first use; its zero
// value (no Keys, Issuer, Audience) refuses every token.
type Verifier struct {
	// Keys is the ring whose keys verify tokens. The key named by the
	// header's kid decides the algorithm.
	Keys *KeyRing
	// Issuer must equal the token's iss exactly. Required.
	Issuer string
	// Audience must be one of the token's aud values. Required.
	Audience string
	// Leeway is the allowed clock skew for exp and iat. 0 (or negative)
	// means 30s; more than 60s is treated as 60s.
	Leeway time.Duration
	// Now returns the current time. nil means time.Now.
	Now func() time.Time
	// MaxLen is the longest token accepted, in bytes; longer ones are
	// refused (ErrTooLarge) before any parsing. 0 means 4096.
	MaxLen int
	// Claims names the application claims a token may carry, returned in
	// Claims.Extra; any other claim is refused, as a forgery. The names
	// must pass CheckClaimNames: if they do not (a registered name such as
	// "sub", a case variant of another, "password", ...), every token is
	// refused with an error wrapping ErrClaimName. Claims is read once, at
	// the first Verify: set it before, and do not change it after.
	Claims []string

	appOnce sync.Once
	app     map[string]string // Claims, each name mapped to itself
	appErr  error
}

const (
	defaultLeeway = 30 * time.Second
	maxLeeway     = 60 * time.Second
	defaultMaxLen = 4096
)

// b64 is strict base64url without padding: non-canonical trailing bits are
// refused. It still skips CR and LF, so callers check the alphabet first.
var b64 = base64.RawURLEncoding.Strict()

// b64url marks the bytes of the base64url alphabet.
var b64url = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

// Verify checks token and returns its claims. It refuses, with an error
// wrapping the matching sentinel:
//   - anything longer than MaxLen (ErrTooLarge), not exactly three strict
//     base64url parts (ErrMalformed);
//   - a header with any parameter other than alg, kid and typ, such as crit,
//     jku, x5u, jwk, x5c or b64 (ErrHeader); duplicate or case-variant names
//     (ErrHeader); typ other than at+jwt or application/at+jwt (ErrHeader);
//   - an unknown or retired kid (ErrUnknownKey), an alg other than the key's
//     (ErrAlgorithm), a bad signature (ErrSignature);
//   - claims that are not exactly those sessiond issues: since sessiond is
//     the only issuer, any other member (nbf, "Sub", an application claim
//     not in Claims, ...) is a forgery and is refused, as are duplicates and
//     wrong JSON types (ErrMalformed); iss, sub, aud, exp, iat, jti and sid
//     are all required; client_id (a non-empty string), auth_time (a
//     NumericDate), amr (a non-empty array of at most 16 non-empty
//     strings) and the application claims (each one strict JSON value) are
//     optional, so tokens issued before them still verify;
//   - a wrong iss (ErrIssuer), an aud without Audience (ErrAudience), exp
//     passed or iat in the future beyond the leeway (ErrExpired,
//     ErrNotYetValid).
//
// A Verifier whose Claims do not pass CheckClaimNames refuses every token
// (ErrClaimName).
func (v *Verifier) Verify(token string) (Claims, error) {
	var app map[string]string
	if len(v.Claims) > 0 {
		v.appOnce.Do(v.initClaims)
		if v.appErr != nil {
			return Claims{}, v.appErr
		}
		app = v.app
	}
	maxLen := v.MaxLen
	if maxLen <= 0 {
		maxLen = defaultMaxLen
	}
	if len(token) > maxLen {
		return Claims{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(token), maxLen)
	}
	if v.Keys == nil {
		return Claims{}, fmt.Errorf("%w: verifier has no key ring", ErrUnknownKey)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now()
	var hbuf [256]byte
	var pbuf [1024]byte
	hdr, payload, err := verifyJWS([]byte(token), v.Keys.load(), t, hbuf[:0], pbuf[:0])
	if err != nil {
		return Claims{}, err
	}
	if !hdr.hasTyp || !validTyp(hdr.typ) {
		return Claims{}, fmt.Errorf("%w: typ must be at+jwt", ErrHeader)
	}
	c, err := parseClaims(payload, v.Issuer, v.Audience, app)
	if err != nil {
		return Claims{}, err
	}
	return c, v.check(&c, t)
}

// initClaims builds the set of application claim names, once.
func (v *Verifier) initClaims() {
	if err := CheckClaimNames(v.Claims); err != nil {
		v.appErr = fmt.Errorf("verifier Claims: %w", err)
		return
	}
	v.app = make(map[string]string, len(v.Claims))
	for _, n := range v.Claims {
		v.app[n] = n
	}
}

func validTyp(t []byte) bool {
	return bytes.EqualFold(t, []byte("at+jwt")) || bytes.EqualFold(t, []byte("application/at+jwt"))
}

func (v *Verifier) check(c *Claims, now time.Time) error {
	leeway := v.Leeway
	if leeway <= 0 {
		leeway = defaultLeeway
	} else if leeway > maxLeeway {
		leeway = maxLeeway
	}
	if v.Issuer == "" || c.Issuer != v.Issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	aud := false
	for _, a := range c.Audience {
		if v.Audience != "" && a == v.Audience {
			aud = true
			break
		}
	}
	if !aud {
		return fmt.Errorf("%w: %q", ErrAudience, c.Audience)
	}
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return fmt.Errorf("%w: at %s", ErrExpired, c.ExpiresAt.Format(time.RFC3339))
	}
	if c.IssuedAt.After(now.Add(leeway)) {
		return fmt.Errorf("%w: iat %s", ErrNotYetValid, c.IssuedAt.Format(time.RFC3339))
	}
	return nil
}

// header holds the three parameters we accept. Values are views into the
// decoded header (or, rarely, fresh copies when they contained escapes).
type header struct {
	alg, kid, typ          []byte
	hasAlg, hasKid, hasTyp bool
}

// parseHeader reads the JOSE header strictly: alg and kid required, typ
// optional here (Verify requires it), nothing else allowed.
func parseHeader(b []byte) (h header, err error) {
	s := scanner{b: b}
	if err = s.begin(); err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	for {
		name, more, err := s.next()
		if err != nil {
			return h, fmt.Errorf("%w: header: %w", ErrMalformed, err)
		}
		if !more {
			break
		}
		var v []byte
		switch string(name) {
		case "alg":
			if h.hasAlg {
				return h, fmt.Errorf("%w: duplicate %q", ErrHeader, clip(name))
			}
			v, err = s.str(nil)
			h.alg, h.hasAlg = v, true
		case "kid":
			if h.hasKid {
				return h, fmt.Errorf("%w: duplicate %q", ErrHeader, clip(name))
			}
			v, err = s.str(nil)
			h.kid, h.hasKid = v, true
		case "typ":
			if h.hasTyp {
				return h, fmt.Errorf("%w: duplicate %q", ErrHeader, clip(name))
			}
			v, err = s.str(nil)
			h.typ, h.hasTyp = v, true
		default:
			return h, fmt.Errorf("%w: %q", ErrHeader, clip(name))
		}
		if err != nil {
			return h, fmt.Errorf("%w: header %q: %w", ErrMalformed, clip(name), err)
		}
	}
	if err := s.end(); err != nil {
		return h, fmt.Errorf("%w: header: trailing data", ErrMalformed)
	}
	if !h.hasAlg {
		return h, fmt.Errorf("%w: header without alg", ErrAlgorithm)
	}
	if !h.hasKid {
		return h, fmt.Errorf("%w: header without kid", ErrUnknownKey)
	}
	return h, nil
}

// clip copies at most 32 bytes of attacker-controlled input into an error
// message, so errors that reach logs stay short.
func clip(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// decodePart decodes one strict base64url part, appending to dst.
func decodePart(dst, part []byte) ([]byte, error) {
	for i := 0; i < len(part); i++ {
		if !b64url[part[i]] {
			return nil, fmt.Errorf("%w: byte %#x is not base64url", ErrMalformed, int(part[i]))
		}
	}
	n := b64.DecodedLen(len(part))
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	out := dst[:n]
	m, err := b64.Decode(out, part)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out[:m], nil
}

// verifyJWS checks the JWS layer of a compact token against the keys of
// snap usable at now: shape, strict base64url, header, key, algorithm and
// signature. It returns the payload (not yet parsed) and fills h.
func verifyJWS(token []byte, snap *snapshot, now time.Time, hbuf, pbuf []byte) (h header, payload []byte, err error) {
	d1 := bytes.IndexByte(token, '.')
	if d1 < 0 {
		return h, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	d2 := bytes.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return h, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	d2 += d1 + 1
	if bytes.IndexByte(token[d2+1:], '.') >= 0 {
		return h, nil, fmt.Errorf("%w: more than three parts", ErrMalformed)
	}
	// Shape first: all three parts strict base64url, so malformed input is
	// refused as such whatever its signature. Claims are parsed only after
	// the signature has been checked.
	var hb []byte
	hb, err = decodePart(hbuf, token[:d1])
	if err != nil {
		return h, nil, fmt.Errorf("header: %w", err)
	}
	payload, err = decodePart(pbuf, token[d1+1:d2])
	if err != nil {
		return h, nil, fmt.Errorf("payload: %w", err)
	}
	var sbuf [256]byte
	sig, err := decodePart(sbuf[:0], token[d2+1:])
	if err != nil {
		return h, nil, fmt.Errorf("signature: %w", err)
	}
	if h, err = parseHeader(hb); err != nil {
		return h, nil, err
	}
	k := snap.find(h.kid, now)
	if k == nil {
		return h, nil, fmt.Errorf("%w: %q", ErrUnknownKey, clip(h.kid))
	}
	if string(h.alg) != string(k.alg) {
		return h, nil, fmt.Errorf("%w: header alg %q, key alg %s", ErrAlgorithm, clip(h.alg), k.alg)
	}
	if err := k.verify(token[:d2], sig); err != nil {
		return h, nil, err
	}
	return h, payload, nil
}

// p256N is the order of the P-256 group, big-endian.
var p256N = [32]byte{
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
}

// scalarInRange reports 0 < x < N for a 32-byte big-endian x: the check
// whose absence let (r, s) = (0, 0) verify anything (CVE-2022-21449).
func scalarInRange(x []byte) bool {
	zero := true
	for _, c := range x {
		if c != 0 {
			zero = false
			break
		}
	}
	return !zero && bytes.Compare(x, p256N[:]) < 0
}

// appendDERInt appends x (big-endian, unsigned) as an ASN.1 INTEGER.
func appendDERInt(dst, x []byte) []byte {
	for len(x) > 1 && x[0] == 0 {
		x = x[1:]
	}
	n := len(x)
	pad := x[0]&0x80 != 0
	if pad {
		n++
	}
	dst = append(dst, 0x02, byte(n))
	if pad {
		dst = append(dst, 0)
	}
	return append(dst, x...)
}

func (k *key) verify(input, sig []byte) error {
	switch k.alg {
	case EdDSA:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k.edPub, input, sig) {
			return ErrSignature
		}
	case ES256:
		// JWS ES256 signatures are raw r||s (RFC 7518 §3.4); DER is refused
		// by length. The range check is explicit, not left to the library.
		if len(sig) != 64 || !scalarInRange(sig[:32]) || !scalarInRange(sig[32:]) {
			return ErrSignature
		}
		h := sha256.Sum256(input)
		// Re-encode as DER on the stack for ecdsa.VerifyASN1, avoiding the
		// big.Int allocations of ecdsa.Verify.
		var der [72]byte
		d := append(der[:0], 0x30, 0)
		d = appendDERInt(d, sig[:32])
		d = appendDERInt(d, sig[32:])
		d[1] = byte(len(d) - 2)
		if !ecdsa.VerifyASN1(k.ecPub, h[:], d) {
			return ErrSignature
		}
	case RS256:
		if k.rsaPub.N.BitLen() < minRSABits {
			return fmt.Errorf("%w: RSA key below %d bits", ErrWeakKey, minRSABits)
		}
		h := sha256.Sum256(input)
		if rsa.VerifyPKCS1v15(k.rsaPub, crypto.SHA256, h[:], sig) != nil {
			return ErrSignature
		}
	case HS256:
		if len(sig) != sha256.Size {
			return ErrSignature
		}
		m := k.macs.Get().(hash.Hash)
		m.Reset()
		m.Write(input)
		var sum [sha256.Size]byte
		ok := hmac.Equal(m.Sum(sum[:0]), sig)
		k.macs.Put(m)
		if !ok {
			return ErrSignature
		}
	default:
		return fmt.Errorf("%w: %q", ErrAlgorithm, k.alg)
	}
	return nil
}

// claim bits, for duplicate detection.
const (
	cIss = 1 << iota
	cSub
	cAud
	cExp
	cIat
	cJti
	cSid
	cClientID
	cAuthTime
	cAMR
	cRequired = cIss | cSub | cAud | cExp | cIat | cJti | cSid
)

// maxAMR is the most amr values a token may carry.
const maxAMR = 16

var errClaims = errors.New("claims")

// parseClaims reads exactly the claims sessiond issues: the registered
// ones and the application claims named in app (nil for none), each name
// mapped to itself. Any other member is refused: sessiond is the only
// issuer of these tokens, so an unknown claim can only come from a forgery
// or a confused issuer.
//
// When iss or an aud value equals wantIss or wantAud, the returned claims
// share those strings instead of allocating copies; sub, jti, sid,
// client_id and the amr values share one allocation, the Extra values
// another, and Extra's keys are app's strings. All of it only saves
// allocations on the hot path.
func parseClaims(b []byte, wantIss, wantAud string, app map[string]string) (Claims, error) {
	var c Claims
	var sub, jti, sid, clientID []byte
	// amr values are copied, not kept as views: storing a view through a
	// slice would make b, the caller's stack buffer, escape to the heap.
	var amrBuf [128]byte
	var amrLens [maxAMR]int
	amr, namr := amrBuf[:0], 0
	var extBuf [8]extraSpan
	ext := extBuf[:0]
	bad := func(why string, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %w: %s: %w", ErrMalformed, errClaims, why, err)
		}
		return fmt.Errorf("%w: %w: %s", ErrMalformed, errClaims, why)
	}
	s := scanner{b: b}
	if err := s.begin(); err != nil {
		return c, bad("not an object", err)
	}
	seen := 0
	for {
		name, more, err := s.next()
		if err != nil {
			return c, bad("syntax", err)
		}
		if !more {
			break
		}
		var bit int
		switch string(name) {
		case "iss":
			bit = cIss
		case "sub":
			bit = cSub
		case "aud":
			bit = cAud
		case "exp":
			bit = cExp
		case "iat":
			bit = cIat
		case "jti":
			bit = cJti
		case "sid":
			bit = cSid
		case "client_id":
			bit = cClientID
		case "auth_time":
			bit = cAuthTime
		case "amr":
			bit = cAMR
		default:
			n, ok := app[string(name)]
			if !ok {
				return c, bad(fmt.Sprintf("unknown claim %q", clip(name)), nil)
			}
			for _, e := range ext {
				if e.name == n {
					return c, bad(fmt.Sprintf("duplicate claim %q", clip(name)), nil)
				}
			}
			start := s.i
			if err := s.value(0); err != nil {
				return c, bad(clip(name), err)
			}
			ext = append(ext, extraSpan{n, start, s.i})
			continue
		}
		if seen&bit != 0 {
			return c, bad(fmt.Sprintf("duplicate claim %q", clip(name)), nil)
		}
		seen |= bit
		switch bit {
		case cIss, cSub, cJti, cSid, cClientID:
			v, err := s.str(nil)
			if err != nil {
				return c, bad(clip(name), err)
			}
			if len(v) == 0 {
				return c, bad(fmt.Sprintf("empty %q", clip(name)), nil)
			}
			switch bit {
			case cIss:
				if string(v) == wantIss {
					c.Issuer = wantIss
				} else {
					c.Issuer = string(v)
				}
			case cSub:
				sub = v
			case cJti:
				jti = v
			case cSid:
				sid = v
			case cClientID:
				clientID = v
			}
		case cExp, cIat, cAuthTime:
			n, err := s.numericDate()
			if err != nil {
				return c, bad(string(name)+" is not a NumericDate", err)
			}
			t := time.Unix(n, 0).UTC()
			switch bit {
			case cExp:
				c.ExpiresAt = t
			case cIat:
				c.IssuedAt = t
			default:
				c.AuthTime = t
			}
		case cAMR:
			if amr, namr, err = s.strArray(amr, amrLens[:]); err != nil {
				return c, bad("amr", err)
			}
		case cAud:
			if c.Audience, err = s.audience(wantAud); err != nil {
				return c, bad("aud", err)
			}
		}
	}
	if err := s.end(); err != nil {
		return c, bad("trailing data", err)
	}
	if seen&cRequired != cRequired {
		return c, bad("missing required claim", nil)
	}
	var buf [256]byte
	all := append(append(append(append(append(buf[:0], sub...), jti...), sid...), clientID...), amr...)
	str := string(all)
	c.Subject, str = str[:len(sub)], str[len(sub):]
	c.ID, str = str[:len(jti)], str[len(jti):]
	c.SessionID, str = str[:len(sid)], str[len(sid):]
	c.ClientID, str = str[:len(clientID)], str[len(clientID):]
	if namr > 0 {
		c.AMR = make([]string, namr)
		for i, n := range amrLens[:namr] {
			c.AMR[i], str = str[:n], str[n:]
		}
	}
	if len(ext) > 0 {
		n := 0
		for _, e := range ext {
			n += e.end - e.start
		}
		raw := make([]byte, 0, n)
		c.Extra = make(map[string]json.RawMessage, len(ext))
		for _, e := range ext {
			i := len(raw)
			raw = append(raw, s.b[e.start:e.end]...)
			c.Extra[e.name] = json.RawMessage(raw[i:len(raw):len(raw)])
		}
	}
	return c, nil
}

// extraSpan is an application claim found by parseClaims: its name (the
// configured string) and where its value is in the claims set.
type extraSpan struct {
	name       string
	start, end int
}

// strArray reads a non-empty array of at most len(lens) non-empty
// strings, appending their bytes to dst and their lengths to lens, and
// returns dst and how many strings it read.
func (s *scanner) strArray(dst []byte, lens []int) ([]byte, int, error) {
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return nil, 0, errJSON
	}
	s.i++
	n := 0
	for {
		s.ws()
		if n > 0 {
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				return dst, n, nil
			}
			if s.i >= len(s.b) || s.b[s.i] != ',' {
				return nil, 0, errJSON
			}
			s.i++
			s.ws()
		}
		v, err := s.str(nil)
		if err != nil || len(v) == 0 {
			return nil, 0, errJSON
		}
		if n == len(lens) {
			return nil, 0, fmt.Errorf("more than %d values", len(lens))
		}
		dst = append(dst, v...)
		lens[n] = len(v)
		n++
	}
}

// audience reads aud: a non-empty string or a non-empty array of them.
func (s *scanner) audience(want string) ([]string, error) {
	str := func(v []byte) string {
		if string(v) == want {
			return want
		}
		return string(v)
	}
	if s.i < len(s.b) && s.b[s.i] == '"' {
		v, err := s.str(nil)
		if err != nil || len(v) == 0 {
			return nil, errJSON
		}
		return []string{str(v)}, nil
	}
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return nil, errJSON
	}
	s.i++
	var out []string
	for {
		s.ws()
		if len(out) > 0 {
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				return out, nil
			}
			if s.i >= len(s.b) || s.b[s.i] != ',' {
				return nil, errJSON
			}
			s.i++
			s.ws()
		}
		v, err := s.str(nil)
		if err != nil || len(v) == 0 {
			return nil, errJSON
		}
		out = append(out, str(v))
		if len(out) > 16 {
			return nil, errJSON
		}
	}
}
