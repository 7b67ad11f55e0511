package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/redisstore"
)

const adminToken = "admin-token-0123456789abcdef0123456789"

// unlimited lifts the per-session request limit for tests that page
// through thousands of sessions.
var unlimited = ratelimit.Limit{Rate: 100000, Period: time.Second, Burst: 100000}

// addSessions creates n sessions of userID directly in the store (past the
// per-user cap, as a store written before the cap could hold), created a
// millisecond apart from Base, eight at a time.
func addSessions(t testing.TB, st session.Store, userID string, n int) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			r := sessiontest.NewRecord(userID, time.Duration(i/8)*time.Millisecond)
			return st.Create(context.Background(), r)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// pageBody is one page of a listing as the client reads it.
type pageBody struct {
	Sessions []struct {
		ID        string    `json:"id"`
		UserID    string    `json:"user_id"`
		CreatedAt time.Time `json:"created_at"`
		Current   bool      `json:"current"`
	} `json:"sessions"`
	NextCursor *string `json:"next_cursor"`
}

// listAll follows the cursor of path from its first page with the given
// limit and returns the pages.
func (e *env) listAll(path, bearer string, limit int) []pageBody {
	e.t.Helper()
	var pages []pageBody
	cursor := ""
	for {
		q := fmt.Sprintf("%s?limit=%d", path, limit)
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := e.do("GET", q, bearer, "", "")
		if r.status != 200 {
			e.t.Fatalf("GET %s: %d %s", q, r.status, r.raw)
		}
		var p pageBody
		if err := json.Unmarshal([]byte(r.raw), &p); err != nil {
			e.t.Fatal(err)
		}
		pages = append(pages, p)
		if p.NextCursor == nil {
			return pages
		}
		if *p.NextCursor == "" {
			e.t.Fatalf("GET %s: next_cursor is present but empty", q)
		}
		cursor = *p.NextCursor
		if len(pages) > 100000 {
			e.t.Fatal("the listing never ends")
		}
	}
}

// TestSessionsPaged: GET /v1/sessions and the admin listing answer a page
// at a time, oldest first, the current session flagged once, each session
// exactly once over the pages, next_cursor absent on the last page only.
func TestSessionsPaged(t *testing.T) {
	e := newEnv(t, func(c *config) {
		withClients(t)(c)
		c.Server.SessionLimit = unlimited
	})
	a := e.signupLogin("pat@example.com")
	tok := str(a, "access_token")
	user := str(e.do("GET", "/v1/session", tok, "", ""), "user_id")
	addSessions(t, e.backend, user, 249)

	for _, tc := range []struct {
		path, bearer string
		current      bool
	}{
		{"/v1/sessions", tok, true},
		{"/admin/v1/users/" + user + "/sessions", adminToken, false},
	} {
		for _, limit := range []int{1, 7, 50, 100} {
			pages := e.listAll(tc.path, tc.bearer, limit)
			if want := (250 + limit - 1) / limit; len(pages) != want {
				t.Fatalf("%s limit %d: %d pages, want %d", tc.path, limit, len(pages), want)
			}
			var ids []string
			current := 0
			var last time.Time
			for i, p := range pages {
				if len(p.Sessions) > limit || (i < len(pages)-1 && len(p.Sessions) != limit) {
					t.Fatalf("%s limit %d: page %d has %d sessions", tc.path, limit, i, len(p.Sessions))
				}
				for _, s := range p.Sessions {
					if s.UserID != user || s.CreatedAt.Before(last) {
						t.Fatalf("%s: %+v out of order or not the user's", tc.path, s)
					}
					last = s.CreatedAt
					ids = append(ids, s.ID)
					if s.Current {
						current++
					}
				}
			}
			if len(ids) != 250 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 250 {
				t.Fatalf("%s limit %d: %d sessions listed, want 250 distinct", tc.path, limit, len(ids))
			}
			if want := map[bool]int{true: 1, false: 0}[tc.current]; current != want {
				t.Fatalf("%s: %d sessions flagged current, want %d", tc.path, current, want)
			}
		}
	}
	// No limit: the default page size.
	r := e.do("GET", "/v1/sessions", tok, "", "")
	var p pageBody
	if err := json.Unmarshal([]byte(r.raw), &p); err != nil || len(p.Sessions) != session.DefaultPageSize || p.NextCursor == nil {
		t.Fatalf("GET /v1/sessions: %d sessions, next %v, %v; want %d and a next cursor", len(p.Sessions), p.NextCursor, err, session.DefaultPageSize)
	}
	// A user with one session: one page, no next_cursor member at all.
	b := e.signupLogin("sam@example.com")
	r = e.do("GET", "/v1/sessions", str(b, "access_token"), "", "")
	if _, ok := r.body["next_cursor"]; ok || len(r.body["sessions"].([]any)) != 1 {
		t.Fatalf("single page: %s", r.raw)
	}
}

