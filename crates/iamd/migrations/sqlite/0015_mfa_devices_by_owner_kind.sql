-- The console's Users page counts each user's devices by kind with one probe of this index (it
-- covers the kind, so the probe reads no table rows); it replaces the (account, owner) index.
CREATE INDEX mfa_devices_by_owner_kind ON mfa_devices (account_id, owner, kind);
DROP INDEX mfa_devices_by_owner;
