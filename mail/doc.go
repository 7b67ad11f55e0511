// Package mail sends sessiond's mails: a Message (plain text, the headers
// RFC 5322 asks for), the Mailer interface that delivers one, SMTP, a
// Mailer over SMTP (RFC 5321) with STARTTLS (RFC 3207) or implicit TLS
// (RFC 8314) and AUTH PLAIN (RFC 4954) only over TLS, and Outbox, a
// bounded queue that sends in the background so that nobody waits on an
// SMTP server.
//
// It knows nothing of HTTP, sessions or accounts: package server composes
// the password-reset mail, package node runs the Outbox.
package mail
