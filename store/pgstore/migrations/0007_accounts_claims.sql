-- sessiond schema, version 7: a built-in account keeps the application
-- claims its logins' sessions carry (issue 9), set by the admin API or
-- `sessiond users claims`. NULL for an account without claims, as for
-- every account created before.
ALTER TABLE accounts ADD COLUMN claims jsonb;
