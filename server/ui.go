package server

import (
	"net/http"

	"github.com/sessiond/sessiond/ui"
)

// routeUI serves the embedded pages under /ui/, what they need to know of
// this server's settings at /ui/config.json, and sends a browser that opens
// the root to its devices page. The root cannot tell a visitor without a
// session from one whose access cookie merely expired (the refresh cookie
// only goes to /v1/refresh), so the devices page decides: it sends a
// visitor without a session on to the login page, quietly.
func (s *Server) routeUI(mux *routeMux) {
	mux.Handle("GET /ui/", ui.Handler())
	mux.HandleFunc("GET /ui/config.json", s.handleUIConfig)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/devices", http.StatusFound))
}

// uiConfig is what the pages read of the server's settings. Nothing in it
// is secret: any visitor may read it.
type uiConfig struct {
	// Signup: POST /v1/signup is accepted (the pages offer signing up).
	Signup bool `json:"signup"`
}

func (s *Server) handleUIConfig(w http.ResponseWriter, r *http.Request) {
	// writeJSON sends Cache-Control: no-store, so a restart with another
	// --allow-signup is seen at the next page load.
	writeJSON(w, http.StatusOK, uiConfig{Signup: s.signup})
}
