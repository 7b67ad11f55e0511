// Command sessiond is the standalone session server and its admin tool.
//
//	sessiond serve                     run the HTTP API (no flags needed)
//	sessiond users add|list|delete     manage built-in accounts
//	sessiond sessions list|revoke      list or revoke sessions by user or id
//	sessiond keys list|rotate          show or rotate signing keys
//	sessiond gc                        sweep expired sessions now
//	sessiond migrate                   apply the PostgreSQL schema
//	sessiond load --target URL         drive a running sessiond and print latencies
//	sessiond version
//
// Every flag has an environment twin: --access-ttl is SESSIOND_ACCESS_TTL.
// Exit status: 0 success, 1 failure, 2 bad usage, with a one-line error on
// stderr.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
