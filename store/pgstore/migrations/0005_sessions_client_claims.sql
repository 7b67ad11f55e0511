-- sessiond schema, version 5: a session records the client it was issued
-- to (client_id), when and how its user authenticated (auth_time, amr),
-- and the application claims its access tokens carry (issue 9). NULL in
-- rows written before: the tokens of such a session carry the server's
-- own client id and no auth_time, amr or claims.
ALTER TABLE sessions
	ADD COLUMN client_id text,
	ADD COLUMN auth_time timestamptz,
	ADD COLUMN amr jsonb,
	ADD COLUMN claims jsonb;

-- The result gains columns, so the function of version 4 is dropped, not
-- replaced. What it does is unchanged (see version 4).
DROP FUNCTION sessiond_rotate(text, bytea, bytea, timestamptz, bigint, timestamptz, timestamptz, timestamptz, bytea);

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
	o_next_refresh_hash bytea, o_client_id text, o_auth_time timestamptz, o_amr jsonb, o_claims jsonb)
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
		s.refresh_reissued, s.prev_refresh_reissued, s.next_refresh_hash,
		s.client_id, s.auth_time, s.amr, s.claims;
END
$$;
