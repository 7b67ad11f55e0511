// Runs the example: node server.js (see README.md).
//
// Environment:
//   SESSIOND_URL            sessiond's base URL            (default http://127.0.0.1:8080)
//   SESSIOND_CLIENT_ID      this backend's client id       (default shop)
//   SESSIOND_CLIENT_SECRET  its secret, from sessiond's --clients file (required)
//   SESSIOND_ISSUER         sessiond's --issuer            (default sessiond)
//   SESSIOND_AUDIENCE       sessiond's --audience          (default sessiond)
//   DEMO_PASSWORD           the password of the demo users (default "correct horse battery staple")
//   HOST, PORT              where to listen                (default 127.0.0.1:3000)

import { createApp } from './app.js';
import { SessiondClient } from './sessiond.js';
import { UserStore } from './users.js';

const env = process.env;
if (!env.SESSIOND_CLIENT_SECRET) {
  console.error('SESSIOND_CLIENT_SECRET is required: the secret of this backend in sessiond\'s --clients file');
  process.exit(2);
}
const clientId = env.SESSIOND_CLIENT_ID ?? 'shop';
const password = env.DEMO_PASSWORD ?? 'correct horse battery staple';

// The application's own users. A real one keeps them in its database.
const users = await UserStore.create([
  { id: 'user-1', username: 'ann', password, role: 'admin', tenant: 'acme' },
  { id: 'user-2', username: 'bob', password, role: 'user', tenant: 'acme' },
]);

const app = createApp({
  users,
  sessiond: new SessiondClient({ url: env.SESSIOND_URL ?? 'http://127.0.0.1:8080', clientId, clientSecret: env.SESSIOND_CLIENT_SECRET }),
  clientId,
  issuer: env.SESSIOND_ISSUER ?? 'sessiond',
  audience: env.SESSIOND_AUDIENCE ?? 'sessiond',
});

const host = env.HOST ?? '127.0.0.1';
const server = app.listen(Number(env.PORT ?? 3000), host, () => {
  const { port } = server.address();
  console.log(`example listening on http://${host}:${port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
