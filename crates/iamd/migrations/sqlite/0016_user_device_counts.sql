-- Each user's number of assigned MFA devices, kept by triggers in the transaction that assigns,
-- moves or removes a device, so the console's "no device" and "exactly one device" filters read
-- one range of (account, count, name) in name order at any size instead of probing every user.
ALTER TABLE users ADD COLUMN mfa_count BIGINT NOT NULL DEFAULT 0;
UPDATE users SET mfa_count = (SELECT COUNT(*) FROM mfa_devices d WHERE d.account_id = users.account_id AND d.owner = users.user_id);
CREATE INDEX users_by_mfa_count ON users (account_id, mfa_count, name_lower);
CREATE TRIGGER user_mfa_in AFTER INSERT ON mfa_devices WHEN NEW.owner IS NOT NULL BEGIN
    UPDATE users SET mfa_count = mfa_count + 1 WHERE user_id = NEW.owner;
END;
CREATE TRIGGER user_mfa_out AFTER DELETE ON mfa_devices WHEN OLD.owner IS NOT NULL BEGIN
    UPDATE users SET mfa_count = mfa_count - 1 WHERE user_id = OLD.owner;
END;
CREATE TRIGGER user_mfa_moved AFTER UPDATE OF owner ON mfa_devices WHEN OLD.owner IS NOT NEW.owner BEGIN
    UPDATE users SET mfa_count = mfa_count - 1 WHERE user_id = OLD.owner;
    UPDATE users SET mfa_count = mfa_count + 1 WHERE user_id = NEW.owner;
END;
