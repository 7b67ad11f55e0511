package main

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/account"
)

var storeNames = map[string]string{"bolt": "bbolt", "redis": "Redis", "postgres": "PostgreSQL"}

// report prints the tables: medians first, then every round.
func (b *bench) report() {
	o, m, w := b.o, b.machine, b.out
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("## Over HTTP, beside floors")
	p("")
	p("Command (in `bench/`): `go run . %s`", strings.Join(o.args, " "))
	p("")
	deps := []string{}
	for _, d := range []struct{ path, name string }{{"go.etcd.io/bbolt", "bbolt"}, {"github.com/redis/go-redis/v9", "go-redis"}, {"github.com/jackc/pgx/v5", "pgx"}} {
		if v := m.deps[d.path]; v != "" {
			deps = append(deps, d.name+" "+v)
		}
	}
	stores := []string{}
	if m.redis != "" {
		stores = append(stores, "Redis "+m.redis)
	}
	if m.postgres != "" {
		stores = append(stores, "PostgreSQL "+m.postgres)
	}
	p("- Machine: %s, %d logical CPUs, Linux %s; %s; sessiond %s; %s; %s; the working directory (bbolt's files) on %s.",
		m.cpu, m.cpus, m.kernel, m.goVer, m.sessiond, strings.Join(append(stores, "on 127.0.0.1"), ", "), strings.Join(deps, ", "), m.fs)
	p("- Load average (1, 5, 15 min): %s at the start, %s at the end (%s in all).", m.load, b.machineEnd, time.Since(b.start).Round(time.Second))
	if o.pin {
		p("- Every server and floor on CPU %s (`taskset`) with GOMAXPROCS=1; the load generator on CPU %s; Redis and PostgreSQL not pinned.", o.serverCPU, o.loadCPU)
	} else {
		p("- Not pinned (--pin=false): servers with GOMAXPROCS=1, on any CPU; ratios are not comparable between machines.")
	}
	rounds := fmt.Sprintf("%d rounds", o.rounds)
	if o.rounds == 1 {
		rounds = "1 round (fewer than 3: a smoke run, not figures to quote)"
	} else if o.rounds < 3 {
		rounds += " (fewer than 3: not figures to quote)"
	}
	p("- %s, round-robin: every target for %v after %v of unmeasured load, %d concurrent clients (%d for logins). Values are medians over the rounds; each ratio is taken within its round, and the median of those is shown.",
		rounds, o.duration, o.warmup, o.concurrency, o.loginConcurrency)
	p("- sessiond runs as `sessiond serve` does by default but for limits raised so that nothing is throttled (the limiters still run) and signup allowed; its log, audit lines included, goes to a file.")
	algFrom := "its default"
	if o.alg != "" {
		algFrom = "--alg"
	}
	p("- sessiond signs %s (%s); the composite floors sign %s too.", b.alg, algFrom, b.alg)
	if o.only["refresh"] && (o.has("postgres") || o.has("redis")) {
		pgPool, redisPool := "its default pool (`pgstore.DefaultMaxConns`)", "its default pool (`redisstore.DefaultPoolSize`)"
		if o.pin { // sessiond runs with GOMAXPROCS=1
			pgPool, redisPool = "its default pool (`pgstore.DefaultMaxConns`: 16 connections at GOMAXPROCS=1)", "its default pool (`redisstore.DefaultPoolSize`: 64 connections)"
		}
		if u, err := url.Parse(o.pgURL); err == nil && u.Query().Get("pool_max_conns") != "" {
			pgPool = "pool_max_conns=" + u.Query().Get("pool_max_conns") + " from --postgres"
		}
		if u, err := url.Parse(o.redisURL); err == nil && u.Query().Get("pool_size") != "" {
			redisPool = "pool_size=" + u.Query().Get("pool_size") + " from --redis"
		}
		p("- sessiond on PostgreSQL: %s; on Redis: %s. The floors have %d connections.", pgPool, redisPool, o.concurrency)
	}
	p("")

	if o.only["refresh"] {
		p("### Refresh (`POST /v1/refresh`)")
		p("")
		p("| refresh over HTTP | sessiond | CPU/op | composite floor | CPU/op | ratio | bare driver call | ratio |")
		p("|---|---:|---:|---:|---:|---:|---|---:|")
		for _, st := range o.stores {
			sd, cf := "refresh/"+st+"/sessiond", "refresh/"+st+"/composite"
			var drv, drvRatio string
			switch st {
			case "bolt":
				bt, up := "refresh/bolt/batch", "refresh/bolt/update"
				drv = fmt.Sprintf("`Batch` (group commit, at most %d a batch), %d goroutines: %s; `Update` with an fsync per operation, %d goroutines: %s",
					o.boltBatch, o.concurrency, b.rate(bt), o.concurrency, b.rate(up))
				drvRatio = b.ratio(sd, bt) + " / " + b.ratio(sd, up)
			case "redis":
				drv = fmt.Sprintf("one `EVALSHA` of an equivalent script from go-redis, %d goroutines: %s", o.concurrency, b.rate("refresh/redis/driver"))
				drvRatio = b.ratio(sd, "refresh/redis/driver")
			case "postgres":
				drv = fmt.Sprintf("one `UPDATE ... RETURNING` with pgx, %d connections: %s", o.concurrency, b.rate("refresh/postgres/driver"))
				drvRatio = b.ratio(sd, "refresh/postgres/driver")
			}
			p("| %s | %s | %s | %s | %s | **%s** | %s | %s |", storeNames[st], b.rate(sd), b.cpu(sd), b.rate(cf), b.cpu(cf), b.ratio(sd, cf), drv, drvRatio)
		}
		p("")
		p("The composite floor is a plain net/http server (`bench/children.go`) doing only what a refresh cannot avoid: decode the same JSON body, make the one store call of the bare driver floor, sign one %s access token with sessiond's claim set, encode the same answer. The bare driver floor is that store call alone, from %d goroutines in one process on the server's core. On bbolt the composite floor and the bare `Batch` floor group their commits (bbolt's `Batch`, at most %d a batch, bbolt's default delay of 10 ms), the bare `Update` floor commits each call on its own; every commit is fsync'd. CPU/op is the server process's CPU time (user + system) over the requests it answered in the window.", b.alg, o.concurrency, o.boltBatch)
		p("")
	}

	if o.only["verify"] {
		p("### Verified call")
		p("")
		p("| verified call over HTTP | rate | server CPU/op | ratio to the bare handler |")
		p("|---|---:|---:|---:|")
		p("| bare net/http handler (204) | %s | %s | 1 |", b.rate("verify/bare"), b.cpu("verify/bare"))
		p("| `httpauth` Require, one token repeated | %s | %s | **%s** |", b.rate("verify/httpauth-1"), b.cpu("verify/httpauth-1"), b.ratio("verify/httpauth-1", "verify/bare"))
		p("| `httpauth` Require, %s distinct tokens in rotation | %s | %s | **%s** |", thousands(float64(o.verifyTokens)), b.rate("verify/httpauth-n"), b.cpu("verify/httpauth-n"), b.ratio("verify/httpauth-n", "verify/bare"))
		for _, st := range o.stores {
			k := "verify/session/" + st
			p("| sessiond `GET /v1/session`, %s | %s | %s | %s |", storeNames[st], b.rate(k), b.cpu(k), b.ratio(k, "verify/bare"))
		}
		p("")
		p("The bare handler and `httpauth.New(m).Require` around it are one net/http server on the server's core, the Manager on memstore (a verification reads no store); every token was verified once before the window (the cache then holds them all). `GET /v1/session` is sessiond's whole route: the middleware with its per-session rate limit, the session read and the account read.")
		p("")
	}

	if o.only["login"] {
		pa := account.DefaultParams
		p("### Login (`POST /v1/login`)")
		p("")
		p("| login over HTTP | sessiond | CPU/op | bare argon2id loop | ratio |")
		p("|---|---:|---:|---:|---:|")
		for _, st := range o.stores {
			k := "login/" + st
			p("| %s | %s | %s | %s | **%s** |", storeNames[st], b.rate(k), b.cpu(k), b.rate("login/argon2"), b.ratio(k, "login/argon2"))
		}
		p("")
		p("The bare loop is `argon2.IDKey` with sessiond's parameters (%d MiB, t=%d, p=%d), as many at once as sessiond hashes (GOMAXPROCS, here 1), in one process on the server's core; sessiond's login hashes once per request. Each round starts the bare loop and, for each store, a sessiond of its own (on bbolt in a directory of its own), so that no one process's speed of argon2id, which varies from process to process, is carried into every round.", pa.Memory/1024, pa.Time, pa.Threads)
		p("")
	}

	if mr := b.memory; mr != nil {
		p("### Redis memory per session")
		p("")
		p("| Redis memory per session (%s sessions, one per user, a 120-character user agent; Redis %s) | bytes |", thousands(float64(mr.sessions)), mr.version)
		p("|---|---:|")
		p("| change of `used_memory`, per session | **%.0f** |", mr.usedPerSess)
		p("| `MEMORY USAGE` of the session's HASH | %.0f |", mr.hashBytes)
		p("| `MEMORY USAGE` of its user's index (one entry) | %.0f |", mr.indexBytes)
		if mr.otherBytes > 0 {
			p("| `MEMORY USAGE` of other new keys, per session | %.0f |", mr.otherBytes)
		}
		p("| HASH + index | %.0f |", mr.hashBytes+mr.indexBytes)
		p("")
		p("Sessions minted through sessiond's service API (`POST /v1/sessions`) on a private redis-server (same binary, no persistence), so no other client of the shared Redis moves `used_memory`, %d at a time; measured after %d sessions minted the same way made the keys every deployment has and opened sessiond's connections; each `used_memory` is read once it has stopped moving (the same three seconds in a row), after Redis has shrunk the buffers a burst left in its clients. A minted session records its client (`bench`, 5 bytes) where a login's records none.", o.concurrency, o.concurrency)
		p("")
	}

	if len(b.results) > 0 {
		p("### Each round")
		p("")
		head := "| measurement |"
		sep := "|---|"
		for r := 1; r <= o.rounds; r++ {
			head += fmt.Sprintf(" round %d |", r)
			sep += "---:|"
		}
		p("%s median |", head)
		p("%s---:|", sep)
		for _, t := range b.targets {
			rs := b.results[t.key]
			cells := make([]string, len(rs))
			vals := make([]float64, len(rs))
			for i, r := range rs {
				cells[i], vals[i] = thousands(r.rate())+"/s", r.rate()
			}
			p("| %s | %s | %s/s |", label(t.key, o), strings.Join(cells, " | "), thousands(median(vals)))
		}
		for _, rt := range b.ratios() {
			cells := make([]string, len(rt.per))
			for i, v := range rt.per {
				cells[i] = fmt.Sprintf("%.2fx", v)
			}
			p("| %s | %s | **%.2fx** |", rt.name, strings.Join(cells, " | "), median(rt.per))
		}
		p("")
		p("| target (medians) | server process on CPU | server waiting for a CPU | load generator on CPU | failed requests |")
		p("|---|---:|---:|---:|---:|")
		for _, t := range b.targets {
			rs := b.results[t.key]
			var srv, wait, cli []float64
			fails := 0
			for _, r := range rs {
				if r.window > 0 {
					srv = append(srv, r.serverCPU.Seconds()/r.window.Seconds())
					wait = append(wait, r.serverRunWait.Seconds()/r.window.Seconds())
					if r.clientCPU > 0 {
						cli = append(cli, r.clientCPU.Seconds()/r.window.Seconds())
					}
				}
				fails += r.failures
			}
			cl := "—"
			if len(cli) > 0 {
				cl = fmt.Sprintf("%.0f%%", 100*median(cli))
			}
			p("| %s | %.0f%% | %.0f%% | %s | %d |", label(t.key, o), 100*median(srv), 100*median(wait), cl, fails)
		}
		p("")
		p("On CPU: CPU time over the window (100%% is one core). Waiting for a CPU: the time the server's threads were ready to run but had no CPU (run-queue wait from /proc/PID/task/*/schedstat, summed over threads, so it may pass 100%%): on a machine shared with other work, what the others took from the server's core.")
		p("")
	}
}

