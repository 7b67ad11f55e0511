-- sessiond schema, version 3: a user's sessions are listed a page at a
-- time (session.Store.ListUserPage) by keyset pagination,
--   WHERE user_id = $1 AND (created_at, id COLLATE "C") > ($2, $3)
--   ORDER BY created_at, id COLLATE "C" LIMIT $4,
-- which this index serves with one descent and limit steps, whatever the
-- number of the user's sessions. Ids compare byte by byte (COLLATE "C"),
-- the order of the other backends, not by the database's collation. It
-- replaces the index of version 1 on (user_id, created_at), of which it
-- is an extension.
CREATE INDEX sessions_user_created_id ON sessions (user_id, created_at, id COLLATE "C");
DROP INDEX sessions_user_created;
