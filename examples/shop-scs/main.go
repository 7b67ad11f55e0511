// Command shop-scs is the shop of examples/shop built on
// github.com/alexedwards/scs/v2 instead of sessiond, for comparison (the
// README sets the two side by side). It is a module of its own, so the
// sessiond module does not depend on scs.
//
//	cd examples/shop-scs && go run .
package main

import (
	"crypto/subtle"
	"html/template"
	"log"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8"><title>Shop</title>
{{with .Flash}}<p class="flash">{{.}}</p>{{end}}
{{if .User}}
<p>Signed in as <b id="user">{{.User}}</b>.</p>
<ul id="cart">{{range .Cart}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="/cart">
  <select name="item"><option>tea</option><option>cake</option></select>
  <button id="add">Add to cart</button>
</form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
{{else}}
<form method="post" action="/login">
  <input id="name" name="name" placeholder="name"> <input id="password" name="password" type="password">
  <label><input id="remember" type="checkbox" name="remember"> Remember me</label>
  <button id="login">Log in</button>
</form>
{{end}}`))

var users = map[string]string{"ann": "correct horse battery"}

type shop struct{ sm *scs.SessionManager }

func newShop(sm *scs.SessionManager) http.Handler {
	s := &shop{sm}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /cart", s.require(http.HandlerFunc(s.add)))
	mux.HandleFunc("POST /logout", s.logout)
	return http.NewCrossOriginProtection().Handler(sm.LoadAndSave(mux))
}

func (s *shop) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sm.Exists(r.Context(), "user") {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *shop) home(w http.ResponseWriter, r *http.Request) {
	cart, _ := s.sm.Get(r.Context(), "cart").([]string)
	page.Execute(w, map[string]any{"User": s.sm.GetString(r.Context(), "user"), "Cart": cart,
		"Flash": s.sm.PopString(r.Context(), "flash")})
}

func (s *shop) login(w http.ResponseWriter, r *http.Request) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	want, ok := users[name]
	if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(want)) != 1 {
		http.Error(w, "wrong name or password", http.StatusUnauthorized)
		return
	}
	if err := s.sm.RenewToken(r.Context()); err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	s.sm.Put(r.Context(), "user", name)
	s.sm.RememberMe(r.Context(), r.PostFormValue("remember") == "on")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) add(w http.ResponseWriter, r *http.Request) {
	item := r.PostFormValue("item")
	cart, _ := s.sm.Get(r.Context(), "cart").([]string)
	s.sm.Put(r.Context(), "cart", append(cart, item))
	s.sm.Put(r.Context(), "flash", "Added "+item+" to your cart.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sm.Destroy(r.Context()); err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func main() {
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", newShop(newSessionManager())))
}

func newSessionManager() *scs.SessionManager {
	sm := scs.New() // sessions in memory
	sm.Lifetime = 7 * 24 * time.Hour
	sm.Cookie.Name = "__Host-shop"
	sm.Cookie.Secure = true
	sm.Cookie.Persist = false // RememberMe decides, per login
	return sm
}
