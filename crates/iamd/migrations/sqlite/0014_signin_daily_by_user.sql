-- The console's chart reads one user's (or all users', '') counters over a range of days: the key
-- leads with the user, so the read is one range, not a walk over every user's counters of those days.
CREATE TABLE signin_daily_new (
    account_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_name, day, kind)
) WITHOUT ROWID;
INSERT INTO signin_daily_new (account_id, day, user_name, kind, n) SELECT account_id, day, user_name, kind, n FROM signin_daily;
DROP TABLE signin_daily;
ALTER TABLE signin_daily_new RENAME TO signin_daily;
