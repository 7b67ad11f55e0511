package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/session"
)

// TestBrowserDevicesPages: the devices page of a user with more sessions
// than one page (the list comes 100 at a time) shows the first page and
// a "Show more devices" button, which brings the second page; a reload of
// the list keeps both pages; the last page has no button.
func TestBrowserDevicesPages(t *testing.T) {
	sd := startSessiond(t, session.Policy{MaxSessionsPerUser: session.NoSessionCap})
	tab := startBrowser(t)
	do(t, tab, chromedp.Navigate(sd.base+"/ui/signup"))
	fillAndSubmit(t, tab, "pia@example.com", password)
	waitFor(t, tab, "the devices page", devicesLoaded)

	req, _ := http.NewRequest("GET", sd.base+"/v1/session", nil)
	req.Header.Set("Authorization", "Bearer "+sd.apiAccess(t, "pia@example.com"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		UserID string `json:"user_id"`
	}
	err = json.NewDecoder(res.Body).Decode(&me)
	res.Body.Close()
	if err != nil || me.UserID == "" {
		t.Fatalf("GET /v1/session: %v", err)
	}
	// 130 more sessions, newer than the two above: 132 in all, so the
	// newest 32 are on the second page.
	var last string
	for i := range 130 {
		tok, err := sd.srv.Node().Manager().Login(context.Background(), me.UserID,
			session.Meta{UserAgent: fmt.Sprintf("pager/%d", i), AuthMethod: "password"})
		if err != nil {
			t.Fatal(err)
		}
		last = tok.Session.ID
	}
	has := "!!document.querySelector('#sessions li[data-id=\"" + last + "\"]')"
	count := "document.querySelectorAll('#sessions li').length"

	click(t, tab, "#reload")
	waitFor(t, tab, "the first page", count+" === 100 && "+visible("#more"))
	if eval[bool](t, tab, has) {
		t.Fatal("the newest session is shown before the second page was asked for")
	}
	click(t, tab, "#more")
	waitFor(t, tab, "the second page", count+" === 132 && "+has)
	if eval[bool](t, tab, visible("#more")) {
		t.Fatal("Show more is offered after the last page")
	}
	if n := eval[int](t, tab, "document.querySelectorAll('#sessions li[data-current=\"true\"]').length"); n != 1 {
		t.Fatalf("%d sessions flagged as this device", n)
	}
	// A reload after an action fetches as many pages as were shown.
	click(t, tab, "#reload")
	waitFor(t, tab, "the reloaded list", count+" === 132 && "+has+" && !"+visible("#more"))
	shoot(t, tab, screenshots(t), "devices-pages")
}
