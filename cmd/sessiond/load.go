package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// loadOps are the operations the load command mixes.
var loadOps = []string{"login", "refresh", "verify"}

type loadResult struct {
	lat    []time.Duration
	errs   int
	status map[int]int
}

// cmdLoad drives a running sessiond with N concurrent clients mixing
// logins, refreshes and verified calls for a bounded time, then prints
// throughput and latency percentiles per operation. It only targets
// loopback addresses: it is a benchmark, not a weapon.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	c := newCommand("load", "sessiond load --target URL [flags]", stderr)
	fs := c.fs
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of a running sessiond (loopback only)")
	clients := fs.Int("clients", 8, "concurrent clients, each with its own account")
	duration := fs.Duration("duration", 10*time.Second, "how long to run (at most 10m)")
	mix := fs.String("mix", "login=1,refresh=4,verify=20", "relative weights of the operations")
	password := fs.String("password", "load-test password 1", "password of the load accounts (they are signed up if missing)")
	if err := c.parse(args, stdout, getenv); err != nil {
		return err
	}
	if err := c.noArgs("load"); err != nil {
		return err
	}
	if *clients < 1 || *clients > 1000 {
		return fmt.Errorf("%w: --clients must be 1..1000", errUsage)
	}
	if *duration <= 0 || *duration > 10*time.Minute {
		return fmt.Errorf("%w: --duration must be in (0, 10m]", errUsage)
	}
	weights, err := parseMix(*mix)
	if err != nil {
		return fmt.Errorf("%w: --mix: %v", errUsage, err)
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%w: --target %q: want http(s)://host:port", errUsage, *target)
	}
	if !loopback(u.Hostname()) {
		return fmt.Errorf("%w: --target %q: load is only sent to loopback addresses", errUsage, *target)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	base := strings.TrimRight(*target, "/")

	// Set every client up (signup, login) first, outside the measured
	// window: on a loaded machine argon2id alone may take longer than a
	// short --duration.
	results := make([]map[string]*loadResult, *clients)
	lcs := make([]*loadClient, *clients)
	setupErrs := make([]error, *clients)
	var wg sync.WaitGroup
	for i := range *clients {
		res := map[string]*loadResult{}
		for _, op := range loadOps {
			res[op] = &loadResult{status: map[int]int{}}
		}
		results[i] = res
		lcs[i] = &loadClient{hc: hc, base: base, email: fmt.Sprintf("load-%d@load.test", i), password: *password, res: res}
		wg.Go(func() { setupErrs[i] = lcs[i].setup(ctx) })
	}
	wg.Wait()
	if err := errors.Join(setupErrs...); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	for i, c := range lcs {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for ctx.Err() == nil {
				c.step(ctx, pick(rng, weights))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return report(stdout, results, elapsed, *clients)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseMix(s string) (map[string]int, error) {
	w := map[string]int{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || !slices.Contains(loadOps, k) {
			return nil, fmt.Errorf("%q: want op=weight with op in %v", part, loadOps)
		}
		w[k] = n
	}
	total := 0
	for _, n := range w {
		total += n
	}
	if total == 0 {
		return nil, errors.New("all weights are zero")
	}
	return w, nil
}

func pick(rng *rand.Rand, w map[string]int) string {
	total := 0
	for _, op := range loadOps {
		total += w[op]
	}
	n := rng.IntN(total)
	for _, op := range loadOps {
		if n < w[op] {
			return op
		}
		n -= w[op]
	}
	return loadOps[len(loadOps)-1]
}

type loadClient struct {
	hc              *http.Client
	base            string
	email, password string
	access, refresh string
	res             map[string]*loadResult
}

func (c *loadClient) post(ctx context.Context, path string, body any, bearer string) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return c.do(req)
}

func (c *loadClient) do(req *http.Request) (int, map[string]any, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v, nil
}

func (c *loadClient) setup(ctx context.Context) error {
	code, _, err := c.post(ctx, "/v1/signup", map[string]string{"email": c.email, "password": c.password}, "")
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		return fmt.Errorf("signup of %s: status %d", c.email, code)
	}
	code, v, err := c.post(ctx, "/v1/login", map[string]string{"email": c.email, "password": c.password}, "")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("first login of %s: status %d (raise the server's login limits for load tests)", c.email, code)
	}
	c.access, _ = v["access_token"].(string)
	c.refresh, _ = v["refresh_token"].(string)
	return nil
}

func (c *loadClient) step(ctx context.Context, op string) {
	t0 := time.Now()
	var (
		code int
		v    map[string]any
		err  error
	)
	switch op {
	case "login":
		code, v, err = c.post(ctx, "/v1/login", map[string]string{"email": c.email, "password": c.password}, "")
	case "refresh":
		code, v, err = c.post(ctx, "/v1/refresh", map[string]string{"refresh_token": c.refresh}, "")
	case "verify":
		req, rerr := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/session", nil)
		if rerr != nil {
			err = rerr
			break
		}
		req.Header.Set("Authorization", "Bearer "+c.access)
		code, v, err = c.do(req)
	}
	if ctx.Err() != nil {
		return // the run ended mid-request: not a result
	}
	r := c.res[op]
	if err != nil {
		r.errs++
		return
	}
	r.status[code]++
	if code == http.StatusOK {
		r.lat = append(r.lat, time.Since(t0))
		if op != "verify" {
			c.access, _ = v["access_token"].(string)
			c.refresh, _ = v["refresh_token"].(string)
		}
	}
}

func report(w io.Writer, results []map[string]*loadResult, elapsed time.Duration, clients int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "sessiond load: %d clients for %v\n", clients, elapsed.Round(time.Millisecond))
	fmt.Fprintln(tw, "op\tok\tok/s\tp50\tp90\tp99\tmax\tother statuses\terrors\t")
	totalOK := 0
	for _, op := range loadOps {
		var lat []time.Duration
		status := map[int]int{}
		errs := 0
		for _, r := range results {
			lat = append(lat, r[op].lat...)
			errs += r[op].errs
			for k, v := range r[op].status {
				if k != http.StatusOK {
					status[k] += v
				}
			}
		}
		slices.Sort(lat)
		totalOK += len(lat)
		var other []string
		for _, k := range slices.Sorted(func(yield func(int) bool) {
			for k := range status {
				if !yield(k) {
					return
				}
			}
		}) {
			other = append(other, fmt.Sprintf("%d×%d", status[k], k))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t\n", op, len(lat), float64(len(lat))/elapsed.Seconds(),
			pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 1), strings.Join(other, " "), errs)
	}
	fmt.Fprintf(tw, "all\t%d\t%.0f\t\t\t\t\t\t\t\n", totalOK, float64(totalOK)/elapsed.Seconds())
	return tw.Flush()
}

func pct(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Microsecond).String()
}
