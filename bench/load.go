package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result is one measured window of one target.
type result struct {
	ops           int           // operations completed within the window
	window        time.Duration // its length
	serverCPU     time.Duration // CPU the server process used in it (0: not measured)
	serverRunWait time.Duration // time its threads waited for a CPU in it
	clientCPU     time.Duration // CPU the load generator used in it (0: not measured)
	failures      int           // answers with another status, and transport errors
	failWhat      string        // the first failure, said once
}

// rate is operations per second.
func (r result) rate() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ops) / r.window.Seconds()
}

// cpuPerOp is the server's CPU time per operation.
func (r result) cpuPerOp() time.Duration {
	if r.ops == 0 || r.serverCPU == 0 {
		return 0
	}
	return r.serverCPU / time.Duration(r.ops)
}

// stepFunc performs one request of worker w and says whether it succeeded
// (and if not, what came back).
type stepFunc func(ctx context.Context, w int) (ok bool, what string)

// window runs workers goroutines calling step for warmup (not counted) and
// then for d. Only operations that complete within the window count; a
// worker stops starting new ones when it ends and finishes the one under
// way, so no state (a refresh token's chain) is lost between windows. The
// CPU time of srv (if not nil) and of this process in the window are
// measured; onStart (if not nil) is called as the window opens.
func window(ctx context.Context, workers int, warmup, d time.Duration, step stepFunc, srv *proc, onStart func()) result {
	if warmup > 0 {
		loop(ctx, workers, time.Now().Add(warmup), step)
	}
	if ctx.Err() != nil {
		return result{}
	}
	if onStart != nil {
		onStart()
	}
	pid := os.Getpid() // a driver loop measures itself
	if srv != nil {
		pid = srv.cmd.Process.Pid
	}
	s0, _ := procCPU(pid)
	w0, _ := procRunWait(pid)
	c0 := selfCPU()
	res := loop(ctx, workers, time.Now().Add(d), step)
	res.clientCPU = selfCPU() - c0
	if s1, err := procCPU(pid); err == nil {
		res.serverCPU = s1 - s0
	}
	if w1, err := procRunWait(pid); err == nil {
		res.serverRunWait = w1 - w0
	}
	return res
}

func loop(ctx context.Context, workers int, end time.Time, step stepFunc) result {
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			n, fails := 0, 0
			first := ""
			for ctx.Err() == nil && time.Now().Before(end) {
				ok, what := step(ctx, w)
				if !time.Now().Before(end) {
					break // completed after the window: not counted
				}
				if ok {
					n++
				} else {
					fails++
					if first == "" {
						first = what
					}
				}
			}
			mu.Lock()
			res.ops += n
			res.failures += fails
			if res.failWhat == "" {
				res.failWhat = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.window = end.Sub(start)
	return res
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// client is an HTTP client for one target and one window: as many kept
// alive connections as workers.
func client(workers int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		Timeout: 2 * time.Minute,
	}
}

// refresher refreshes one chain of refresh tokens per worker at base +
// /v1/refresh. The chains live across windows.
type refresher struct {
	base   string
	tokens []string
}

func (f *refresher) step(hc *http.Client) stepFunc {
	url := f.base + "/v1/refresh"
	return func(ctx context.Context, w int) (bool, string) {
		body := `{"refresh_token":"` + f.tokens[w] + `"}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return false, err.Error()
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return false, err.Error()
		}
		if res.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("status %d: %s", res.StatusCode, clip(b))
		}
		var v struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.RefreshToken == "" {
			return false, "no refresh_token in the answer: " + clip(b)
		}
		f.tokens[w] = v.RefreshToken
		return true, ""
	}
}

// getter sends GET url with a bearer token, worker w taking the tokens
// w, w+workers, w+2*workers, ... in turn, and wants status want.
func getter(hc *http.Client, url string, tokens []string, workers, want int) stepFunc {
	next := make([]int, workers)
	for w := range next {
		next[w] = w % len(tokens)
	}
	return func(ctx context.Context, w int) (bool, string) {
		tok := tokens[next[w]]
		next[w] = (next[w] + workers) % len(tokens)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return do(hc, req, want)
	}
}

// poster sends POST url with the JSON body of worker w and wants status
// want.
func poster(hc *http.Client, url string, body func(w int) []byte, want int) stepFunc {
	return func(ctx context.Context, w int) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body(w)))
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("Content-Type", "application/json")
		return do(hc, req, want)
	}
}

func do(hc *http.Client, req *http.Request, want int) (bool, string) {
	res, err := hc.Do(req)
	if err != nil {
		return false, err.Error()
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return false, err.Error()
	}
	if res.StatusCode != want {
		return false, fmt.Sprintf("status %d: %s", res.StatusCode, clip(b))
	}
	return true, ""
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
