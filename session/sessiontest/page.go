package sessiontest

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// pageAll lists userID's sessions a page of limit at a time from the
// start, calling between with the cursor after each full page, and
// returns every record listed in order.
func pageAll(t *testing.T, s session.Store, userID string, limit int, between func(pos session.PageCursor)) []*session.Record {
	t.Helper()
	var all []*session.Record
	var pos session.PageCursor
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatal("ListUserPage never ends")
		}
		rs, err := s.ListUserPage(t.Context(), userID, pos, limit)
		if err != nil {
			t.Fatalf("ListUserPage(page %d): %v", page, err)
		}
		if len(rs) > limit {
			t.Fatalf("ListUserPage(limit %d) returned %d records", limit, len(rs))
		}
		all = append(all, rs...)
		if len(rs) < limit {
			return all
		}
		pos = session.CursorOf(rs[len(rs)-1])
		if between != nil {
			between(pos)
		}
	}
}

func listOrder(a, b *session.Record) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

// testListPage: ListUserPage pages a user's sessions in the order
// (CreatedAt, ID), ids compared byte by byte, covering each exactly once
// whatever the page size, across ties of CreatedAt, and across deletions
// and creations between pages; a cursor past the end gives an empty page;
// a limit outside 1..MaxStorePage is refused.
func testListPage(t *testing.T, s session.Store) {
	ctx := t.Context()
	// 23 sessions of alice: runs of equal creation times (ties broken by
	// id), times that differ by a microsecond only, and one of another
	// user whose id extends alice's.
	var alice []*session.Record
	for i := range 23 {
		r := NewRecord("alice", time.Duration(i/4)*time.Minute)
		if i%4 == 3 {
			r.CreatedAt = r.CreatedAt.Add(time.Microsecond)
		}
		if i == 5 {
			r.ID = "-" + r.ID[1:] // sorts before letters and digits byte-wise
		}
		if i == 6 {
			r.ID = "_" + r.ID[1:] // and after them
		}
		alice = append(alice, r)
	}
	for _, r := range alice {
		mustCreate(t, s, r)
	}
	mustCreate(t, s, NewRecord("alicex", 0))
	mustCreate(t, s, NewRecord("alic", 0))
	want := slices.Clone(alice)
	slices.SortFunc(want, listOrder)

	t.Run("every-size", func(t *testing.T) {
		for _, limit := range []int{1, 2, 3, 4, 7, 22, 23, 24, session.MaxStorePage} {
			got := pageAll(t, s, "alice", limit, nil)
			if !slices.Equal(ids(got), ids(want)) {
				t.Fatalf("limit %d: pages list %v, want %v", limit, ids(got), ids(want))
			}
			for i, r := range got {
				mustSame(t, r, want[i])
			}
		}
	})
	t.Run("other-users", func(t *testing.T) {
		for _, user := range []string{"alic", "alicex", "nobody"} {
			got := pageAll(t, s, user, 2, nil)
			for _, r := range got {
				if r.UserID != user {
					t.Fatalf("ListUserPage(%q) lists a session of %q", user, r.UserID)
				}
			}
			if n := map[string]int{"alic": 1, "alicex": 1}[user]; len(got) != n {
				t.Fatalf("ListUserPage(%q) lists %d sessions, want %d", user, len(got), n)
			}
		}
	})
	t.Run("past-the-end", func(t *testing.T) {
		last := want[len(want)-1]
		for _, c := range []session.PageCursor{
			session.CursorOf(last),
			{CreatedAt: last.CreatedAt.Add(time.Hour), ID: NewID()},
		} {
			rs, err := s.ListUserPage(ctx, "alice", c, 10)
			if err != nil || len(rs) != 0 {
				t.Fatalf("ListUserPage(after the last) = %v, %v; want an empty page", ids(rs), err)
			}
		}
	})
	t.Run("deleted-cursor", func(t *testing.T) {
		// The cursor's own session deleted: the page resumes after its
		// position all the same.
		victim := NewRecord("carol", 0)
		kept := []*session.Record{NewRecord("carol", 0), NewRecord("carol", time.Minute), NewRecord("carol", 2*time.Minute)}
		for _, r := range append(kept, victim) {
			mustCreate(t, s, r)
		}
		all := append(slices.Clone(kept), victim)
		slices.SortFunc(all, listOrder)
		i := slices.Index(all, victim)
		if _, err := s.Delete(ctx, victim.ID, Base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		rs, err := s.ListUserPage(ctx, "carol", session.CursorOf(victim), 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(rs), ids(all[i+1:])) {
			t.Fatalf("after a deleted cursor: %v, want %v", ids(rs), ids(all[i+1:]))
		}
	})
	t.Run("changes-between-pages", func(t *testing.T) {
		// Between pages, one session ahead of the cursor and one behind
		// it are deleted, and one is created behind it and one far
		// ahead: every session that lived throughout is listed exactly
		// once, in order, and none deleted before its page came.
		var orig []*session.Record
		for i := range 30 {
			orig = append(orig, NewRecord("dave", time.Duration(i%10)*time.Second))
		}
		for _, r := range orig {
			mustCreate(t, s, r)
		}
		slices.SortFunc(orig, listOrder)
		deleted := map[string]bool{}
		deletedAhead := map[string]bool{}
		del := func(r *session.Record) {
			if _, err := s.Delete(ctx, r.ID, Base.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			deleted[r.ID] = true
		}
		got := pageAll(t, s, "dave", 4, func(pos session.PageCursor) {
			ahead := 0
			for _, r := range orig {
				if deleted[r.ID] {
					continue
				}
				if pos.After(r.CreatedAt, r.ID) {
					if ahead++; ahead == 2 {
						del(r)
						deletedAhead[r.ID] = true
						break
					}
				}
			}
			for i := len(orig) - 1; i >= 0; i-- {
				if r := orig[i]; !deleted[r.ID] && !pos.After(r.CreatedAt, r.ID) {
					del(r)
					break
				}
			}
			mustCreate(t, s, NewRecord("dave", -time.Hour))
			mustCreate(t, s, NewRecord("dave", time.Hour))
		})
		seen := map[string]bool{}
		for i, r := range got {
			if seen[r.ID] {
				t.Fatalf("%s listed twice", r.ID)
			}
			seen[r.ID] = true
			if i > 0 && listOrder(got[i-1], r) >= 0 {
				t.Fatalf("listing out of order at %d", i)
			}
		}
		if len(deletedAhead) == 0 {
			t.Fatal("the test deleted nothing ahead of the cursor")
		}
		for _, r := range orig {
			switch {
			case !deleted[r.ID] && !seen[r.ID]:
				t.Fatalf("session %s lived throughout but was not listed", r.ID)
			case deletedAhead[r.ID] && seen[r.ID]:
				t.Fatalf("session %s was listed after its deletion", r.ID)
			}
		}
	})
	t.Run("limit-bounds", func(t *testing.T) {
		for _, limit := range []int{0, -1, session.MaxStorePage + 1} {
			rs, err := s.ListUserPage(ctx, "alice", session.PageCursor{}, limit)
			if !errors.Is(err, session.ErrInvalidPage) {
				t.Fatalf("ListUserPage(limit %d) = %d records, %v; want ErrInvalidPage", limit, len(rs), err)
			}
		}
	})
	t.Run("agrees-with-list", func(t *testing.T) {
		all, err := s.ListUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(all), ids(want)) {
			t.Fatalf("ListUser = %v, want the order of the pages %v", ids(all), ids(want))
		}
	})
}
