// The example against a real sessiond: `sessiond serve` on memory:// with
// a 2 s access-token lifetime, the app on a free port, driven over HTTP
// as a browser would (a cookie jar per browser).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { createApp } from './app.js';
import { SessiondClient } from './sessiond.js';
import { UserStore } from './users.js';
import { call, CookieJar, sleep, startSessiond } from './testhelpers.js';

const shop = { id: 'shop', secret: 'shop-secret-for-the-express-example-0123', permissions: ['sessions'] };
const other = { id: 'other-app', secret: 'other-secret-for-the-express-example-012', permissions: ['sessions'] };
const password = 'correct horse battery staple';
const basic = (c) => 'Basic ' + Buffer.from(`${c.id}:${c.secret}`).toString('base64');

const users = UserStore.create([
  { id: 'user-1', username: 'ann', password, role: 'admin', tenant: 'acme' },
  { id: 'user-2', username: 'bob', password, role: 'user', tenant: 'acme' },
  { id: 'user-3', username: 'carol', password, role: 'admin' },
  { id: 'user-4', username: 'dave', password, role: 'user' },
]);

/** Starts sessiond with the test's clients and the app in front of it. */
async function start(accessTTL) {
  const sd = await startSessiond({
    clients: [shop, other],
    args: ['--claims', 'role,tenant', '--access-ttl', accessTTL, '--issuer', 'https://sessiond.test', '--audience', 'shop-api'],
  });
  const express = createApp({
    users: await users,
    sessiond: new SessiondClient({ url: sd.url, clientId: shop.id, clientSecret: shop.secret }),
    clientId: shop.id,
    issuer: 'https://sessiond.test',
    audience: 'shop-api',
  });
  const server = await new Promise((ok) => {
    const s = express.listen(0, '127.0.0.1', () => ok(s));
  });
  return {
    sessiond: sd,
    url: `http://127.0.0.1:${server.address().port}`,
    async stop() {
      await new Promise((ok) => server.close(ok));
      sd.stop();
    },
  };
}

let sessiond; // the sessiond of the main suite
let app; // the app's base URL
let stop;

before(async () => {
  const s = await start('2s');
  ({ sessiond, url: app, stop } = s);
});

after(() => stop?.());

/** sessiond's own answer, with the shop's client credentials. */
async function sessiondAsShop(method, path) {
  const res = await fetch(sessiond.url + path, { method, headers: { Authorization: basic(shop) } });
  return { status: res.status, body: await res.json() };
}

