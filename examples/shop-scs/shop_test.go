package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestShop: the scs shop does what the sessiond one does: log in, add to
// the cart with the form, the flash once, log out.
func TestShop(t *testing.T) {
	srv := httptest.NewTLSServer(newShop(newSessionManager())) // the cookie is Secure
	defer srv.Close()
	c := srv.Client()
	c.Jar, _ = cookiejar.New(nil)
	page := func(res *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	steps := []struct {
		name      string
		do        func() string
		has, lack string
	}{
		{"home", func() string { return page(c.Get(srv.URL + "/")) }, `id="login"`, "Signed in"},
		{"wrong password", func() string {
			return page(c.PostForm(srv.URL+"/login", url.Values{"name": {"ann"}, "password": {"wrong"}}))
		}, "wrong name or password", "Signed in"},
		{"login", func() string {
			return page(c.PostForm(srv.URL+"/login", url.Values{"name": {"ann"}, "password": {"correct horse battery"}}))
		}, `Signed in as <b id="user">ann</b>`, ""},
		{"add tea", func() string { return page(c.PostForm(srv.URL+"/cart", url.Values{"item": {"tea"}})) }, "Added tea to your cart.", ""},
		{"flash once", func() string { return page(c.Get(srv.URL + "/")) }, "<li>tea</li>", "Added tea"},
		{"logout", func() string { return page(c.PostForm(srv.URL+"/logout", nil)) }, `id="login"`, "Signed in"},
		{"cart needs a login", func() string { return page(c.PostForm(srv.URL+"/cart", url.Values{"item": {"cake"}})) }, `id="login"`, "cake"},
	}
	for _, s := range steps {
		body := s.do()
		if !strings.Contains(body, s.has) || (s.lack != "" && strings.Contains(body, s.lack)) {
			t.Fatalf("%s: want %q and not %q in:\n%s", s.name, s.has, s.lack, body)
		}
	}
}
