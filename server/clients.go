package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/token"
)

// Permission is what a service client may do.
type Permission string

// The permissions a client may hold.
const (
	// PermIntrospect: RFC 7662 introspection (POST /v1/introspect).
	PermIntrospect Permission = "introspect"
	// PermRevoke: RFC 7009 revocation (POST /v1/revoke).
	PermRevoke Permission = "revoke"
	// PermSessions: start, list and end the sessions of any user
	// (POST /v1/sessions, GET and DELETE /v1/users/{id}/sessions).
	PermSessions Permission = "sessions"
	// PermClaims: replace users' application claims
	// (PUT /v1/users/{id}/claims).
	PermClaims Permission = "claims"
)

var permissions = []Permission{PermIntrospect, PermRevoke, PermSessions, PermClaims}

// MinClientSecretLen is the shortest client secret accepted: a client's
// secret guards every session it can start or end.
const MinClientSecretLen = 32

// Client is a service client: a backend that calls sessiond with its own
// credentials (HTTP Basic, RFC 6749 §2.3.1, or client_secret_post).
type Client struct {
	// ID names the client; it becomes the client_id of the sessions it
	// starts.
	ID string
	// Permissions lists what it may do.
	Permissions []Permission
	secret      [32]byte // SHA-256 of the secret: the secret itself is not kept
}

// Can reports whether the client holds permission p.
func (c *Client) Can(p Permission) bool { return slices.Contains(c.Permissions, p) }

// Clients are the service clients, by id.
type Clients map[string]*Client

// clientFile is one entry of a --clients file.
type clientFile struct {
	ID          string       `json:"id"`
	Secret      string       `json:"secret"`
	Permissions []Permission `json:"permissions"`
}

// checkSecretEntropy refuses a secret (client secret, admin token) that is
// certainly not random (token.CheckSecret: one character repeated, fewer
// than 8 distinct ones): its length then says nothing of how hard it is to
// guess, and "32×a" is the first thing a guesser tries. The error wraps
// token.ErrWeakKey and never quotes the secret.
func checkSecretEntropy(secret string) error {
	if err := token.CheckSecret([]byte(secret)); err != nil {
		return fmt.Errorf("not random enough to be a secret: %w", err)
	}
	return nil
}

// ParseClientsJSON parses a clients file: a JSON array of {"id", "secret",
// "permissions"}. Unknown members, an id that is not 1 to 64 letters,
// digits, '.', '_' or '-', a secret shorter than MinClientSecretLen, an
// unknown, repeated or missing permission and a repeated id are errors
// that name the entry (never its secret).
func ParseClientsJSON(b []byte) (Clients, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var list []clientFile
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("clients: not a JSON array of {\"id\", \"secret\", \"permissions\"}: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("clients: data after the JSON array")
	}
	out := Clients{}
	for i, e := range list {
		if err := checkClientID(e.ID); err != nil {
			return nil, fmt.Errorf("clients: entry %d: %w", i+1, err)
		}
		if len(e.Secret) < MinClientSecretLen {
			return nil, fmt.Errorf("clients: the secret of %q is shorter than %d characters", e.ID, MinClientSecretLen)
		}
		if err := checkSecretEntropy(e.Secret); err != nil {
			return nil, fmt.Errorf("clients: the secret of %q: %w", e.ID, err)
		}
		if len(e.Permissions) == 0 {
			return nil, fmt.Errorf("clients: %q has no permissions (want some of %v)", e.ID, permissions)
		}
		for j, p := range e.Permissions {
			if !slices.Contains(permissions, p) {
				return nil, fmt.Errorf("clients: %q: unknown permission %q (want some of %v)", e.ID, p, permissions)
			}
			if slices.Contains(e.Permissions[:j], p) {
				return nil, fmt.Errorf("clients: %q: permission %q listed twice", e.ID, p)
			}
		}
		if _, dup := out[e.ID]; dup {
			return nil, fmt.Errorf("clients: %q listed twice", e.ID)
		}
		out[e.ID] = &Client{ID: e.ID, Permissions: slices.Clone(e.Permissions), secret: sha256.Sum256([]byte(e.Secret))}
	}
	return out, nil
}

// LoadClients reads a clients file (see ParseClientsJSON). It also
// reports whether the file can be read by users other than its owner, which
// the caller should warn about: it holds secrets.
func LoadClients(path string) (c Clients, othersCanRead bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("clients: %w", err)
	}
	c, err = ParseClientsJSON(b)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		othersCanRead = true
	}
	return c, othersCanRead, nil
}

