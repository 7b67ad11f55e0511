// Strict OAuth clients against a real sessiond, run by
// cmd/sessiond/oauth_interop_test.go with node --test:
//
//   - npm oauth4webapi: validateJwtAccessToken (RFC 9068, RFC 6750),
//     introspectionRequest / processIntrospectionResponse (RFC 7662),
//     revocationRequest / processRevocationResponse (RFC 7009);
//   - npm jose: jwtVerify from the JWKS with typ at+jwt and client_id
//     required.
//
// oauth4webapi refuses http:// endpoints unless the request options carry
// its allowInsecureRequests symbol: sessiond runs on http://127.0.0.1 here,
// so every call passes it. Nothing else is relaxed.
//
// Environment: SESSIOND_URL, SESSIOND_ISSUER, SESSIOND_AUDIENCE, and the
// service clients CLIENT_ID/CLIENT_SECRET (permissions sessions,
// introspect, revoke) and WEAK_ID/WEAK_SECRET (sessions only).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run me from cmd/sessiond/oauth_interop_test.go`);
  }
  return v;
};
const base = env('SESSIOND_URL');
const issuer = env('SESSIOND_ISSUER');
const audience = env('SESSIOND_AUDIENCE');
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET');
const weakId = env('WEAK_ID');
const weakSecret = env('WEAK_SECRET');

// Authorization-server metadata (RFC 8414), written by hand: the issuer is
// an identifier (--issuer), not where this sessiond listens.
const as = {
  issuer,
  jwks_uri: `${base}/.well-known/jwks.json`,
  introspection_endpoint: `${base}/v1/introspect`,
  revocation_endpoint: `${base}/v1/revoke`,
};
const client = { client_id: clientId };
const insecure = { [oauth.allowInsecureRequests]: true }; // http://127.0.0.1 only
const auths = {
  client_secret_basic: oauth.ClientSecretBasic(clientSecret),
  client_secret_post: oauth.ClientSecretPost(clientSecret),
};

const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));

