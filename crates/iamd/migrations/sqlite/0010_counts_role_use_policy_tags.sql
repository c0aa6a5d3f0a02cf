-- GetAccountSummary's counts, kept by triggers in the transaction that changes what they count, so
-- the call reads one row at any size and the counts hold however many nodes write. One row per
-- account: every counted change in an account takes the same row, in the same order.
CREATE TABLE account_counts (
    account_id TEXT PRIMARY KEY REFERENCES accounts(account_id),
    users BIGINT NOT NULL DEFAULT 0,
    groups BIGINT NOT NULL DEFAULT 0,
    roles BIGINT NOT NULL DEFAULT 0,
    policies BIGINT NOT NULL DEFAULT 0,
    attachments BIGINT NOT NULL DEFAULT 0,
    mfa_devices BIGINT NOT NULL DEFAULT 0,
    mfa_in_use BIGINT NOT NULL DEFAULT 0,
    mfa_root BIGINT NOT NULL DEFAULT 0,
    root_keys BIGINT NOT NULL DEFAULT 0
);
INSERT INTO account_counts (account_id, users, groups, roles, policies, attachments, mfa_devices, mfa_in_use, mfa_root, root_keys)
SELECT a.account_id,
    (SELECT COUNT(*) FROM users x WHERE x.account_id = a.account_id),
    (SELECT COUNT(*) FROM groups x WHERE x.account_id = a.account_id),
    (SELECT COUNT(*) FROM roles x WHERE x.account_id = a.account_id),
    (SELECT COUNT(*) FROM managed_policies x WHERE x.account_id = a.account_id),
    (SELECT COUNT(*) FROM policy_attachments x WHERE x.account_id = a.account_id),
    (SELECT COUNT(*) FROM mfa_devices x WHERE x.account_id = a.account_id),
    (SELECT COUNT(*) FROM mfa_devices x WHERE x.account_id = a.account_id AND x.owner IS NOT NULL),
    (SELECT COUNT(*) FROM mfa_devices x WHERE x.account_id = a.account_id AND x.owner = ''),
    (SELECT COUNT(*) FROM access_keys x WHERE x.account_id = a.account_id AND x.owner = '')
FROM accounts a;

CREATE TRIGGER counts_account AFTER INSERT ON accounts BEGIN
    INSERT INTO account_counts (account_id) VALUES (NEW.account_id);
END;
CREATE TRIGGER counts_users_in AFTER INSERT ON users BEGIN
    UPDATE account_counts SET users = users + 1 WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_users_out AFTER DELETE ON users BEGIN
    UPDATE account_counts SET users = users - 1 WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER counts_groups_in AFTER INSERT ON groups BEGIN
    UPDATE account_counts SET groups = groups + 1 WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_groups_out AFTER DELETE ON groups BEGIN
    UPDATE account_counts SET groups = groups - 1 WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER counts_roles_in AFTER INSERT ON roles BEGIN
    UPDATE account_counts SET roles = roles + 1 WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_roles_out AFTER DELETE ON roles BEGIN
    UPDATE account_counts SET roles = roles - 1 WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER counts_policies_in AFTER INSERT ON managed_policies BEGIN
    UPDATE account_counts SET policies = policies + 1 WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_policies_out AFTER DELETE ON managed_policies BEGIN
    UPDATE account_counts SET policies = policies - 1 WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER counts_attachments_in AFTER INSERT ON policy_attachments BEGIN
    UPDATE account_counts SET attachments = attachments + 1 WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_attachments_out AFTER DELETE ON policy_attachments BEGIN
    UPDATE account_counts SET attachments = attachments - 1 WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER counts_mfa_in AFTER INSERT ON mfa_devices BEGIN
    UPDATE account_counts SET mfa_devices = mfa_devices + 1,
        mfa_in_use = mfa_in_use + (NEW.owner IS NOT NULL),
        mfa_root = mfa_root + (COALESCE(NEW.owner = '', 0))
    WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_mfa_out AFTER DELETE ON mfa_devices BEGIN
    UPDATE account_counts SET mfa_devices = mfa_devices - 1,
        mfa_in_use = mfa_in_use - (OLD.owner IS NOT NULL),
        mfa_root = mfa_root - (COALESCE(OLD.owner = '', 0))
    WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER counts_mfa_owner AFTER UPDATE OF owner ON mfa_devices BEGIN
    UPDATE account_counts SET
        mfa_in_use = mfa_in_use + (NEW.owner IS NOT NULL) - (OLD.owner IS NOT NULL),
        mfa_root = mfa_root + (COALESCE(NEW.owner = '', 0)) - (COALESCE(OLD.owner = '', 0))
    WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_root_keys_in AFTER INSERT ON access_keys WHEN NEW.owner = '' BEGIN
    UPDATE account_counts SET root_keys = root_keys + 1 WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER counts_root_keys_out AFTER DELETE ON access_keys WHEN OLD.owner = '' BEGIN
    UPDATE account_counts SET root_keys = root_keys - 1 WHERE account_id = OLD.account_id;
END;

-- RoleLastUsed: when the role was last assumed, and in which region.
ALTER TABLE roles ADD COLUMN last_used_at BIGINT;
ALTER TABLE roles ADD COLUMN last_used_region TEXT;

-- Tags of customer managed policies.
CREATE TABLE policy_tags (
    policy_id TEXT NOT NULL REFERENCES managed_policies(policy_id),
    tag_key TEXT NOT NULL,
    tag_key_lower TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (policy_id, tag_key_lower)
);
