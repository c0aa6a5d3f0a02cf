-- The audit trail (see the SQLite migration). On PostgreSQL several nodes write at once, so seq
-- order is not commit order: each row also records the id of the transaction that wrote it, and a
-- digest covers every row whose transaction id lies below the oldest transaction still running when
-- the digest was made (all of those have finished, so the range can never change afterwards).

CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    account_id TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    body TEXT NOT NULL,
    -- A batch of records, deflated (then body is ''): see audit::row_body.
    body_z BYTEA
);
CREATE INDEX audit_log_account_time ON audit_log (account_id, last_ms);
CREATE INDEX audit_log_txid ON audit_log (txid);

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
    prune_no BIGSERIAL PRIMARY KEY,
    through_digest BIGINT NOT NULL REFERENCES audit_digests(digest_no),
    before_ms BIGINT NOT NULL,
    pruned_at BIGINT NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log' THEN
        IF OLD.txid <= COALESCE((SELECT d.end_cursor FROM audit_digests d
                                 WHERE d.digest_no = (SELECT MAX(through_digest) FROM audit_prunes)), -1) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: use iamd audit prune';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_digests_append_only BEFORE UPDATE OR DELETE ON audit_digests
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_prunes_append_only BEFORE UPDATE OR DELETE ON audit_prunes
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
