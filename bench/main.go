// Command bench measures sessiond over HTTP beside its floors (issue 12):
// it builds ./cmd/sessiond once, runs `sessiond serve` as a real process on
// each store (bbolt in a temporary directory, Redis on a database of its
// own, PostgreSQL in a database of its own), starts a floor server for each,
// and drives them round-robin for a few rounds from a load generator on
// another core. It prints the medians and each round's ratios as markdown
// tables, the way BENCHMARKS.md shows them.
//
// Run it from this directory:
//
//	go run . --rounds 3 --duration 10s --concurrency 64 --stores bolt,redis,postgres --only refresh,verify,login,memory
//
// Every server it starts listens on 127.0.0.1 only, every run is bounded
// in time, and every process it starts is stopped when it ends, also on
// failure or on SIGINT/SIGTERM (each child is in its own process group and
// dies with its parent). The databases it creates are dropped, and the
// Redis database it uses is flushed, but only after it was found empty.
//
// The same binary is the floor servers and the floor loops, run as child
// processes with an internal first argument (see childCommands).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// childEnv marks a process started by bench as one of its children. A test
// binary, which has no subcommands of its own, dispatches on it in TestMain.
const childEnv = "SESSIOND_BENCH_CHILD"

// childCommands are the internal subcommands: the processes bench starts.
var childCommands = map[string]func(ctx context.Context, args []string, stdout io.Writer) error{
	cmdFloorServer:  floorServerMain,
	cmdFloorDriver:  floorDriverMain,
	cmdVerifyServer: verifyServerMain,
}

const (
	cmdFloorServer  = "_floor-server"
	cmdFloorDriver  = "_floor-driver"
	cmdVerifyServer = "_verify-server"
)

func main() { os.Exit(mainArgs(os.Args[1:])) }

// mainArgs runs bench (or one of its child commands) and returns the exit
// status: 0, 1 on failure, 2 on bad usage.
func mainArgs(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(args) > 0 && childCommands[args[0]] != nil {
		err = childCommands[args[0]](ctx, args[1:], os.Stdout)
	} else {
		err = run(ctx, args, os.Stdout, os.Stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	default:
		var ec exitCode
		if errors.As(err, &ec) {
			return int(ec)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
}

// errUsage marks bad usage (exit status 2).
var errUsage = errors.New("usage")

// exitCode is the status of the pinned copy of bench, passed on as is.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
