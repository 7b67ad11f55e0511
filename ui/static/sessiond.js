// sessiond.js — the browser client of sessiond's cookie mode.
//
// An ES module served at /ui/sessiond.js for sessiond's own pages and any
// other application of the same origin:
//
//   import sessiond from '/ui/sessiond.js';
//   await sessiond.login(email, password);
//   const res = await sessiond.fetch('/v1/sessions');
//
// The tokens live only in HttpOnly cookies the browser sends by itself;
// script never sees them. sessiond.fetch adds X-Session-Mode: cookie and, on
// unsafe methods, the session's X-CSRF-Token (read once from /v1/csrf and
// kept in memory). On a 401 it refreshes once and retries. Refreshes are
// serialised across every tab of the origin with the Web Locks API; inside
// the lock a tab that sees another tab refreshed after its request started
// just retries, so two tabs never present the same refresh token twice.
// Logging out tells every other tab at once through a BroadcastChannel.
//
// Sensitive actions (ending other sessions, logging out everywhere,
// changing the password) answer 403 insufficient_user_authentication
// (STEP_UP) when the session's last authentication is too old:
// sessiond.reauth(password) proves the password again, and the action is
// retried (needsReauth tells such an error or answer).

const CHANNEL = 'sessiond';
const LOCK = 'sessiond-refresh';
// Time (ms since the epoch) of the last refresh by any tab. A timestamp,
// never a token: localStorage is readable by any script of the origin.
const STAMP = 'sessiond.refreshed_at';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The error code of a refusal for a too old authentication (RFC 9470). */
export const STEP_UP = 'insufficient_user_authentication';

let csrfToken = null;
let lastRefresh = 0;
let inflight = null; // this tab's refresh, when Web Locks are missing
const listeners = { logout: new Set(), login: new Set() };
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;

if (channel) {
  channel.addEventListener('message', (ev) => {
    const m = ev.data || {};
    switch (m.type) {
      case 'refreshed':
        lastRefresh = Math.max(lastRefresh, Number(m.at) || 0);
        break;
      case 'login':
        csrfToken = null; // a new session has a new token
        emit('login', m);
        break;
      case 'logout':
        csrfToken = null;
        emit('logout', m);
        break;
    }
  });
}

function emit(kind, detail) {
  for (const fn of listeners[kind]) {
    try { fn(detail); } catch (e) { console.error(e); }
  }
}

function post(msg) {
  if (channel) channel.postMessage(msg);
}

function refreshedAt() {
  let stamp = 0;
  try { stamp = Number(localStorage.getItem(STAMP)) || 0; } catch { /* storage blocked */ }
  return Math.max(lastRefresh, stamp);
}

function markRefreshed() {
  const at = Date.now();
  lastRefresh = at;
  try { localStorage.setItem(STAMP, String(at)); } catch { /* storage blocked */ }
  post({ type: 'refreshed', at });
}

/** An Error carrying the API's status, error code and description. */
export class APIError extends Error {
  constructor(status, code, description) {
    super(description || code || ('HTTP ' + status));
    this.name = 'APIError';
    this.status = status;
    this.code = code || '';
  }
}

/** Turns a failed Response into an APIError with the server's words. */
export async function errorFrom(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  let text = body.error_description || '';
  if (!text) {
    text = res.status === 429 ? 'Too many attempts; wait a moment and try again.'
      : res.status >= 500 ? 'The server is unavailable; try again shortly.'
      : 'The request failed (HTTP ' + res.status + ').';
  }
  return new APIError(res.status, body.error, text);
}

function cookieHeaders(extra) {
  const h = new Headers(extra || {});
  h.set('X-Session-Mode', 'cookie');
  return h;
}

// send is one request in cookie mode, without any retry.
async function send(url, init, unsafe) {
  const headers = cookieHeaders(init.headers);
  if (unsafe) {
    const token = await csrf();
    if (token) headers.set('X-CSRF-Token', token);
  }
  return fetch(url, { ...init, headers, credentials: 'same-origin' });
}

