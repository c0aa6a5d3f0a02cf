-- The time of an MFA throttle's last failure: failures older than an hour are forgotten.
ALTER TABLE mfa_throttle ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
