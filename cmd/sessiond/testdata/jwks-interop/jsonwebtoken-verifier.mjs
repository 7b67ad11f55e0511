// A resource server's token check as the classic Express stack does it
// (express-jwt and passport-jwt call the same two packages): jwks-rsa
// fetches the signing key named by the token's kid from the JWKS, and
// jsonwebtoken verifies the token with it. Driven by
// cmd/sessiond/jwks_interop_test.go.
//
// usage: node jsonwebtoken-verifier.mjs JWKS_URL ISSUER AUDIENCE TOKEN
// Prints one JSON line and exits 0:
//   {"ok":true,"alg":"ES256","kid":"..."}
//   {"ok":false,"stage":"jwks-rsa"|"jsonwebtoken","name":"...","message":"..."}
// The verifier is told to allow every algorithm sessiond signs with, EdDSA
// included, so a refusal is the library's, not this configuration's.
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';

const [jwksUri, issuer, audience, token] = process.argv.slice(2);
if (!jwksUri || !issuer || !audience || !token) {
  console.error('usage: node jsonwebtoken-verifier.mjs JWKS_URL ISSUER AUDIENCE TOKEN');
  process.exit(2);
}

const client = jwksClient({ jwksUri, cache: true, timeout: 10000 });
let stage = 'jwks-rsa';

const getKey = (header, callback) => {
  client.getSigningKey(header.kid, (err, key) => {
    if (err) {
      callback(err);
      return;
    }
    stage = 'jsonwebtoken';
    callback(null, key.getPublicKey());
  });
};

const answer = (v) => process.stdout.write(JSON.stringify(v) + '\n');

jwt.verify(
  token,
  getKey,
  { algorithms: ['ES256', 'RS256', 'EdDSA'], issuer, audience },
  (err, payload) => {
    if (err) {
      answer({ ok: false, stage, name: err.name, message: err.message });
      return;
    }
    const { header } = jwt.decode(token, { complete: true });
    answer({ ok: true, alg: header.alg, kid: header.kid, sub: payload.sub });
  },
);
