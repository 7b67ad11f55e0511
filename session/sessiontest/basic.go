package sessiontest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

func testMissing(t *testing.T, s session.Store) {
	ctx := t.Context()
	id := NewID()
	t.Run("get", func(t *testing.T) {
		wantGone(t, s, id)
	})
	t.Run("update", func(t *testing.T) {
		r := NewRecord("u", 0)
		r.ID = id
		r.Version = 1
		if err := s.Update(ctx, r); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Update = %v, want ErrNotFound", err)
		}
		wantGone(t, s, id) // Update never creates
	})
	t.Run("rotate", func(t *testing.T) {
		out, r, err := s.Rotate(ctx, id, session.RotateRequest{
			Presented: NewHash(), Next: NewHash(), Now: Base,
			Grace: 10 * time.Second, IdleExpiresAt: Base.Add(time.Hour), RevokeHold: time.Hour,
		})
		if !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Rotate = %v, %v, %v; want ErrNotFound", out, r, err)
		}
		wantNotRevoked(t, s, Base, id)
	})
	t.Run("delete", func(t *testing.T) {
		ok, err := s.Delete(ctx, id, Base.Add(time.Hour))
		if ok || err != nil {
			t.Fatalf("Delete = %v, %v; want false, nil", ok, err)
		}
		wantNotRevoked(t, s, Base, id) // records nothing
	})
	t.Run("delete-user", func(t *testing.T) {
		gone, err := s.DeleteUser(ctx, "nobody", "", Base.Add(time.Hour))
		if err != nil || len(gone) != 0 {
			t.Fatalf("DeleteUser = %v, %v; want none", gone, err)
		}
	})
	t.Run("list-user", func(t *testing.T) {
		rs, err := s.ListUser(ctx, "nobody")
		if err != nil || len(rs) != 0 {
			t.Fatalf("ListUser = %v, %v; want none", ids(rs), err)
		}
	})
	t.Run("revocations", func(t *testing.T) {
		if revs := revocationsAt(t, s, Base); len(revs) != 0 {
			t.Fatalf("Revocations = %v, want none", revs)
		}
	})
	t.Run("delete-expired", func(t *testing.T) {
		n, err := s.DeleteExpired(ctx, Base.Add(365*24*time.Hour))
		if n != 0 || err != nil {
			t.Fatalf("DeleteExpired = %d, %v; want 0, nil", n, err)
		}
	})
}

// fullRecord sets every field of a record.
func fullRecord() *session.Record {
	r := NewRecord("user-1", 0)
	r.LastSeenAt = Base.Add(90 * time.Minute)
	r.IdleExpiresAt = Base.Add(25*time.Hour + 123*time.Microsecond)
	r.AbsExpiresAt = Base.Add(7*24*time.Hour + 456*time.Microsecond)
	r.IP = "2001:db8::1"
	r.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ünïcødé"
	r.AuthMethod = "passkey"
	r.PrevRefreshHash = NewHash()
	r.RotatedAt = Base.Add(89 * time.Minute)
	r.Data = map[string]json.RawMessage{
		"theme":  json.RawMessage(`"dark"`),
		"cart":   json.RawMessage(`{"items":[1,2,3],"total":12.5}`),
		"flag":   json.RawMessage(`true`),
		"nested": json.RawMessage(`{"a":{"b":null}}`),
	}
	r.Version = 42 // ignored by Create
	return r
}

