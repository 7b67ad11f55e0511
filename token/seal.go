package token

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"
)

// Sealed ring format, version 1:
//
//	"SDKR" || 0x01 || nonce(12) || AES-256-GCM(master, nonce, plaintext, ad = "SDKR" || 0x01)
//
// The plaintext is the JSON form of sealedRing, newest key first. Private
// keys are PKCS#8 DER; HMAC secrets are raw. The nonce is random per seal
// (a ring is sealed on creation and rotation only, far below the 2^32
// messages a random 96-bit nonce allows under one key).
//
// The member "activates" (when a key may start signing) was added to
// version 1 without a new version byte, on purpose. A ring sealed before
// it opens with each key active from its creation, so its first key signs
// as it did. During a rolling upgrade a node still running the earlier
// code ignores the member and reads the ring as it always did: a pending
// key then signs on that node at once (the behaviour before publish-ahead)
// instead of the node failing to open the ring and no longer following
// rotations.
var sealMagic = []byte("SDKR\x01")

type sealedKey struct {
	ID      string    `json:"kid"`
	Alg     Algorithm `json:"alg"`
	Created time.Time `json:"created"`
	// Activates is absent in rings sealed before activation times.
	Activates time.Time `json:"activates,omitzero"`
	Retire    time.Time `json:"retire,omitzero"`
	Private   []byte    `json:"private"` // PKCS#8 DER, or the HMAC secret
}

type sealedRing struct {
	Keys []sealedKey `json:"keys"` // the newest key (pending or active) first
}

func masterAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("%w: master key must be 32 bytes, got %d", ErrWeakKey, len(master))
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, fmt.Errorf("token: master key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("token: master key: %w", err)
	}
	return aead, nil
}

// Seal serialises every key of the ring, private parts included, and
// encrypts the result with AES-256-GCM under master (32 bytes). The output
// is versioned and opaque; OpenKeyRing reverses it.
func (r *KeyRing) Seal(master []byte) ([]byte, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	var sr sealedRing
	for _, k := range r.load().keys {
		sk := sealedKey{ID: k.id, Alg: k.alg, Created: k.created, Activates: k.activates, Retire: k.retire}
		switch k.alg {
		case EdDSA:
			sk.Private, err = x509.MarshalPKCS8PrivateKey(k.ed)
		case ES256:
			sk.Private, err = x509.MarshalPKCS8PrivateKey(k.ec)
		case RS256:
			sk.Private, err = x509.MarshalPKCS8PrivateKey(k.rsa)
		case HS256:
			sk.Private = k.secret
		}
		if err != nil {
			return nil, fmt.Errorf("token: sealing key %s: %w", k.id, err)
		}
		sr.Keys = append(sr.Keys, sk)
	}
	plain, err := json.Marshal(sr)
	if err != nil {
		return nil, fmt.Errorf("token: sealing ring: %w", err)
	}
	return aead.Seal(bytes.Clone(sealMagic), nil, plain, sealMagic), nil
}

// OpenKeyRing decrypts a ring sealed by Seal. A wrong master key or a
// modified blob gives ErrSealed; a blob that decrypts but holds unusable
// keys gives ErrMalformed (or ErrWeakKey).
func OpenKeyRing(blob, master []byte) (*KeyRing, error) {
	aead, err := masterAEAD(master)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(blob, sealMagic) {
		return nil, fmt.Errorf("%w: not a sealed key ring (unknown format or version)", ErrSealed)
	}
	plain, err := aead.Open(nil, nil, blob[len(sealMagic):], sealMagic)
	if err != nil {
		return nil, ErrSealed
	}
	var sr sealedRing
	if err := json.Unmarshal(plain, &sr); err != nil {
		return nil, fmt.Errorf("%w: sealed ring: %w", ErrMalformed, err)
	}
	if len(sr.Keys) == 0 {
		return nil, fmt.Errorf("%w: sealed ring has no keys", ErrMalformed)
	}
	keys := make([]*key, 0, len(sr.Keys))
	for i, sk := range sr.Keys {
		k, err := openKey(sk)
		if err != nil {
			return nil, err
		}
		if (i == 0) != k.retire.IsZero() {
			return nil, fmt.Errorf("%w: sealed ring: only the first key may be without a retirement time", ErrMalformed)
		}
		keys = append(keys, k)
	}
	return newRing(keys...), nil
}

func openKey(sk sealedKey) (*key, error) {
	if sk.ID == "" {
		return nil, fmt.Errorf("%w: sealed key without id", ErrMalformed)
	}
	var k *key
	if sk.Alg == HS256 {
		if len(sk.Private) < minHMACKey {
			return nil, fmt.Errorf("%w: sealed HS256 secret too short", ErrWeakKey)
		}
		k = newHMACKey(sk.Private)
	} else {
		priv, err := x509.ParsePKCS8PrivateKey(sk.Private)
		if err != nil {
			return nil, fmt.Errorf("%w: sealed key %s: %w", ErrMalformed, sk.ID, err)
		}
		k = &key{alg: sk.Alg}
		var ok bool
		switch sk.Alg {
		case EdDSA:
			k.ed, ok = priv.(ed25519.PrivateKey)
			if ok {
				k.edPub = k.ed.Public().(ed25519.PublicKey)
			}
		case ES256:
			k.ec, ok = priv.(*ecdsa.PrivateKey)
			if ok {
				ok = k.ec.Curve.Params().Name == "P-256"
				k.ecPub = &k.ec.PublicKey
			}
		case RS256:
			k.rsa, ok = priv.(*rsa.PrivateKey)
			if ok {
				if k.rsa.N.BitLen() < minRSABits {
					return nil, fmt.Errorf("%w: sealed RSA key below %d bits", ErrWeakKey, minRSABits)
				}
				k.rsaPub = &k.rsa.PublicKey
			}
		default:
			return nil, fmt.Errorf("%w: sealed key %s: %q", ErrAlgorithm, sk.ID, sk.Alg)
		}
		if !ok {
			return nil, fmt.Errorf("%w: sealed key %s does not match %s", ErrMalformed, sk.ID, sk.Alg)
		}
	}
	k.id, k.created, k.activates, k.retire = sk.ID, sk.Created, sk.Activates, sk.Retire
	if k.activates.IsZero() {
		// Sealed before activation times: active since its creation (to
		// the second, like every activation time).
		k.activates = k.created.Truncate(time.Second)
	}
	return k, nil
}