// ratioRow is one ratio, per round.
type ratioRow struct {
	name string
	per  []float64
}

// ratios are the ratios the tables show, each taken within its round.
func (b *bench) ratios() []ratioRow {
	o := b.o
	var out []ratioRow
	add := func(name, a, c string) {
		ra, rc := b.results[a], b.results[c]
		if len(ra) == 0 || len(ra) != len(rc) {
			return
		}
		row := ratioRow{name: name}
		for i := range ra {
			row.per = append(row.per, safeDiv(ra[i].rate(), rc[i].rate()))
		}
		out = append(out, row)
	}
	for _, st := range o.stores {
		sd := "refresh/" + st + "/sessiond"
		add("refresh, "+storeNames[st]+": sessiond ÷ composite floor", sd, "refresh/"+st+"/composite")
		if st == "bolt" {
			add("refresh, bbolt: sessiond ÷ `Batch`", sd, "refresh/bolt/batch")
			add("refresh, bbolt: sessiond ÷ `Update`", sd, "refresh/bolt/update")
		} else {
			add("refresh, "+storeNames[st]+": sessiond ÷ bare driver call", sd, "refresh/"+st+"/driver")
		}
	}
	add("verify: `httpauth`, one token ÷ bare handler", "verify/httpauth-1", "verify/bare")
	add("verify: `httpauth`, many tokens ÷ bare handler", "verify/httpauth-n", "verify/bare")
	for _, st := range o.stores {
		add("verify: `GET /v1/session`, "+storeNames[st]+" ÷ bare handler", "verify/session/"+st, "verify/bare")
	}
	for _, st := range o.stores {
		add("login, "+storeNames[st]+": sessiond ÷ bare argon2id", "login/"+st, "login/argon2")
	}
	return out
}

