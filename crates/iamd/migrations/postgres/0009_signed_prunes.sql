-- A prune is part of the signed record: its row carries the audit key's signature over what it
-- removed (through which digest, that digest's hash, the cutoff, when), so an inserted prune row
-- is caught by verify.
ALTER TABLE audit_prunes ADD COLUMN signature TEXT;
