package server

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
)

// handleAdminDeleteUser is DELETE /admin/v1/users/{id}: the operator
// deletes a built-in account and every session of its user ends
// (node.Node.DeleteAccount), 200 {"revoked":n}. No such account is 404
// not_found; a user id no store can keep is 400, as on the other user
// routes; nothing changes then.
func (s *Server) handleAdminDeleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := s.node.DeleteAccount(r.Context(), id, "admin")
	switch {
	case s.refusedInput(w, err):
		return
	case errors.Is(err, account.ErrNotFound):
		httpauth.WriteError(w, http.StatusNotFound, httpauth.CodeNotFound, "no such account")
		return
	case errors.Is(err, node.ErrSessionsRemain):
		s.sessionsRemain(w, r, err, "end them with DELETE /admin/v1/users/{id}/sessions")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// handleDeleteAccount is DELETE /v1/account: the signed-in user deletes
// their own built-in account, and every session of theirs ends, this one
// included (node.Node.DeleteAccount), 200 {"revoked":n}; a cookie client's
// cookies are cleared as at a logout. A user that is no built-in account
// (a session a service client minted) is 404 and nothing changes. A
// session whose last authentication is older than Config.ReauthMaxAge is
// 403 insufficient_user_authentication, and nothing changes.
func (s *Server) handleDeleteAccount(w http.ResponseWriter, r *http.Request) {
	// Deleting the account is a sensitive action: it needs a recent
	// authentication (POST /v1/reauth), as ending other sessions does.
	if !s.requireFresh(w, r) {
		return
	}
	id, _ := httpauth.FromContext(r.Context())
	n, err := s.node.DeleteAccount(r.Context(), id.UserID, "self")
	switch {
	case errors.Is(err, account.ErrNotFound):
		httpauth.WriteError(w, http.StatusNotFound, httpauth.CodeNotFound, "this user has no account of this server to delete")
		return
	case errors.Is(err, node.ErrSessionsRemain):
		// The cookies stay: the session may still be live, and the
		// browser needs them to log out everywhere.
		s.sessionsRemain(w, r, err, "log out everywhere (POST /v1/logout?scope=global)")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if httpauth.ViaCookie(r.Context()) {
		s.clearCookies(w, r)
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// sessionsRemain answers a deletion whose account is gone but whose
// sessions the store could not all end: 503, saying what finishes the
// job, since deleting again finds no account.
func (s *Server) sessionsRemain(w http.ResponseWriter, r *http.Request, err error, finish string) {
	s.log.ErrorContext(r.Context(), "account deleted, sessions not all ended", "route", r.Pattern, "err", err)
	httpauth.WriteError(w, http.StatusServiceUnavailable, httpauth.CodeUnavailable,
		"the account was deleted, but the session store failed before all of its sessions were ended: "+finish)
}
