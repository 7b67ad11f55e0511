package server

import (
	"net/http"

	"github.com/sessiond/sessiond/ui"
)

// routeUI serves the embedded pages under /ui/ and sends a browser that
// opens the root to its devices page.
func (s *Server) routeUI(mux *http.ServeMux) {
	mux.Handle("GET /ui/", ui.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/devices", http.StatusFound))
}
