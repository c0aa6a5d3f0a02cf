-- MFA devices: virtual (authenticator apps), hardware TOTP tokens (imported inventory) and, later,
-- FIDO2 security keys. A device is unassigned (owner NULL) or assigned to the root user (owner '')
-- or to an IAM user (owner = users.user_id). At most eight devices per principal: an assigned device
-- holds one of the owner's slots 1..8, unique per owner, so the limit holds across nodes.
-- last_step is the last accepted TOTP time step (replay protection, advanced by a conditional write).

CREATE TABLE mfa_devices (
    device_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    serial TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('virtual', 'hardware', 'u2f')),
    name TEXT,
    path TEXT,
    seed_sealed BYTEA,
    digits BIGINT NOT NULL DEFAULT 6,
    period BIGINT NOT NULL DEFAULT 30,
    algorithm TEXT NOT NULL DEFAULT 'SHA1',
    owner TEXT,
    owner_slot BIGINT CHECK (owner_slot BETWEEN 1 AND 8),
    enabled_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT -1,
    drift BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, serial),
    UNIQUE (account_id, owner, owner_slot),
    CHECK ((owner IS NULL) = (owner_slot IS NULL))
);
CREATE INDEX mfa_devices_by_owner ON mfa_devices (account_id, owner);

CREATE TABLE mfa_device_tags (
    device_id TEXT NOT NULL REFERENCES mfa_devices(device_id),
    tag_key TEXT NOT NULL,
    tag_key_lower TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (device_id, tag_key_lower)
);

-- Failed MFA attempts per principal that owns the device (or is its target, for enable):
-- consecutive failures and the time before which further attempts are refused.
CREATE TABLE mfa_throttle (
    account_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    PRIMARY KEY (account_id, owner)
);

CREATE TABLE credential_reports (
    account_id TEXT PRIMARY KEY REFERENCES accounts(account_id),
    generated_at BIGINT NOT NULL,
    content BYTEA NOT NULL
);
