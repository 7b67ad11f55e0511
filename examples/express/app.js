// An Express application that keeps its users' sessions in sessiond.
//
// The application owns its users and checks their passwords itself
// (users.js). On login it asks sessiond for a session (POST /v1/sessions,
// with its client credentials) carrying the user's role as a claim, and
// keeps the two tokens in its own HttpOnly cookies. On every request it
// verifies the access token locally, with jose and sessiond's JWKS (no
// call to sessiond), and when the access token has expired it refreshes
// the session transparently. The role claim decides who may see /admin.
//
// What local verification means: an access token stays good until it
// expires (sessiond's --access-ttl, 10 minutes by default), even after
// its session was ended elsewhere; the session's next refresh then fails
// and the user is logged out. A route that must see a logout at once asks
// sessiond instead (GET /v1/session, or RFC 7662 introspection).

import express from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { SessiondError } from './sessiond.js';

/** The algorithms sessiond signs with (ES256 is the default). */
const algorithms = ['ES256', 'EdDSA', 'RS256'];

/**
 * Builds the application.
 *
 * @param {object} o
 * @param {import('./users.js').UserStore} o.users           the application's users
 * @param {import('./sessiond.js').SessiondClient} o.sessiond sessiond, as this backend's client
 * @param {string} o.clientId          this backend's client id: only tokens minted for it are accepted
 * @param {string} o.issuer            sessiond's --issuer (default "sessiond")
 * @param {string} o.audience          sessiond's --audience (default "sessiond")
 * @param {number} [o.refreshCookieMaxAge] seconds the refresh cookie lives: sessiond's
 *   --absolute-timeout, 7 days by default
 * @param {object} [o.jwks]            a jose key set function; default: sessiond's JWKS, cached
 * @returns {import('express').Express}
 */
