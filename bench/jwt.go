package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// floorSigner signs access tokens as sessiond does, with nothing else: the
// header {"alg","kid","typ":"at+jwt"}, sessiond's claim set (iss, sub,
// aud, exp, iat, jti, sid, client_id, auth_time, amr) as encoding/json
// writes it, and one ES256 or Ed25519 signature, straight from crypto/*.
type floorSigner struct {
	alg    string
	header string // base64url of the header, made once
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
}

// floorClaims is sessiond's claim set, in its order.
type floorClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      string   `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Jti      string   `json:"jti"`
	Sid      string   `json:"sid"`
	ClientID string   `json:"client_id,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

func newFloorSigner(alg string) (*floorSigner, error) {
	s := &floorSigner{alg: alg}
	var err error
	switch alg {
	case "ES256":
		s.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, s.ed, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("%w: the floors sign ES256 or EdDSA, not %q", errUsage, alg)
	}
	if err != nil {
		return nil, err
	}
	kid, _ := newSessionID()
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, "at+jwt"})
	if err != nil {
		return nil, err
	}
	s.header = base64.RawURLEncoding.EncodeToString(h)
	return s, nil
}

// accessTTL is sessiond's default access token lifetime.
const accessTTL = 10 * time.Minute

// sign returns the access token of session sid for rec, and its lifetime
// in seconds.
func (s *floorSigner) sign(sid string, rec floorRecord, now time.Time) (string, int64, error) {
	exp := now.Add(accessTTL)
	if rec.ExpiresAt.Before(exp) {
		exp = rec.ExpiresAt
	}
	jti, _ := newSessionID()
	c := floorClaims{Iss: "sessiond", Sub: rec.UserID, Aud: "sessiond", Exp: exp.Unix(), Iat: now.Unix(), Jti: jti,
		Sid: sid, ClientID: rec.ClientID, AMR: rec.AMR}
	if !rec.AuthTime.IsZero() {
		c.AuthTime = rec.AuthTime.Unix()
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", 0, err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+enc.EncodedLen(len(p))+2+enc.EncodedLen(64))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, p)
	var sig []byte
	switch s.alg {
	case "ES256":
		h := sha256.Sum256(buf)
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, h[:])
		if err != nil {
			return "", 0, err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	default:
		sig = ed25519.Sign(s.ed, buf)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), exp.Unix() - now.Unix(), nil
}
