package mail

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultOutboxSize is how many messages an Outbox holds by default.
const DefaultOutboxSize = 256

// prepareTimeout bounds an item's prepare step.
const prepareTimeout = 5 * time.Second

// Outbox sends messages through a Mailer in the background: Post queues
// and returns at once, never waiting on the Mailer, and Run sends what
// is queued, one message at a time. The queue is bounded: Post refuses
// (reports false) when it is full, and nothing of that message is done.
// Failures are logged, never returned to whoever posted. An Outbox is
// safe for concurrent use; Run it once.
type Outbox struct {
	mailer Mailer
	log    *slog.Logger
	queue  chan item
	sent   atomic.Int64
	failed atomic.Int64
}

type item struct {
	msg     *Message
	prepare func(context.Context) error
	what    string
}

// NewOutbox returns an Outbox of size messages (0: DefaultOutboxSize)
// sending through m, logging its failures to log (nil: slog.Default()).
func NewOutbox(m Mailer, size int, log *slog.Logger) *Outbox {
	if size <= 0 {
		size = DefaultOutboxSize
	}
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{mailer: m, log: log, queue: make(chan item, size)}
}

// Post queues msg and reports whether there was room. Once its turn comes,
// prepare (if not nil) runs first, and msg is sent only if it succeeds:
// whatever the mail refers to (a token to store) is made then, apart from
// the caller. what names the message in logs (never a secret, never an
// address: "password reset of user X").
func (o *Outbox) Post(msg *Message, prepare func(context.Context) error, what string) bool {
	select {
	case o.queue <- item{msg: msg, prepare: prepare, what: what}:
		return true
	default:
		return false
	}
}

// Run sends queued messages until ctx ends, then returns; messages still
// queued then are dropped (and their number logged). A message being sent
// when ctx ends is given up.
func (o *Outbox) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if n := len(o.queue); n > 0 {
				o.log.Warn("mail outbox stopped with messages unsent", "count", n)
			}
			return
		case it := <-o.queue:
			o.deliver(ctx, it)
		}
	}
}

func (o *Outbox) deliver(ctx context.Context, it item) {
	if it.prepare != nil {
		pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
		err := it.prepare(pctx)
		cancel()
		if err != nil {
			o.failed.Add(1)
			o.log.Error("mail not sent: preparing it failed", "mail", it.what, "err", err)
			return
		}
	}
	if err := o.mailer.Send(ctx, it.msg); err != nil {
		o.failed.Add(1)
		o.log.Error("mail not sent", "mail", it.what, "err", err)
		return
	}
	o.sent.Add(1)
	o.log.Info("mail sent", "mail", it.what)
}

// Stats reports how many messages were sent and how many failed (at the
// prepare step or the Mailer) so far.
func (o *Outbox) Stats() (sent, failed int64) { return o.sent.Load(), o.failed.Load() }
