package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// memoryResult is Redis memory per session as users see it: one session
// per user, each with a browser's 120-character user agent.
type memoryResult struct {
	sessions    int
	usedPerSess float64 // change of used_memory, per session
	hashBytes   float64 // MEMORY USAGE of a session's HASH, on average
	indexBytes  float64 // MEMORY USAGE of its user's index key (one entry), on average
	otherBytes  float64 // MEMORY USAGE of every other new key, per session
	version     string
}

// measureMemory runs a private redis-server (so that no other user of the
// shared one moves used_memory) and a sessiond on it, mints one session
// to make the keys every deployment has, then --memory-sessions more, one
// per new user, over sessiond's own API, and measures.
func (b *bench) measureMemory(ctx context.Context) (*memoryResult, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found: the memory measurement runs a private one")
	}
	addr := freeAddr()
	_, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(b.dir, "redis-memory")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b.logf("memory: starting a private redis-server on %s", addr)
	rp, _, err := b.procs.startReady(ctx, "redis-memory", []string{bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", ""}, nil, false,
		regexp.MustCompile(`Ready to accept connections`), time.Minute)
	if err != nil {
		return nil, err
	}
	defer b.procs.stop(rp)
	url := "redis://" + addr + "/0"
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	s, err := b.startSessiond(ctx, "redis-memory", url)
	if err != nil {
		return nil, err
	}
	defer b.procs.stop(s.proc)
	// The keys every deployment has, and as many connections from sessiond
	// (each with its buffers) as the measured minting opens.
	if _, _, _, err := s.mint(ctx, b.o.concurrency, b.o.concurrency); err != nil {
		return nil, err
	}
	before, err := settledUsedMemory(ctx, c)
	if err != nil {
		return nil, err
	}
	keysBefore, err := c.Keys(ctx, "*").Result()
	if err != nil {
		return nil, err
	}
	n := b.o.memorySessions
	b.logf("memory: minting %d sessions", n)
	_, _, ids, err := s.mint(ctx, n, b.o.concurrency)
	if err != nil {
		return nil, err
	}
	s.hc.CloseIdleConnections()
	after, err := settledUsedMemory(ctx, c)
	if err != nil {
		return nil, err
	}
	m := &memoryResult{sessions: n, usedPerSess: float64(after-before) / float64(n), version: redisVersion(ctx, c)}
	// MEMORY USAGE of every new key: a session's HASH names its session
	// id, its user's index names... its user, which only the HASH knows:
	// the keys of neither kind are the index keys (one user each).
	old := map[string]bool{}
	for _, k := range keysBefore {
		old[k] = true
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		return nil, err
	}
	var fresh []string
	for _, k := range keys {
		if !old[k] {
			fresh = append(fresh, k)
		}
	}
	sids := map[string]bool{}
	for _, id := range ids {
		sids[id] = true
	}
	usage := make([]*redis.IntCmd, len(fresh))
	types := make([]*redis.StatusCmd, len(fresh))
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range fresh {
			usage[i] = p.MemoryUsage(ctx, k, 0)
			types[i] = p.Type(ctx, k)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var hash, index, other int64
	for i, k := range fresh {
		switch {
		case types[i].Val() == "hash" && sids[sessionIDOfKey(k)]:
			hash += usage[i].Val()
		case types[i].Val() == "zset":
			index += usage[i].Val()
		default:
			other += usage[i].Val()
		}
	}
	m.hashBytes = float64(hash) / float64(n)
	m.indexBytes = float64(index) / float64(n)
	m.otherBytes = float64(other) / float64(n)
	return m, nil
}

// sessionIDOfKey is the part of a key between braces (a Redis Cluster hash
// tag: sessiond keeps a session's keys under its id).
func sessionIDOfKey(k string) string {
	_, rest, ok := strings.Cut(k, "{")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "}")
	return id
}

// settledUsedMemory reads used_memory once it has stopped moving: the same
// in three readings a second apart, or the last of 20. Right after a burst
// of commands Redis still holds the query and reply buffers its clients
// grew (it shrinks those of idle clients in its once-a-second cron), and
// how much they hold depends on how many connections carried the burst:
// read at once, the change per session moved with sessiond's pool size
// (549 bytes with 10 connections, 464 with 64, the same sessions).
func settledUsedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	var last []int64
	for range 20 {
		v, err := usedMemory(ctx, c)
		if err != nil {
			return 0, err
		}
		last = append(last, v)
		if n := len(last); n >= 3 && last[n-1] == last[n-2] && last[n-2] == last[n-3] {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return last[len(last)-1], nil
}

func usedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}
