-- Accounts, the root user, IAM users, passwords and access keys.
-- Times are milliseconds since the epoch. Invariants live here, not in memory:
-- user names are unique case-insensitively per account (name_lower), an alias is unique across
-- accounts, and a principal has at most two access keys (slot 1 or 2, unique per owner).

CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    root_email TEXT NOT NULL,
    root_email_lower TEXT NOT NULL UNIQUE,
    root_password_hash TEXT NOT NULL,
    root_password_changed_at BIGINT NOT NULL,
    root_password_last_used BIGINT,
    alias TEXT UNIQUE,
    password_policy TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    password_last_used BIGINT,
    UNIQUE (account_id, name_lower)
);
CREATE INDEX users_by_path ON users (account_id, path, name_lower);

CREATE TABLE user_tags (
    user_id TEXT NOT NULL REFERENCES users(user_id),
    tag_key TEXT NOT NULL,
    tag_key_lower TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (user_id, tag_key_lower)
);

CREATE TABLE login_profiles (
    user_id TEXT PRIMARY KEY REFERENCES users(user_id),
    password_hash TEXT NOT NULL,
    reset_required BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    owner TEXT NOT NULL,            -- '' for the root user, else users.user_id
    slot BIGINT NOT NULL CHECK (slot IN (1, 2)),
    secret_sealed BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive', 'Expired')),
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    last_used_region TEXT,
    last_used_service TEXT,
    UNIQUE (account_id, owner, slot)
);
