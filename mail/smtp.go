package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Errors of SMTP that callers branch on.
var (
	// ErrInvalidURL: ParseSMTPURL refused the URL; the wrapping error says why.
	ErrInvalidURL = errors.New("mail: invalid SMTP URL")
	// ErrNoTLS: the server did not offer STARTTLS and the URL does not
	// allow plain text, or credentials would have crossed in clear.
	ErrNoTLS = errors.New("mail: the SMTP server offers no TLS")
)

// DefaultTimeout bounds one SMTP conversation, dial to QUIT, when the
// caller's context has no earlier deadline.
const DefaultTimeout = 30 * time.Second

// SMTP is a Mailer that hands each message to one SMTP server (a relay or
// submission server), on a new connection per message. It is safe for
// concurrent use; set its fields before the first Send.
//
// TLS: with ImplicitTLS (smtps://) the connection is TLS from its start
// (RFC 8314); otherwise STARTTLS (RFC 3207) is used, and required unless
// AllowPlain, when the server does not offer it. Credentials are sent
// with AUTH PLAIN (RFC 4954) only over TLS, whatever AllowPlain says.
// Certificates are checked against TLSConfig's roots (the system's when
// nil) for Host.
type SMTP struct {
	// Host and Port of the server.
	Host, Port string
	// Username and Password for AUTH PLAIN; none when Username is empty.
	Username, Password string
	// ImplicitTLS: TLS from the connection's start (port 465).
	ImplicitTLS bool
	// AllowPlain: go on without TLS when the server offers no STARTTLS
	// (never with credentials). ParseSMTPURL allows it for a loopback
	// server only.
	AllowPlain bool
	// TLSConfig for the TLS handshake; nil: the system roots, TLS 1.2 or
	// later, ServerName Host. A given one is cloned, its ServerName set to
	// Host when empty.
	TLSConfig *tls.Config
	// LocalName is the name this client gives in EHLO. Default "localhost".
	LocalName string
	// Timeout bounds one conversation. Default DefaultTimeout.
	Timeout time.Duration
}

var _ Mailer = (*SMTP)(nil)

// ParseSMTPURL reads an SMTP server's URL:
//
//	smtp://[user[:password]@]host[:port][?starttls=optional]   port 587 by default; STARTTLS
//	smtps://[user[:password]@]host[:port]                      port 465 by default; implicit TLS
//
// User and password are percent-decoded. starttls=optional (plain text
// when the server offers no STARTTLS) is accepted for a loopback host
// only (localhost, 127.0.0.0/8, ::1), and not with credentials. Errors
// wrap ErrInvalidURL and never quote the password.
func ParseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: it does not parse", ErrInvalidURL)
	}
	s := &SMTP{Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "smtp":
		if s.Port == "" {
			s.Port = "587"
		}
	case "smtps":
		s.ImplicitTLS = true
		if s.Port == "" {
			s.Port = "465"
		}
	default:
		return nil, fmt.Errorf("%w: scheme %q: want smtp:// (STARTTLS) or smtps:// (implicit TLS)", ErrInvalidURL, u.Scheme)
	}
	if s.Host == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: a path or fragment means nothing here", ErrInvalidURL)
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
		if s.Username == "" {
			return nil, fmt.Errorf("%w: a password without a user name", ErrInvalidURL)
		}
	}
	q := u.Query()
	for k, v := range q {
		switch {
		case k == "starttls" && len(v) == 1 && v[0] == "optional":
			if s.ImplicitTLS {
				return nil, fmt.Errorf("%w: starttls=optional makes no sense with smtps://", ErrInvalidURL)
			}
			if !loopbackHost(s.Host) {
				return nil, fmt.Errorf("%w: starttls=optional (mail in clear) is for a server on this machine only, not %q", ErrInvalidURL, s.Host)
			}
			if s.Username != "" {
				return nil, fmt.Errorf("%w: starttls=optional with credentials: they are sent over TLS only", ErrInvalidURL)
			}
			s.AllowPlain = true
		case k == "starttls":
			return nil, fmt.Errorf("%w: starttls=%q: the only value is optional", ErrInvalidURL, strings.Join(v, ","))
		default:
			return nil, fmt.Errorf("%w: unknown parameter %q (known: starttls)", ErrInvalidURL, k)
		}
	}
	return s, nil
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String is the server's URL without the password, for logs.
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.Host, s.Port)}
	if s.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.Username != "" {
		u.User = url.User(s.Username)
	}
	if s.AllowPlain {
		u.RawQuery = "starttls=optional"
	}
	return u.String()
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.TLSConfig == nil {
		return &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	c := s.TLSConfig.Clone()
	if c.ServerName == "" {
		c.ServerName = s.Host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// Send delivers m in one SMTP conversation: EHLO, STARTTLS (unless
// implicit TLS), AUTH PLAIN when a user is set, MAIL FROM (SMTPUTF8 and
// 8BITMIME when offered), RCPT TO, DATA, QUIT. It gives up at ctx's end
// or after Timeout, whichever comes first.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	from, to, err := m.Addresses()
	if err != nil {
		return err
	}
	body, err := m.Bytes()
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, s.Port)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: smtp %s: %w", addr, err)
	}
	// The context ends the conversation wherever it is.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := s.converse(ctx, conn, from, to, body); err != nil {
		conn.Close()
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("mail: smtp %s: %w (%w)", addr, ctx.Err(), err)
		case errors.As(err, &ne) && ne.Timeout():
			// The socket's deadline, ctx's, fired a moment before ctx did.
			return fmt.Errorf("mail: smtp %s: %w (%w)", addr, context.DeadlineExceeded, err)
		}
		return fmt.Errorf("mail: smtp %s: %w", addr, err)
	}
	return nil
}

func (s *SMTP) converse(ctx context.Context, conn net.Conn, from, to string, body []byte) error {
	secure := false
	if s.ImplicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		conn, secure = tc, true
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return err
	}
	if !secure {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
			secure = true
		} else if !s.AllowPlain {
			return fmt.Errorf("%w: no STARTTLS offered (use smtps://, or for a server on this machine ?starttls=optional)", ErrNoTLS)
		}
	}
	if s.Username != "" {
		if !secure {
			return fmt.Errorf("%w: credentials are sent over TLS only", ErrNoTLS)
		}
		ok, mechs := c.Extension("AUTH")
		if !ok || !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
			return fmt.Errorf("the server offers no AUTH PLAIN (offers %q)", mechs)
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The message was accepted at the end of DATA: a failed QUIT loses
	// nothing.
	_ = c.Quit()
	return nil
}
