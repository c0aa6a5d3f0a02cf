-- The web console: sessions, password-guessing limits and FIDO2 credentials.
--
-- A console session is a row, found by the SHA-256 of the cookie's random token (the token itself is
-- never stored), so sign-out and expiry hold on every node. stage: 'password' (signed in with the
-- password, the principal must change it first), 'mfa' (password accepted, a device must follow),
-- 'full'. The WebAuthn ceremony a session began is sealed in `ceremony` and can only be used once:
-- any node may finish it.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    owner TEXT NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('password', 'mfa', 'full')),
    csrf TEXT NOT NULL,
    mfa_serial TEXT,
    mfa_at BIGINT,
    chosen_serial TEXT,
    pending_serial TEXT,
    ceremony BYTEA,
    source_ip TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_owner ON console_sessions (account_id, owner);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- Failed password sign-ins per scope ('pi:' principal from one address, 'p:' principal from anywhere,
-- 'ip:' one address): consecutive failures and the time before which attempts are refused unchecked.
CREATE TABLE signin_throttle (
    scope TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- FIDO2 security keys and passkeys are rows of mfa_devices with kind 'u2f': the sealed credential
-- (public key, counter) in seed_sealed, the signature counter in last_step (only moves forward), the
-- credential id (unique), and what the attestation certified (JSON object, may be empty).
ALTER TABLE mfa_devices ADD COLUMN credential_id TEXT;
ALTER TABLE mfa_devices ADD COLUMN certifications TEXT;
CREATE UNIQUE INDEX mfa_devices_by_credential ON mfa_devices (credential_id);
