-- The audit trail. Each row holds one or more CloudTrail-shaped records (JSON, one per line) of one
-- account: a write's record is its own row, committed in the write's transaction; records of calls
-- that changed nothing are appended in batches. `seq` orders the trail (SQLite has one writer at a
-- time, so seq order is commit order). The table is append-only: the triggers refuse UPDATE, and
-- DELETE except of rows already covered by a digest named in audit_prunes (`iamd audit prune`).

-- No AUTOINCREMENT (it costs a write to sqlite_sequence per row): seq is max + 1, and stays
-- increasing because the newest row is never removed (a prune inserts its own record first).
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    body TEXT NOT NULL,
    -- A batch of records, deflated (then body is ''): see audit::row_body.
    body_z BLOB
);
CREATE INDEX audit_log_account_time ON audit_log (account_id, last_ms);

CREATE TABLE audit_digests (
    digest_no BIGINT PRIMARY KEY,
    start_cursor BIGINT NOT NULL,
    end_cursor BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_prunes (
    prune_no INTEGER PRIMARY KEY AUTOINCREMENT,
    through_digest BIGINT NOT NULL REFERENCES audit_digests(digest_no),
    before_ms BIGINT NOT NULL,
    pruned_at BIGINT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > COALESCE((SELECT d.end_cursor FROM audit_digests d WHERE d.digest_no = (SELECT MAX(through_digest) FROM audit_prunes)), -9223372036854775808)
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: use iamd audit prune'); END;

CREATE TRIGGER audit_digests_no_update BEFORE UPDATE ON audit_digests
BEGIN SELECT RAISE(ABORT, 'audit digests are append-only'); END;
CREATE TRIGGER audit_digests_no_delete BEFORE DELETE ON audit_digests
BEGIN SELECT RAISE(ABORT, 'audit digests are append-only'); END;
CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes
BEGIN SELECT RAISE(ABORT, 'audit prunes are append-only'); END;
CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes
BEGIN SELECT RAISE(ABORT, 'audit prunes are append-only'); END;
