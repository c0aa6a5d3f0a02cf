-- LookupEvents' index (see audit::index): derived from audit_log, written with each row in the
-- transaction that appends it. Verify never reads these tables; prune removes their rows with the
-- records; rows from before this migration are indexed at start-up (audit::index::backfill).

-- One entry per (row, attribute, value): k hashes (account, attribute, value); mask says which of the
-- row's records hold the value (bit i: record i; -1: every record is a candidate).
CREATE TABLE audit_index (
    k INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    mask INTEGER NOT NULL,
    PRIMARY KEY (k, first_ms, seq)
) WITHOUT ROWID;

-- EventId: the leading 64 bits of the event id (time-ordered UUIDs append at the end).
CREATE TABLE audit_event_ids (
    k INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (k, seq)
) WITHOUT ROWID;

-- Successful console sign-ins per day, user ('' for all users) and kind of second factor.
CREATE TABLE signin_daily (
    account_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, user_name, kind)
) WITHOUT ROWID;

-- Lookups without an attribute walk an account's rows by (first_ms, seq).
DROP INDEX audit_log_account_time;
CREATE INDEX audit_log_account_first ON audit_log (account_id, first_ms);

-- Rows up to legacy_through predate the index; done_through is how far the backfill has come;
-- max_span_ms is the widest of those rows (newer rows span at most audit::index::MAX_ROW_SPAN_MS).
CREATE TABLE audit_index_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    legacy_through INTEGER NOT NULL,
    done_through INTEGER NOT NULL,
    max_span_ms INTEGER NOT NULL
);
INSERT INTO audit_index_state (id, legacy_through, done_through, max_span_ms) SELECT 1, COALESCE(MAX(seq), 0), 0, 0 FROM audit_log;
