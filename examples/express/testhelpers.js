// Test helpers: a real sessiond process, a cookie jar, and HTTP calls.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// Every process started here, killed on exit whatever happens: by the
// tests' after hooks, and failing those when this process ends or is
// told to stop.
const children = new Set();
function killAll() {
  for (const c of children) {
    c.kill('SIGKILL');
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    process.exit(128 + constants.signals[sig]);
  });
}

/**
 * The sessiond binary: $SESSIOND_BIN (the Go test driver builds it), or one
 * built now from this repository with go build into dir.
 */
export function sessiondBinary(dir) {
  if (process.env.SESSIOND_BIN) {
    return process.env.SESSIOND_BIN;
  }
  const bin = join(dir, 'sessiond');
  execFileSync('go', ['build', '-o', bin, './cmd/sessiond'], { cwd: resolve(here, '../..'), stdio: 'inherit' });
  return bin;
}

/**
 * Starts `sessiond serve` on memory:// at a free loopback port with the
 * given service clients ([{id, secret, permissions}]) and extra flags.
 * Resolves to { url, stop, dir }; stop() kills it and removes its files.
 */
export async function startSessiond({ clients, args = [] }) {
  const dir = mkdtempSync(join(tmpdir(), 'sessiond-example-'));
  const bin = sessiondBinary(dir);
  const clientsFile = join(dir, 'clients.json');
  writeFileSync(clientsFile, JSON.stringify(clients), { mode: 0o600 });
  const child = spawn(
    bin,
    ['serve', '--store', 'memory://', '--addr', '127.0.0.1:0', '--clients', clientsFile, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (b) => {
    stderr += b;
  });
  const stop = () => {
    children.delete(child);
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  // Killed before it exits by itself: ignore its exit once it is up.
  let up = false;
  // With --addr :0 serve prints "sessiond listening on http://127.0.0.1:PORT (store ...)".
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`sessiond did not start in 30s; stderr: ${stderr}`)), 30_000);
    child.stdout.on('data', (b) => {
      out += b;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        up = true;
        ok(m[1]);
      }
    });
    child.on('exit', (code) => {
      if (!up) {
        clearTimeout(timer);
        fail(new Error(`sessiond exited with ${code}; stderr: ${stderr}`));
      }
    });
  }).catch((err) => {
    stop();
    throw err;
  });
  child.stdout.resume();
  return { url, stop, stderr: () => stderr };
}

/**
 * CookieJar keeps the cookies a browser would, for one host: it reads
 * Set-Cookie (deleting a cookie set with Max-Age=0 or an Expires in the
 * past), drops cookies past their Max-Age or Expires unless told to keep
 * them (keepExpired: a client that sends an expired token), and sends them
 * back.
 */
export class CookieJar {
  #cookies = new Map(); // name -> { value, expires, attrs }
  constructor({ keepExpired = false } = {}) {
    this.keepExpired = keepExpired;
  }

  /** Reads the Set-Cookie headers of res; returns them parsed. */
  take(res) {
    const set = res.headers.getSetCookie().map(parseSetCookie);
    for (const c of set) {
      if (c.deleted) {
        this.#cookies.delete(c.name);
        continue;
      }
      this.#cookies.set(c.name, { value: c.value, expires: c.expires, attrs: c.attrs });
    }
    return set;
  }

  /** The Cookie header to send now. */
  header() {
    const now = Date.now();
    const parts = [];
    for (const [name, c] of this.#cookies) {
      if (!this.keepExpired && c.expires <= now) {
        this.#cookies.delete(name);
        continue;
      }
      parts.push(`${name}=${c.value}`);
    }
    return parts.join('; ');
  }

  get(name) {
    return this.#cookies.get(name)?.value;
  }

  delete(name) {
    this.#cookies.delete(name);
  }

  /** A copy of this jar: another browser holding the same cookies. */
  clone() {
    const j = new CookieJar({ keepExpired: this.keepExpired });
    for (const [k, v] of this.#cookies) {
      j.#cookies.set(k, { ...v });
    }
    return j;
  }
}

function parseSetCookie(line) {
  const [pair, ...rest] = line.split(';');
  const i = pair.indexOf('=');
  const attrs = {};
  for (const a of rest) {
    const j = a.indexOf('=');
    const k = (j < 0 ? a : a.slice(0, j)).trim().toLowerCase();
    attrs[k] = j < 0 ? true : a.slice(j + 1).trim();
  }
  // Max-Age wins over Expires (RFC 6265 §5.3).
  let expires = Infinity;
  if (attrs['max-age'] !== undefined) {
    expires = Date.now() + Number(attrs['max-age']) * 1000;
  } else if (attrs.expires !== undefined) {
    expires = Date.parse(attrs.expires);
  }
  return { name: pair.slice(0, i).trim(), value: pair.slice(i + 1).trim(), attrs, expires, deleted: expires <= Date.now() };
}

/**
 * Calls base+path with the jar's cookies (and stores what comes back).
 * Resolves to { status, body, cookies } with the parsed Set-Cookie list.
 */
export async function call(base, jar, method, path, body, headers = {}) {
  const h = { ...headers };
  const cookie = jar?.header();
  if (cookie) {
    h.Cookie = cookie;
  }
  if (body !== undefined) {
    h['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(base + path, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  });
  const cookies = jar ? jar.take(res) : res.headers.getSetCookie().map(parseSetCookie);
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, cookies, headers: res.headers };
}

/** Resolves after ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
