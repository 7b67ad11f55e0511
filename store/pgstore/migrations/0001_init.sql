-- sessiond schema, version 1: sessions, revocations (with their change
-- feed), the key ring and built-in accounts. Every object is created in
-- the connection's current schema (see pgstore.WithSchema).

CREATE TABLE sessions (
	id                text PRIMARY KEY,
	user_id           text NOT NULL,
	created_at        timestamptz NOT NULL,
	last_seen_at      timestamptz NOT NULL,
	idle_expires_at   timestamptz NOT NULL,
	abs_expires_at    timestamptz NOT NULL,
	expires_at        timestamptz GENERATED ALWAYS AS (least(idle_expires_at, abs_expires_at)) STORED,
	ip                text NOT NULL DEFAULT '',
	user_agent        text NOT NULL DEFAULT '',
	auth_method       text NOT NULL DEFAULT '',
	refresh_hash      bytea,
	prev_refresh_hash bytea,
	rotated_at        timestamptz,
	data              jsonb,
	version           bigint NOT NULL
);
CREATE INDEX sessions_user_created ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE revocations (
	session_id text PRIMARY KEY,
	until      timestamptz NOT NULL
);
CREATE INDEX revocations_until ON revocations (until);

CREATE TABLE keyring (
	id      int PRIMARY KEY CHECK (id = 1),
	blob    bytea NOT NULL,
	version bigint NOT NULL
);

CREATE TABLE accounts (
	id            text PRIMARY KEY,
	email         text UNIQUE NOT NULL,
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL,
	-- timestamptz keeps microseconds; account.Store promises the
	-- CreatedAt it was given, so the nanoseconds below them live here.
	created_ns    int NOT NULL DEFAULT 0 CHECK (created_ns BETWEEN 0 AND 999)
);

-- sessiond_channel names the NOTIFY channel of this schema's revocations,
-- so that stores in different schemas of one database do not hear each
-- other. A channel name is at most 63 bytes; long schema names are hashed.
CREATE FUNCTION sessiond_channel() RETURNS text
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
	SELECT CASE WHEN octet_length(current_schema()) <= 50
		THEN 'sessiond_rev_' || current_schema()
		ELSE 'sessiond_rev_' || md5(current_schema()) END
$$;

-- Every revocation recorded (or extended) is announced as
-- "<session id> <until in Unix microseconds>".
CREATE FUNCTION sessiond_notify_revocation() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
	PERFORM pg_notify(sessiond_channel(),
		NEW.session_id || ' ' || (extract(epoch FROM NEW.until) * 1000000)::bigint);
	RETURN NULL;
END
$$;

CREATE TRIGGER revocations_notify AFTER INSERT OR UPDATE ON revocations
	FOR EACH ROW EXECUTE FUNCTION sessiond_notify_revocation();

-- sessiond_rotate is refresh-token rotation in one round trip and one
-- transaction (see session.Store.Rotate). It locks the row, then decides at
-- p_now (the caller's clock, never now()):
--   no row, or expired at p_now         -> no result row (not found)
--   p_presented is the current hash     -> outcome 1 (Rotated), the row as written
--   p_presented is the parent, rotated
--     less than p_grace_us ago          -> outcome 2 (GraceReplay), the row unchanged
--   anything else                       -> outcome 3 (Reused): the session is
--     deleted and its revocation recorded (keeping the later until)
-- The outcome numbers are those of session.RotateOutcome. Hashes are
-- compared with =, not in constant time: they are SHA-256 of 256-bit
-- random tokens, so timing reveals nothing an attacker could use.
CREATE FUNCTION sessiond_rotate(
	p_id text, p_presented bytea, p_next bytea, p_now timestamptz,
	p_grace_us bigint, p_idle_expires timestamptz, p_revoke_until timestamptz)
RETURNS TABLE (
	o_outcome int, o_id text, o_user_id text, o_created_at timestamptz,
	o_last_seen_at timestamptz, o_idle_expires_at timestamptz, o_abs_expires_at timestamptz,
	o_ip text, o_user_agent text, o_auth_method text,
	o_refresh_hash bytea, o_prev_refresh_hash bytea, o_rotated_at timestamptz,
	o_data jsonb, o_version bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
	s sessions%ROWTYPE;
	outcome int;
BEGIN
	SELECT * INTO s FROM sessions WHERE sessions.id = p_id FOR UPDATE;
	IF NOT FOUND OR s.expires_at <= p_now THEN
		RETURN;
	END IF;
	IF p_presented IS NOT NULL AND octet_length(p_presented) > 0 AND s.refresh_hash = p_presented THEN
		UPDATE sessions SET
			prev_refresh_hash = sessions.refresh_hash,
			refresh_hash = p_next,
			rotated_at = p_now,
			last_seen_at = p_now,
			idle_expires_at = p_idle_expires,
			version = sessions.version + 1
		WHERE sessions.id = p_id
		RETURNING * INTO s;
		outcome := 1;
	ELSIF p_presented IS NOT NULL AND octet_length(p_presented) > 0
		AND s.prev_refresh_hash = p_presented
		AND s.rotated_at IS NOT NULL
		AND p_now < s.rotated_at + p_grace_us * interval '1 microsecond' THEN
		outcome := 2;
	ELSE
		DELETE FROM sessions WHERE sessions.id = p_id;
		INSERT INTO revocations AS r (session_id, until) VALUES (p_id, p_revoke_until)
			ON CONFLICT (session_id) DO UPDATE SET until = greatest(r.until, excluded.until);
		o_outcome := 3;
		RETURN NEXT;
		RETURN;
	END IF;
	RETURN QUERY SELECT outcome, s.id, s.user_id, s.created_at, s.last_seen_at,
		s.idle_expires_at, s.abs_expires_at, s.ip, s.user_agent, s.auth_method,
		s.refresh_hash, s.prev_refresh_hash, s.rotated_at, s.data, s.version;
END
$$;
