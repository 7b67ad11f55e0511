package httpauth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// A server-rendered application with one secret: NewWeb derives every
// key from the master key and keeps the sessions in the store. Forms carry
// the CSRF token in a hidden field; a flash message is shown once.
func ExampleNewWeb() {
	master := make([]byte, 32) // in production: the same 32 random bytes on every node
	rand.Read(master)
	web, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{
		MasterKey: master, Store: memstore.New(), CookieName: "app", LoginURL: "/login"})
	if err != nil {
		panic(err)
	}
	defer web.Close()

	form := template.Must(template.New("").Parse(`<form method="post" action="/note">{{.}}<button>Save</button></form>`))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the user's password here ...
		if _, err := web.Login(w, r, "user-42", r.PostFormValue("remember") == "on"); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.Handle("GET /{$}", web.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flash, _ := web.PopFlash(r)
		fmt.Fprintln(w, strings.Join(flash, " "))
		form.Execute(w, httpauth.CSRFField(r))
	})))
	mux.Handle("POST /note", web.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.Update(r, func(s *session.Session) error { return httpauth.AppendFlash(s, "saved") })
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	srv := httptest.NewTLSServer(http.NewCrossOriginProtection().Handler(web.Load(mux))) // Secure cookies want HTTPS
	defer srv.Close()

	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	show := func(res *http.Response, err error) string {
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		if res.StatusCode == http.StatusSeeOther {
			return fmt.Sprint(res.StatusCode, " ", res.Header.Get("Location"))
		}
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprint(res.StatusCode, " ", strings.TrimSpace(string(b)))
	}
	fmt.Println(show(client.Get(srv.URL + "/")))
	show(client.PostForm(srv.URL+"/login", nil))
	page := show(client.Get(srv.URL + "/"))
	token := regexp.MustCompile(`value="([^"]+)"`).FindStringSubmatch(page)[1]
	fmt.Println(show(client.PostForm(srv.URL+"/note", nil)))
	fmt.Println(show(client.PostForm(srv.URL+"/note", url.Values{"csrf_token": {token}})))
	fmt.Println(strings.Contains(show(client.Get(srv.URL+"/")), "saved"))
	fmt.Println(strings.Contains(show(client.Get(srv.URL+"/")), "saved"))
	// Output:
	// 303 /login?next=%2F
	// 403 {"error":"csrf_failed","error_description":"a valid X-CSRF-Token header or csrf_token form field is required"}
	// 303 /
	// true
	// false
}
