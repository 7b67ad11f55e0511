-- sessiond schema, version 2: refresh rotation checks its caller's
-- deadline on the database's clock, and a parent handed out only once
-- stays valid until its child is first used (see session.Decide).

-- refresh_reissued: the current token was handed out more than once (a
-- replay of its parent); prev_refresh_reissued: the same of the parent.
ALTER TABLE sessions
	ADD COLUMN refresh_reissued boolean NOT NULL DEFAULT false,
	ADD COLUMN prev_refresh_reissued boolean NOT NULL DEFAULT false;

-- The result gains columns, so the function of version 1 is dropped, not
-- replaced.
DROP FUNCTION sessiond_rotate(text, bytea, bytea, timestamptz, bigint, timestamptz, timestamptz);

-- sessiond_rotate is refresh-token rotation in one round trip and one
-- transaction (see session.Store.Rotate). It locks the row; then, if
-- p_deadline is not NULL and clock_timestamp() (the database's clock at
-- this moment, not the statement's start) has reached it, it returns
-- outcome 4 and changes nothing: the caller has given up. Otherwise it
-- decides at p_now (the caller's clock, never now()):
--   no row, or expired at p_now         -> no result row (not found)
--   p_presented is the current hash     -> outcome 1 (Rotated), the row as written;
--     the parent takes the current token's reissued mark
--   p_presented is the parent, rotated
--     less than p_grace_us ago, or the
--     parent was handed out only once   -> outcome 2 (GraceReplay): the current
--     token is marked reissued (version bumped the first time), the row
--   anything else                       -> outcome 3 (Reused): the session is
--     deleted and its revocation recorded (keeping the later until)
-- The outcome numbers 1 to 3 are those of session.RotateOutcome. Hashes
-- are compared with =, not in constant time: they are SHA-256 of 256-bit
-- random tokens, so timing reveals nothing an attacker could use.
CREATE FUNCTION sessiond_rotate(
	p_id text, p_presented bytea, p_next bytea, p_now timestamptz,
	p_grace_us bigint, p_idle_expires timestamptz, p_revoke_until timestamptz,
	p_deadline timestamptz)
RETURNS TABLE (
	o_outcome int, o_id text, o_user_id text, o_created_at timestamptz,
	o_last_seen_at timestamptz, o_idle_expires_at timestamptz, o_abs_expires_at timestamptz,
	o_ip text, o_user_agent text, o_auth_method text,
	o_refresh_hash bytea, o_prev_refresh_hash bytea, o_rotated_at timestamptz,
	o_data jsonb, o_version bigint, o_refresh_reissued boolean, o_prev_refresh_reissued boolean)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
	s sessions%ROWTYPE;
	outcome int;
BEGIN
	SELECT * INTO s FROM sessions WHERE sessions.id = p_id FOR UPDATE;
	IF p_deadline IS NOT NULL AND clock_timestamp() >= p_deadline THEN
		o_outcome := 4;
		RETURN NEXT;
		RETURN;
	END IF;
	IF NOT FOUND OR s.expires_at <= p_now THEN
		RETURN;
	END IF;
	IF p_presented IS NOT NULL AND octet_length(p_presented) > 0 AND s.refresh_hash = p_presented THEN
		UPDATE sessions SET
			prev_refresh_hash = sessions.refresh_hash,
			prev_refresh_reissued = sessions.refresh_reissued,
			refresh_hash = p_next,
			refresh_reissued = false,
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
		AND (p_now < s.rotated_at + p_grace_us * interval '1 microsecond'
			OR NOT s.prev_refresh_reissued) THEN
		IF NOT s.refresh_reissued THEN
			UPDATE sessions SET
				refresh_reissued = true,
				version = sessions.version + 1
			WHERE sessions.id = p_id
			RETURNING * INTO s;
		END IF;
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
		s.refresh_hash, s.prev_refresh_hash, s.rotated_at, s.data, s.version,
		s.refresh_reissued, s.prev_refresh_reissued;
END
$$;
