package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
)

// mintRequest is the body of POST /v1/sessions: a session for a user the
// calling backend authenticated itself.
type mintRequest struct {
	UserID     string                     `json:"user_id"`
	Claims     map[string]json.RawMessage `json:"claims"`
	AuthMethod string                     `json:"auth_method"`
	AMR        []string                   `json:"amr"`
	IP         string                     `json:"ip"`
	UserAgent  string                     `json:"user_agent"`
	// client_secret_post (RFC 6749 §2.3.1), for clients that cannot send
	// HTTP Basic.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// claimsRequest is the body of PUT /v1/users/{id}/claims and its admin
// twin.
type claimsRequest struct {
	Claims map[string]json.RawMessage `json:"claims"`
	// RevokeSessions ends the user's sessions at once instead of letting
	// the new claims reach them at their next refresh.
	RevokeSessions bool `json:"revoke_sessions"`
}

// handleMint is POST /v1/sessions: a service client with the sessions
// permission starts a session for one of its users. The answer is the
// login answer, with 201.
func (s *Server) handleMint(w http.ResponseWriter, r *http.Request) {
	var req mintRequest
	if decode(w, r, &req) != nil {
		return
	}
	cl, ok := s.authenticateClient(w, r, PermSessions, clientCreds{id: req.ClientID, secret: req.ClientSecret})
	if !ok {
		return
	}
	if req.UserID == "" {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "user_id is required")
		return
	}
	t, err := s.mgr.Start(r.Context(), session.Grant{
		UserID:   req.UserID,
		Meta:     session.Meta{IP: req.IP, UserAgent: req.UserAgent, AuthMethod: req.AuthMethod},
		ClientID: cl.ID,
		AMR:      req.AMR,
		Claims:   req.Claims,
	})
	if s.refusedInput(w, err) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, s.tokenBody(t))
}

// refusedInput writes 400 for an error that is about the request's input
// (a user id, claims, amr or client id the Manager refuses) and reports
// whether it did.
func (s *Server) refusedInput(w http.ResponseWriter, err error) bool {
	if errors.Is(err, session.ErrInvalidUserID) || errors.Is(err, session.ErrInvalidClaims) {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, errorText(err))
		return true
	}
	return false
}

// errorText is err's message without the package prefix.
func errorText(err error) string {
	const prefix = "session: "
	msg := err.Error()
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

// handleClientUserSessions is GET /v1/users/{id}/sessions for a client
// with the sessions permission: the user's live sessions, a page at a time.
func (s *Server) handleClientUserSessions(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticateClient(w, r, PermSessions, clientCreds{}); !ok {
		return
	}
	s.writeSessionPage(w, r, r.PathValue("id"), "")
}

// handleClientRevokeUser is DELETE /v1/users/{id}/sessions for a client
// with the sessions permission: every session of the user ends at once.
func (s *Server) handleClientRevokeUser(w http.ResponseWriter, r *http.Request) {
	cl, ok := s.authenticateClient(w, r, PermSessions, clientCreds{})
	if !ok {
		return
	}
	ids, err := s.mgr.RevokeUserFor(r.Context(), r.PathValue("id"), "", "by client "+cl.ID)
	if s.refusedInput(w, err) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]int{"revoked": len(ids)})
}

// handleClientSetClaims is PUT /v1/users/{id}/claims for a client with
// the claims permission.
func (s *Server) handleClientSetClaims(w http.ResponseWriter, r *http.Request) {
	var req claimsRequest
	if decode(w, r, &req) != nil {
		return
	}
	if _, ok := s.authenticateClient(w, r, PermClaims, clientCreds{}); !ok {
		return
	}
	s.setClaims(w, r, req)
}

// handleAdminSetClaims is PUT /admin/v1/users/{id}/claims.
func (s *Server) handleAdminSetClaims(w http.ResponseWriter, r *http.Request) {
	var req claimsRequest
	if decode(w, r, &req) != nil {
		return
	}
	s.setClaims(w, r, req)
}

// setClaims replaces the user's claims. When the user id names a built-in
// account, the account's claims are written first, so its later logins
// carry them, and then its live sessions' (from the next refresh of each,
// or revoked at once); see node.Node.SetUserClaims for why in that order.
// For a user that is not a built-in account only its sessions change: a
// backend gives a minted session its claims at each mint. The user id and
// the claims are checked before anything is written: a refused one is 400
// and changes nothing.
func (s *Server) setClaims(w http.ResponseWriter, r *http.Request, req claimsRequest) {
	if req.Claims == nil {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, `claims is required (an object; {} removes them all)`)
		return
	}
	_, ids, err := s.node.SetUserClaims(r.Context(), r.PathValue("id"), req.Claims, req.RevokeSessions)
	if s.refusedInput(w, err) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if req.RevokeSessions {
		writeJSON(w, http.StatusOK, map[string]int{"revoked": len(ids)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"updated": len(ids)})
}
