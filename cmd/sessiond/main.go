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
// Each subcommand has its own flags ('sessiond <command> -h' lists them),
// each with an environment twin: --access-ttl is SESSIOND_ACCESS_TTL. Only
// serve runs background work (key rotation, sweeping, the revocation
// feed); the admin subcommands only read and edit the store. Exit status:
// 0 success, 1 failure, 2 bad usage, with a one-line error on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

const usage = `usage: sessiond <command> [flags]

commands:
  serve                         run the HTTP API (127.0.0.1:8080, data in ./sessiond-data)
  users add <email>             create an account (password from stdin)
  users list | users delete <id>
  sessions list --user <id>     list a user's live sessions
  sessions revoke --user <id> | --id <session-id>
  keys list | keys rotate       show or rotate signing keys
  gc                            delete expired sessions now
  migrate                       apply the PostgreSQL schema (PostgreSQL stores only)
  load --target URL             drive a running sessiond (loopback only) and print throughput and latency
  version                       print the version

Run 'sessiond <command> -h' for the flags of a command. Every flag has an
environment twin: --store is SESSIOND_STORE, --access-ttl is SESSIOND_ACCESS_TTL.
`

// run is main without the process: testable, and every exit goes through it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdin, stdout, stderr, getenv)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := redactSecrets(oneLine(strings.TrimPrefix(err.Error(), "usage: ")), args, getenv)
	fmt.Fprintln(stderr, "sessiond:", msg)
	return exitCode(err)
}

// exitCode is 2 for bad usage (flags, arguments, configuration: nothing
// failed, the command was wrong) and 1 for a failure.
func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, node.ErrConfig) || errors.Is(err, session.ErrPolicy) {
		return 2
	}
	return 1
}

// redactSecrets hides in msg the passwords of the store URLs given on the
// command line or in SESSIOND_STORE. The layers below may quote the URL in
// an error ("store %q: unknown scheme"); this is the last place that sees
// both the message and the secrets before anything is printed.
func redactSecrets(msg string, args []string, getenv func(string) string) string {
	urls := []string{getenv("SESSIOND_STORE")}
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "store" || !strings.HasPrefix(a, "-") {
			continue
		}
		if hasVal {
			urls = append(urls, val)
		} else if i+1 < len(args) {
			urls = append(urls, args[i+1])
		}
	}
	for _, u := range urls {
		for _, secret := range node.StoreURLSecrets(u) {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
	}
	return msg
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr, getenv)
	case "users":
		return cmdUsers(ctx, rest, stdin, stdout, stderr, getenv)
	case "sessions":
		return cmdSessions(ctx, rest, stdout, stderr, getenv)
	case "keys":
		return cmdKeys(ctx, rest, stdout, stderr, getenv)
	case "gc":
		return cmdGC(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr, getenv)
	case "load":
		return cmdLoad(ctx, rest, stdout, stderr, getenv)
	case "version":
		c := newCommand("version", "sessiond version", stderr)
		if err := c.parse(rest, stdout, getenv); err != nil {
			return err
		}
		if err := c.noArgs("version"); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "sessiond", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
