package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// options are bench's flags.
type options struct {
	rounds           int
	duration, warmup time.Duration
	concurrency      int
	loginConcurrency int
	stores           []string
	only             map[string]bool
	redisURL, pgURL  string
	memorySessions   int
	verifyTokens     int
	boltBatch        int
	alg              string
	pin              bool
	serverCPU        string
	loadCPU          string
	dir              string
	keep             bool
	profile          string
	repo             string
	sessiond         string
	args             []string // as given, for the report
}

var (
	allStores = []string{"bolt", "redis", "postgres"}
	allOps    = []string{"refresh", "verify", "login", "memory"}
)

const usage = `usage: go run . [flags]   (from the bench directory of the repository)

Runs sessiond serve on each store beside its floors, round-robin, and prints
markdown tables of medians and per-round ratios. Load goes to 127.0.0.1 only.

flags:
`

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; every target runs once per round, and the tables show medians over rounds")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window of each target in each round (at most 2m)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each window (at most the window)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients (refresh: one session each) and driver goroutines")
	fs.IntVar(&o.loginConcurrency, "login-concurrency", 4, "concurrent login clients, one account each (argon2id on one core: more only queue)")
	stores := fs.String("stores", strings.Join(allStores, ","), "stores to run sessiond on: bolt, redis, postgres")
	only := fs.String("only", strings.Join(allOps, ","), "what to measure: refresh, verify, login, memory (Redis memory per session)")
	fs.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/10", "Redis on loopback, with a database of bench's own: it must be empty, and is flushed at the end")
	fs.StringVar(&o.pgURL, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL on loopback; bench creates a database of its own there and drops it at the end (the URL's query, pool_max_conns=64 say, reaches sessiond)")
	fs.IntVar(&o.memorySessions, "memory-sessions", 10000, "sessions for the Redis memory measurement (on a private redis-server)")
	fs.IntVar(&o.verifyTokens, "verify-tokens", 10000, "distinct access tokens of the httpauth measurement")
	fs.IntVar(&o.boltBatch, "bolt-batch", 0, "most calls in one bbolt group commit in the floors (default: --concurrency)")
	fs.StringVar(&o.alg, "alg", "", "sessiond's --signing-alg, ES256 or EdDSA (default: sessiond's own default); the floors sign with what sessiond signs")
	fs.BoolVar(&o.pin, "pin", true, "pin servers to --server-cpu (taskset, GOMAXPROCS=1) and the load generator to --load-cpu")
	fs.StringVar(&o.serverCPU, "server-cpu", "1", "CPU of every server and floor")
	fs.StringVar(&o.loadCPU, "load-cpu", "0", "CPU of the load generator")
	fs.StringVar(&o.dir, "dir", "", "working directory for binaries, bbolt files and logs (default: a new temporary one, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs) at the end")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of every sessiond and composite floor window into this directory (sessiond is then built with net/http/pprof on loopback)")
	fs.StringVar(&o.repo, "repo", "", "root of the sessiond repository (default: found above the working directory)")
	fs.StringVar(&o.sessiond, "sessiond", "", "a sessiond binary to run instead of building ./cmd/sessiond")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch {
	case o.rounds < 1 || o.rounds > 20:
		return nil, fmt.Errorf("%w: --rounds must be 1..20", errUsage)
	case o.duration <= 0 || o.duration > 2*time.Minute:
		return nil, fmt.Errorf("%w: --duration must be in (0, 2m]", errUsage)
	case o.warmup < 0 || o.warmup > o.duration:
		return nil, fmt.Errorf("%w: --warmup must be in [0, --duration]", errUsage)
	case o.concurrency < 1 || o.concurrency > 1024:
		return nil, fmt.Errorf("%w: --concurrency must be 1..1024", errUsage)
	case o.loginConcurrency < 1 || o.loginConcurrency > 64:
		return nil, fmt.Errorf("%w: --login-concurrency must be 1..64", errUsage)
	case o.memorySessions < 1 || o.memorySessions > 1000000:
		return nil, fmt.Errorf("%w: --memory-sessions must be 1..1000000", errUsage)
	case o.verifyTokens < 1 || o.verifyTokens > 100000:
		return nil, fmt.Errorf("%w: --verify-tokens must be 1..100000", errUsage)
	case o.boltBatch < 0:
		return nil, fmt.Errorf("%w: --bolt-batch must be positive", errUsage)
	case o.alg != "" && o.alg != "ES256" && o.alg != "EdDSA":
		return nil, fmt.Errorf("%w: --alg must be ES256 or EdDSA", errUsage)
	case o.pin && o.serverCPU == o.loadCPU:
		return nil, fmt.Errorf("%w: --server-cpu and --load-cpu must differ", errUsage)
	}
	if o.boltBatch == 0 {
		o.boltBatch = o.concurrency
	}
	var err error
	if o.stores, err = list(*stores, allStores, "--stores"); err != nil {
		return nil, err
	}
	ops, err := list(*only, allOps, "--only")
	if err != nil {
		return nil, err
	}
	o.only = map[string]bool{}
	for _, op := range ops {
		o.only[op] = true
	}
	for _, u := range []struct{ flag, url string }{{"--redis", o.redisURL}, {"--postgres", o.pgURL}} {
		p, err := url.Parse(u.url)
		if err != nil || p.Hostname() == "" {
			return nil, fmt.Errorf("%w: %s: want a URL with a host", errUsage, u.flag)
		}
		if !loopbackHost(p.Hostname()) {
			return nil, fmt.Errorf("%w: %s %s: %v", errUsage, u.flag, p.Hostname(), errNotLoopback)
		}
	}
	if o.pin && os.Getenv(pinnedEnv) == "" && runtime.NumCPU() < 2 {
		return nil, fmt.Errorf("%w: pinning needs two CPUs, this process has %d: run with --pin=false", errUsage, runtime.NumCPU())
	}
	return o, nil
}

// list splits a comma-separated flag and checks each item is in allowed.
func list(s string, allowed []string, flagName string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !slices.Contains(allowed, item) {
			return nil, fmt.Errorf("%w: %s: %q is not one of %s", errUsage, flagName, item, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s names nothing", errUsage, flagName)
	}
	// In the order of allowed, so tables read the same whatever the order given.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(allowed, a) - slices.Index(allowed, b) })
	return out, nil
}

func (o *options) has(store string) bool { return slices.Contains(o.stores, store) }
