// A small client of sessiond's HTTP API for a backend: the calls this
// application makes, each mapped to one endpoint.
//
//   mint          POST   /v1/sessions              client credentials (HTTP Basic)
//   refresh       POST   /v1/refresh               the refresh token
//   logout        POST   /v1/logout                the user's access token
//   sessions      GET    /v1/sessions              the user's access token
//   endEverywhere DELETE /v1/users/{id}/sessions   client credentials
//
// Every failure is a SessiondError carrying sessiond's status and its
// OAuth-style error code ({"error", "error_description"}); status 0 when
// sessiond could not be reached in time.

/** SessiondError is an answer from sessiond other than the one expected. */
export class SessiondError extends Error {
  constructor(status, body, what) {
    const code = body && typeof body.error === 'string' ? body.error : 'unexpected_response';
    const desc = body && typeof body.error_description === 'string' ? body.error_description : '';
    super(`sessiond ${what}: ${status} ${code}${desc ? `: ${desc}` : ''}`);
    this.name = 'SessiondError';
    this.status = status;
    this.code = code;
  }
}

/** SessiondClient calls sessiond at baseURL as the service client id. */
export class SessiondClient {
  #base;
  #basic;
  #timeout;

  /**
   * @param {object} o
   * @param {string} o.url           sessiond's base URL, e.g. http://127.0.0.1:8080
   * @param {string} o.clientId      this backend's id in sessiond's --clients file
   * @param {string} o.clientSecret  its secret (at least 32 characters)
   * @param {number} [o.timeoutMs]   per-request deadline, default 5000
   */
  constructor({ url, clientId, clientSecret, timeoutMs = 5000 }) {
    if (!url || !clientId || !clientSecret) {
      throw new Error('sessiond client: url, clientId and clientSecret are required');
    }
    this.#base = url.replace(/\/+$/, '');
    // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
    const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
    this.#basic = 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64');
    this.#timeout = timeoutMs;
  }

  /** The URL of sessiond's JWKS, for jose's createRemoteJWKSet. */
  get jwksURL() {
    return new URL(this.#base + '/.well-known/jwks.json');
  }

  async #call(what, method, path, { auth, body, expect }) {
    const headers = { Accept: 'application/json' };
    if (auth) {
      headers.Authorization = auth;
    }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    let res, text;
    try {
      res = await fetch(this.#base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeout),
      });
      text = await res.text();
    } catch (err) {
      // Unreachable, refused, or over the deadline.
      throw new SessiondError(0, { error: 'unreachable', error_description: err.cause?.message ?? err.message }, what);
    }
    let parsed = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (res.status !== expect) {
      throw new SessiondError(res.status, parsed, what);
    }
    return parsed;
  }

  /**
   * Starts a session for a user this application authenticated itself.
   * Returns { access_token, token_type, expires_in, refresh_token, session_id }.
   */
  mint({ userId, claims, authMethod, amr, ip, userAgent }) {
    return this.#call('mint', 'POST', '/v1/sessions', {
      auth: this.#basic,
      body: { user_id: userId, claims, auth_method: authMethod, amr, ip, user_agent: userAgent?.slice(0, 512) },
      expect: 201,
    });
  }

  /** Rotates a refresh token; the answer has the shape of mint's. */
  refresh(refreshToken) {
    return this.#call('refresh', 'POST', '/v1/refresh', { body: { refresh_token: refreshToken }, expect: 200 });
  }

  /** Ends the session of accessToken. Returns { revoked }. */
  logout(accessToken) {
    return this.#call('logout', 'POST', '/v1/logout', { auth: `Bearer ${accessToken}`, expect: 200 });
  }

  /** Lists the sessions of accessToken's user ("your devices"). */
  sessions(accessToken) {
    return this.#call('sessions', 'GET', '/v1/sessions', { auth: `Bearer ${accessToken}`, expect: 200 });
  }

  /** Ends every session of userId ("log out everywhere"). Returns { revoked }. */
  endEverywhere(userId) {
    return this.#call('end sessions', 'DELETE', `/v1/users/${encodeURIComponent(userId)}/sessions`, {
      auth: this.#basic,
      expect: 200,
    });
  }
}
