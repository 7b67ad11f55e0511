package server

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// loginClientID is the client_id of sessiond's own logins.
func (s *Server) loginClientID() string {
	return cmp.Or(s.node.Config().LoginClientID, session.DefaultClientID)
}

// introspection is the RFC 7662 answer.
type introspection struct {
	Active    bool     `json:"active"`
	TokenType string   `json:"token_type,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Sid       string   `json:"sid,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Aud       string   `json:"aud,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	// Claims are the application claims, written as top-level members
	// (RFC 7662 §2.2 allows any claim of the token).
	Claims map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the introspection with its application claims beside
// the standard members. A configured claim name never collides with them:
// token.CheckClaimName refuses registered names.
func (in introspection) MarshalJSON() ([]byte, error) {
	type plain introspection
	b, err := json.Marshal(plain(in))
	if err != nil || len(in.Claims) == 0 {
		return b, err
	}
	extra, err := json.Marshal(in.Claims)
	if err != nil {
		return nil, err
	}
	// {"active":true,...} + {"role":...} -> {"active":true,...,"role":...}
	return append(append(b[:len(b)-1], ','), extra[1:]...), nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// readTokenForm reads the application/x-www-form-urlencoded body of an
// introspection or revocation request: exactly one token parameter, and
// the client's credentials if it sends them there (client_secret_post).
func readTokenForm(w http.ResponseWriter, r *http.Request) (tok string, post clientCreds, ok bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		httpauth.WriteError(w, http.StatusUnsupportedMediaType, httpauth.CodeUnsupportedMedia, "Content-Type must be application/x-www-form-urlencoded (RFC 7662, RFC 7009)")
		return "", clientCreds{}, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpauth.WriteError(w, http.StatusRequestEntityTooLarge, httpauth.CodeTooLarge, fmt.Sprintf("request body over %d bytes", maxBody))
		} else {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "malformed form body")
		}
		return "", clientCreds{}, false
	}
	if len(r.URL.RawQuery) > 0 {
		// Tokens never travel in URLs.
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "parameters belong in the body, not the URL")
		return "", clientCreds{}, false
	}
	if len(r.PostForm["token"]) != 1 || r.PostForm.Get("token") == "" || len(r.PostForm["token_type_hint"]) > 1 {
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "exactly one token parameter is required")
		return "", clientCreds{}, false
	}
	for _, name := range []string{"client_id", "client_secret"} {
		if len(r.PostForm[name]) > 1 {
			httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, name+" given more than once")
			return "", clientCreds{}, false
		}
	}
	return r.PostForm.Get("token"), clientCreds{id: r.PostForm.Get("client_id"), secret: r.PostForm.Get("client_secret")}, true
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
			return introspection{Active: true, TokenType: "refresh_token", Sub: sess.UserID, Sid: sess.ID, Iss: s.node.Config().Issuer, Exp: sess.ExpiresAt.Unix(),
				ClientID: cmp.Or(sess.ClientID, s.loginClientID()), AuthTime: unixOrZero(sess.AuthTime), AMR: sess.AMR, Claims: sess.Claims}, nil
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
		Aud: s.node.Config().Audience, Exp: id.ExpiresAt.Unix(), Iat: id.IssuedAt.Unix(), Jti: id.TokenID,
		ClientID: id.ClientID, AuthTime: unixOrZero(id.AuthTime), AMR: id.AMR, Claims: id.Claims}, nil
}

// handleIntrospect is RFC 7662 token introspection for resource servers:
// an access token is active if it verifies and its session is not
// revoked (no store read); a refresh token if its session holds it now.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	tok, post, ok := readTokenForm(w, r)
	if !ok {
		return
	}
	if _, ok := s.authenticateClient(w, r, PermIntrospect, post); !ok {
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
	tok, post, ok := readTokenForm(w, r)
	if !ok {
		return
	}
	client, ok := s.authenticateClient(w, r, PermRevoke, post)
	if !ok {
		return
	}
	found, err := s.inspect(r, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if found.Active {
		if err := s.mgr.RevokeFor(r.Context(), found.Sid, "rfc7009 by client "+client.ID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