export function createApp({ users, sessiond, clientId, issuer, audience, refreshCookieMaxAge = 7 * 24 * 3600, jwks }) {
  if (!users || !sessiond || !clientId || !issuer || !audience) {
    throw new Error('createApp: users, sessiond, clientId, issuer and audience are required');
  }
  const keySet = jwks ?? createRemoteJWKSet(sessiond.jwksURL);

  /** Verifies an access token locally; resolves to the user it names. */
  async function verify(accessToken) {
    const { payload } = await jwtVerify(accessToken, keySet, {
      issuer,
      audience,
      typ: 'at+jwt',
      algorithms,
      requiredClaims: ['sub', 'sid', 'jti', 'client_id'],
    });
    if (payload.client_id !== clientId) {
      // A token sessiond issued to another client (or to its own login
      // pages) is no session of this application.
      throw new joseErrors.JWTClaimValidationFailed('token of another client', payload, 'client_id', 'check_failed');
    }
    return {
      id: payload.sub,
      sessionId: payload.sid,
      role: typeof payload.role === 'string' ? payload.role : null,
      tenant: typeof payload.tenant === 'string' ? payload.tenant : null,
      expiresAt: payload.exp,
    };
  }

  // Refreshes in flight, by refresh token: requests of one browser that
  // arrive together share one refresh instead of each rotating the token.
  const refreshing = new Map();
  function refreshOnce(refreshToken) {
    let p = refreshing.get(refreshToken);
    if (!p) {
      p = sessiond.refresh(refreshToken).finally(() => refreshing.delete(refreshToken));
      refreshing.set(refreshToken, p);
    }
    return p;
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(noStore);
  app.use(sameOriginOnly);

  // session: puts req.user (or null) and req.accessToken on every request,
  // refreshing first when the access token is missing or expired and a
  // refresh cookie is there.
  app.use(async (req, res, next) => {
    req.user = null;
    req.accessToken = null;
    const names = cookieNames(req);
    const cookies = parseCookies(req.headers.cookie);
    const access = cookies.get(names.access);
    const refresh = cookies.get(names.refresh);
    if (access) {
      try {
        req.user = await verify(access);
        req.accessToken = access;
        return next();
      } catch {
        // Expired, or not good at all: a refresh may still get a new one.
      }
    }
    if (!refresh) {
      if (access) {
        clearCookies(req, res);
      }
      return next();
    }
    let tokens;
    try {
      tokens = await refreshOnce(refresh);
    } catch (err) {
      if (err instanceof SessiondError && err.status === 401) {
        // The session ended (logout, log out everywhere, timeout, or a
        // reused refresh token): the user must log in again.
        clearCookies(req, res);
        return next();
      }
      return next(err);
    }
    setCookies(req, res, tokens, refreshCookieMaxAge);
    try {
      req.user = await verify(tokens.access_token);
      req.accessToken = tokens.access_token;
    } catch (err) {
      return next(err);
    }
    next();
  });

  // Express 5 passes the rejection of an async handler to the error
  // handler below, so the handlers need no try/catch of their own.
  app.post('/login', express.json({ limit: '4kb' }), async (req, res) => {
    if (!req.is('application/json')) {
      return fail(res, 415, 'unsupported_media_type', 'send application/json');
    }
    const { username, password } = req.body ?? {};
    const user = await users.authenticate(username, password);
    if (!user) {
      return fail(res, 401, 'invalid_credentials', 'wrong username or password');
    }
    if (req.accessToken) {
      // These cookies are about to be overwritten: end the session they
      // held, so it does not live on in the user's devices list.
      await sessiond.logout(req.accessToken).catch(() => {});
    }
    const claims = { role: user.role };
    if (user.tenant) {
      claims.tenant = user.tenant;
    }
    const tokens = await sessiond.mint({
      userId: user.id,
      claims,
      authMethod: 'password',
      amr: ['pwd'],
      ip: req.ip,
      userAgent: req.get('user-agent'),
    });
    // Check the new token as every request will (this also fetches the
    // JWKS): an --issuer or --audience that does not match sessiond's is
    // an error here, not a user logged out at their next request.
    await verify(tokens.access_token);
    setCookies(req, res, tokens, refreshCookieMaxAge);
    res.json({ user_id: user.id, role: user.role, session_id: tokens.session_id });
  });

  app.get('/me', requireUser, (req, res) => {
    const u = req.user;
    res.json({ user_id: u.id, role: u.role, tenant: u.tenant, session_id: u.sessionId, expires_at: u.expiresAt });
  });

  app.get('/admin', requireUser, requireRole('admin'), (req, res) => {
    res.json({ message: `hello ${req.user.id}, you are an admin` });
  });

  // "Your devices": sessiond lists the user's sessions, with their own token.
  app.get('/sessions', requireUser, async (req, res) => {
    res.json(await sessiond.sessions(req.accessToken));
  });

  app.post('/logout', async (req, res) => {
    let revoked = 0;
    if (req.accessToken) {
      try {
        ({ revoked } = await sessiond.logout(req.accessToken));
      } catch (err) {
        // 401: the session had already ended; anything else is an outage.
        if (!(err instanceof SessiondError && err.status === 401)) {
          throw err;
        }
      }
    }
    clearCookies(req, res);
    res.json({ revoked });
  });

  // "Log out everywhere": this backend ends every session of the user with
  // its own client credentials.
  app.post('/logout/everywhere', requireUser, async (req, res) => {
    const { revoked } = await sessiond.endEverywhere(req.user.id);
    clearCookies(req, res);
    res.json({ revoked });
  });

  app.use((req, res) => fail(res, 404, 'not_found', 'no such page'));

  // Errors: sessiond down or failing is 503, never a login.
  app.use((err, req, res, _next) => {
    if (err.type === 'entity.parse.failed' || err.type === 'entity.too.large') {
      return fail(res, err.status, 'invalid_request', err.message);
    }
    console.error('request failed:', err.message);
    if (err instanceof SessiondError && (err.status === 0 || err.status >= 500)) {
      res.set('Retry-After', '1');
      return fail(res, 503, 'temporarily_unavailable', 'the session service is unavailable; try again');
    }
    fail(res, 500, 'server_error', 'internal error');
  });

  return app;
}

/** requireUser answers 401 to a request without a session. */
function requireUser(req, res, next) {
  if (!req.user) {
    return fail(res, 401, 'login_required', 'log in first');
  }
  next();
}

/** requireRole answers 403 unless the session's role claim is role. */
function requireRole(role) {
  return (req, res, next) => {
    if (req.user.role !== role) {
      return fail(res, 403, 'forbidden', `only the role ${role} may see this`);
    }
    next();
  };
}

function fail(res, status, error, description) {
  res.status(status).json({ error, error_description: description });
}

// noStore: no answer of this application may be kept by a cache; some set
// session cookies, all depend on who asks.
function noStore(req, res, next) {
  res.set('Cache-Control', 'no-store');
  next();
}

// sameOriginOnly refuses unsafe requests that a browser says came from
// another site (Fetch Metadata, else Origin), so no other site can log a
// visitor in, out or everywhere out. SameSite=Lax cookies already keep
// the session off cross-site POSTs; this also stops login CSRF, which
// needs no cookie.
function sameOriginOnly(req, res, next) {
  if (['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
    return next();
  }
  const site = req.get('sec-fetch-site');
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') {
      return next();
    }
    return fail(res, 403, 'csrf_failed', 'cross-origin request refused');
  }
  const origin = req.get('origin');
  if (origin !== undefined) {
    let host = null;
    try {
      host = new URL(origin).host;
    } catch {
      // "null" or garbage: not this origin.
    }
    if (host !== req.get('host')) {
      return fail(res, 403, 'csrf_failed', 'cross-origin request refused');
    }
  }
  next();
}

/**
 * The cookie names of a request: with the __Host- prefix over HTTPS (the
 * browser then refuses the cookie unless it is Secure, host-only and
 * Path=/, so no sibling subdomain can plant or shadow it), plain over
 * HTTP, where a Secure cookie could not be set.
 */
function cookieNames(req) {
  return req.secure ? { access: '__Host-app_at', refresh: '__Host-app_rt' } : { access: 'app_at', refresh: 'app_rt' };
}

function cookieOptions(req) {
  return { httpOnly: true, secure: req.secure, sameSite: 'lax', path: '/' };
}

function setCookies(req, res, tokens, refreshMaxAge) {
  const names = cookieNames(req);
  const opts = cookieOptions(req);
  // The access cookie lives as long as its token; the refresh cookie until
  // the session's absolute end.
  res.cookie(names.access, tokens.access_token, { ...opts, maxAge: tokens.expires_in * 1000 });
  res.cookie(names.refresh, tokens.refresh_token, { ...opts, maxAge: refreshMaxAge * 1000 });
}

function clearCookies(req, res) {
  const names = cookieNames(req);
  const opts = cookieOptions(req);
  res.clearCookie(names.access, opts);
  res.clearCookie(names.refresh, opts);
}

/** parseCookies reads a Cookie header into a Map; the first of a name wins. */
export function parseCookies(header) {
  const out = new Map();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) {
      continue;
    }
    const name = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1);
    }
    if (name && !out.has(name)) {
      try {
        out.set(name, decodeURIComponent(value));
      } catch {
        // Not percent-encoded by us: ignore it.
      }
    }
  }
  return out;
}