// TestSessionsPageBadQuery: a limit or cursor that is not one this API
// hands out is 400 invalid_request with a description, on both listings.
func TestSessionsPageBadQuery(t *testing.T) {
	e := newEnv(t, withClients(t))
	a := e.signupLogin("kim@example.com")
	tok := str(a, "access_token")
	user := str(e.do("GET", "/v1/session", tok, "", ""), "user_id")
	addSessions(t, e.backend, user, 3)
	wrongVersion := base64.RawURLEncoding.EncodeToString(append([]byte{9}, make([]byte, 20)...))
	for _, q := range []string{
		"limit=0", "limit=-1", "limit=101", "limit=abc", "limit=", "limit=1.5", "limit=1&limit=2",
		"cursor=%21%21", "cursor=AAAA", "cursor=" + wrongVersion, "cursor=a&cursor=b",
	} {
		for _, c := range []struct{ path, bearer string }{
			{"/v1/sessions", tok},
			{"/admin/v1/users/" + user + "/sessions", adminToken},
		} {
			r := e.do("GET", c.path+"?"+q, c.bearer, "", "")
			if r.status != 400 || str(r, "error") != "invalid_request" || str(r, "error_description") == "" {
				t.Errorf("GET %s?%s: %d %s; want 400 invalid_request", c.path, q, r.status, r.raw)
			}
		}
	}
	// A real cursor still works after all that, and nothing was changed.
	pages := e.listAll("/v1/sessions", tok, 2)
	if len(pages) != 2 || len(pages[0].Sessions)+len(pages[1].Sessions) != 4 {
		t.Fatalf("after bad queries: %+v", pages)
	}
}

// heapPeak runs fn while sampling the heap in use and returns how far it
// rose above what was in use when fn started. The collector runs at
// GOGC=10 meanwhile, so that the peak is what fn holds at once rather
// than the garbage the default pacing lets pile up.
func heapPeak(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// allocated returns the bytes fn allocated (on every goroutine).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Bounds of TestManySessionsListInPages, chosen from what it measured
// with 20,000 sessions (see its log): one page of 100 allocated about
// 0.5 MB end to end (server and client in this process) against 50-80 MB
// for one unpaged listing, and 8 concurrent listings of every page raised
// the heap by 8-12 MB against 150-200 MB for 8 unpaged listings.
const (
	maxPageAlloc    = 4 << 20
	maxListingsHeap = 40 << 20
)

// TestManySessionsListInPages: a user with 20,000 sessions (issue 8)
// gets their devices list in pages whose cost does not grow with the
// number of sessions, and 8 concurrent listings of every page keep the
// heap flat, on memory and on Redis.
func TestManySessionsListInPages(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 sessions")
	}
	const n = 20000
	backends := []struct {
		name string
		open func(t *testing.T) node.Backend
	}{
		{"memory", nil},
		{"redis", func(t *testing.T) node.Backend {
			st, err := redisstore.Open(context.Background(), testenv.RedisURL(t), redisstore.WithPrefix(randomName("sdt")))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, func(c *config) {
				if b.open != nil {
					c.Node.Backend = b.open(t)
				}
				c.Server.AdminToken = adminToken
				c.Server.SessionLimit = unlimited
			})
			a := e.signupLogin("many@example.com")
			tok := str(a, "access_token")
			user := str(e.do("GET", "/v1/session", tok, "", ""), "user_id")
			addSessions(t, e.backend, user, n-1)
			t.Cleanup(func() { e.backend.DeleteUser(context.Background(), user, "", time.Now()) })

			var pages []pageBody
			one := allocated(func() { e.do("GET", "/v1/sessions?limit=100", tok, "", "") })
			unpaged := allocated(func() {
				recs, err := e.backend.ListUser(t.Context(), user)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := json.Marshal(recs); err != nil {
					t.Fatal(err)
				}
			})
			peak := heapPeak(func() {
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						p := e.listAll("/v1/sessions", tok, 100)
						if i == 0 {
							pages = p
						}
					})
				}
				wg.Wait()
			})
			unpagedPeak := heapPeak(func() {
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						recs, _ := e.backend.ListUser(context.Background(), user)
						json.Marshal(recs)
					})
				}
				wg.Wait()
			})
			t.Logf("%s, %d sessions: one page of 100 allocates %.2f MB; one unpaged store listing + JSON %.1f MB; "+
				"8 concurrent listings of all pages raise the heap by %.1f MB, 8 unpaged by %.1f MB",
				b.name, n, mb(one), mb(unpaged), mb(peak), mb(unpagedPeak))

			if len(pages) != n/100 {
				t.Errorf("%d pages, want %d", len(pages), n/100)
			}
			seen := make(map[string]bool, n)
			for _, p := range pages {
				for _, s := range p.Sessions {
					seen[s.ID] = true
				}
			}
			if len(seen) != n {
				t.Errorf("the pages list %d distinct sessions, want %d", len(seen), n)
			}
			if one > maxPageAlloc {
				t.Errorf("one page allocates %.1f MB, want at most %.1f MB", mb(one), mb(maxPageAlloc))
			}
			if peak > maxListingsHeap {
				t.Errorf("8 concurrent listings raise the heap by %.1f MB, want at most %.1f MB", mb(peak), mb(maxListingsHeap))
			}
		})
	}
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
