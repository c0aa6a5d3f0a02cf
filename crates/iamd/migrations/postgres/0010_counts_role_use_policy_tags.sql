-- GetAccountSummary's counts, kept by triggers in the transaction that changes what they count, so
-- the call reads one row at any size and the counts hold however many nodes write. One row per
-- account: every counted change in an account takes the same row lock, so counted changes never
-- wait on each other in two orders.
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

CREATE FUNCTION counts_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_counts (account_id) VALUES (NEW.account_id);
    RETURN NULL;
END $$;
CREATE TRIGGER counts_account AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION counts_account();

-- users, groups, roles, managed_policies, policy_attachments: the column named by the argument.
CREATE FUNCTION counts_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('UPDATE account_counts SET %I = %I + 1 WHERE account_id = $1', TG_ARGV[0], TG_ARGV[0]) USING NEW.account_id;
    ELSE
        EXECUTE format('UPDATE account_counts SET %I = %I - 1 WHERE account_id = $1', TG_ARGV[0], TG_ARGV[0]) USING OLD.account_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER counts_users AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION counts_rows('users');
CREATE TRIGGER counts_groups AFTER INSERT OR DELETE ON groups FOR EACH ROW EXECUTE FUNCTION counts_rows('groups');
CREATE TRIGGER counts_roles AFTER INSERT OR DELETE ON roles FOR EACH ROW EXECUTE FUNCTION counts_rows('roles');
CREATE TRIGGER counts_policies AFTER INSERT OR DELETE ON managed_policies FOR EACH ROW EXECUTE FUNCTION counts_rows('policies');
CREATE TRIGGER counts_attachments AFTER INSERT OR DELETE ON policy_attachments FOR EACH ROW EXECUTE FUNCTION counts_rows('attachments');

CREATE FUNCTION counts_mfa() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d BIGINT := 0; u BIGINT := 0; r BIGINT := 0; acct TEXT;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        acct := NEW.account_id;
        u := u + (NEW.owner IS NOT NULL)::int;
        r := r + (COALESCE(NEW.owner = '', false))::int;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        acct := OLD.account_id;
        u := u - (OLD.owner IS NOT NULL)::int;
        r := r - (COALESCE(OLD.owner = '', false))::int;
    END IF;
    IF TG_OP = 'INSERT' THEN d := 1; ELSIF TG_OP = 'DELETE' THEN d := -1; END IF;
    IF d <> 0 OR u <> 0 OR r <> 0 THEN
        UPDATE account_counts SET mfa_devices = mfa_devices + d, mfa_in_use = mfa_in_use + u, mfa_root = mfa_root + r WHERE account_id = acct;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER counts_mfa AFTER INSERT OR DELETE OR UPDATE OF owner ON mfa_devices FOR EACH ROW EXECUTE FUNCTION counts_mfa();

CREATE FUNCTION counts_root_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.owner = '' THEN UPDATE account_counts SET root_keys = root_keys + 1 WHERE account_id = NEW.account_id; END IF;
    ELSIF OLD.owner = '' THEN
        UPDATE account_counts SET root_keys = root_keys - 1 WHERE account_id = OLD.account_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER counts_root_keys AFTER INSERT OR DELETE ON access_keys FOR EACH ROW EXECUTE FUNCTION counts_root_keys();

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
