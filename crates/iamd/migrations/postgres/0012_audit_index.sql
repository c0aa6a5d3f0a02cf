-- LookupEvents' index (see audit::index and the SQLite migration): derived from audit_log, written
-- with each row in the transaction that appends it; verify never reads it, prune removes its rows.

CREATE TABLE audit_index (
    k BIGINT NOT NULL,
    first_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    mask BIGINT NOT NULL,
    PRIMARY KEY (k, first_ms, seq)
);

CREATE TABLE audit_event_ids (
    k BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (k, seq)
);

CREATE TABLE signin_daily (
    account_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    kind BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, user_name, kind)
);

DROP INDEX audit_log_account_time;
CREATE INDEX audit_log_account_first ON audit_log (account_id, first_ms, seq);

CREATE TABLE audit_index_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    legacy_through BIGINT NOT NULL,
    done_through BIGINT NOT NULL,
    max_span_ms BIGINT NOT NULL
);
INSERT INTO audit_index_state (id, legacy_through, done_through, max_span_ms) SELECT 1, COALESCE(MAX(seq), 0), 0, 0 FROM audit_log;
