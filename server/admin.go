package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
)

// MinAdminTokenLen is the shortest admin token accepted.
const MinAdminTokenLen = 32

// adminOnly guards /admin/v1: a bearer admin token (SESSIOND_ADMIN_TOKEN),
// compared in constant time. Without a configured token the admin API does
// not exist (404), so a forgotten setting never opens it.
func (s *Server) adminOnly(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.adminHash == nil {
			httpauth.WriteError(w, http.StatusNotFound, httpauth.CodeNotFound, "the admin API is disabled (set SESSIOND_ADMIN_TOKEN)")
			return
		}
		ip := s.clientIP.Of(r)
		if s.credentialsBlocked(w, ip) {
			return
		}
		refuse := func() {
			httpauth.WriteError(w, http.StatusUnauthorized, CodeInvalidAdminToken, "an admin token is required")
		}
		tok, ok := httpauth.BearerToken(r)
		if !ok || tok == "" {
			refuse() // no guess to count
			return
		}
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], s.adminHash) != 1 {
			s.credentialsFailed(w, r, ip, audit.AdminAuthFailed, "", refuse)
			return
		}
		next(w, r)
	})
}

// CodeInvalidAdminToken is the error code of a refused admin call.
const CodeInvalidAdminToken = "invalid_token"

type keyView struct {
	ID          string     `json:"kid"`
	Alg         string     `json:"alg"`
	CreatedAt   time.Time  `json:"created_at"`
	Active      bool       `json:"active"`
	ActivatesAt *time.Time `json:"activates_at,omitempty"`
	RetireAt    *time.Time `json:"retire_at,omitempty"`
}

func (s *Server) keyViews() []keyView {
	var out []keyView
	for _, k := range s.node.Keys().Keys(s.now()) {
		v := keyView{ID: k.ID, Alg: string(k.Alg), CreatedAt: k.CreatedAt, Active: k.Active}
		if k.Pending {
			t := k.ActivatesAt
			v.ActivatesAt = &t
		}
		if !k.RetireAt.IsZero() {
			t := k.RetireAt
			v.RetireAt = &t
		}
		out = append(out, v)
	}
	return out
}

// userView is an account as the admin listing shows it (never its
// password hash).
type userView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// userPage is the answer of GET /admin/v1/users: one page of accounts,
// ordered by email, and the cursor of the next page, omitted on the last
// one (the shape of sessionPage).
type userPage struct {
	Users      []userView `json:"users"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// handleAdminUsers lists the accounts a page at a time, ordered by email,
// from the query parameters limit (1..account.MaxPageSize, default
// account.DefaultPageSize) and cursor (a next_cursor of an earlier page).
// A bad parameter is 400 invalid_request and reads nothing.
func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request) {
	limit, cursor, ok := pageQuery(w, r, account.MaxPageSize)
	if !ok {
		return
	}
	list, next, err := s.accounts.ListPage(r.Context(), cursor, limit)
	if errors.Is(err, account.ErrInvalidPage) {
		writeBadCursor(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := userPage{Users: make([]userView, 0, len(list)), NextCursor: next}
	for _, a := range list {
		out.Users = append(out.Users, userView{a.ID, a.Email, a.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleAdminUserSessions lists a user's sessions a page at a time
// (?limit=N&cursor=C; see writeSessionPage).
func (s *Server) handleAdminUserSessions(w http.ResponseWriter, r *http.Request) {
	s.writeSessionPage(w, r, r.PathValue("id"), "")
}

func (s *Server) handleAdminRevokeUser(w http.ResponseWriter, r *http.Request) {
	ids, err := s.mgr.RevokeUser(r.Context(), r.PathValue("id"), "")
	if s.refusedInput(w, err) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": len(ids)})
}

func (s *Server) handleAdminRevokeSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.mgr.Get(r.Context(), id); err != nil {
		if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrExpired) || errors.Is(err, session.ErrRevoked) {
			httpauth.WriteError(w, http.StatusNotFound, httpauth.CodeNotFound, "no such session")
			return
		}
		s.fail(w, r, err)
		return
	}
	if err := s.mgr.RevokeFor(r.Context(), id, "admin"); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAdminKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.keyViews()})
}

// handleAdminRotateKeys rotates the signing key. The new key is published
// at once and signs once JWKS caches have it; ?now=1 makes it sign at once
// (after a key compromise).
func (s *Server) handleAdminRotateKeys(w http.ResponseWriter, r *http.Request) {
	now := false
	switch v := r.URL.Query().Get("now"); v {
	case "", "0", "false":
	case "1", "true":
		now = true
	default:
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "now must be 1 or 0")
		return
	}
	if _, err := s.node.RotateKeys(r.Context(), node.Rotation{Immediately: now}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.keyViews()})
}