/** POST /v1/sessions for user-42 as the service client. */
async function mint(claims = { role: 'admin', tenant: 'acme' }) {
  const res = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: {
      Authorization: 'Basic ' + Buffer.from(`${clientId}:${clientSecret}`).toString('base64'),
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ user_id: 'user-42', claims, auth_method: 'password', amr: ['pwd', 'otp'] }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

/** A resource request carrying the token, as validateJwtAccessToken takes it. */
const resourceRequest = (token) => new Request('https://api.example/orders', { headers: { Authorization: `Bearer ${token}` } });

async function introspect(token, auth = auths.client_secret_basic) {
  const res = await oauth.introspectionRequest(as, client, auth, token, insecure);
  return oauth.processIntrospectionResponse(as, client, res);
}

describe('oauth4webapi and jose against sessiond', () => {
  test('validateJwtAccessToken accepts a minted access token (RFC 9068)', async () => {
    const t = await mint();
    const claims = await oauth.validateJwtAccessToken(as, resourceRequest(t.access_token), audience, insecure);
    assert.equal(claims.iss, issuer);
    assert.equal(claims.sub, 'user-42');
    assert.equal(claims.aud, audience);
    assert.equal(claims.client_id, clientId);
    assert.equal(claims.sid, t.session_id);
    assert.equal(claims.role, 'admin');
    assert.equal(claims.tenant, 'acme');
    assert.deepEqual(claims.amr, ['pwd', 'otp']);
    assert.equal(typeof claims.jti, 'string');
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok(claims.iat <= claims.exp && claims.auth_time <= claims.iat + 1);
  });

  test('validateJwtAccessToken refuses what it must (the control)', async () => {
    const t = await mint();
    const [h, p, s] = t.access_token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url'));
    const { client_id: _, ...noClientID } = payload;
    const reencode = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const cases = [
      { name: 'another audience', token: t.access_token, audience: 'another-api' },
      { name: 'another issuer', token: t.access_token, as: { ...as, issuer: 'https://elsewhere.example' } },
      { name: 'role changed', token: `${h}.${reencode({ ...payload, role: 'root' })}.${s}` },
      { name: 'client_id removed', token: `${h}.${reencode(noClientID)}.${s}` },
      { name: 'no signature', token: `${h}.${p}.` },
    ];
    for (const c of cases) {
      await assert.rejects(
        oauth.validateJwtAccessToken(c.as ?? as, resourceRequest(c.token), c.audience ?? audience, insecure),
        `${c.name}: accepted`,
      );
    }
    // Without allowInsecureRequests it will not fetch the JWKS over http
    // (a fresh metadata object: oauth4webapi caches the JWKS per object).
    await assert.rejects(oauth.validateJwtAccessToken({ ...as }, resourceRequest(t.access_token), audience), {
      code: 'OAUTH_HTTP_REQUEST_FORBIDDEN',
      message: /only requests to HTTPS are allowed/,
    });
  });

  test('jose verifies it from the JWKS with typ at+jwt and client_id required', async () => {
    const t = await mint();
    const { payload, protectedHeader } = await jose.jwtVerify(t.access_token, jwks, {
      issuer,
      audience,
      typ: 'at+jwt',
      requiredClaims: ['client_id'],
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.client_id, clientId);
    assert.equal(payload.role, 'admin');
    assert.equal(payload.tenant, 'acme');
    await assert.rejects(jose.jwtVerify(t.access_token, jwks, { issuer, audience, typ: 'JWT' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  test('a refresh keeps the claims', async () => {
    const t = await mint();
    const res = await fetch(`${base}/v1/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: t.refresh_token }),
    });
    const next = await res.json();
    assert.equal(res.status, 200, JSON.stringify(next));
    assert.notEqual(next.refresh_token, t.refresh_token);
    const claims = await oauth.validateJwtAccessToken(as, resourceRequest(next.access_token), audience, insecure);
    assert.equal(claims.sid, t.session_id);
    assert.equal(claims.role, 'admin');
    assert.equal(claims.tenant, 'acme');
    assert.equal(claims.client_id, clientId);
  });

  test('introspection (RFC 7662) returns the session and its claims', async () => {
    const t = await mint();
    for (const [method, auth] of Object.entries(auths)) {
      const access = await introspect(t.access_token, auth);
      assert.equal(access.active, true, method);
      assert.equal(access.token_type, 'access_token', method);
      assert.equal(access.sub, 'user-42', method);
      assert.equal(access.sid, t.session_id, method);
      assert.equal(access.client_id, clientId, method);
      assert.equal(access.iss, issuer, method);
      assert.equal(access.role, 'admin', method);
      assert.equal(access.tenant, 'acme', method);
      assert.deepEqual(access.amr, ['pwd', 'otp'], method);

      const refresh = await introspect(t.refresh_token, auth);
      assert.equal(refresh.active, true, method);
      assert.equal(refresh.token_type, 'refresh_token', method);
      assert.equal(refresh.sid, t.session_id, method);
      assert.equal(refresh.role, 'admin', method);
    }
    const garbage = await introspect('not-a-token');
    assert.deepEqual(garbage, { active: false });
  });

  test('introspection refuses a client without the introspect permission, or a wrong secret', async () => {
    const t = await mint();
    const cases = [
      { name: 'no permission', client: { client_id: weakId }, auth: oauth.ClientSecretBasic(weakSecret), error: 'unauthorized_client', status: 403 },
      { name: 'wrong secret', client, auth: oauth.ClientSecretBasic(clientSecret + 'x'), error: 'invalid_client', status: 401 },
    ];
    for (const c of cases) {
      const res = await oauth.introspectionRequest(as, c.client, c.auth, t.access_token, insecure);
      let err;
      await assert.rejects(oauth.processIntrospectionResponse(as, c.client, res), (e) => {
        err = e;
        return true;
      });
      // A 401 comes as a WWW-Authenticate challenge (Basic realm), its
      // OAuth error in the body; a 403 as the error body itself.
      const code = err instanceof oauth.WWWAuthenticateChallengeError ? (await err.response.json()).error : err.error;
      assert.equal(code, c.error, `${c.name}: ${err.name} ${err.message}`);
      assert.equal(err.status, c.status, c.name);
    }
  });

  test('revocation (RFC 7009) of either token ends the session', async () => {
    for (const which of ['access_token', 'refresh_token']) {
      const t = await mint();
      const res = await oauth.revocationRequest(as, client, auths.client_secret_basic, t[which], insecure);
      assert.equal(await oauth.processRevocationResponse(res), undefined, which);

      assert.equal((await introspect(t.access_token)).active, false, `${which} revoked: the access token is active`);
      assert.equal((await introspect(t.refresh_token)).active, false, `${which} revoked: the refresh token is active`);
      const refreshed = await fetch(`${base}/v1/refresh`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: t.refresh_token }),
      });
      assert.equal(refreshed.status, 401, `${which} revoked: refresh still works`);
    }
    // An unknown token is 200 too (§2.2): nothing to revoke.
    const res = await oauth.revocationRequest(as, client, auths.client_secret_basic, 'not-a-token', insecure);
    assert.equal(await oauth.processRevocationResponse(res), undefined);
  });
});
