package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// numShards is how many independently locked maps a Memory spreads keys
// over, so that concurrent requests for different keys rarely wait on the
// same mutex.
const numShards = 32

// sweepEvery is how many calls on one shard pass between opportunistic
// sweeps of that shard (only done when something in it may be stale).
const sweepEvery = 1024

// DefaultMaxKeys is how many keys a Memory tracks at most unless
// WithMaxKeys says otherwise: about 25 MB of keys of 30 bytes.
const DefaultMaxKeys = 1 << 18

// Memory is a Limiter that keeps its state in process memory: right for one
// node, for tests, and for library users. Across nodes use a shared backend.
//
// Keys are spread over 32 shards, each a map under its own mutex, by a hash
// seeded at random per Memory (so a client cannot aim its keys at one shard).
// State is one int64 per key. A key whose TAT has passed is rested, the same
// as a key never seen, and is dropped: by Sweep, and opportunistically every
// 1024 calls on a shard. So memory follows the keys active within one
// window (Burst+1 intervals), not every key ever seen.
//
// Memory is bounded: a shard holds at most MaxKeys/32 keys. When a key not
// yet tracked arrives at a full shard, the shard's stale keys are dropped
// first; if none is stale the new key is denied (Allowed false, a nil
// error, RetryAfter until the shard's oldest entry goes stale), while keys
// already tracked are decided as usual. It fails closed on purpose: evicting
// live entries instead would let a client spraying keys reset other
// clients' limits. A flood of new keys can make new clients wait; it cannot
// grow memory or lift a limit.
//
// Time comes from the clock given to NewMemory, read as Unix nanoseconds;
// if it steps backwards, keys stay limited until it catches up.
//
// Memory is also a FailureLimiter (Blocked, Fail, Forget): its failure
// keys live in maps of their own, bounded the same way; see Fail for what
// happens when one is full.
//
// The zero value is ready to use, with time.Now and DefaultMaxKeys. A Memory
// is safe for concurrent use and must not be copied after first use.
type Memory struct {
	now      func() time.Time
	perShard int

	once   sync.Once
	seed   maphash.Seed
	shards [numShards]shard
}

var _ Limiter = (*Memory)(nil)

type shard struct {
	mu   sync.Mutex
	tats map[string]int64 // key -> TAT in Unix nanoseconds
	// minTAT is a lower bound of the smallest TAT in tats (entries only move
	// forward, so a bound stays valid); math.MaxInt64 when tats is empty.
	// No entry can be stale before it, which spares pointless sweeps.
	minTAT int64
	calls  uint32
	// fails are the keys of the FailureLimiter side (see Fail), apart
	// from tats so that neither can crowd the other out.
	fails map[string]failEntry
	_     [64]byte // keep shards' mutexes on different cache lines
}

// MemoryOption configures a Memory built by NewMemory.
type MemoryOption func(*Memory)

// WithMaxKeys bounds how many keys the Memory tracks; n is split evenly over
// the shards (rounded down to a multiple of 32, at least 32). n <= 0 means
// DefaultMaxKeys.
func WithMaxKeys(n int) MemoryOption {
	return func(m *Memory) {
		if n <= 0 {
			n = DefaultMaxKeys
		}
		m.perShard = max(1, n/numShards)
	}
}

// NewMemory returns an empty Memory reading the time from now (time.Now if
// nil); tests pass a fake clock.
func NewMemory(now func() time.Time, opts ...MemoryOption) *Memory {
	m := &Memory{now: now}
	for _, o := range opts {
		o(m)
	}
	m.once.Do(m.init)
	return m
}

func (m *Memory) init() {
	if m.now == nil {
		m.now = time.Now
	}
	if m.perShard <= 0 {
		m.perShard = DefaultMaxKeys / numShards
	}
	m.seed = maphash.MakeSeed()
	for i := range m.shards {
		m.shards[i].minTAT = math.MaxInt64
	}
}

// Allow decides one request for key under l and records it if allowed. It
// returns an error (wrapping ErrInvalidLimit) only for an invalid Limit; an
// unlimited Limit is allowed without touching any state. ctx is not used:
// Memory never blocks on anything but a shard's mutex.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Decision, error) {
	if err := l.Validate(); err != nil {
		return Decision{}, err
	}
	if l.Unlimited() {
		return Decision{Allowed: true, Remaining: -1}, nil
	}
	m.once.Do(m.init)
	now := m.now().UnixNano()
	s := &m.shards[maphash.String(m.seed, key)%numShards]

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls%sweepEvery == 0 && now >= s.minTAT {
		s.sweep(now)
	}
	tat, tracked := s.tats[key]
	if !tracked && len(s.tats) >= m.perShard {
		if now >= s.minTAT {
			s.sweep(now)
		}
		if len(s.tats) >= m.perShard {
			// minTAT > now here: after a sweep it is the exact oldest TAT,
			// without one a lower bound of it.
			wait := time.Duration(s.minTAT - now)
			return Decision{RetryAfter: wait, ResetAfter: wait}, nil
		}
	}
	var ahead time.Duration
	if tracked {
		ahead = time.Duration(tat - now)
	}
	newAhead, d := step(ahead, l)
	if d.Allowed {
		next := now + int64(newAhead)
		if s.tats == nil {
			s.tats = make(map[string]int64)
		}
		if len(s.tats) == 0 || next < s.minTAT {
			s.minTAT = next
		}
		s.tats[key] = next
	}
	return d, nil
}

// Sweep drops every key whose TAT has passed (a rested key, which behaves
// exactly like one never seen), and every failure key (see Fail) whose
// failures are forgotten and whose wait is over. Allow calls it on its own now and then;
// call it from a ticker to return memory sooner after a burst of keys.
func (m *Memory) Sweep() {
	m.once.Do(m.init)
	now := m.now().UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(now)
		s.sweepFails(now)
		s.mu.Unlock()
	}
}

// Len returns how many keys the Memory tracks now, stale ones included
// until they are swept.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats) + len(s.fails)
		s.mu.Unlock()
	}
	return n
}

// sweep deletes the stale entries of s and recomputes minTAT exactly.
// The caller holds s.mu.
func (s *shard) sweep(now int64) {
	lowest := int64(math.MaxInt64)
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
		} else if tat < lowest {
			lowest = tat
		}
	}
	s.minTAT = lowest
}
