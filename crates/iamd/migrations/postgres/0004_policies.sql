-- Policies and groups. Inline policies belong to one user or group; managed policies (the account's,
-- or AWS's under account_id 'aws') have versions, one of which is the default, and attachments.

CREATE TABLE user_policies (
    user_id TEXT NOT NULL REFERENCES users(user_id),
    policy_name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (user_id, policy_name)
);

CREATE TABLE groups (
    group_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(group_id),
    user_id TEXT NOT NULL REFERENCES users(user_id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE group_policies (
    group_id TEXT NOT NULL REFERENCES groups(group_id),
    policy_name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (group_id, policy_name)
);

CREATE TABLE managed_policies (
    policy_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    description TEXT,
    default_version TEXT NOT NULL,
    next_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE policy_versions (
    policy_id TEXT NOT NULL REFERENCES managed_policies(policy_id),
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, version_id)
);

CREATE TABLE policy_attachments (
    policy_id TEXT NOT NULL REFERENCES managed_policies(policy_id),
    account_id TEXT NOT NULL,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('user', 'group', 'role')),
    entity_id TEXT NOT NULL,
    PRIMARY KEY (policy_id, entity_type, entity_id)
);
CREATE INDEX policy_attachments_by_entity ON policy_attachments (entity_type, entity_id);