async function userSessions(userId) {
  const r = await sessiondAsShop('GET', `/v1/users/${userId}/sessions`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.sessions;
}

async function login(username, jar = new CookieJar(), base = app) {
  const r = await call(base, jar, 'POST', '/login', { username, password });
  assert.equal(r.status, 200, `login ${username}: ${JSON.stringify(r.body)}`);
  return jar;
}

/** Waits until the access token in jar has expired (at most 3 s). */
async function waitAccessExpiry(jar) {
  const { exp } = decodeJwt(jar.get('app_at'));
  const ms = exp * 1000 - Date.now() + 100;
  assert.ok(ms < 3000, `access token lives ${ms} ms more; want the 2 s of --access-ttl`);
  await sleep(Math.max(ms, 0));
}

describe('express example against a real sessiond', () => {
  test('a failed login gets an error, sets no cookie and starts no session', async () => {
    const cases = [
      { name: 'wrong password', body: { username: 'dave', password: 'not the password' }, status: 401, error: 'invalid_credentials' },
      { name: 'unknown user', body: { username: 'nobody', password }, status: 401, error: 'invalid_credentials' },
      { name: 'no password', body: { username: 'dave' }, status: 401, error: 'invalid_credentials' },
      { name: 'password not a string', body: { username: 'dave', password: [password] }, status: 401, error: 'invalid_credentials' },
      { name: 'not JSON', body: `username=dave&password=x`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, status: 415, error: 'unsupported_media_type' },
      { name: 'malformed JSON', body: '{"username":', status: 400, error: 'invalid_request' },
      { name: 'from another site', body: { username: 'dave', password }, headers: { 'Sec-Fetch-Site': 'cross-site' }, status: 403, error: 'csrf_failed' },
      { name: 'from another origin', body: { username: 'dave', password }, headers: { Origin: 'https://evil.example' }, status: 403, error: 'csrf_failed' },
    ];
    for (const c of cases) {
      const r = await call(app, new CookieJar(), 'POST', '/login', c.body, c.headers);
      assert.equal(r.status, c.status, `${c.name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, c.error, c.name);
      assert.deepEqual(r.cookies, [], `${c.name}: set cookies`);
    }
    assert.deepEqual(await userSessions('user-4'), [], 'a failed login started a session');
  });

  test('login keeps sessiond tokens in HttpOnly, SameSite=Lax cookies (not Secure over http)', async () => {
    const jar = new CookieJar();
    const r = await call(app, jar, 'POST', '/login', { username: 'ann', password }, { 'User-Agent': 'example-test/1' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { user_id: 'user-1', role: 'admin', session_id: r.body.session_id });
    const byName = Object.fromEntries(r.cookies.map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(byName).sort(), ['app_at', 'app_rt']);
    for (const c of Object.values(byName)) {
      assert.equal(c.attrs.httponly, true, `${c.name} HttpOnly`);
      assert.equal(c.attrs.samesite, 'Lax', `${c.name} SameSite`);
      assert.equal(c.attrs.path, '/', `${c.name} Path`);
      assert.equal(c.attrs.secure, undefined, `${c.name} Secure over http`);
    }
    assert.ok(Number(byName.app_at.attrs['max-age']) <= 2, 'the access cookie outlives its token');
    assert.ok(Number(byName.app_rt.attrs['max-age']) >= 7 * 24 * 3600 - 5, 'the refresh cookie ends before the session');
    assert.match(byName.app_rt.value, /^sdrt_/);
    assert.equal(r.headers.get('cache-control'), 'no-store');

    // The access cookie is sessiond's token, with the role the app gave it.
    const claims = decodeJwt(byName.app_at.value);
    assert.equal(claims.sub, 'user-1');
    assert.equal(claims.role, 'admin');
    assert.equal(claims.tenant, 'acme');
    assert.equal(claims.client_id, 'shop');
    assert.equal(claims.sid, r.body.session_id);

    const me = await call(app, jar, 'GET', '/me');
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.user_id, 'user-1');
    assert.equal(me.body.role, 'admin');
    assert.equal(me.body.tenant, 'acme');
    assert.equal(me.body.session_id, r.body.session_id);

    // sessiond lists the session as the user's device, minted by the shop.
    const devices = await call(app, jar, 'GET', '/sessions');
    assert.equal(devices.status, 200, JSON.stringify(devices.body));
    const mine = devices.body.sessions.find((s) => s.id === r.body.session_id);
    assert.ok(mine, `session ${r.body.session_id} not in ${JSON.stringify(devices.body)}`);
    assert.equal(mine.current, true);
    assert.equal(mine.client_id, 'shop');
    assert.equal(mine.auth_method, 'password');
    assert.equal(mine.user_agent, 'example-test/1');
  });

  test('the role claim decides /admin', async () => {
    const ann = await login('ann');
    const bob = await login('bob');
    const cases = [
      { name: 'admin', jar: ann, status: 200 },
      { name: 'plain user', jar: bob, status: 403, error: 'forbidden' },
      { name: 'no session', jar: new CookieJar(), status: 401, error: 'login_required' },
    ];
    for (const c of cases) {
      const r = await call(app, c.jar, 'GET', '/admin');
      assert.equal(r.status, c.status, `${c.name}: ${JSON.stringify(r.body)}`);
      if (c.error) {
        assert.equal(r.body.error, c.error, c.name);
      }
    }
    // bob is still logged in: 403 is not a logout.
    assert.equal((await call(app, bob, 'GET', '/me')).status, 200);
  });

  test('a token of another client, or a forged one, is no session here', async () => {
    // sessiond mints a good admin token for user-1, but for another client.
    const res = await fetch(sessiond.url + '/v1/sessions', {
      method: 'POST',
      headers: { Authorization: basic(other), 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_id: 'user-1', claims: { role: 'admin' } }),
    });
    assert.equal(res.status, 201);
    const foreign = (await res.json()).access_token;
    assert.equal(decodeJwt(foreign).client_id, 'other-app');

    const ann = await login('ann');
    const good = ann.get('app_at');
    const [h, p, sig] = good.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url'));
    const elevated = Buffer.from(JSON.stringify({ ...payload, sub: 'user-2' })).toString('base64url');
    const cases = [
      { name: 'another client', token: foreign },
      { name: 'payload changed', token: `${h}.${elevated}.${sig}` },
      { name: 'signature stripped', token: `${h}.${p}.` },
      { name: 'garbage', token: 'not-a-jwt' },
    ];
    for (const c of cases) {
      const r = await call(app, null, 'GET', '/admin', undefined, { Cookie: `app_at=${c.token}` });
      assert.equal(r.status, 401, `${c.name}: ${JSON.stringify(r.body)}`);
      // The bad access cookie is deleted.
      assert.ok(r.cookies.some((k) => k.name === 'app_at' && k.deleted), `${c.name}: the cookie was kept`);
    }
  });

  test('an expired access token is refreshed in the middleware, the session and its role kept', async () => {
    // Two browsers of ann: one drops the access cookie when it expires (as
    // browsers do), one still sends the expired token.
    const dropping = await login('ann');
    const stale = await login('ann', new CookieJar({ keepExpired: true }));
    const before = {};
    for (const [name, jar] of [['dropping', dropping], ['stale', stale]]) {
      before[name] = { at: jar.get('app_at'), rt: jar.get('app_rt'), sid: (await call(app, jar, 'GET', '/me')).body.session_id };
    }
    await waitAccessExpiry(stale);
    await waitAccessExpiry(dropping);

    for (const [name, jar] of [['dropping', dropping], ['stale', stale]]) {
      const r = await call(app, jar, 'GET', '/admin');
      assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.body)}`);
      const set = Object.fromEntries(r.cookies.map((c) => [c.name, c.value]));
      assert.ok(set.app_at && set.app_at !== before[name].at, `${name}: no new access token`);
      assert.ok(set.app_rt && set.app_rt !== before[name].rt, `${name}: the refresh token did not rotate`);
      const claims = decodeJwt(set.app_at);
      assert.equal(claims.role, 'admin', `${name}: refresh lost the role`);
      assert.equal(claims.sid, before[name].sid, `${name}: refresh changed the session`);
      assert.ok(claims.exp * 1000 > Date.now(), `${name}: the new token has expired`);
      // The next request uses the new token, with no refresh.
      const again = await call(app, jar, 'GET', '/me');
      assert.equal(again.status, 200);
      assert.deepEqual(again.cookies, [], `${name}: refreshed again`);
    }
  });

  test('logout ends the session: cookies cleared, the refresh token refused', async () => {
    const jar = await login('bob');
    const copy = jar.clone(); // what another tab, or a thief, kept
    const rt = jar.get('app_rt');
    const sid = (await call(app, jar, 'GET', '/me')).body.session_id;

    const out = await call(app, jar, 'POST', '/logout');
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.deepEqual(out.body, { revoked: 1 });
    assert.deepEqual(out.cookies.map((c) => c.name).sort(), ['app_at', 'app_rt']);
    assert.equal(jar.get('app_at'), undefined);
    assert.equal(jar.get('app_rt'), undefined);
    assert.equal((await call(app, jar, 'GET', '/me')).status, 401);

    assert.ok(!(await userSessions('user-2')).some((s) => s.id === sid), 'the session is still listed');
    const direct = await fetch(sessiond.url + '/v1/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: rt }),
    });
    assert.equal(direct.status, 401, 'sessiond refreshed a logged-out session');
    // The kept copy, once its access token is gone, cannot refresh either.
    copy.delete('app_at');
    const r = await call(app, copy, 'GET', '/me');
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal(copy.get('app_rt'), undefined, 'the dead refresh cookie was not cleared');

    // Logging out without a session is fine and changes nothing.
    assert.deepEqual((await call(app, new CookieJar(), 'POST', '/logout')).body, { revoked: 0 });
  });

  test('log out everywhere ends every session of the user and no one else’s', async () => {
    const laptop = await login('carol');
    const phone = await login('carol');
    const bob = await login('bob');
    const bobSessions = (await userSessions('user-2')).length;
    const listed = await call(app, laptop, 'GET', '/sessions');
    assert.equal(listed.body.sessions.length, 2, JSON.stringify(listed.body));
    assert.equal(listed.body.sessions.filter((s) => s.current).length, 1);

    // Refused from another site: nothing ends.
    const csrf = await call(app, laptop, 'POST', '/logout/everywhere', undefined, { 'Sec-Fetch-Site': 'same-site' });
    assert.equal(csrf.status, 403);
    assert.equal((await userSessions('user-3')).length, 2);

    const r = await call(app, laptop, 'POST', '/logout/everywhere');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { revoked: 2 });
    assert.deepEqual(await userSessions('user-3'), []);
    assert.equal((await call(app, laptop, 'GET', '/me')).status, 401);
    // The phone's refresh token is dead: once its access token is gone, it
    // is logged out.
    phone.delete('app_at');
    assert.equal((await call(app, phone, 'GET', '/me')).status, 401);
    assert.equal(phone.get('app_rt'), undefined);

    assert.equal((await userSessions('user-2')).length, bobSessions, "bob's sessions changed");
    assert.equal((await call(app, bob, 'GET', '/me')).status, 200);
  });

  test('log out everywhere without a session is 401 and ends nothing', async () => {
    const r = await call(app, new CookieJar(), 'POST', '/logout/everywhere');
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'login_required');
  });
});

describe('express example when sessiond goes away', () => {
  let s;
  before(async () => {
    s = await start('10m');
  });
  after(() => s?.stop());

  test('access tokens keep verifying locally; what needs sessiond is 503, never a login', async () => {
    const jar = await login('ann', new CookieJar(), s.url);
    s.sessiond.stop();
    const me = await call(s.url, jar, 'GET', '/admin');
    assert.equal(me.status, 200, `local verification asked sessiond: ${JSON.stringify(me.body)}`);
    for (const [method, path] of [['GET', '/sessions'], ['POST', '/logout'], ['POST', '/logout/everywhere']]) {
      const r = await call(s.url, jar, method, path);
      assert.equal(r.status, 503, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'temporarily_unavailable');
      assert.deepEqual(r.cookies, [], `${method} ${path} changed the cookies`);
    }
    const login2 = await call(s.url, new CookieJar(), 'POST', '/login', { username: 'bob', password });
    assert.equal(login2.status, 503, JSON.stringify(login2.body));
    assert.deepEqual(login2.cookies, []);
  });
});
