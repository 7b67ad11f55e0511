-- sessiond schema, version 8: password-reset tokens (issue 11), each by
-- the SHA-256 of the token (never the token), for one account, until
-- expires_at. Deleting an account deletes its tokens. The sweep deletes
-- the expired ones by the index on expires_at.
CREATE TABLE reset_tokens (
	hash       bytea PRIMARY KEY CHECK (octet_length(hash) BETWEEN 16 AND 64),
	account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	expires_at timestamptz NOT NULL
);
CREATE INDEX reset_tokens_account ON reset_tokens (account_id);
CREATE INDEX reset_tokens_expires ON reset_tokens (expires_at);
