package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/mail"
)

// TestOutbox: Post never waits on the Mailer and refuses once the queue is
// full; Run sends each message once its prepare step succeeded, skips it
// (logged) when prepare fails, logs a Mailer failure, and stops with ctx.
func TestOutbox(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPOptions{STARTTLS: true})
	logs := &testenv.LogBuffer{}
	m := &mail.SMTP{Host: srv.Host, Port: srv.Port, TLSConfig: &tls.Config{RootCAs: srv.RootCAs}}
	o := mail.NewOutbox(m, 3, logs.Logger())

	msg := func(to string) *mail.Message { x := testMessage(); x.To = to; return x }
	prepared := make(chan string, 3)
	ok := func(name string) func(context.Context) error {
		return func(context.Context) error { prepared <- name; return nil }
	}
	start := time.Now()
	posts := []bool{
		o.Post(msg("one@example.com"), ok("one"), "first"),
		o.Post(msg("two@example.com"), func(context.Context) error { return errors.New("store down") }, "second"),
		o.Post(msg("three@example.com"), ok("three"), "third"),
		o.Post(msg("four@example.com"), ok("four"), "fourth"), // the queue holds 3
	}
	if time.Since(start) > time.Second {
		t.Errorf("Post waited %v with nobody running the outbox", time.Since(start))
	}
	if want := []bool{true, true, true, false}; !equal(posts, want) {
		t.Fatalf("Post: %v, want %v", posts, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { o.Run(ctx); close(ran) }()
	got := srv.WaitMails(t, 2, 10*time.Second)
	var to []string
	for _, g := range got {
		to = append(to, g.To...)
	}
	if strings.Join(to, ",") != "one@example.com,three@example.com" {
		t.Errorf("sent to %v, want one and three (two failed to prepare, four was refused)", to)
	}
	if p := []string{<-prepared, <-prepared}; p[0] != "one" || p[1] != "three" {
		t.Errorf("prepared %v", p)
	}
	if !logs.Contains("preparing it failed") || !logs.Contains("mail=second") {
		t.Errorf("the prepare failure is not logged:\n%s", logs)
	}
	// The server has the messages; wait for the client to hear so.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if sent, _ := o.Stats(); sent == 2 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
	if sent, failed := o.Stats(); sent != 2 || failed != 1 {
		t.Errorf("Stats: sent %d failed %d, want 2 and 1", sent, failed)
	}

	// A Mailer failure is logged and the outbox goes on.
	bad := mail.NewOutbox(&mail.SMTP{Host: srv.Host, Port: srv.Port}, 2, logs.Logger()) // untrusted certificate
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go bad.Run(ctx2)
	bad.Post(msg("five@example.com"), nil, "fifth")
	deadline := time.Now().Add(10 * time.Second)
	for !logs.Contains("mail=fifth") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed send is not logged:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !logs.Contains("mail not sent") {
		t.Errorf("log: %s", logs)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
