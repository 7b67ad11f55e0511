package session_test

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// TestListPage: pages of live sessions, oldest first, with a next cursor
// until the last page; expired and revoked sessions are left out without
// ending the listing early; the default and maximum page sizes; a limit
// out of range or a cursor no listing made is ErrInvalidPage.
func TestListPage(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, func(c *session.Config) { c.Policy.MaxSessionsPerUser = session.NoSessionCap })
	var ids []string
	for range 130 {
		ids = append(ids, login(t, m, "ann").Session.ID)
		f.clock.Advance(time.Second)
	}
	// Revoke a run of sessions across what would be a page boundary.
	for _, id := range ids[8:14] {
		if err := m.Revoke(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Concat(ids[:8], ids[14:])

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		list, next, err := m.ListPage(ctx, "ann", cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 10 || (next != "" && len(list) != 10) {
			t.Fatalf("page %d: %d sessions, next %q", pages, len(list), next)
		}
		for _, s := range list {
			got = append(got, s.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages list %d sessions, want the %d live ones in order", len(got), len(want))
	}

	if list, next, err := m.ListPage(ctx, "ann", "", 0); err != nil || len(list) != session.DefaultPageSize || next == "" {
		t.Fatalf("default page: %d, %q, %v", len(list), next, err)
	}
	if list, _, err := m.ListPage(ctx, "ann", "", session.MaxPageSize); err != nil || len(list) != session.MaxPageSize {
		t.Fatalf("largest page: %d, %v", len(list), err)
	}
	// Past the absolute lifetime nothing is live: one empty last page.
	f.clock.Advance(8 * 24 * time.Hour)
	if list, next, err := m.ListPage(ctx, "ann", "", 100); err != nil || len(list) != 0 || next != "" {
		t.Fatalf("all expired: %d, %q, %v", len(list), next, err)
	}

	for _, limit := range []int{-1, session.MaxPageSize + 1} {
		if _, _, err := m.ListPage(ctx, "ann", "", limit); !errors.Is(err, session.ErrInvalidPage) {
			t.Errorf("limit %d: %v, want ErrInvalidPage", limit, err)
		}
	}
	for _, c := range []string{"!", "AAAA", "AQ", "AQ==", base64.RawURLEncoding.EncodeToString([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x'}),
		base64.RawURLEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0x00, 'x'})} {
		if _, _, err := m.ListPage(ctx, "ann", c, 10); !errors.Is(err, session.ErrInvalidPage) {
			t.Errorf("cursor %q: %v, want ErrInvalidPage", c, err)
		}
	}
}

// FuzzParseCursor: a cursor comes from outside. Whatever ParseCursor
// accepts, it accepts in one spelling only (the one String writes back),
// and it never panics.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(session.PageCursor{CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ID: "Kx8oEBs-LMKNfimon75DtA"}.String())
	f.Add("AQAAAAD")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := session.ParseCursor(s)
		if err != nil {
			if !errors.Is(err, session.ErrInvalidPage) {
				t.Fatalf("ParseCursor(%q) = %v, not ErrInvalidPage", s, err)
			}
			return
		}
		if back := c.String(); back != s {
			t.Fatalf("ParseCursor(%q) = %+v, which is written %q", s, c, back)
		}
	})
}
