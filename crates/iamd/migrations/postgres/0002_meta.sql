-- Facts about the installation itself. 'master_key_check' holds a value sealed under the master key,
-- so a node started with the wrong key refuses to serve instead of failing on every request.
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
