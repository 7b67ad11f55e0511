package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
)

// errUsage marks bad usage (exit status 2).
var errUsage = errors.New("usage")

// command is one subcommand's flag set: its own flags only, each with an
// environment twin (--access-ttl is SESSIOND_ACCESS_TTL).
type command struct {
	fs    *flag.FlagSet
	usage string   // the synopsis printed by -h above the flags
	args  []string // the positional arguments, wherever they stood
}

func newCommand(name, usage string, stderr io.Writer) *command {
	c := &command{fs: flag.NewFlagSet("sessiond "+name, flag.ContinueOnError), usage: usage}
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() {
		out := c.fs.Output()
		fmt.Fprintf(out, "usage: %s\n", c.usage)
		if hasFlags(c.fs) {
			fmt.Fprintln(out, "\nflags (each also SESSIOND_<FLAG>, e.g. --store is SESSIOND_STORE):")
			printFlags(out, c.fs)
		}
	}
	return c
}

// printFlags lists fs's flags as the README writes them: --name, its
// kind, what it does and its default.
func printFlags(out io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, help := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			kind = ""
		}
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintln(out, line)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			help += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(out, "        %s\n", help)
	})
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// envName is the environment twin of a flag.
func envName(flagName string) string {
	if v, ok := envNames[flagName]; ok {
		return v
	}
	return "SESSIOND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envNames are the environment twins not spelled after their flag: the
// file's variable says it holds a path, not the clients themselves.
var envNames = map[string]string{"clients": "SESSIOND_CLIENTS_FILE"}

// parse applies the environment twins of c's flags and then the command
// line, which wins. -h prints c's usage to stdout and returns flag.ErrHelp.
func (c *command) parse(args []string, stdout io.Writer, getenv func(string) string) error {
	var envErr error
	c.fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			c.fs.SetOutput(stdout)
			c.fs.Usage()
			return flag.ErrHelp
		}
	}
	c.fs.Usage = func() {} // the error itself is the one line on stderr
	// Flags may come before or after the arguments (users add <email>
	// --store ...): parse, take one argument, parse the rest again.
	var positional []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	c.args = positional
	return nil
}

// arg is the i-th positional argument; nargs how many there are.
func (c *command) arg(i int) string { return c.args[i] }
func (c *command) nargs() int       { return len(c.args) }

// boolFlag is a boolean flag that remembers whether it was set, so a
// default can depend on other settings (--allow-signup). Bare, =true and
// =false work as for any boolean flag; so do 1/0, TRUE/FALSE, yes/no and
// on/off.
type boolFlag struct {
	set, v bool
}

func (b *boolFlag) IsBoolFlag() bool { return true }

func (b *boolFlag) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *boolFlag) Set(s string) error {
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}

// ptr is nil when the flag was not given, else its value.
func (b *boolFlag) ptr() *bool {
	if !b.set {
		return nil
	}
	v := b.v
	return &v
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", s)
}

// storeFlag adds --store.
func storeFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "store", node.DefaultStore, "store URL: bolt:///path, memory://, redis://host:port/db, redis-cluster://h1:p1,h2:p2, postgres://...")
}

// logFlags adds --log-format and --log-level.
func logFlags(fs *flag.FlagSet, format, level *string, defLevel string) {
	fs.StringVar(format, "log-format", "json", "log format: json or text")
	fs.StringVar(level, "log-level", defLevel, "log level: debug, info, warn, error")
}

// newLogger is the structured log on stderr the flags ask for.
func newLogger(format, level string, stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, hopts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(stderr, hopts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want json or text", errUsage, format)
}

// perMinute is n per minute with a burst of n/div (at least 1).
func perMinute(n, div int) ratelimit.Limit {
	return ratelimit.Limit{Rate: n, Period: time.Minute, Burst: max(1, n/div)}
}

// noArgs refuses positional arguments.
func (c *command) noArgs(name string) error {
	if len(c.args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments (got %q)", errUsage, name, c.args[0])
	}
	return nil
}
