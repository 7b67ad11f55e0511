// The application's own users: an in-memory table with its own password
// check. sessiond never sees these passwords; the application tells it who
// logged in (POST /v1/sessions) once it has checked them itself.
//
// Passwords are hashed with scrypt (node:crypto) under a random salt and
// compared in constant time. An unknown username costs the same scrypt
// work as a wrong password and gets the same answer, so the login route
// cannot be used to find out which usernames exist.

import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb);

// scrypt parameters: N=2^15, r=8, p=1 (32 MiB), a 32-byte key. maxmem must
// exceed 128*N*r bytes.
const params = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const keyLen = 32;

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password) {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, keyLen, params);
  return { salt, key };
}

async function matches(password, hash) {
  const key = await scrypt(password, hash.salt, keyLen, params);
  return timingSafeEqual(key, hash.key);
}

/**
 * UserStore holds users by username: { id, username, role, tenant, hash }.
 * Build it with UserStore.create.
 */
export class UserStore {
  #byName = new Map();
  #dummy;

  /**
   * Builds a store from plain entries { id, username, password, role, tenant }
   * (tenant optional), hashing each password. Usernames must be unique.
   */
  static async create(entries) {
    const store = new UserStore();
    store.#dummy = await hashPassword(randomBytes(16).toString('hex'));
    for (const e of entries) {
      if (!e.id || !e.username || !e.password || !e.role) {
        throw new Error(`user ${JSON.stringify(e.username)}: id, username, password and role are required`);
      }
      if (store.#byName.has(e.username)) {
        throw new Error(`user ${JSON.stringify(e.username)} listed twice`);
      }
      const { password, ...rest } = e;
      store.#byName.set(e.username, { ...rest, hash: await hashPassword(password) });
    }
    return store;
  }

  /**
   * Returns the user whose username and password match, or null. Both
   * failures take the same time.
   */
  async authenticate(username, password) {
    if (typeof username !== 'string' || typeof password !== 'string') {
      return null;
    }
    const user = this.#byName.get(username);
    const ok = await matches(password, user ? user.hash : this.#dummy);
    if (!user || !ok) {
      return null;
    }
    const { hash, ...public_ } = user;
    return public_;
  }
}
