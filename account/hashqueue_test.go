package account

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// queued counts the callers waiting in q.
func (q *hashQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, ready := range q.ready {
		for _, c := range ready {
			n += len(c.waiters)
		}
	}
	return n
}

// grantLog runs callers of a hashQueue in goroutines and reports, one at a
// time, which caller got a slot, so a test can release slots one by one
// and read the order in which the queue hands them out.
type grantLog struct {
	t       *testing.T
	q       *hashQueue
	granted chan grant
}

type grant struct {
	key     string
	known   bool
	release func()
}

func newGrantLog(t *testing.T, slots int) *grantLog {
	return &grantLog{t: t, q: newHashQueue(slots, nil), granted: make(chan grant, 1000)}
}

// wait starts a caller for key and returns once it is queued (or has its
// slot already).
func (g *grantLog) wait(ctx context.Context, key string) { g.waitAs(ctx, HashClient{Key: key}) }

func (g *grantLog) waitAs(ctx context.Context, id HashClient) {
	g.t.Helper()
	before := g.q.queued()
	done := make(chan struct{})
	go func() {
		release, err := g.q.acquire(ctx, id)
		if err == nil {
			g.granted <- grant{id.Key, id.Known, release}
		}
		close(done)
	}()
	for g.q.queued() == before {
		select {
		case <-done:
			return // granted at once, or gave up
		default:
			runtime.Gosched()
		}
	}
}

func (g *grantLog) next() grant {
	g.t.Helper()
	return <-g.granted
}

func TestHashQueueTakesFreeSlotsAtOnce(t *testing.T) {
	tests := []struct {
		name string
		keys []string
	}{
		{"one client, every slot", []string{"a", "a", "a"}},
		{"three clients", []string{"a", "b", "c"}},
		{"calls naming no client", []string{"", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGrantLog(t, len(tc.keys))
			for _, k := range tc.keys {
				g.wait(t.Context(), k)
			}
			for range tc.keys {
				g.next().release()
			}
			if n := g.q.queued(); n != 0 {
				t.Fatalf("%d callers waiting with every slot free", n)
			}
		})
	}
}

// TestHashQueueNewcomerDoesNotWaitForTheFlood: with one slot, client a
// holds it and queues 50 more calls; client b, arriving after them all,
// is served next but one (a's turn came first), not 50th.
func TestHashQueueNewcomerDoesNotWaitForTheFlood(t *testing.T) {
	g := newGrantLog(t, 1)
	g.wait(t.Context(), "a")
	held := g.next()
	for range 50 {
		g.wait(t.Context(), "a")
	}
	g.wait(t.Context(), "b")
	held.release()
	var order []string
	for range 51 {
		gr := g.next()
		order = append(order, gr.key)
		gr.release()
	}
	if order[0] != "b" && order[1] != "b" {
		t.Fatalf("the newcomer was served at %v, want first or second", order)
	}
	if g.q.free != 1 || len(g.q.clients) != 0 {
		t.Fatalf("after everyone: %d free slots, %d clients kept", g.q.free, len(g.q.clients))
	}
}

// TestHashQueueRoundRobin: 20 clients each queue two calls behind two busy
// slots; a legitimate client arrives last. Every client gets its first
// hash before any gets its third, and the newcomer is served within one
// round of the clients ahead of it.
func TestHashQueueRoundRobin(t *testing.T) {
	const slots, attackers = 2, 20
	g := newGrantLog(t, slots)
	var held []grant
	for i := range slots {
		g.wait(t.Context(), fmt.Sprint("busy", i))
		held = append(held, g.next())
	}
	for range 2 {
		for i := range attackers {
			g.wait(t.Context(), fmt.Sprint("attacker", i))
		}
	}
	g.wait(t.Context(), "legit")
	for _, h := range held {
		h.release()
	}
	// A grant is seen when its caller's goroutine reports it, which may
	// be late: release a slot only once every slot's holder has reported,
	// so that the order seen is the order granted (up to the two slots
	// granted at once), however the goroutines are scheduled.
	const total = 2*attackers + 1
	var order []string
	held = held[:0]
	for len(order) < total || len(held) > 0 {
		for len(held) < slots && len(order) < total {
			gr := g.next()
			order = append(order, gr.key)
			held = append(held, gr)
		}
		held[0].release()
		held = held[1:]
	}
	pos := -1
	for i, k := range order {
		if k == "legit" {
			pos = i
		}
	}
	// Two slots are handed out at once, so two neighbours may report in
	// either order: one place of slack.
	if pos < 0 || pos > attackers+1 {
		t.Fatalf("legit served %dth of %d: %v", pos+1, len(order), order)
	}
	served := map[string]int{}
	for _, k := range order[:attackers] {
		served[k]++
	}
	for k, n := range served {
		if n > 1 {
			t.Fatalf("%s served %d times in the first round: %v", k, n, order)
		}
	}
}

