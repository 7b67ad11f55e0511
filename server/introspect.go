package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// Clients are the resource servers allowed to call /v1/introspect and
// /v1/revoke, by client id. Only a SHA-256 of each secret is kept.
type Clients map[string][32]byte

// ParseClients parses "id:secret,id2:secret2" (SESSIOND_INTROSPECT_CLIENTS).
// Secrets must be at least 32 characters: they guard every token.
func ParseClients(s string) (Clients, error) {
	out := Clients{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, secret, ok := strings.Cut(part, ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("clients: %q: want id:secret", redactSecret(part))
		}
		if len(secret) < 32 {
			return nil, fmt.Errorf("clients: the secret of %q is shorter than 32 characters", id)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("clients: %q listed twice", id)
		}
		out[id] = sha256.Sum256([]byte(secret))
	}
	return out, nil
}

func redactSecret(part string) string {
	if id, _, ok := strings.Cut(part, ":"); ok {
		return id + ":…"
	}
	if len(part) > 4 {
		return part[:4] + "…"
	}
	return "…"
}

// authenticate checks HTTP Basic client credentials (RFC 6749 §2.3.1) in
// constant time, and always does the same work for an unknown client.
func (c Clients) authenticate(r *http.Request) (string, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok || len(c) == 0 {
		return "", false
	}
	// RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic.
	if v, err := url.QueryUnescape(id); err == nil {
		id = v
	}
	if v, err := url.QueryUnescape(secret); err == nil {
		secret = v
	}
	want, known := c[id]
	got := sha256.Sum256([]byte(secret))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return id, known && match
}

// introspection is the RFC 7662 answer.
type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Sid       string `json:"sid,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Jti       string `json:"jti,omitempty"`
}

// readTokenForm reads the application/x-www-form-urlencoded body of an
// introspection or revocation request: exactly one token parameter.
func readTokenForm(w http.ResponseWriter, r *http.Request) (tok, hint string, ok bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		httpauth.WriteError(w, http.StatusUnsupportedMediaType, httpauth.CodeUnsupportedMedia, "Content-Type must be application/x-www-form-urlencoded (RFC 7662, RFC 7009)")
		return "", "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpauth.WriteError(w, http.StatusRequestEntityTooLarge, httpauth.CodeTooLarge, fmt.Sprintf("request body over %d bytes", maxBody))
		} else {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "malformed form body")
		}
		return "", "", false
	}
	if len(r.URL.RawQuery) > 0 {
		// Tokens never travel in URLs.
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "parameters belong in the body, not the URL")
		return "", "", false
	}
	if len(r.PostForm["token"]) != 1 || r.PostForm.Get("token") == "" || len(r.PostForm["token_type_hint"]) > 1 {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "exactly one token parameter is required")
		return "", "", false
	}
	return r.PostForm.Get("token"), r.PostForm.Get("token_type_hint"), true
}

func (s *Server) requireClient(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, ok := s.clients.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="sessiond"`)
		httpauth.WriteError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return "", false
	}
	return id, true
}

// inspect finds what a token proves, for introspection and revocation: a
// refresh token by its live session (a store read), an access token by
// verification and the revoked set (no store read). An unknown, forged,
// expired or revoked token is inactive; only a store failure is an error.
func (s *Server) inspect(r *http.Request, tok string) (introspection, error) {
	if strings.HasPrefix(tok, token.RefreshPrefix) {
		sess, err := s.mgr.RefreshTokenSession(r.Context(), tok)
		switch {
		case err == nil:
			return introspection{Active: true, TokenType: "refresh_token", Sub: sess.UserID, Sid: sess.ID, Iss: s.node.Config().Issuer, Exp: sess.ExpiresAt.Unix()}, nil
		case errors.Is(err, session.ErrStore):
			return introspection{}, err
		}
		return introspection{}, nil
	}
	id, err := s.mgr.Verify(r.Context(), tok)
	if err != nil {
		return introspection{}, nil
	}
	return introspection{Active: true, TokenType: "access_token", Sub: id.UserID, Sid: id.SessionID, Iss: s.node.Config().Issuer,
		Aud: s.node.Config().Audience, Exp: id.ExpiresAt.Unix(), Iat: id.IssuedAt.Unix(), Jti: id.TokenID}, nil
}

// handleIntrospect is RFC 7662 token introspection for resource servers:
// an access token is active if it verifies and its session is not
// revoked (no store read); a refresh token if its session holds it now.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.requireClient(w, r); !ok {
		return
	}
	tok, _, ok := readTokenForm(w, r)
	if !ok {
		return
	}
	out, err := s.inspect(r, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevoke is RFC 7009 token revocation: revoking either token of a
// session ends the whole session. Per §2.2 an invalid or unknown token is
// answered 200 too (there is nothing left to revoke).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	client, ok := s.requireClient(w, r)
	if !ok {
		return
	}
	tok, _, ok := readTokenForm(w, r)
	if !ok {
		return
	}
	found, err := s.inspect(r, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if found.Active {
		if err := s.mgr.RevokeFor(r.Context(), found.Sid, "rfc7009 by client "+client); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
