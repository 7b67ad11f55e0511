package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/token"
)

// adminFlags are the flags every admin subcommand shares: where the store
// is, and how to log. Nothing of serve's.
type adminFlags struct {
	store               string
	logFormat, logLevel string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	storeFlag(fs, &a.store)
	logFlags(fs, &a.logFormat, &a.logLevel, "warn")
}

// open opens a node for a one-shot command on the store of the flags,
// with the master key of SESSIOND_MASTER_KEY and what mod sets. The
// configuration is judged before anything is opened (bad usage creates
// nothing), and the node starts no background work: no key rotation,
// sweep or feed (Run is never called).
func (a *adminFlags) open(ctx context.Context, getenv func(string) string, stderr io.Writer, mod func(*node.Config)) (*node.Node, error) {
	cfg := node.Config{Store: a.store}
	if v := getenv("SESSIOND_MASTER_KEY"); v != "" {
		k, err := node.ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("SESSIOND_MASTER_KEY: %w", err)
		}
		cfg.MasterKey = k
	}
	if mod != nil {
		mod(&cfg)
	}
	log, err := newLogger(a.logFormat, a.logLevel, stderr)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Logger = log
	return node.Open(ctx, cfg)
}

// group is a command with subcommands (users, sessions, keys).
type group struct {
	name  string
	subs  []string // in the order of the usage text
	usage string
}

// pick returns the subcommand in args; "-h" prints the group's usage.
func (g group) pick(args []string, stdout io.Writer) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%w: %s: want a subcommand (%s); see 'sessiond %s -h'", errUsage, g.name, joinOr(g.subs), g.name)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, g.usage)
		return "", nil, flag.ErrHelp
	}
	for _, s := range g.subs {
		if args[0] == s {
			return s, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("%w: %s %q: want %s", errUsage, g.name, args[0], joinOr(g.subs))
}

func joinOr(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " or " + s[len(s)-1]
}

// checkAlg judges a --signing-alg value ("": keep what the ring uses).
func checkAlg(s string) (token.Algorithm, error) {
	switch a := token.Algorithm(s); a {
	case "", token.EdDSA, token.ES256, token.RS256:
		return a, nil
	}
	return "", fmt.Errorf("%w: --signing-alg %q: want EdDSA, ES256 or RS256", errUsage, s)
}
