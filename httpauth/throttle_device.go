package httpauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// DeviceCookie is the name of the device cookie (see DeviceCookies). The
// "__Host-" prefix makes browsers refuse it unless it is Secure, has
// Path=/ and no Domain: no sibling subdomain can plant one.
const DeviceCookie = "__Host-sessiond_dev"

// DeviceCookiePurpose is the purpose a server derives the key of its
// device cookies under (node.DeriveKey, token.DeriveKey): a key of its
// own, never one that signs anything else.
const DeviceCookiePurpose = "login-device"

// DefaultDeviceTTL is how long a device cookie is good for unless
// DeviceCookies.TTL says otherwise. Each login renews it.
const DefaultDeviceTTL = 180 * 24 * time.Hour

// MinDeviceKeyLen is the shortest DeviceCookies.Key.
const MinDeviceKeyLen = 32

// ErrDeviceKey: DeviceCookies.Key is shorter than MinDeviceKeyLen; no
// cookie is issued, and none is believed.
var ErrDeviceKey = errors.New("httpauth: device cookie key too short")

// deviceCookieSkew is how far in the future a cookie's issue time may be
// (another node's clock) and still be believed.
const deviceCookieSkew = 5 * time.Minute

// maxDeviceCookies is how many device cookies of one request are looked at.
const maxDeviceCookies = 4

// Layout of a device cookie's value, base64url without padding:
// version (1) | account tag (16) | nonce (16) | issued, Unix seconds (8) |
// HMAC-SHA256 of the 41 bytes before, under the key (32).
const (
	deviceVersion = 1
	deviceTagLen  = 16
	deviceBodyLen = 1 + deviceTagLen + 16 + 8
	deviceLen     = deviceBodyLen + sha256.Size
)

// DeviceCookies issues and checks device cookies, after OWASP's "Slow Down
// Online Guessing Attacks with Device Cookies": a successful login gives
// the browser a cookie, signed by the server, that binds it to the account
// (a keyed hash of its normalised email, a random nonce, the issue time).
// A later attempt on that account that carries it is judged by the
// failures of that device alone (LoginThrottle), so guessing elsewhere
// cannot keep the owner's browser out. A cookie grants nothing else: it
// is no credential, the password is still checked.
//
// The cookie is DeviceCookie: HttpOnly, Secure, SameSite=Strict, Path=/,
// Max-Age TTL. Each login issues a new one (a new nonce), which replaces
// the browser's: one browser is the device of the account it logged in to
// last. A cookie that is forged, altered, expired, issued for another
// account, or under another key is ignored: the attempt is judged as one
// without a cookie.
//
// Key must hold at least MinDeviceKeyLen secret bytes, the same on every
// node, used for nothing else (DeviceCookiePurpose). Safe for concurrent
// use once configured.
type DeviceCookies struct {
	// Key is the MAC key (>= 32 bytes).
	Key []byte
	// TTL is how long a cookie is good for. Default DefaultDeviceTTL.
	TTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (d *DeviceCookies) ttl() time.Duration {
	if d.TTL <= 0 {
		return DefaultDeviceTTL
	}
	return d.TTL
}

func (d *DeviceCookies) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// tag is the account as a cookie holds it: a keyed hash of the normalised
// email, so a cookie read off a disk does not tell whose it is.
func (d *DeviceCookies) tag(account string) []byte {
	m := hmac.New(sha256.New, d.Key)
	m.Write([]byte("sessiond device account v1\x00"))
	m.Write([]byte(account))
	return m.Sum(nil)[:deviceTagLen]
}

func (d *DeviceCookies) mac(body []byte) []byte {
	m := hmac.New(sha256.New, d.Key)
	m.Write([]byte("sessiond device cookie v1\x00"))
	m.Write(body)
	return m.Sum(nil)
}

// value returns a new device cookie value for account (a normalised email).
func (d *DeviceCookies) value(account string) (string, error) {
	if d == nil || len(d.Key) < MinDeviceKeyLen {
		return "", ErrDeviceKey
	}
	b := make([]byte, deviceLen)
	b[0] = deviceVersion
	copy(b[1:], d.tag(account))
	if _, err := rand.Read(b[1+deviceTagLen : 1+deviceTagLen+16]); err != nil {
		return "", fmt.Errorf("httpauth: device cookie nonce: %w", err)
	}
	binary.BigEndian.PutUint64(b[1+deviceTagLen+16:], uint64(d.now().Unix()))
	copy(b[deviceBodyLen:], d.mac(b[:deviceBodyLen]))
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Set adds the Set-Cookie header of a new device cookie for account.
func (d *DeviceCookies) Set(w http.ResponseWriter, account string) error {
	v, err := d.value(account)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: v, Path: "/", MaxAge: int(d.ttl() / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	return nil
}

// Device returns the device of r's device cookie if it has a valid one for
// account (an opaque id, a hash of the cookie's nonce, to key limits by),
// else "".
func (d *DeviceCookies) Device(r *http.Request, account string) string {
	if d == nil || len(d.Key) < MinDeviceKeyLen || account == "" {
		return ""
	}
	cs := r.CookiesNamed(DeviceCookie)
	for i, c := range cs {
		if i == maxDeviceCookies {
			break
		}
		if dev := d.parse(c.Value, account); dev != "" {
			return dev
		}
	}
	return ""
}

// parse returns the device of a device cookie value if it is valid for
// account, else "".
func (d *DeviceCookies) parse(v, account string) string {
	if d == nil || len(d.Key) < MinDeviceKeyLen || base64.RawURLEncoding.DecodedLen(len(v)) != deviceLen {
		return ""
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != deviceLen || b[0] != deviceVersion {
		return ""
	}
	if !hmac.Equal(b[deviceBodyLen:], d.mac(b[:deviceBodyLen])) {
		return ""
	}
	if !hmac.Equal(b[1:1+deviceTagLen], d.tag(account)) {
		return ""
	}
	issued := int64(binary.BigEndian.Uint64(b[1+deviceTagLen+16:]))
	now := d.now()
	if issued < 0 || issued > now.Add(deviceCookieSkew).Unix() || now.Unix()-issued >= int64(d.ttl()/time.Second) {
		return ""
	}
	h := sha256.Sum256(b[1+deviceTagLen : 1+deviceTagLen+16])
	return base64.RawURLEncoding.EncodeToString(h[:16])
}
