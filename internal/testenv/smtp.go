package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions say what the test SMTP server offers.
type SMTPOptions struct {
	// STARTTLS is offered (with a certificate for 127.0.0.1 and localhost
	// that SMTPServer.RootCAs trusts).
	STARTTLS bool
	// ImplicitTLS: the server speaks TLS from the connection's start
	// (smtps); excludes STARTTLS.
	ImplicitTLS bool
	// Users maps user names to passwords: AUTH PLAIN is offered (over TLS
	// only) and every message needs it. None: no AUTH.
	Users map[string]string
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on its own
// loopback port, keeping every message it accepts.
type SMTPServer struct {
	// Host and Port it listens on (127.0.0.1 and a free port).
	Host, Port string
	// RootCAs trusts its certificate.
	RootCAs *x509.CertPool

	mu    sync.Mutex
	mails []SMTPMail
	more  chan struct{} // closed and replaced at each message
	opts  SMTPOptions
}

// SMTPMail is one message the server accepted.
type SMTPMail struct {
	From string   // envelope sender
	To   []string // envelope recipients
	Data []byte   // the message as sent (headers and body), CRLF line ends
	TLS  bool     // it came over TLS
	User string   // the AUTH user, if any
}

// StartSMTP starts an SMTP server for the test; it stops when the test ends.
func StartSMTP(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s := &SMTPServer{more: make(chan struct{}), opts: opts}
	var cfg *tls.Config
	if opts.STARTTLS || opts.ImplicitTLS {
		cert, pool := selfSigned(t)
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &smtpSession{srv: s, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = discardLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.STARTTLS {
		srv.TLSConfig = cfg
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, cfg)
	}
	s.Host, s.Port, _ = net.SplitHostPort(ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// Addr is host:port.
func (s *SMTPServer) Addr() string { return net.JoinHostPort(s.Host, s.Port) }

// Mails returns the messages accepted so far.
func (s *SMTPServer) Mails() []SMTPMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMail(nil), s.mails...)
}

// WaitMails waits until at least n messages were accepted, or fails the
// test after timeout, and returns them all.
func (s *SMTPServer) WaitMails(t testing.TB, n int, timeout time.Duration) []SMTPMail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, more := len(s.mails), s.more
		s.mu.Unlock()
		if got >= n {
			return s.Mails()
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("the SMTP server got %d messages in %v, want %d", got, timeout, n)
		}
	}
}

func (s *SMTPServer) accept(m SMTPMail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	close(s.more)
	s.more = make(chan struct{})
}

type smtpSession struct {
	srv  *SMTPServer
	tls  bool
	user string
	mail SMTPMail
}

var errAuthNeeded = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}

func (c *smtpSession) AuthMechanisms() []string {
	if len(c.srv.opts.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (c *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if want, ok := c.srv.opts.Users[user]; !ok || want != pass || (identity != "" && identity != user) {
			return errors.New("invalid credentials")
		}
		c.user = user
		return nil
	}), nil
}

func (c *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if len(c.srv.opts.Users) > 0 && c.user == "" {
		return errAuthNeeded
	}
	c.mail = SMTPMail{From: from}
	return nil
}

func (c *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.mail.To = append(c.mail.To, to)
	return nil
}

func (c *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := c.mail
	m.Data, m.TLS, m.User = b, c.tls, c.user
	c.srv.accept(m)
	return nil
}

func (c *smtpSession) Reset()        { c.mail = SMTPMail{} }
func (c *smtpSession) Logout() error { return nil }

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