// TestHashQueueQuietClientFirst: clients that have been hashing lately
// wait behind one that has not: after a round of 20 busy clients, a
// newcomer arriving last is served next, and the busy ones are served by
// how little they had. Ten to twenty seconds later (the epochs), the past
// is forgotten.
func TestHashQueueQuietClientFirst(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g := newGrantLog(t, 1)
	g.q = newHashQueue(1, clock)
	for round := range 2 {
		for i := range 20 {
			if round == 1 && i >= 10 {
				break // half of them are served twice
			}
			g.wait(t.Context(), fmt.Sprint("busy", i))
			g.next().release()
		}
	}
	g.wait(t.Context(), "holder")
	held := g.next()
	for i := range 20 {
		g.wait(t.Context(), fmt.Sprint("busy", i))
	}
	g.wait(t.Context(), "newcomer")
	held.release()
	var order []string
	for range 21 {
		gr := g.next()
		order = append(order, gr.key)
		gr.release()
	}
	if order[0] != "newcomer" {
		t.Fatalf("the newcomer was not served first: %v", order)
	}
	for _, k := range order[1:11] { // busy10..19 had one hash, busy0..9 two
		var i int
		fmt.Sscanf(k, "busy%d", &i)
		if i < 10 {
			t.Fatalf("%s (two hashes lately) served before one with one: %v", k, order)
		}
	}
	// Twenty seconds on, nobody has been hashing lately: first come, first served.
	mu.Lock()
	now = now.Add(2 * usageEpoch)
	mu.Unlock()
	g.wait(t.Context(), "holder")
	held = g.next()
	g.wait(t.Context(), "busy0")
	g.wait(t.Context(), "newcomer2")
	held.release()
	if gr := g.next(); gr.key != "busy0" {
		t.Fatalf("after the epochs, %q went first", gr.key)
	} else {
		gr.release()
	}
	g.next().release()
}

// TestHashQueueGivingUp: a caller whose ctx ends while it waits leaves the
// queue with an error wrapping the ctx's, and takes no slot with it.
func TestHashQueueGivingUp(t *testing.T) {
	g := newGrantLog(t, 1)
	g.wait(t.Context(), "a")
	held := g.next()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := g.q.acquire(ctx, HashClient{Key: "b"})
		errc <- err
	}()
	for g.q.queued() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	g.wait(t.Context(), "c")
	held.release()
	if gr := g.next(); gr.key != "c" {
		t.Fatalf("the slot went to %q", gr.key)
	} else {
		gr.release()
	}
	if g.q.free != 1 || len(g.q.clients) != 0 || g.q.queued() != 0 {
		t.Fatalf("after everyone: %d free, %d clients, %d queued", g.q.free, len(g.q.clients), g.q.queued())
	}
	// A release called twice gives one slot back.
	release, err := g.q.acquire(t.Context(), HashClient{Key: "d"})
	if err != nil {
		t.Fatal(err)
	}
	release()
	release()
	if g.q.free != 1 {
		t.Fatalf("%d free slots of 1 after a double release", g.q.free)
	}
}

// TestHashQueueKnownTakeTurns: known attempts (a device cookie) and the
// others take turns for the slots: behind a flood of unknown clients a
// known one waits for at most one hash, and a flood of known ones leaves
// every other slot to the unknown.
func TestHashQueueKnownTakeTurns(t *testing.T) {
	g := newGrantLog(t, 1)
	g.wait(t.Context(), "busy")
	held := g.next()
	for i := range 20 {
		g.wait(t.Context(), fmt.Sprint("attacker", i))
	}
	for i := range 5 {
		g.waitAs(t.Context(), HashClient{Key: fmt.Sprint("known", i), Known: true})
	}
	g.waitAs(t.Context(), HashClient{Key: "attacker0", Known: true}) // the same address, known: a client apart
	held.release()
	var order []grant
	for range 26 {
		gr := g.next()
		order = append(order, gr)
		gr.release()
	}
	for i, gr := range order[:12] {
		if gr.known != (i%2 == 0) {
			t.Fatalf("grant %d went to %q (known %v): the classes do not take turns: %v", i, gr.key, gr.known, order)
		}
	}
	if g.q.free != 1 || len(g.q.clients) != 0 {
		t.Fatalf("after everyone: %d free slots, %d clients kept", g.q.free, len(g.q.clients))
	}
}

// TestHashQueueServiceWithClient: WithClient names the client the
// Service's hashes queue under.
func TestHashQueueServiceWithClient(t *testing.T) {
	if clientOf(context.Background()) != (HashClient{}) {
		t.Fatal("a bare context names a client")
	}
	want := HashClient{Key: "198.51.100.7", Known: true}
	if got := clientOf(WithClient(context.Background(), want)); got != want {
		t.Fatalf("clientOf = %+v", got)
	}
}
