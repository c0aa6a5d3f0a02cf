-- The console's chart reads one user's (or all users', '') counters over a range of days: the key
-- leads with the user, so the read is one range, not a walk over every user's counters of those days.
ALTER TABLE signin_daily DROP CONSTRAINT signin_daily_pkey;
ALTER TABLE signin_daily ADD PRIMARY KEY (account_id, user_name, day, kind);
