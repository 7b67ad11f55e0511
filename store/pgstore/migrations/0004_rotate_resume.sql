-- sessiond schema, version 4: a session remembers the hash of the child
-- its current refresh token rotates to (session.Record.NextRefreshHash),
-- so that a client holding the answer to a rotation the database lost (a
-- failover to a replica that lagged, a restored backup, a crash with
-- synchronous_commit = off) resumes its session instead of being taken
-- for a thief.

ALTER TABLE sessions ADD COLUMN next_refresh_hash bytea;

-- The function gains an argument and a result column, so the function of
-- version 2 is dropped, not replaced.
DROP FUNCTION sessiond_rotate(text, bytea, bytea, timestamptz, bigint, timestamptz, timestamptz, timestamptz);

-- sessiond_rotate is refresh-token rotation in one round trip and one
-- transaction (see session.Store.Rotate). It locks the row; then, if
-- p_deadline is not NULL and clock_timestamp() (the database's clock at
-- this moment, not the statement's start) has reached it, it returns
-- outcome 4 and changes nothing: the caller has given up. Otherwise it
-- decides at p_now (the caller's clock, never now()):
--   no row, or expired at p_now         -> no result row (not found)
--   p_presented is the current hash     -> outcome 1 (Rotated), the row as written;
--     the parent takes the current token's reissued mark
--   p_presented is the current token's
--     child (next_refresh_hash)         -> outcome 5 (Resumed): rotated from
--     p_presented, which becomes the parent, handed out once
--   p_presented is the parent, rotated
--     less than p_grace_us ago, or the
--     parent was handed out only once   -> outcome 2 (GraceReplay): the current
--     token is marked reissued (version bumped the first time), the row
--   anything else                       -> outcome 3 (Reused): the session is
--     deleted and its revocation recorded (keeping the later until)
-- p_next_child is stored as the new next_refresh_hash on outcomes 1 and 5.
-- Outcomes 1 to 3 are those of session.RotateOutcome; 5 is Resumed. Hashes
-- are compared with =, not in constant time: they are SHA-256 of 256-bit
-- random tokens, so timing reveals nothing an attacker could use.
CREATE FUNCTION sessiond_rotate(
	p_id text, p_presented bytea, p_next bytea, p_now timestamptz,
	p_grace_us bigint, p_idle_expires timestamptz, p_revoke_until timestamptz,
	p_deadline timestamptz, p_next_child bytea)
RETURNS TABLE (
	o_outcome int, o_id text, o_user_id text, o_created_at timestamptz,
	o_last_seen_at timestamptz, o_idle_expires_at timestamptz, o_abs_expires_at timestamptz,
	o_ip text, o_user_agent text, o_auth_method text,
	o_refresh_hash bytea, o_prev_refresh_hash bytea, o_rotated_at timestamptz,
	o_data jsonb, o_version bigint, o_refresh_reissued boolean, o_prev_refresh_reissued boolean,
	o_next_refresh_hash bytea)
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
	IF p_presented IS NOT NULL AND octet_length(p_presented) > 0
		AND (s.refresh_hash = p_presented OR s.next_refresh_hash = p_presented) THEN
		IF s.refresh_hash = p_presented THEN
			outcome := 1;
		ELSE
			outcome := 5;
		END IF;
		UPDATE sessions SET
			prev_refresh_hash = p_presented,
			prev_refresh_reissued = (outcome = 1 AND sessions.refresh_reissued),
			refresh_hash = p_next,
			refresh_reissued = false,
			next_refresh_hash = p_next_child,
			rotated_at = p_now,
			last_seen_at = p_now,
			idle_expires_at = p_idle_expires,
			version = sessions.version + 1
		WHERE sessions.id = p_id
		RETURNING * INTO s;
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
		s.refresh_reissued, s.prev_refresh_reissued, s.next_refresh_hash;
END
$$;