func testCreateGet(t *testing.T, s session.Store) {
	ctx := t.Context()
	want := fullRecord()
	arg := want.Clone()
	mustCreate(t, s, arg)

	t.Run("round-trip", func(t *testing.T) {
		got := mustGet(t, s, want.ID)
		mustSame(t, got, want)
		if got.Version != 1 {
			t.Fatalf("Version = %d, want 1", got.Version)
		}
	})
	t.Run("minimal", func(t *testing.T) {
		// No Data, no parent hash, zero RotatedAt.
		r := NewRecord("user-1", time.Minute)
		mustCreate(t, s, r.Clone())
		mustSame(t, mustGet(t, s, r.ID), r)
	})
	t.Run("exists", func(t *testing.T) {
		dup := NewRecord("user-2", time.Hour)
		dup.ID = want.ID
		if err := s.Create(ctx, dup); !errors.Is(err, session.ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists", err)
		}
		mustSame(t, mustGet(t, s, want.ID), want) // not overwritten
		if rs, _ := s.ListUser(ctx, "user-2"); len(rs) != 0 {
			t.Fatalf("failed Create indexed %v under user-2", ids(rs))
		}
	})
	t.Run("no-aliasing", func(t *testing.T) {
		// Changing the argument after Create must not reach the store.
		arg.UserID = "mallory"
		arg.RefreshHash[0] ^= 0xff
		arg.PrevRefreshHash[0] ^= 0xff
		arg.Data["theme"][1] = 'X'
		arg.Data["new"] = json.RawMessage(`1`)
		mustSame(t, mustGet(t, s, want.ID), want)

		// Changing a returned record must not reach the store either.
		got := mustGet(t, s, want.ID)
		got.UserID = "mallory"
		got.RefreshHash[0] ^= 0xff
		got.PrevRefreshHash[0] ^= 0xff
		got.Data["theme"][1] = 'X'
		delete(got.Data, "cart")
		mustSame(t, mustGet(t, s, want.ID), want)

		rs, err := s.ListUser(ctx, want.UserID)
		if err != nil || len(rs) == 0 {
			t.Fatalf("ListUser = %v, %v", ids(rs), err)
		}
		for _, r := range rs {
			r.RefreshHash[0] ^= 0xff
			clear(r.Data)
		}
		mustSame(t, mustGet(t, s, want.ID), want)
	})
}

func testUpdateCAS(t *testing.T, s session.Store) {
	ctx := t.Context()
	orig := NewRecord("u", 0)
	mustCreate(t, s, orig.Clone())

	r := mustGet(t, s, orig.ID)
	stale := r.Clone()
	r.LastSeenAt = Base.Add(time.Hour)
	r.IdleExpiresAt = Base.Add(25 * time.Hour)
	r.IP = "198.51.100.9"
	r.Data = map[string]json.RawMessage{"k": json.RawMessage(`"v"`)}
	want := r.Clone()

	t.Run("right-version", func(t *testing.T) {
		if err := s.Update(ctx, r); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if r.Version != 2 {
			t.Fatalf("argument Version = %d after Update, want 2", r.Version)
		}
		got := mustGet(t, s, orig.ID)
		mustSame(t, got, want)
		if got.Version != 2 {
			t.Fatalf("stored Version = %d, want 2", got.Version)
		}
	})
	t.Run("stale-version", func(t *testing.T) {
		stale.IP = "203.0.113.66"
		stale.Data = map[string]json.RawMessage{"evil": json.RawMessage(`1`)}
		if err := s.Update(ctx, stale); !errors.Is(err, session.ErrConflict) {
			t.Fatalf("stale Update = %v, want ErrConflict", err)
		}
		got := mustGet(t, s, orig.ID)
		mustSame(t, got, want)
		if got.Version != 2 {
			t.Fatalf("Version = %d after a lost CAS, want 2", got.Version)
		}
	})
	t.Run("future-version", func(t *testing.T) {
		ahead := mustGet(t, s, orig.ID)
		ahead.Version += 5
		ahead.IP = "203.0.113.67"
		if err := s.Update(ctx, ahead); !errors.Is(err, session.ErrConflict) {
			t.Fatalf("Update with a version from the future = %v, want ErrConflict", err)
		}
		mustSame(t, mustGet(t, s, orig.ID), want)
	})
	t.Run("again", func(t *testing.T) {
		// The argument's bumped Version is usable for the next write.
		r.IP = "198.51.100.10"
		if err := s.Update(ctx, r); err != nil {
			t.Fatalf("second Update: %v", err)
		}
		if got := mustGet(t, s, orig.ID); got.Version != 3 || got.IP != r.IP {
			t.Fatalf("after second Update: Version %d IP %q", got.Version, got.IP)
		}
	})
	t.Run("change-owner", func(t *testing.T) {
		// Update replaces the whole record; the per-user listing follows.
		cur := mustGet(t, s, orig.ID)
		cur.UserID = "u2"
		if err := s.Update(ctx, cur); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if rs, err := s.ListUser(ctx, "u"); err != nil || len(rs) != 0 {
			t.Fatalf("ListUser(old owner) = %v, %v; want none", ids(rs), err)
		}
		if rs, err := s.ListUser(ctx, "u2"); err != nil || !slices.Equal(ids(rs), []string{orig.ID}) {
			t.Fatalf("ListUser(new owner) = %v, %v", ids(rs), err)
		}
		cur.UserID = "u"
		if err := s.Update(ctx, cur); err != nil {
			t.Fatalf("Update back: %v", err)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		cur := mustGet(t, s, orig.ID)
		if ok, err := s.Delete(ctx, orig.ID, Base.Add(time.Hour)); !ok || err != nil {
			t.Fatalf("Delete = %v, %v", ok, err)
		}
		// A request in flight must not write the revoked session back.
		if err := s.Update(ctx, cur); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Update of a deleted session = %v, want ErrNotFound", err)
		}
		wantGone(t, s, orig.ID)
		if rs, _ := s.ListUser(ctx, "u"); len(rs) != 0 {
			t.Fatalf("ListUser after delete = %v", ids(rs))
		}
	})
}

