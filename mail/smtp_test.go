package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/mail"
)

func testMessage() *mail.Message {
	return &mail.Message{
		From:    "sessiond <no-reply@example.com>",
		To:      "alice@example.com",
		Subject: "Reset your password",
		Text:    "Hello,\n\nhttps://auth.example.com/ui/reset#token=sdpr_abc\n.\n..two dots\n",
		Date:    time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC),
	}
}

// readMail parses what the server received and returns its headers and
// decoded body.
func readMail(t *testing.T, m testenv.SMTPMail) (netmail.Header, string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("the received message does not parse: %v\n%s", err, m.Data)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header, string(body)
}

// TestSMTPSend: a message reaches a real SMTP server in every TLS mode the
// URL can ask for, with the envelope, headers and text it was given, and
// credentials only over TLS.
func TestSMTPSend(t *testing.T) {
	users := map[string]string{"mailer": "s3cret pass"}
	tests := []struct {
		name    string
		opts    testenv.SMTPOptions
		url     func(s *testenv.SMTPServer) string
		wantTLS bool
		user    string
	}{
		{"STARTTLS", testenv.SMTPOptions{STARTTLS: true},
			func(s *testenv.SMTPServer) string { return "smtp://" + s.Addr() }, true, ""},
		{"STARTTLS and AUTH PLAIN", testenv.SMTPOptions{STARTTLS: true, Users: users},
			func(s *testenv.SMTPServer) string { return "smtp://mailer:s3cret%20pass@" + s.Addr() }, true, "mailer"},
		{"implicit TLS and AUTH PLAIN", testenv.SMTPOptions{ImplicitTLS: true, Users: users},
			func(s *testenv.SMTPServer) string { return "smtps://mailer:s3cret%20pass@" + s.Addr() }, true, "mailer"},
		{"STARTTLS offered though optional", testenv.SMTPOptions{STARTTLS: true},
			func(s *testenv.SMTPServer) string { return "smtp://" + s.Addr() + "?starttls=optional" }, true, ""},
		{"plain text on loopback when asked", testenv.SMTPOptions{},
			func(s *testenv.SMTPServer) string { return "smtp://" + s.Addr() + "?starttls=optional" }, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartSMTP(t, tc.opts)
			m, err := mail.ParseSMTPURL(tc.url(srv))
			if err != nil {
				t.Fatal(err)
			}
			m.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}
			if err := m.Send(context.Background(), testMessage()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.WaitMails(t, 1, 10*time.Second)[0]
			if got.From != "no-reply@example.com" || len(got.To) != 1 || got.To[0] != "alice@example.com" {
				t.Errorf("envelope from %q to %q", got.From, got.To)
			}
			if got.TLS != tc.wantTLS || got.User != tc.user {
				t.Errorf("TLS %v user %q, want %v %q", got.TLS, got.User, tc.wantTLS, tc.user)
			}
			h, body := readMail(t, got)
			for k, want := range map[string]string{
				"From": `"sessiond" <no-reply@example.com>`, "To": "<alice@example.com>", "Subject": "Reset your password",
				"Date": "Sat, 14 Mar 2026 15:09:26 +0000", "Content-Type": "text/plain; charset=utf-8", "Auto-Submitted": "auto-generated",
			} {
				if h.Get(k) != want {
					t.Errorf("%s: %q, want %q", k, h.Get(k), want)
				}
			}
			if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("Message-ID %q", id)
			}
			if want := strings.ReplaceAll(testMessage().Text, "\n", "\r\n"); body != want {
				t.Errorf("body %q, want %q (dot-stuffing undone)", body, want)
			}
		})
	}
}

// TestSMTPRefuses: nothing is sent, and the error says why, when TLS is
// required but not offered, when credentials would cross in clear, when
// the certificate is not trusted, when the password is wrong, and when the
// caller gives up.
func TestSMTPRefuses(t *testing.T) {
	users := map[string]string{"mailer": "right"}
	tests := []struct {
		name string
		opts testenv.SMTPOptions
		make func(s *testenv.SMTPServer) *mail.SMTP
		ctx  func() context.Context
		want error
	}{
		{"no STARTTLS offered", testenv.SMTPOptions{},
			func(s *testenv.SMTPServer) *mail.SMTP { return &mail.SMTP{Host: s.Host, Port: s.Port} }, nil, mail.ErrNoTLS},
		{"credentials in clear", testenv.SMTPOptions{},
			func(s *testenv.SMTPServer) *mail.SMTP {
				return &mail.SMTP{Host: s.Host, Port: s.Port, AllowPlain: true, Username: "mailer", Password: "right"}
			}, nil, mail.ErrNoTLS},
		{"untrusted certificate", testenv.SMTPOptions{STARTTLS: true},
			func(s *testenv.SMTPServer) *mail.SMTP { return &mail.SMTP{Host: s.Host, Port: s.Port} }, nil, nil},
		{"wrong password", testenv.SMTPOptions{STARTTLS: true, Users: users},
			func(s *testenv.SMTPServer) *mail.SMTP {
				return &mail.SMTP{Host: s.Host, Port: s.Port, Username: "mailer", Password: "wrong", TLSConfig: &tls.Config{RootCAs: s.RootCAs}}
			}, nil, nil},
		{"no credentials where needed", testenv.SMTPOptions{STARTTLS: true, Users: users},
			func(s *testenv.SMTPServer) *mail.SMTP {
				return &mail.SMTP{Host: s.Host, Port: s.Port, TLSConfig: &tls.Config{RootCAs: s.RootCAs}}
			}, nil, nil},
		{"cancelled", testenv.SMTPOptions{STARTTLS: true},
			func(s *testenv.SMTPServer) *mail.SMTP {
				return &mail.SMTP{Host: s.Host, Port: s.Port, TLSConfig: &tls.Config{RootCAs: s.RootCAs}}
			}, func() context.Context { ctx, cancel := context.WithCancel(context.Background()); cancel(); return ctx }, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartSMTP(t, tc.opts)
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			err := tc.make(srv).Send(ctx, testMessage())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Send: %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "right") {
				t.Errorf("the error quotes the password: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			if n := len(srv.Mails()); n != 0 {
				t.Errorf("the server got %d messages", n)
			}
		})
	}
}

