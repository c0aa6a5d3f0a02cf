-- Roles: a trust policy (who may assume the role), identity policies (inline here, managed through
-- policy_attachments with entity_type 'role'), tags and the longest session it grants.

CREATE TABLE roles (
    role_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    trust_policy TEXT NOT NULL,
    description TEXT,
    max_session_duration BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE role_policies (
    role_id TEXT NOT NULL REFERENCES roles(role_id),
    policy_name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (role_id, policy_name)
);

CREATE TABLE role_tags (
    role_id TEXT NOT NULL REFERENCES roles(role_id),
    tag_key TEXT NOT NULL,
    tag_key_lower TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (role_id, tag_key_lower)
);
