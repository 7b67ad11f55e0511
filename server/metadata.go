package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/httpauth"
)

// authServerMetadata is the RFC 8414 §2 document sessiond publishes.
//
// sessiond has no authorization endpoint and no RFC 6749 token endpoint:
// login and refresh are its own JSON API, not grant_type form requests,
// so naming a token endpoint would send clients there with requests it
// refuses, and authorization_endpoint, token_endpoint and
// token_endpoint_auth_methods_supported are left out.
//
// response_types_supported is REQUIRED by §2, yet only an authorization
// endpoint has response types, and §3.2 would omit a list with no
// element. Peers split: the OpenID4VCI working group (issue 248 of
// openid/OpenID4VCI, after asking members of the OAuth WG) lets a server
// without an authorization endpoint leave the member out, while typed
// clients (the MCP SDKs' metadata schemas, struct decoders that require
// the member) refuse a document without it, and other servers without an
// authorization endpoint publish an empty list. sessiond publishes the
// empty list: it says exactly what the server supports, keeps the REQUIRED
// member for parsers that need it, and never advertises a flow it does
// not serve ("code" would send clients to an endpoint that does not
// exist). grant_types_supported must be published, and empty, for the same
// reason: left out, it defaults to authorization_code and implicit (§2).
//
// Introspection and revocation authenticate clients with HTTP Basic or
// with client_id and client_secret in the form body (authenticateClient),
// so client_secret_basic and client_secret_post are the methods listed; no
// *_auth_signing_alg_values_supported, which belong to JWT client
// authentication, which sessiond does not accept.
type authServerMetadata struct {
	Issuer                                    string   `json:"issuer"`
	JWKSURI                                   string   `json:"jwks_uri"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
}

// discoveryMaxAge is how long caches may keep the answers that change only
// with the binary or the configuration: the RFC 8414 metadata and the
// OpenAPI document.
const discoveryMaxAge = 5 * time.Minute

// publicCache is the Cache-Control of discoveryMaxAge.
var publicCache = "public, max-age=" + strconv.Itoa(int(discoveryMaxAge/time.Second))

// errNoIssuerURL: the issuer is not an RFC 8414 issuer identifier.
var errNoIssuerURL = errors.New("the issuer is not an https URL without query or fragment")

// issuerIdentifier checks that issuer is an RFC 8414 §2 issuer identifier
// (an absolute https URL with a host and no user info, query or fragment)
// and returns the base the endpoints' paths are appended to: the issuer
// without a terminating "/".
func issuerIdentifier(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", errNoIssuerURL, issuer, err)
	}
	if u.Scheme != "https" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || strings.Contains(issuer, "#") {
		return "", fmt.Errorf("%w: %q", errNoIssuerURL, issuer)
	}
	return strings.TrimSuffix(issuer, "/"), nil
}

// newAuthServerMetadata is the metadata of a server whose access tokens
// carry issuer as iss, encoded once; an error if issuer is not an issuer
// identifier, so there is nothing to publish.
func newAuthServerMetadata(issuer string) ([]byte, error) {
	base, err := issuerIdentifier(issuer)
	if err != nil {
		return nil, err
	}
	methods := []string{"client_secret_basic", "client_secret_post"}
	return json.Marshal(authServerMetadata{
		Issuer:                 issuer,
		JWKSURI:                base + "/.well-known/jwks.json",
		ResponseTypesSupported: []string{},
		GrantTypesSupported:    []string{},
		IntrospectionEndpoint:  base + "/v1/introspect",
		IntrospectionEndpointAuthMethodsSupported: methods,
		RevocationEndpoint:                        base + "/v1/revoke",
		RevocationEndpointAuthMethodsSupported:    methods,
	})
}

// handleAuthServerMetadata serves the RFC 8414 metadata at
// /.well-known/oauth-authorization-server, or 404 when the issuer is not an
// issuer identifier (such as the default, "sessiond"). RFC 8414 §3.1 forms
// a client's metadata URL by inserting that path between the issuer's host
// and its path: for an issuer without a path it is this route on the
// issuer's host; an issuer with a path (sessiond behind a proxy under it)
// needs the proxy to route the RFC 8414 URL here.
func (s *Server) handleAuthServerMetadata(w http.ResponseWriter, r *http.Request) {
	if s.asMetadataErr != nil {
		httpauth.WriteError(w, http.StatusNotFound, httpauth.CodeNotFound,
			"no RFC 8414 metadata: "+s.asMetadataErr.Error()+"; set --issuer to the server's https URL")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", publicCache)
	_, _ = w.Write(s.asMetadata)
}
