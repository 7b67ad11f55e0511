-- sessiond schema, version 4: reserved. This branch (userspage) numbers
-- its migration 5 because version 4 is being written for sessions on
-- another branch at the same time; this placeholder only keeps the
-- versions without a gap until that one is merged, and is dropped then.
SELECT 1;
