package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// jsonwebtokenAnswer is what testdata/jwks-interop/jsonwebtoken-verifier.mjs
// prints.
type jsonwebtokenAnswer struct {
	OK      bool   `json:"ok"`
	Alg     string `json:"alg"`
	Kid     string `json:"kid"`
	Stage   string `json:"stage"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// verifyWithJSONWebToken checks tok the way an Express application does:
// npm jwks-rsa fetches the key of the token's kid from the JWKS and npm
// jsonwebtoken verifies the token with it (allowing ES256, RS256 and
// EdDSA, and pinning the issuer and audience).
func verifyWithJSONWebToken(t *testing.T, jwksURL, tok string) jsonwebtokenAnswer {
	t.Helper()
	dir := interopNodeDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "jsonwebtoken-verifier.mjs", jwksURL, interopIssuer, interopAudience, tok)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("jsonwebtoken verifier: %v; stdout %q; stderr %s", err, out, stderr)
	}
	var a jsonwebtokenAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("jsonwebtoken verifier printed %q: %v", out, err)
	}
	return a
}

// interopAlg reads the alg of a token's header, without verifying it.
func interopAlg(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var v struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("token header %s: %v", raw, err)
	}
	return v.Alg
}

// forged returns tok with one bit of its signature flipped.
func forged(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	sig[len(sig)/2] ^= 1
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// TestVerifiersByAlgorithm backs the README's table of which verifier
// checks which algorithm: a real server, started with each --signing-alg
// (none: the default, ES256), signs a token, and three real verifiers
// check it from the server's JWKS. golang-jwt v5 with keyfunc and npm jose
// accept all three algorithms; npm jsonwebtoken with jwks-rsa (express-jwt
// and passport-jwt run on it) accepts ES256 and RS256 and cannot check
// EdDSA, even when told to allow it: jwks-rsa hands it the Ed25519 key and
// jsonwebtoken refuses the key type. Each verifier also refuses a token
// whose signature was tampered with, so an acceptance means a checked
// signature.
func TestVerifiersByAlgorithm(t *testing.T) {
	interopNodeDir(t)
	for _, tc := range []struct {
		flag         string // --signing-alg; "" for the default
		alg          string // the alg the tokens carry
		jsonwebtoken string // "" to accept, else what its refusal says
	}{
		{"", "ES256", ""},
		{"RS256", "RS256", ""},
		{"EdDSA", "EdDSA", `Unknown key type "ed25519"`},
	} {
		name := tc.flag
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			var extra []string
			if tc.flag != "" {
				extra = []string{"--signing-alg", tc.flag}
			}
			srv := startInteropServer(t, extra...)
			tok := srv.login()
			if got := interopAlg(t, tok); got != tc.alg {
				t.Fatalf("the server signs %s; want %s", got, tc.alg)
			}
			kid := interopKID(t, tok)
			bad := forged(tok)

			goClient := newInteropGoClient(t, srv.jwksURL())
			if err := goClient.verify(tok); err != nil {
				t.Errorf("golang-jwt v5 (keyfunc) refused a %s token: %v", tc.alg, err)
			}
			if err := goClient.verify(bad); err == nil {
				t.Errorf("golang-jwt v5 (keyfunc) accepted a forged %s token", tc.alg)
			}

			jose := startInteropNodeClient(t, srv.jwksURL())
			if got := jose.verify(tok); !got.OK || got.Kid != kid {
				t.Errorf("npm jose refused a %s token: %+v", tc.alg, got)
			}
			if got := jose.verify(bad); got.OK {
				t.Errorf("npm jose accepted a forged %s token", tc.alg)
			}

			got := verifyWithJSONWebToken(t, srv.jwksURL(), tok)
			switch {
			case tc.jsonwebtoken == "" && (!got.OK || got.Alg != tc.alg || got.Kid != kid):
				t.Errorf("npm jsonwebtoken + jwks-rsa refused a %s token: %+v", tc.alg, got)
			case tc.jsonwebtoken != "" && (got.OK || got.Stage != "jsonwebtoken" || !strings.Contains(got.Message, tc.jsonwebtoken)):
				t.Errorf("npm jsonwebtoken + jwks-rsa on a %s token: %+v; want it refused by jsonwebtoken with %q", tc.alg, got, tc.jsonwebtoken)
			}
			if tc.jsonwebtoken == "" {
				if got := verifyWithJSONWebToken(t, srv.jwksURL(), bad); got.OK || got.Message != "invalid signature" {
					t.Errorf("npm jsonwebtoken + jwks-rsa on a forged %s token: %+v; want invalid signature", tc.alg, got)
				}
			}
		})
	}
}
