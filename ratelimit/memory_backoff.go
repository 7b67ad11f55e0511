package ratelimit

import (
	"context"
	"hash/maphash"
	"time"
)

var _ FailureLimiter = (*Memory)(nil)

// failEntry is the state of one key of the failure side, in Unix
// nanoseconds (see BackoffState).
type failEntry struct {
	forgotten, until int64
}

func (e failEntry) expires() int64 { return max(e.forgotten, e.until) }

func (e failEntry) state() BackoffState {
	var st BackoffState
	if e.forgotten != 0 {
		st.Forgotten = time.Unix(0, e.forgotten)
	}
	if e.until != 0 {
		st.Until = time.Unix(0, e.until)
	}
	return st
}

// Blocked reports how long key must still wait (see FailureLimiter). ctx is
// not used.
func (m *Memory) Blocked(_ context.Context, key string) (time.Duration, error) {
	m.once.Do(m.init)
	now := m.now().UnixNano()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.fails[key]
	if !ok || e.until <= now {
		return 0, nil
	}
	return time.Duration(e.until - now), nil
}

// Fail records one failure of key under b (see FailureLimiter and
// FailStep). Failure keys are bounded like the others (MaxKeys/32 a
// shard, kept apart from the keys of Allow), but a full shard does not
// refuse: the key that would be forgotten soonest is dropped to make room,
// so a flood of new keys can make some key's back-off end early, never
// refuse a login outright nor grow memory.
func (m *Memory) Fail(_ context.Context, key string, b Backoff) (Failure, error) {
	if err := b.Validate(); err != nil {
		return Failure{}, err
	}
	m.once.Do(m.init)
	now := m.now()
	nowNs := now.UnixNano()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls%sweepEvery == 0 {
		s.sweepFails(nowNs)
	}
	e, tracked := s.fails[key]
	if !tracked {
		if s.fails == nil {
			s.fails = make(map[string]failEntry)
		}
		if len(s.fails) >= m.perShard {
			s.sweepFails(nowNs)
		}
		if len(s.fails) >= m.perShard {
			s.evictFail()
		}
	}
	st, f := FailStep(e.state(), now, b)
	s.fails[key] = failEntry{forgotten: st.Forgotten.UnixNano(), until: st.Until.UnixNano()}
	return f, nil
}

// Forget drops the failures of key (see FailureLimiter). ctx is not used.
func (m *Memory) Forget(_ context.Context, key string) error {
	m.once.Do(m.init)
	s := m.shard(key)
	s.mu.Lock()
	delete(s.fails, key)
	s.mu.Unlock()
	return nil
}

func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%numShards]
}

// sweepFails deletes the failure entries that have expired. The caller
// holds s.mu.
func (s *shard) sweepFails(now int64) {
	for k, e := range s.fails {
		if e.expires() <= now {
			delete(s.fails, k)
		}
	}
}

// evictFail drops the failure entry that expires first. The caller holds
// s.mu.
func (s *shard) evictFail() {
	victim, first, found := "", int64(0), false
	for k, e := range s.fails {
		if !found || e.expires() < first {
			victim, first, found = k, e.expires(), true
		}
	}
	if found {
		delete(s.fails, victim)
	}
}
