-- `aws login` (domain::logins): a browser sign-in that hands the CLI an MFA-backed session.
--
-- login_grants: one row per /v1/authorize request that passed validation. It waits (10 minutes) for
-- the person to sign in to the console and allow it; approval binds it to the principal and the
-- sign-in's MFA, and sets code_hash (the SHA-256 of the single-use code the browser carries back,
-- valid 5 minutes). The token exchange marks it used in one UPDATE, so a code works once on any node.
CREATE TABLE login_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state TEXT NOT NULL,
    challenge TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    code_hash TEXT UNIQUE,
    account_id TEXT,
    owner TEXT,
    mfa_serial TEXT,
    mfa_at BIGINT,
    auth_ms BIGINT,
    used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_grants_by_expiry ON login_grants (expires_ms);

-- An exchanged code becomes a login: the principal, the sign-in's MFA, the DPoP key's thumbprint (jkt)
-- every refresh must prove, the cap on the whole login, and the current refresh token (its SHA-256;
-- sealed too, for a racing process that presents the one it replaced within the grace window).
CREATE TABLE cli_logins (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    client_id TEXT NOT NULL,
    jkt TEXT NOT NULL,
    mfa_serial TEXT,
    mfa_at BIGINT,
    auth_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    refresh_hash TEXT NOT NULL UNIQUE,
    refresh_sealed BYTEA NOT NULL,
    prev_refresh_hash TEXT,
    rotated_ms BIGINT,
    refreshed_ms BIGINT NOT NULL,
    source_ip TEXT,
    revoked_ms BIGINT
);
CREATE INDEX cli_logins_by_owner ON cli_logins (account_id, owner);
CREATE INDEX cli_logins_by_prev ON cli_logins (prev_refresh_hash);

-- DPoP proofs seen (RFC 9449 jti), per key, until their iat window has passed: a replayed proof is
-- refused on every node.
CREATE TABLE dpop_jtis (
    jkt TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_jtis_by_expiry ON dpop_jtis (expires_ms);
