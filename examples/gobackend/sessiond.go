package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessiondClient calls sessiond's HTTP API as one service client: the
// calls this application makes, each one endpoint.
//
//	mint          POST   /v1/sessions             client credentials (HTTP Basic)
//	refresh       POST   /v1/refresh              the refresh token
//	logout        POST   /v1/logout               the user's access token
//	sessions      GET    /v1/sessions             the user's access token
//	endEverywhere DELETE /v1/users/{id}/sessions  client credentials
type sessiondClient struct {
	base         string
	clientID     string
	clientSecret string
	http         *http.Client
}

// tokenResponse is the answer to a mint or a refresh.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// mintRequest is the body of POST /v1/sessions.
type mintRequest struct {
	UserID     string            `json:"user_id"`
	Claims     map[string]string `json:"claims,omitempty"`
	AuthMethod string            `json:"auth_method,omitempty"`
	AMR        []string          `json:"amr,omitempty"`
	IP         string            `json:"ip,omitempty"`
	UserAgent  string            `json:"user_agent,omitempty"`
}

// sessiondError is an answer of sessiond other than the one expected;
// Status 0 means sessiond could not be reached.
type sessiondError struct {
	Op     string
	Status int
	Code   string // sessiond's OAuth-style error code
	Desc   string
	Err    error // the transport error, for Status 0
}

func (e *sessiondError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("sessiond %s: unreachable: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("sessiond %s: %d %s: %s", e.Op, e.Status, e.Code, e.Desc)
}

func (e *sessiondError) Unwrap() error { return e.Err }

// unavailable reports whether err means sessiond is down or failing, as
// opposed to a refusal.
func unavailable(err error) bool {
	var se *sessiondError
	return errors.As(err, &se) && (se.Status == 0 || se.Status >= 500)
}

// refused reports whether err is sessiond answering status.
func refused(err error, status int) bool {
	var se *sessiondError
	return errors.As(err, &se) && se.Status == status
}

// call sends one request, authenticated by auth (nil: not at all), and
// decodes the answer into out when it has the status expected.
func (c *sessiondClient) call(ctx context.Context, op, method, path string, auth func(*http.Request), body, out any, expect int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("sessiond %s: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("sessiond %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return &sessiondError{Op: op, Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return &sessiondError{Op: op, Err: err}
	}
	if res.StatusCode != expect {
		e := &sessiondError{Op: op, Status: res.StatusCode}
		var eb struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		if json.Unmarshal(b, &eb) == nil {
			e.Code, e.Desc = eb.Error, eb.Desc
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("sessiond %s: the answer is not JSON: %w", op, err)
		}
	}
	return nil
}

// asClient authenticates a request with the client's credentials: HTTP
// Basic of the form-encoded id and secret (RFC 6749 §2.3.1).
func (c *sessiondClient) asClient(r *http.Request) {
	r.SetBasicAuth(url.QueryEscape(c.clientID), url.QueryEscape(c.clientSecret))
}

// asUser authenticates a request with a user's access token.
func asUser(accessToken string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+accessToken) }
}

// mint starts a session for a user this application authenticated.
func (c *sessiondClient) mint(ctx context.Context, m mintRequest) (*tokenResponse, error) {
	var t tokenResponse
	return &t, c.call(ctx, "mint", http.MethodPost, "/v1/sessions", c.asClient, m, &t, http.StatusCreated)
}

// refresh rotates a refresh token.
func (c *sessiondClient) refresh(ctx context.Context, refreshToken string) (*tokenResponse, error) {
	var t tokenResponse
	body := map[string]string{"refresh_token": refreshToken}
	// The refresh token in the body is the credential.
	return &t, c.call(ctx, "refresh", http.MethodPost, "/v1/refresh", nil, body, &t, http.StatusOK)
}

// logout ends the session of accessToken and says how many ended.
func (c *sessiondClient) logout(ctx context.Context, accessToken string) (int, error) {
	var v struct {
		Revoked int `json:"revoked"`
	}
	err := c.call(ctx, "logout", http.MethodPost, "/v1/logout", asUser(accessToken), nil, &v, http.StatusOK)
	return v.Revoked, err
}

// sessions is the user's devices list, as sessiond answers it.
func (c *sessiondClient) sessions(ctx context.Context, accessToken string) (json.RawMessage, error) {
	var v json.RawMessage
	return v, c.call(ctx, "sessions", http.MethodGet, "/v1/sessions", asUser(accessToken), nil, &v, http.StatusOK)
}

// endEverywhere ends every session of userID ("log out everywhere").
func (c *sessiondClient) endEverywhere(ctx context.Context, userID string) (int, error) {
	var v struct {
		Revoked int `json:"revoked"`
	}
	err := c.call(ctx, "end sessions", http.MethodDelete, "/v1/users/"+url.PathEscape(userID)+"/sessions", c.asClient, nil, &v, http.StatusOK)
	return v.Revoked, err
}

// jwksURL is where sessiond publishes its keys.
func (c *sessiondClient) jwksURL() string {
	return strings.TrimRight(c.base, "/") + "/.well-known/jwks.json"
}
