// Command shop is a small shop rendered on the server with html/template:
// log in (remembered or not), add to a cart with a plain form, see a flash
// message once, log out. Its sessions are sessiond's, through httpauth.Web:
// a page left open past the access token's lifetime keeps working, on the
// next navigation and on a form post, with no JavaScript. examples/shop-scs
// is the same shop on github.com/alexedwards/scs/v2, for comparison.
//
//	SHOP_MASTER_KEY=$(head -c32 /dev/urandom | base64) go run ./examples/shop
package main

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"log"
	"net/http"
	"os"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8"><title>Shop</title>
{{range .Flash}}<p class="flash">{{.}}</p>{{end}}
{{if .User}}
<p>Signed in as <b id="user">{{.User}}</b>.</p>
<ul id="cart">{{range .Cart}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="/cart">{{.CSRF}}
  <select name="item"><option>tea</option><option>cake</option></select>
  <button id="add">Add to cart</button>
</form>
<form method="post" action="/logout">{{.CSRF}}<button id="logout">Log out</button></form>
{{else}}
<form method="post" action="/login">
  <input id="name" name="name" placeholder="name"> <input id="password" name="password" type="password">
  <label><input id="remember" type="checkbox" name="remember"> Remember me</label>
  <button id="login">Log in</button>
</form>
{{end}}`))

var users = map[string]string{"ann": "correct horse battery"}

type shop struct{ web *httpauth.Web }

func newShop(web *httpauth.Web) http.Handler {
	s := &shop{web}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /cart", web.Require(http.HandlerFunc(s.add)))
	mux.HandleFunc("POST /logout", s.logout)
	return http.NewCrossOriginProtection().Handler(web.Load(mux))
}

func (s *shop) home(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"CSRF": httpauth.CSRFField(r)}
	if sess, err := s.web.Session(r); err == nil {
		cart, _, _ := session.Get[[]string](sess, "cart")
		flash, _ := s.web.PopFlash(r)
		data["User"], data["Cart"], data["Flash"] = sess.UserID, cart, flash
	} else if !errors.Is(err, httpauth.ErrNoSession) {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	page.Execute(w, data)
}

func (s *shop) login(w http.ResponseWriter, r *http.Request) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	want, ok := users[name]
	if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(want)) != 1 {
		http.Error(w, "wrong name or password", http.StatusUnauthorized)
		return
	}
	if _, err := s.web.Login(w, r, name, r.PostFormValue("remember") == "on"); err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) add(w http.ResponseWriter, r *http.Request) {
	item := r.PostFormValue("item")
	_, err := s.web.Update(r, func(sess *session.Session) error {
		cart, _, _ := session.Get[[]string](sess, "cart")
		return errors.Join(sess.Set("cart", append(cart, item)), httpauth.AppendFlash(sess, "Added "+item+" to your cart."))
	})
	if err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.web.Logout(w, r); err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func main() {
	master, err := base64.StdEncoding.DecodeString(os.Getenv("SHOP_MASTER_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	// One secret: the refresh, CSRF and audit keys are derived from it.
	web, err := httpauth.NewWeb(context.Background(), httpauth.WebConfig{MasterKey: master, Store: memstore.New(),
		CookieName: "shop", LoginURL: "/"})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", newShop(web)))
}
