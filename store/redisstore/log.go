package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// slogRedis routes go-redis's own messages (failed dials, reconnects) into
// the structured log, so a JSON log stays JSON while Redis is away.
type slogRedis struct{ log *slog.Logger }

func (l slogRedis) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}

// UseLogger sends go-redis's messages to log. go-redis has one process-wide
// logger, so this is a process-wide setting: call it once, from main.
func UseLogger(log *slog.Logger) { redis.SetLogger(slogRedis{log}) }

// WithLogger sets the log the Store writes its own operational messages
// to (a revocation feed lost and reconnected). Default slog.Default().
func WithLogger(log *slog.Logger) Option { return func(c *config) { c.feed.log = log } }
