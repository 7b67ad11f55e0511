// A resource server's token check as npm jose does it: a remote JWKS,
// fetched once and cached (createRemoteJWKSet), with cooldownDuration and
// cacheMaxAge so long that it never refetches during a test, not even for
// an unknown kid. Driven by cmd/sessiond/jwks_interop_test.go.
//
// usage: node verifier.mjs JWKS_URL ISSUER AUDIENCE
// Reads commands from stdin, one per line, and answers each with one JSON
// line on stdout:
//   fetch        -> {"ok":true,"kids":[...],"fetches":n}   (fetch the JWKS now)
//   verify TOKEN -> {"ok":true,"kid":"...","fetches":n}
//                or {"ok":false,"code":"ERR_...","message":"...","fetches":n}
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import { createInterface } from 'node:readline';

const [url, issuer, audience] = process.argv.slice(2);
if (!url || !issuer || !audience) {
  console.error('usage: node verifier.mjs JWKS_URL ISSUER AUDIENCE');
  process.exit(2);
}

const hour = 60 * 60 * 1000;
let fetches = 0;
const jwks = createRemoteJWKSet(new URL(url), {
  cooldownDuration: hour,
  cacheMaxAge: hour,
  [customFetch]: (...args) => {
    fetches++;
    return fetch(...args);
  },
});

const answer = (v) => process.stdout.write(JSON.stringify({ ...v, fetches }) + '\n');

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/, 2);
  try {
    switch (cmd) {
      case 'fetch':
        await jwks.reload();
        answer({ ok: true, kids: jwks.jwks().keys.map((k) => k.kid) });
        break;
      case 'verify': {
        const { protectedHeader } = await jwtVerify(arg, jwks, { issuer, audience, typ: 'at+jwt' });
        answer({ ok: true, kid: protectedHeader.kid });
        break;
      }
      default:
        answer({ ok: false, code: 'USAGE', message: `unknown command ${cmd}` });
    }
  } catch (err) {
    answer({ ok: false, code: err.code ?? err.name, message: err.message });
  }
}