func checkClientID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("client id %q: want 1 to 64 characters", redactSecret(id))
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("client id %q: want letters, digits, '.', '_' or '-'", redactSecret(id))
		}
	}
	return nil
}

// ParseClients parses the deprecated SESSIOND_INTROSPECT_CLIENTS form,
// "id:secret,id2:secret2": clients that may introspect and revoke.
// Secrets must be at least MinClientSecretLen characters.
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
		if err := checkClientID(id); err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		}
		if len(secret) < MinClientSecretLen {
			return nil, fmt.Errorf("clients: the secret of %q is shorter than %d characters", id, MinClientSecretLen)
		}
		if err := checkSecretEntropy(secret); err != nil {
			return nil, fmt.Errorf("clients: the secret of %q: %w", id, err)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("clients: %q listed twice", id)
		}
		out[id] = &Client{ID: id, Permissions: []Permission{PermIntrospect, PermRevoke}, secret: sha256.Sum256([]byte(secret))}
	}
	return out, nil
}

// Merge returns the clients of c and more; an id in both is an error.
func (c Clients) Merge(more Clients) (Clients, error) {
	out := Clients{}
	for id, cl := range c {
		out[id] = cl
	}
	for id, cl := range more {
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("clients: %q is configured twice", id)
		}
		out[id] = cl
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
	return part
}

// unknownClient stands in for a client id nobody has, so that an unknown
// id costs the same work as a wrong secret.
var unknownClient = &Client{secret: sha256.Sum256([]byte("sessiond: no such client"))}

// check compares secret with the client's in constant time. RFC 6749
// §2.3.1 has clients form-urlencode id and secret inside Basic; many send
// them raw. Both spellings are tried, so a secret holding '%' or '+'
// works either way.
func (c Clients) check(id, secret string, basic bool) (*Client, bool) {
	cands := []string{secret}
	if basic {
		if v, err := url.QueryUnescape(id); err == nil && v != id {
			if _, ok := c[v]; ok {
				id = v
			}
		}
		if v, err := url.QueryUnescape(secret); err == nil && v != secret {
			cands = append(cands, v)
		}
	}
	cl, known := c[id]
	if !known {
		cl = unknownClient
	}
	match := 0
	for _, s := range cands {
		got := sha256.Sum256([]byte(s))
		match |= subtle.ConstantTimeCompare(got[:], cl.secret[:])
	}
	return cl, known && match == 1
}

// credentials are client credentials sent in the body (client_secret_post).
type clientCreds struct{ id, secret string }

// authenticateClient finds the client of r from HTTP Basic or from body
// credentials (client_secret_post), and checks it holds perm. It writes
// the refusal: 400 invalid_request for both methods at once (RFC 6749
// §2.3), 401 invalid_client for missing or wrong credentials, 403
// unauthorized_client for a client without perm.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, perm Permission, post clientCreds) (*Client, bool) {
	ip := s.clientIP.Of(r)
	if s.credentialsBlocked(w, ip) {
		return nil, false
	}
	id, secret, basic := r.BasicAuth()
	switch {
	case basic && (post.id != "" || post.secret != ""):
		httpauth.WriteError(w, http.StatusBadRequest, httpauth.CodeInvalidRequest, "client credentials given twice (HTTP Basic and in the body): use one method")
		return nil, false
	case !basic:
		id, secret = post.id, post.secret
	}
	if id == "" || len(s.clients) == 0 {
		w.Header().Set("WWW-Authenticate", `Basic realm="sessiond"`)
		httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidClient, "client authentication required (HTTP Basic or client_id and client_secret)")
		return nil, false
	}
	cl, ok := s.clients.check(id, secret, basic)
	if !ok {
		s.credentialsFailed(w, r, ip, audit.ClientAuthFailed, id, func() {
			w.Header().Set("WWW-Authenticate", `Basic realm="sessiond"`)
			httpauth.WriteError(w, http.StatusUnauthorized, httpauth.CodeInvalidClient, "client authentication failed")
		})
		return nil, false
	}
	if !cl.Can(perm) {
		httpauth.WriteError(w, http.StatusForbidden, httpauth.CodeUnauthorizedClient, fmt.Sprintf("client %q does not have the %q permission", cl.ID, perm))
		return nil, false
	}
	return cl, true
}