/** The CSRF token of the current session (fetched once, then cached). */
export async function csrf() {
  if (csrfToken) return csrfToken;
  const res = await sessiondFetch('/v1/csrf');
  if (res.ok) csrfToken = (await res.json()).csrf_token || null;
  return csrfToken;
}

/**
 * Refreshes the session, one tab at a time across the origin. since is when
 * the caller's failed request started: if any tab refreshed after that, the
 * cookies are already new and nothing is sent. Resolves to whether the
 * session is alive.
 */
export async function refresh(since = Date.now()) {
  return (await refreshed(since)) === null;
}

// refreshed resolves to null when the cookies are fresh, else to the failed
// answer of /v1/refresh (401: the session is over; 400: no refresh cookie,
// see noSession; 429 or 503: try later).
async function refreshed(since) {
  const run = async () => {
    if (refreshedAt() > since) return null;
    const res = await fetch('/v1/refresh', {
      method: 'POST',
      headers: cookieHeaders({ 'Content-Type': 'application/json' }),
      body: '{}',
      credentials: 'same-origin',
    });
    if (!res.ok) return res;
    const body = await res.json();
    if (body.csrf_token) csrfToken = body.csrf_token;
    markRefreshed();
    return null;
  };
  if (navigator.locks && navigator.locks.request) {
    return navigator.locks.request(LOCK, run);
  }
  // No Web Locks (very old browsers): serialise within this tab at least;
  // the server's grace window covers two tabs.
  if (!inflight) inflight = run().finally(() => { inflight = null; });
  return inflight;
}

// noSession reports whether a failed refresh means there is no session to
// go on with: 401 (it ended: expired, revoked, logged out elsewhere) or 400
// invalid_request because the browser sent no refresh cookie at all (a
// first visit, or after a logout cleared it). Refresh cookies of two
// sessions that the server cannot choose between (also a 400; a browser
// never sends them, since only this host can set the cookie) is not: the
// user must act on that, so its words reach the page.
async function noSession(res) {
  if (res.status === 401) return true;
  if (res.status !== 400) return false;
  const body = await res.clone().json().catch(() => ({}));
  return body.error === 'invalid_request' && !/more than one/i.test(body.error_description || '');
}

/**
 * fetch in cookie mode: same-origin credentials, X-Session-Mode: cookie,
 * X-CSRF-Token on unsafe methods, and one refresh-and-retry on a 401
 * (not on a 401 invalid_grant, a wrong password: no token to refresh).
 * Resolves to the Response (the second one if it retried). When there is
 * no session to refresh (it ended, or the browser never had one) it
 * resolves to the first 401, so a caller checks for 401 alone to know the
 * user is logged out. A URL of another origin is refused (TypeError): use
 * plain fetch for those.
 */
async function sessiondFetch(url, init = {}) {
  // The CSRF token and the refresh are this origin's business: another
  // origin must neither receive the token nor make us refresh with a 401.
  const target = new URL(url instanceof Request ? url.url : String(url), location.href);
  if (target.origin !== location.origin) {
    throw new TypeError('sessiond.fetch only calls its own origin (' + location.origin + '), not ' + target.origin);
  }
  const method = (init.method || 'GET').toUpperCase();
  const unsafe = !SAFE.has(method);
  const started = Date.now();
  let res = await send(url, init, unsafe);
  if (res.status === 401 && (await errorCode(res)) !== 'invalid_grant') {
    // invalid_grant is a wrong password (POST /v1/reauth, /v1/password),
    // not a token to refresh: the caller says so, and nothing is retried.
    const failed = await refreshed(started);
    // A refresh refused for now (429, 503) is not a logout: say what happened.
    if (failed) return (await noSession(failed)) ? res : failed;
    res = await send(url, init, unsafe);
  } else if (res.status === 403 && unsafe && csrfToken) {
    // The cached token may belong to a session that another tab replaced.
    if ((await errorCode(res)) === 'csrf_failed') {
      csrfToken = null;
      res = await send(url, init, unsafe);
    }
  }
  return res;
}