// TestSMTPTimeout: a server that accepts the connection and never answers
// is given up at the timeout.
func TestSMTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the listener closes
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	m := &mail.SMTP{Host: host, Port: port, Timeout: 200 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- m.Send(context.Background(), testMessage()) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send to a silent server: %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send to a silent server did not give up")
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		url      string
		ok       bool
		host     string
		port     string
		implicit bool
		plain    bool
		user     string
	}{
		{"smtp://mail.example.com", true, "mail.example.com", "587", false, false, ""},
		{"smtp://u%40x:p%3Ass@mail.example.com:25", true, "mail.example.com", "25", false, false, "u@x"},
		{"smtps://mail.example.com", true, "mail.example.com", "465", true, false, ""},
		{"smtp://127.0.0.1:2525?starttls=optional", true, "127.0.0.1", "2525", false, true, ""},
		{"smtp://localhost:2525/?starttls=optional", true, "localhost", "2525", false, true, ""},
		{"smtp://[::1]:2525?starttls=optional", true, "::1", "2525", false, true, ""},
		{"smtp://mail.example.com?starttls=optional", false, "", "", false, false, ""},
		{"smtp://user:pw@127.0.0.1?starttls=optional", false, "", "", false, false, ""},
		{"smtps://127.0.0.1?starttls=optional", false, "", "", false, false, ""},
		{"smtp://127.0.0.1?starttls=yes", false, "", "", false, false, ""},
		{"smtp://mail.example.com?tls=off", false, "", "", false, false, ""},
		{"http://mail.example.com", false, "", "", false, false, ""},
		{"smtp://", false, "", "", false, false, ""},
		{"smtp://:pw@mail.example.com", false, "", "", false, false, ""},
		{"smtp://mail.example.com/inbox", false, "", "", false, false, ""},
		{"mail.example.com:25", false, "", "", false, false, ""},
		{"smtp://u:hunter2@mail.example.com:x", false, "", "", false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			m, err := mail.ParseSMTPURL(tc.url)
			if !tc.ok {
				if err == nil || !errors.Is(err, mail.ErrInvalidURL) && !strings.Contains(err.Error(), "SMTP URL") {
					t.Fatalf("ParseSMTPURL: %+v, %v; want ErrInvalidURL", m, err)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "pw") {
					t.Errorf("the error quotes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Host != tc.host || m.Port != tc.port || m.ImplicitTLS != tc.implicit || m.AllowPlain != tc.plain || m.Username != tc.user {
				t.Errorf("got %+v", m)
			}
			if strings.Contains(m.String(), "p:ss") || strings.Contains(m.String(), "p%3Ass") {
				t.Errorf("String() shows the password: %s", m)
			}
		})
	}
}

// TestMessageRefusesInjection: a header value cannot carry a line break
// into the message, and text is sent as UTF-8.
func TestMessageRefusesInjection(t *testing.T) {
	tests := []struct {
		name string
		mod  func(m *mail.Message)
		ok   bool
	}{
		{"plain", func(m *mail.Message) {}, true},
		{"subject with CRLF", func(m *mail.Message) { m.Subject = "Hi\r\nBcc: victim@example.com" }, false},
		{"subject with LF", func(m *mail.Message) { m.Subject = "Hi\nBcc: victim@example.com" }, false},
		{"To with CRLF", func(m *mail.Message) { m.To = "alice@example.com\r\nBcc: victim@example.com" }, false},
		{"From not an address", func(m *mail.Message) { m.From = "sessiond" }, false},
		{"Message-ID with a space", func(m *mail.Message) { m.MessageID = "a b@example.com" }, false},
		{"text not UTF-8", func(m *mail.Message) { m.Text = "\xff" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMessage()
			tc.mod(m)
			b, err := m.Bytes()
			if tc.ok != (err == nil) {
				t.Fatalf("Bytes: %v, want ok = %v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, mail.ErrInvalidMessage) {
				t.Errorf("Bytes: %v, want ErrInvalidMessage", err)
			}
			if tc.ok && bytes.Contains(b, []byte("Bcc")) {
				t.Errorf("message carries an injected header:\n%s", b)
			}
		})
	}
}

// TestMessageUnicode: a subject and text outside ASCII arrive intact
// (RFC 2047 words, quoted-printable), long lines too.
func TestMessageUnicode(t *testing.T) {
	m := testMessage()
	m.Subject = "Réinitialisez votre mot de passe"
	m.Text = "Bonjour Zoë,\n" + strings.Repeat("x", 1200) + "\n"
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var dec = new(mimeDecoder)
	if got := dec.header(t, msg.Header.Get("Subject")); got != m.Subject {
		t.Errorf("Subject %q, want %q", got, m.Subject)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding %q", cte)
	}
	for line := range strings.SplitSeq(string(b), "\r\n") {
		if len(line) > 78 {
			t.Errorf("a line of %d octets", len(line))
		}
	}
	if got := dec.qp(t, msg.Body); got != m.Text {
		t.Errorf("text %q", got)
	}
}
