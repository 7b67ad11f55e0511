// Package session is the core of sessiond: server-side sessions with short-lived
// JWT access tokens and rotating refresh tokens.
//
// A Manager (New with a Config) logs a user in (Login returns Tokens: an
// access token, a refresh token and the session id), verifies access tokens
// (Verify: signature, claims and an in-memory set of revoked sessions, no
// store read), rotates refresh tokens (Refresh), and ends sessions (Logout,
// Revoke, RevokeUser). A refresh token presented again after its grace
// window is taken as stolen: the whole session is revoked and Refresh
// returns ErrReused. Revocations reach every Manager on the same store
// through the store's RevocationFeed. Reauthenticate records that the
// user proved who they are again (a fresh auth_time for the session, and
// an access token carrying it), for actions that ask for a recent
// authentication (httpauth.RequireRecentAuth).
//
// Sessions carry device metadata (Meta) and a small JSON map of application
// data, read with Get[T] and written with Manager.Update, which
// compare-and-sets so a request in flight never writes a revoked session
// back. Policy sets the access token lifetime, the idle and absolute
// timeouts, the refresh grace window and the per-user cap; Sweep and
// RunSweeper delete expired sessions.
//
// Sessions live in a Store; store/memstore, store/boltstore,
// store/redisstore and store/pgstore implement it, and session/sessiontest
// states its contract as tests every backend runs. Callers branch on the
// sentinel errors (ErrInvalidToken, ErrRevoked, ErrReused, ErrExpired,
// ErrNotFound, ErrConflict, ErrDataTooLarge, ErrStore) with errors.Is.
package session
