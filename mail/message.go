package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidMessage: a Message that cannot be sent as it is (an address
// that does not parse, a line break in the subject, text that is not
// UTF-8). The wrapping error says what.
var ErrInvalidMessage = errors.New("mail: invalid message")

// Mailer delivers a message. Implementations are safe for concurrent use
// and give up when ctx ends.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// Message is one plain-text mail to one recipient.
type Message struct {
	// From is the sender, an RFC 5322 address ("sessiond
	// <no-reply@example.com>" or "no-reply@example.com"); its address is
	// also the envelope sender.
	From string
	// To is the recipient's address; also the envelope recipient.
	To string
	// Subject is one line of text (UTF-8; encoded as RFC 2047 words when
	// it is not ASCII).
	Subject string
	// Text is the body, UTF-8, lines ending in LF or CRLF.
	Text string
	// Date is when the message was written. Zero: the time it is rendered.
	Date time.Time
	// MessageID is the Message-ID without its angle brackets. Empty: a
	// random one at the From address's domain, made when it is rendered.
	MessageID string
}

// Addresses returns the envelope addresses of m: the address parts of
// From and To.
func (m *Message) Addresses() (from, to string, err error) {
	f, err := mail.ParseAddress(m.From)
	if err != nil {
		return "", "", fmt.Errorf("%w: From %q: %w", ErrInvalidMessage, m.From, err)
	}
	t, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", "", fmt.Errorf("%w: To %q: %w", ErrInvalidMessage, m.To, err)
	}
	return f.Address, t.Address, nil
}

// ValidFrom reports whether from can be the From of a Message, with an
// error wrapping ErrInvalidMessage that says why not.
func ValidFrom(from string) error {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return fmt.Errorf("%w: From %q: %w", ErrInvalidMessage, from, err)
	}
	if !strings.Contains(a.Address, "@") {
		return fmt.Errorf("%w: From %q has no domain", ErrInvalidMessage, from)
	}
	return nil
}

// Bytes renders m as an RFC 5322 message with CRLF line ends: From, To,
// Subject, Date, Message-ID, MIME-Version, Content-Type (text/plain,
// UTF-8), Content-Transfer-Encoding (7bit for ASCII text with short
// lines, else quoted-printable) and Auto-Submitted (RFC 3834: no
// autoresponder should answer it), then the text.
func (m *Message) Bytes() ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("%w: From %q: %w", ErrInvalidMessage, m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: To %q: %w", ErrInvalidMessage, m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") || !utf8.ValidString(m.Subject) {
		return nil, fmt.Errorf("%w: the subject must be one line of UTF-8", ErrInvalidMessage)
	}
	if !utf8.ValidString(m.Text) {
		return nil, fmt.Errorf("%w: the text is not UTF-8", ErrInvalidMessage)
	}
	id := m.MessageID
	if id == "" {
		if id, err = newMessageID(from.Address); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(id, "<>\r\n \t") {
		return nil, fmt.Errorf("%w: Message-ID %q", ErrInvalidMessage, id)
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	text := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\r", "\n")
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Auto-Submitted", "auto-generated")
	if plain7bit(text) {
		header("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n")
		b.WriteString(strings.ReplaceAll(text, "\n", "\r\n"))
	} else {
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		w := quotedprintable.NewWriter(&b)
		if _, err := w.Write([]byte(text)); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// plain7bit reports whether text is ASCII without control characters
// other than LF and tab, in lines of at most 998 octets (RFC 5322 2.1.1).
func plain7bit(text string) bool {
	for line := range strings.SplitSeq(text, "\n") {
		if len(line) > 998 {
			return false
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c >= 0x7f || (c < 0x20 && c != '\t') {
				return false
			}
		}
	}
	return true
}

// newMessageID is 128 random bits at the domain of addr.
func newMessageID(addr string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mail: reading random Message-ID: %w", err)
	}
	domain := "sessiond.invalid"
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i+1 < len(addr) {
		domain = addr[i+1:]
	}
	return base64.RawURLEncoding.EncodeToString(b[:]) + "@" + domain, nil
}
