-- sessiond schema, version 6: accounts are listed a page at a time
-- (account.Store.ListAccountsPage) by keyset pagination,
--   WHERE email COLLATE "C" > $1 ORDER BY email COLLATE "C" LIMIT $2,
-- which this index serves with one descent and limit steps, whatever the
-- number of accounts. Emails compare byte by byte (COLLATE "C"), the
-- order of the other backends; the unique index of version 1 has the
-- database's collation, which only a "C" database could use for it.
CREATE INDEX accounts_email_c ON accounts (email COLLATE "C");
