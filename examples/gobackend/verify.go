package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/session"
)

// verifier checks sessiond's access tokens locally: the signature with a
// key of sessiond's JWKS (fetched by keyfunc, refreshed in the background
// and on an unknown kid), the header's typ at+jwt (RFC 9068), the
// algorithm, iss, aud, exp and iat, and that the token was minted for this
// application (client_id). It never calls sessiond for a token.
type verifier struct {
	keys     keyfunc.Keyfunc
	parser   *jwt.Parser
	clientID string
	claims   []string // the application claims to read
}

// newVerifier starts fetching the JWKS at url; refresh follows sessiond's
// --jwks-max-age (5 minutes by default), the time for which sessiond
// publishes a new key before it signs with it. ctx ends the background
// refresh.
func newVerifier(ctx context.Context, url string, client *http.Client, refresh time.Duration, issuer, audience, clientID string, claims []string) (*verifier, error) {
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{Client: client, RefreshInterval: refresh})
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", url, err)
	}
	return &verifier{
		keys: kf,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"ES256", "EdDSA", "RS256"}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
		),
		clientID: clientID,
		claims:   claims,
	}, nil
}

// errNotOurs: a good token of sessiond, issued to another client.
var errNotOurs = errors.New("the token was issued to another client")

// verify returns the identity an access token proves, as httpauth hands
// it to handlers; its error wraps jwt.ErrTokenExpired when only the time
// is up.
func (v *verifier) verify(tok string) (*session.Identity, error) {
	var c jwt.MapClaims
	t, err := v.parser.ParseWithClaims(tok, &c, v.keys.Keyfunc)
	if err != nil {
		return nil, err
	}
	if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
		return nil, fmt.Errorf("typ %q: %w", typ, jwt.ErrTokenMalformed)
	}
	str := func(name string) string { s, _ := c[name].(string); return s }
	id := &session.Identity{UserID: str("sub"), SessionID: str("sid"), TokenID: str("jti"), ClientID: str("client_id")}
	if id.UserID == "" || id.SessionID == "" || id.TokenID == "" {
		return nil, fmt.Errorf("sub, sid and jti are required: %w", jwt.ErrTokenRequiredClaimMissing)
	}
	if id.ClientID != v.clientID {
		return nil, errNotOurs
	}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	if iat, err := c.GetIssuedAt(); err == nil && iat != nil {
		id.IssuedAt = iat.Time
	}
	if at, ok := c["auth_time"].(float64); ok {
		id.AuthTime = time.Unix(int64(at), 0)
	}
	if amr, ok := c["amr"].([]any); ok {
		for _, m := range amr {
			if s, ok := m.(string); ok {
				id.AMR = append(id.AMR, s)
			}
		}
	}
	for _, name := range v.claims {
		if val, ok := c[name]; ok {
			raw, err := json.Marshal(val)
			if err != nil {
				return nil, fmt.Errorf("claim %q: %w", name, err)
			}
			if id.Claims == nil {
				id.Claims = map[string]json.RawMessage{}
			}
			id.Claims[name] = raw
		}
	}
	return id, nil
}
