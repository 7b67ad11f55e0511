package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// HSTS is the Strict-Transport-Security value sent on every answer served
// over TLS (two years, subdomains included). Never over plain HTTP, where
// browsers ignore it anyway (RFC 6797 §8.1).
const HSTS = "max-age=63072000; includeSubDomains"

// DevHSTS is the Strict-Transport-Security value of a server run with
// RunConfig.HSTS set to it, as `sessiond serve --dev-tls` is: one hour and
// no includeSubDomains, so a developer's browser does not pin HTTPS on
// localhost (and every other service on it) for two years.
const DevHSTS = "max-age=3600"

// aeadSuites are the only TLS 1.2 cipher suites served: ECDHE with AES-GCM
// or ChaCha20-Poly1305. CBC suites (SHA-1 MACs, Lucky 13) and RSA key
// exchange (no forward secrecy) are off. TLS 1.3 suites are always AEAD
// and not configurable.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// LoadTLS returns a TLS configuration serving the certificate chain and key
// of the PEM files (--tls-cert, --tls-key), TLS 1.2 at least and, for TLS
// 1.2, AEAD cipher suites only.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites}, nil
}

// DevTLS returns a TLS configuration with a fresh self-signed ECDSA P-256
// certificate for localhost, 127.0.0.1 and ::1, valid for 30 days from now
// and held in memory only (--dev-tls), AEAD suites only as LoadTLS, and the SHA-256 fingerprint of the
// certificate (hex, colon-separated) so a developer can check what the
// browser shows. It is for development: browsers warn about it.
func DevTLS(now time.Time) (*tls.Config, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("dev tls: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, "", fmt.Errorf("dev tls: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"sessiond development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", fmt.Errorf("dev tls: %w", err)
	}
	sum := sha256.Sum256(der)
	hx := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(hx); i += 2 {
		parts = append(parts, hx[i:i+2])
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites}, strings.Join(parts, ":"), nil
}

// hstsKey is the context key under which Run puts RunConfig.HSTS.
type hstsKey struct{}

// hsts adds Strict-Transport-Security to answers of requests that came
// over TLS: RunConfig.HSTS when Run was given one, else HSTS.
func hsts(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil {
		v, _ := r.Context().Value(hstsKey{}).(string)
		if v == "" {
			v = HSTS
		}
		w.Header().Set("Strict-Transport-Security", v)
	}
}

// withHSTS returns a BaseContext for http.Server carrying v for hsts.
func withHSTS(v string) func(net.Listener) context.Context {
	return func(net.Listener) context.Context { return context.WithValue(context.Background(), hstsKey{}, v) }
}
