-- Each user's number of assigned MFA devices, kept by a trigger in the transaction that assigns,
-- moves or removes a device, so the console's "no device" and "exactly one device" filters read
-- one range of (account, count, name) in name order at any size instead of probing every user.
ALTER TABLE users ADD COLUMN mfa_count BIGINT NOT NULL DEFAULT 0;
UPDATE users u SET mfa_count = c.n FROM (SELECT owner, COUNT(*) AS n FROM mfa_devices WHERE owner IS NOT NULL GROUP BY owner) c WHERE c.owner = u.user_id;
CREATE INDEX users_by_mfa_count ON users (account_id, mfa_count, name_lower);
CREATE FUNCTION user_mfa_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.owner IS NOT NULL AND (TG_OP = 'DELETE' OR OLD.owner IS DISTINCT FROM NEW.owner) THEN
        UPDATE users SET mfa_count = mfa_count - 1 WHERE user_id = OLD.owner;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.owner IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.owner IS DISTINCT FROM NEW.owner) THEN
        UPDATE users SET mfa_count = mfa_count + 1 WHERE user_id = NEW.owner;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_mfa_count AFTER INSERT OR DELETE OR UPDATE OF owner ON mfa_devices FOR EACH ROW EXECUTE FUNCTION user_mfa_count();