// label names a target in the per-round tables.
func label(key string, o *options) string {
	f := strings.Split(key, "/")
	switch {
	case f[0] == "refresh":
		what := map[string]string{"sessiond": "sessiond", "composite": "composite floor", "driver": "bare driver call",
			"batch": "bare `Batch`", "update": "bare `Update`, fsync each"}[f[2]]
		return "refresh, " + storeNames[f[1]] + ": " + what
	case key == "verify/bare":
		return "verify: bare handler"
	case key == "verify/httpauth-1":
		return "verify: `httpauth`, one token"
	case key == "verify/httpauth-n":
		return fmt.Sprintf("verify: `httpauth`, %s tokens", thousands(float64(o.verifyTokens)))
	case f[0] == "verify":
		return "verify: sessiond `GET /v1/session`, " + storeNames[f[2]]
	case key == "login/argon2":
		return "login: bare argon2id loop"
	case f[0] == "login":
		return "login: sessiond, " + storeNames[f[1]]
	}
	return key
}

// rate is the median rate of a target.
func (b *bench) rate(key string) string {
	rs := b.results[key]
	if len(rs) == 0 {
		return "—"
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.rate()
	}
	return thousands(median(v)) + "/s"
}

// cpu is the median server CPU time per operation of a target.
func (b *bench) cpu(key string) string {
	rs := b.results[key]
	var v []float64
	for _, r := range rs {
		if c := r.cpuPerOp(); c > 0 {
			v = append(v, float64(c))
		}
	}
	if len(v) == 0 {
		return "—"
	}
	d := time.Duration(median(v))
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// ratio is the median over rounds of a's rate over c's, each round's own.
func (b *bench) ratio(a, c string) string {
	ra, rc := b.results[a], b.results[c]
	if len(ra) == 0 || len(ra) != len(rc) {
		return "—"
	}
	v := make([]float64, len(ra))
	for i := range ra {
		v[i] = safeDiv(ra[i].rate(), rc[i].rate())
	}
	return fmt.Sprintf("%.2fx", median(v))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// thousands formats a rate: 9,915 (1.5 below ten).
func thousands(x float64) string {
	if x < 10 {
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