// errorCode is the error code of a JSON error answer ('' if none), read
// from a copy so that the caller can still read the body.
async function errorCode(res) {
  return res.clone().json().then((b) => (b && b.error) || '', () => '');
}

/**
 * Whether an APIError, or a failed Response, is a refusal for a too old
 * authentication (403 insufficient_user_authentication): reauth, then retry.
 */
export async function needsReauth(errOrRes) {
  if (errOrRes instanceof Response) return errOrRes.status === 403 && (await errorCode(errOrRes)) === STEP_UP;
  return !!errOrRes && errOrRes.code === STEP_UP;
}

async function postJSON(url, body) {
  return fetch(url, {
    method: 'POST',
    headers: cookieHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
}

/** Creates an account; resolves to {user_id, email}. Throws APIError. */
export async function signup(email, password) {
  const res = await postJSON('/v1/signup', { email, password });
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

/** Logs in (cookies are set); resolves to {expires_in, session_id}. Throws APIError. */
export async function login(email, password) {
  const res = await postJSON('/v1/login', { email, password });
  if (!res.ok) throw await errorFrom(res);
  const body = await res.json();
  csrfToken = body.csrf_token || null;
  markRefreshed();
  post({ type: 'login' });
  return { expires_in: body.expires_in, session_id: body.session_id };
}

/**
 * Logs out: scope 'local' (this session, the default), 'others' (every
 * other session of the user) or 'global' (all of them). For local and
 * global, every other tab of the origin hears it at once (onLogout).
 * Resolves to {revoked}. Throws APIError.
 */
export async function logout(scope = 'local') {
  const res = await sessiondFetch('/v1/logout?scope=' + encodeURIComponent(scope), { method: 'POST' });
  if (!res.ok && res.status !== 401) throw await errorFrom(res);
  if (scope !== 'others') {
    csrfToken = null;
    post({ type: 'logout', scope });
  }
  return res.ok ? res.json() : { revoked: 0 };
}

/**
 * Proves the password again for this session (POST /v1/reauth): its
 * auth_time becomes now and the access cookie carries a new token, so a
 * sensitive action refused with STEP_UP goes through when retried.
 * Resolves to {expires_in, session_id}. Throws APIError (401 invalid_grant:
 * a wrong password; 401 invalid_token: the session is over).
 */
export async function reauth(password) {
  const res = await sessiondFetch('/v1/reauth', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ password }),
  });
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

/**
 * Changes the password (POST /v1/password): every other session of the
 * user ends, this one goes on. Resolves to {revoked}. Throws APIError
 * (STEP_UP: reauth first; 401 invalid_grant: a wrong current password;
 * 400: the new one breaks a rule, the message says which).
 */
export async function changePassword(currentPassword, newPassword) {
  const res = await sessiondFetch('/v1/password', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ current_password: currentPassword, new_password: newPassword }),
  });
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

/**
 * Deletes the signed-in user's account (DELETE /v1/account): every session
 * of the user ends, this one too, and the cookies are cleared. Every other
 * tab of the origin hears it as a global logout (onLogout). Resolves to
 * {revoked}. Throws APIError (401: there is no session).
 */
export async function deleteAccount() {
  const res = await sessiondFetch('/v1/account', { method: 'DELETE' });
  if (!res.ok) throw await errorFrom(res);
  csrfToken = null;
  post({ type: 'logout', scope: 'global' });
  return res.json();
}

/** Calls fn when another tab of the origin logs out (local or global). Returns an unsubscribe function. */
export function onLogout(fn) {
  listeners.logout.add(fn);
  return () => listeners.logout.delete(fn);
}

/** Calls fn when another tab of the origin logs in. Returns an unsubscribe function. */
export function onLogin(fn) {
  listeners.login.add(fn);
  return () => listeners.login.delete(fn);
}

const sessiond = { fetch: sessiondFetch, login, signup, logout, refresh, csrf, reauth, changePassword, needsReauth, STEP_UP,
  onLogout, onLogin, errorFrom, APIError, deleteAccount };
export { sessiondFetch as fetch };
export default sessiond;
if (typeof window !== 'undefined') window.sessiond = sessiond;