func testList(t *testing.T, s session.Store) {
	ctx := t.Context()
	a3 := NewRecord("alice", 3*time.Minute)
	a1 := NewRecord("alice", 1*time.Minute)
	b := NewRecord("bob", 0)
	a2 := NewRecord("alice", 2*time.Minute)
	a2.CreatedAt = a2.CreatedAt.Add(time.Microsecond) // order by the full time, not the second
	a0 := NewRecord("alice", 2*time.Minute)
	for _, r := range []*session.Record{a3, a1, b, a2, a0} {
		mustCreate(t, s, r)
	}
	tests := []struct {
		user string
		want []string
	}{
		{"alice", []string{a1.ID, a0.ID, a2.ID, a3.ID}},
		{"bob", []string{b.ID}},
		{"carol", nil},
		{"alic", nil}, // a prefix of a user id is another user
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			rs, err := s.ListUser(ctx, tt.user)
			if err != nil {
				t.Fatalf("ListUser: %v", err)
			}
			if got := ids(rs); !slices.Equal(got, tt.want) {
				t.Fatalf("ListUser(%s) = %v, want %v (oldest first)", tt.user, got, tt.want)
			}
			for _, r := range rs {
				mustSame(t, r, mustGet(t, s, r.ID))
				if r.Version != 1 {
					t.Fatalf("listed Version = %d, want 1", r.Version)
				}
			}
		})
	}
}

func testLargeData(t *testing.T, s session.Store) {
	ctx := t.Context()
	const size = 64 << 10
	// Several keys, one of them big, 64 KiB of JSON in all.
	small := map[string]json.RawMessage{
		"a": json.RawMessage(`{"x":[1,2,3]}`),
		"b": json.RawMessage(`"\u00e9\n\"q\""`),
	}
	used := 0
	for k, v := range small {
		used += len(k) + len(v)
	}
	big := `"` + strings.Repeat("0123456789abcdef", size/16)[:size-used-len("big")-2] + `"`
	r := NewRecord("u", 0)
	r.Data = map[string]json.RawMessage{"big": json.RawMessage(big)}
	for k, v := range small {
		r.Data[k] = v
	}
	t.Run("create", func(t *testing.T) {
		mustCreate(t, s, r.Clone())
		mustSame(t, mustGet(t, s, r.ID), r)
	})
	t.Run("update", func(t *testing.T) {
		cur := mustGet(t, s, r.ID)
		cur.Data["big"] = json.RawMessage(strings.Replace(big, "0", "z", -1))
		want := cur.Clone()
		if err := s.Update(ctx, cur); err != nil {
			t.Fatalf("Update: %v", err)
		}
		mustSame(t, mustGet(t, s, r.ID), want)
	})
}
